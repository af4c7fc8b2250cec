//! The settings' parsing, checked: defaults, limits, payment providers, proxies.

use clap::Parser;

use super::{PaymentSettings, Settings, SettingsArgs};

fn payment(args: &[&str]) -> PaymentSettings {
    let cli =
        SettingsArgs::try_parse_from(std::iter::once("boxoffice").chain(args.iter().copied()))
            .expect("the arguments parse");
    Settings::from(cli).payment
}

#[test]
fn a_stripe_key_alone_switches_to_stripe_and_an_explicit_choice_wins() {
    assert!(matches!(
        payment(&["--stripe-api-key", "sk_test_x"]),
        PaymentSettings::Stripe { .. }
    ));
    assert!(matches!(
        payment(&[
            "--payment-provider",
            "sandbox",
            "--stripe-api-key",
            "sk_test_x"
        ]),
        PaymentSettings::Sandbox
    ));
    assert!(matches!(
        payment(&["--payment-provider", "paypal"]),
        PaymentSettings::Unknown(_)
    ));
}

#[test]
fn the_limits_have_production_defaults_and_can_be_turned_off() {
    let settings = |args: &[&str]| {
        let cli =
            SettingsArgs::try_parse_from(std::iter::once("boxoffice").chain(args.iter().copied()))
                .expect("the arguments parse");
        Settings::from(cli).limits
    };
    let defaults = settings(&[]);
    assert_eq!(defaults.sign_in_per_address.map(|q| q.count), Some(30));
    assert!(defaults.trusted_proxies.is_empty());
    assert_eq!(defaults.metrics_allow.len(), 2);
    assert_eq!(defaults.max_seats_per_address, 16);
    assert_eq!(
        defaults.sign_in_per_account_any_address.map(|q| q.count),
        Some(100)
    );
    let off = settings(&[
        "--limit-sign-in-per-address",
        "off",
        "--trusted-proxies",
        "10.0.0.0/8",
    ]);
    assert_eq!(off.sign_in_per_address, None);
    assert_eq!(off.trusted_proxies.len(), 1);
    assert!(
        SettingsArgs::try_parse_from(["boxoffice", "--limit-holds-per-account", "lots"]).is_err()
    );
}

#[test]
fn the_stripe_api_version_is_pinned_by_default_and_can_be_set() {
    let PaymentSettings::Stripe { browser, .. } = payment(&["--stripe-api-key", "sk_test_x"])
    else {
        panic!("stripe expected");
    };
    assert_eq!(
        browser.api_version,
        boxoffice_payments::stripe::DEFAULT_API_VERSION
    );
    assert_eq!(browser.js_url, "https://js.stripe.com/v3/");
    let PaymentSettings::Stripe { browser, .. } = payment(&[
        "--stripe-api-key",
        "sk_test_x",
        "--stripe-api-version",
        "2025-01-27.acacia",
        "--stripe-publishable-key",
        "pk_test_y",
    ]) else {
        panic!("stripe expected");
    };
    assert_eq!(browser.api_version, "2025-01-27.acacia");
    assert_eq!(browser.publishable_key, "pk_test_y");
}

#[test]
fn e_mail_is_off_unless_an_smtp_server_is_named_and_has_a_default_sender() {
    let mail = |args: &[&str]| {
        let cli =
            SettingsArgs::try_parse_from(std::iter::once("boxoffice").chain(args.iter().copied()))
                .expect("the arguments parse");
        Settings::from(cli).mail
    };
    assert!(mail(&[]).is_none());
    assert!(mail(&["--smtp-url", ""]).is_none());
    let on = mail(&["--smtp-url", "smtp://127.0.0.1:2525"]).expect("mail is on");
    assert_eq!(on.smtp_url, "smtp://127.0.0.1:2525");
    assert_eq!(on.from, super::mail::DEFAULT_FROM);
    assert_eq!(on.retry_cap, std::time::Duration::from_secs(300));
    let set = mail(&[
        "--smtp-url",
        "smtp://mail:25",
        "--mail-from",
        "Tickets <tickets@example.org>",
        "--mail-retry-max-secs",
        "5",
    ])
    .expect("mail is on");
    assert_eq!(set.from, "Tickets <tickets@example.org>");
    assert_eq!(set.retry_cap, std::time::Duration::from_secs(5));
}
