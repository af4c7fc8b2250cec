//! Payments confirmed in the buyer's browser: client secrets, 3-D Secure, declines retried on the
//! same intent, and intents cancelled before their seats go back.

use std::time::Duration;

use boxoffice_payments::sandbox::CARD_DECLINED;
use boxoffice_psp::{Faults, PspConfig, PspHandle, SandboxPsp};
use boxoffice_server::{PaymentSettings, StripeBrowser};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{SECRET, free_port, pay, wait_paid};
use crate::helpers::{Buyer, GOOD_CARD, TestApp};

pub(super) const PUBLISHABLE: &str = "pk_test_boxoffice";

/// The app as buyers' browsers use it: the Stripe provider with a publishable key, so checkout
/// hands the page a client secret and the browser confirms at the provider.
pub(super) async fn app_for_browsers(hold_ttl: Duration) -> (TestApp, PspHandle) {
    let port = free_port();
    let (_, psp) = SandboxPsp::start(PspConfig {
        webhook_url: Some(format!("http://127.0.0.1:{port}/api/v1/payments/webhook")),
        webhook_secret: SECRET.to_owned(),
        seed: Some(11),
        webhook_retry_base: Duration::from_millis(100),
        ..PspConfig::default()
    })
    .await
    .unwrap();
    let base = psp.base_url();
    let app = TestApp::spawn_with(move |s| {
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.webhook_secret = Some(SECRET.to_owned());
        s.hold_ttl = hold_ttl;
        s.payment_reconcile_interval = Duration::from_millis(200);
        s.payment = PaymentSettings::Stripe {
            api_key: "sk_test_boxoffice".to_owned(),
            api_base: base.clone(),
            timeout: Duration::from_millis(1500),
            browser: StripeBrowser {
                publishable_key: PUBLISHABLE.to_owned(),
                js_url: format!("{base}/v3/"),
                ..StripeBrowser::default()
            },
        };
    })
    .await;
    (app, psp)
}

/// What the buyer's browser does at the provider: a payment method from the card, then confirm
/// with the publishable key and the client secret. Returns the confirmed intent.
pub(super) async fn confirm_in_browser(psp: &PspHandle, client_secret: &str, card: &str) -> Value {
    let http = reqwest::Client::new();
    let intent_id = client_secret.split("_secret_").next().unwrap();
    let pm: Value = http
        .post(format!("{}/v1/payment_methods", psp.base_url()))
        .bearer_auth(PUBLISHABLE)
        .form(&[("type", "card"), ("card[number]", card)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    http.post(format!(
        "{}/v1/payment_intents/{intent_id}/confirm",
        psp.base_url()
    ))
    .bearer_auth(PUBLISHABLE)
    .form(&[
        ("client_secret", client_secret),
        ("payment_method", pm["id"].as_str().unwrap()),
    ])
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

pub(super) async fn start_browser_payment(buyer: &Buyer, seat: &str, key: &str) -> Value {
    let hold = buyer.hold_ok(&[seat]).await;
    let r = buyer
        .checkout_body(
            hold["id"].as_str().unwrap(),
            Some(key),
            &json!({"payment": {"method": "stripe"}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    body["payment"].clone()
}

#[tokio::test]
async fn a_browser_payment_gets_a_client_secret_and_is_paid_once_the_browser_confirms() {
    let (app, psp) = app_for_browsers(Duration::from_secs(600)).await;
    let buyer = app.register_and_login().await;
    let payment = start_browser_payment(&buyer, "M-1", "browser-1").await;
    assert_eq!(payment["status"], "confirming");
    assert_eq!(payment["publishable_key"], PUBLISHABLE);
    let secret = payment["client_secret"].as_str().unwrap();
    let intent = confirm_in_browser(&psp, secret, GOOD_CARD).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    let paid = wait_paid(
        &buyer,
        payment["id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(paid["status"], "paid", "{paid}");
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_card_number_is_refused_when_buyers_pay_in_the_browser() {
    let (app, psp) = app_for_browsers(Duration::from_secs(600)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["M-3"]).await;
    let (status, body) = pay(&buyer, hold["id"].as_str().unwrap(), "raw", GOOD_CARD).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "card_data_not_accepted");
    assert_eq!(psp.stats().requests, 0);
    psp.shutdown().await;
}

#[tokio::test]
async fn the_three_d_secure_card_waits_for_the_buyer_and_pays_once_authentication_passes() {
    let (app, psp) = app_for_browsers(Duration::from_secs(600)).await;
    let buyer = app.register_and_login().await;
    let payment = start_browser_payment(&buyer, "M-5", "three-d").await;
    let secret = payment["client_secret"].as_str().unwrap();
    let intent = confirm_in_browser(&psp, secret, "4000002760003184").await;
    assert_eq!(intent["status"], "requires_action", "{intent}");
    assert_eq!(intent["next_action"]["type"], "use_stripe_sdk");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let view: Value = buyer
        .get(&format!(
            "/api/v1/payments/{}",
            payment["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["payment"]["status"], "confirming", "{view}");
    let id = intent["id"].as_str().unwrap();
    let passed: Value = reqwest::Client::new()
        .post(format!("{}/sandbox/3ds/{id}", psp.base_url()))
        .bearer_auth(PUBLISHABLE)
        .form(&[("client_secret", secret), ("outcome", "succeed")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(passed["status"], "succeeded", "{passed}");
    let paid = wait_paid(
        &buyer,
        payment["id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(paid["status"], "paid", "{paid}");
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn an_unconfirmed_intent_is_cancelled_at_the_provider_before_its_hold_is_released() {
    let (app, psp) = app_for_browsers(Duration::from_secs(2)).await;
    let buyer = app.register_and_login().await;
    let payment = start_browser_payment(&buyer, "M-7", "walked-away").await;
    let intent_id = payment["client_secret"]
        .as_str()
        .unwrap()
        .split("_secret_")
        .next()
        .unwrap()
        .to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.seat_state("M-7").await != "available" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hold never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let intent: Value = reqwest::Client::new()
        .get(format!("{}/v1/payment_intents/{intent_id}", psp.base_url()))
        .bearer_auth("sk_test_boxoffice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intent["status"], "canceled", "{intent}");
    let view = wait_paid(
        &buyer,
        payment["id"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(view["status"], "failed", "{view}");
    // Too late for the browser: the cancelled intent can no longer be charged.
    let late =
        confirm_in_browser(&psp, payment["client_secret"].as_str().unwrap(), GOOD_CARD).await;
    assert_eq!(
        late["error"]["code"], "payment_intent_unexpected_state",
        "{late}"
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_declined_browser_payment_takes_another_card_on_the_same_intent_and_pays_once() {
    let (app, psp) = app_for_browsers(Duration::from_secs(600)).await;
    let buyer = app.register_and_login().await;
    let payment = start_browser_payment(&buyer, "M-9", "declined-then-paid").await;
    let secret = payment["client_secret"].as_str().unwrap();
    let declined = confirm_in_browser(&psp, secret, CARD_DECLINED).await;
    assert_eq!(declined["error"]["code"], "card_declined", "{declined}");
    // The decline's webhook arrives: the buyer is told, and the payment stays open for another
    // card on the same intent.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let view: Value = buyer
        .get(&format!(
            "/api/v1/payments/{}",
            payment["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["payment"]["status"], "declined", "{view}");
    let again = buyer
        .checkout_body(
            payment["hold_id"].as_str().unwrap(),
            Some("declined-then-paid"),
            &json!({"payment": {"method": "stripe"}}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        again["payment"]["client_secret"], secret,
        "the same intent again"
    );
    let paid = confirm_in_browser(&psp, secret, GOOD_CARD).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let view = wait_paid(
        &buyer,
        payment["id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(view["status"], "paid", "{view}");
    let provider: Value = buyer
        .get("/api/v1/payments/provider")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        provider["payment_provider"]["browser"]["publishable_key"],
        PUBLISHABLE
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_buyer_who_leaves_after_a_decline_has_the_intent_cancelled_before_the_seats_go_back() {
    let (app, psp) = app_for_browsers(Duration::from_secs(600)).await;
    let buyer = app.register_and_login().await;
    let payment = start_browser_payment(&buyer, "M-11", "declined-then-left").await;
    let secret = payment["client_secret"].as_str().unwrap();
    let declined = confirm_in_browser(&psp, secret, CARD_DECLINED).await;
    assert_eq!(declined["error"]["code"], "card_declined", "{declined}");
    let hold_id = payment["hold_id"].as_str().unwrap();
    let stranger = app.register_and_login().await;
    assert_eq!(
        stranger.release(hold_id).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        buyer.release(hold_id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.seat_state("M-11").await, "available");
    let late = confirm_in_browser(&psp, secret, GOOD_CARD).await;
    assert_eq!(
        late["error"]["code"], "payment_intent_unexpected_state",
        "a cancelled intent cannot be charged: {late}"
    );
    let view = wait_paid(
        &buyer,
        payment["id"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(view["status"], "failed", "{view}");
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_confirmation_landing_after_the_client_gave_up_cannot_charge_once_the_expiring_hold_cancelled_its_intent()
 {
    let port = free_port();
    let (_, psp) = SandboxPsp::start(PspConfig {
        webhook_url: Some(format!("http://127.0.0.1:{port}/api/v1/payments/webhook")),
        webhook_secret: SECRET.to_owned(),
        faults: Faults {
            late_confirm_rate: 1.0,
            late_confirm_delay: Duration::from_secs(5),
            ..Faults::default()
        },
        seed: Some(3),
        ..PspConfig::default()
    })
    .await
    .unwrap();
    let base = psp.base_url();
    let app = TestApp::spawn_with(move |s| {
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.webhook_secret = Some(SECRET.to_owned());
        s.hold_ttl = Duration::from_secs(3);
        s.payment = PaymentSettings::Stripe {
            api_key: "sk_test_boxoffice".to_owned(),
            api_base: base,
            timeout: Duration::from_millis(1000),
            browser: StripeBrowser::default(),
        };
    })
    .await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["M-13"]).await;
    // The confirmation is not answered: the client gives up and the payment is left confirming.
    let (status, body) = pay(&buyer, hold["id"].as_str().unwrap(), "gave-up", GOOD_CARD).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let payment_id = body["payment"]["id"].as_str().unwrap().to_owned();
    // The hold expires before the confirmation lands: its intent is cancelled first.
    let view = wait_paid(&buyer, &payment_id, Duration::from_secs(10)).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(app.seat_state("M-13").await, "available");
    // The late confirmation arrives at a cancelled intent: nothing is charged.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let intent_id = app
        .text(
            "SELECT provider_ref FROM payments WHERE id = ?",
            &[&payment_id],
        )
        .await;
    let intent: Value = reqwest::Client::new()
        .get(format!("{}/v1/payment_intents/{intent_id}", psp.base_url()))
        .bearer_auth("sk_test_boxoffice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intent["status"], "canceled", "{intent}");
    assert_eq!(intent["amount_received"], 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM ledger", &[]).await, 0);
    app.assert_audit_ok().await;
    psp.shutdown().await;
}
