//! The payment boundary crossed over the network: the app talks to `boxoffice sandbox-psp`
//! (Stripe's wire format) through the Stripe provider, and receives its signed webhooks, while
//! the sandbox injects the faults real providers have.

use std::time::Duration;

use boxoffice_payments::sandbox::{CARD_DECLINED, CARD_SLOW_SUCCESS};
use boxoffice_psp::{Faults, PspConfig, PspHandle, SandboxPsp};
use boxoffice_server::config::{PaymentSettings, StripeBrowser};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Buyer, GOOD_CARD, TestApp};

const SECRET: &str = "whsec_provider_test";

/// A port that is free now, so that the sandbox can be told where to send webhooks before the
/// app that receives them starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn app_behind_psp(faults: Faults, reconcile: Duration) -> (TestApp, PspHandle) {
    let port = free_port();
    let (_, psp) = SandboxPsp::start(PspConfig {
        webhook_url: Some(format!("http://127.0.0.1:{port}/api/v1/payments/webhook")),
        webhook_secret: SECRET.to_owned(),
        faults,
        seed: Some(7),
        settle_delay: Duration::from_millis(500),
        webhook_retry_base: Duration::from_millis(100),
        ..PspConfig::default()
    })
    .await
    .unwrap();
    let base = psp.base_url();
    let app = TestApp::spawn_with(move |s| {
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.webhook_secret = Some(SECRET.to_owned());
        s.payment_reconcile_interval = reconcile;
        s.payment = PaymentSettings::Stripe {
            api_key: "sk_test_boxoffice".to_owned(),
            api_base: base,
            timeout: Duration::from_millis(1500),
            browser: StripeBrowser::default(),
        };
    })
    .await;
    (app, psp)
}

async fn pay(buyer: &Buyer, hold_id: &str, key: &str, card: &str) -> (StatusCode, Value) {
    let r = buyer
        .checkout_body(
            hold_id,
            Some(key),
            &json!({"payment": {"method": "card", "card_number": card}}),
        )
        .await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn wait_paid(buyer: &Buyer, payment_id: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let view: Value = buyer
            .get(&format!("/api/v1/payments/{payment_id}"))
            .await
            .json()
            .await
            .unwrap();
        if view["payment"]["status"] != "confirming" {
            return view["payment"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still confirming: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SLOW_RECONCILER: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_card_is_charged_declined_and_charged_again_through_the_http_provider() {
    let (app, psp) = app_behind_psp(Faults::default(), SLOW_RECONCILER).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["N-1", "N-2"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = pay(&buyer, hold_id, "first", CARD_DECLINED).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    let (status, body) = pay(&buyer, hold_id, "second", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (again, replayed) = pay(&buyer, hold_id, "second", GOOD_CARD).await;
    assert_eq!((again, &replayed), (StatusCode::CREATED, &body));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_processing_payment_is_settled_by_the_providers_webhook() {
    let (app, psp) = app_behind_psp(Faults::default(), SLOW_RECONCILER).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["N-5"]).await;
    let (status, body) = pay(
        &buyer,
        hold["id"].as_str().unwrap(),
        "slow",
        CARD_SLOW_SUCCESS,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let payment = wait_paid(
        &buyer,
        body["payment"]["id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(payment["status"], "paid", "{payment}");
    assert!(psp.stats().webhooks_delivered >= 1);
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn duplicated_delayed_and_reordered_webhooks_make_one_order_each() {
    let faults = Faults {
        webhook_duplicate_rate: 1.0,
        webhook_delay: Duration::from_millis(300),
        webhook_reorder: true,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, SLOW_RECONCILER).await;
    let buyers = app.buyers(4).await;
    let mut payments = Vec::new();
    for (i, buyer) in buyers.iter().enumerate() {
        let seat = format!("O-{}", i + 1);
        let hold = buyer.hold_ok(&[&seat]).await;
        let (status, body) = pay(
            buyer,
            hold["id"].as_str().unwrap(),
            "dup",
            CARD_SLOW_SUCCESS,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        payments.push(body["payment"]["id"].as_str().unwrap().to_owned());
    }
    for (buyer, id) in buyers.iter().zip(&payments) {
        assert_eq!(
            wait_paid(buyer, id, Duration::from_secs(15)).await["status"],
            "paid"
        );
    }
    // Let the duplicates land too.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(psp.stats().webhooks_duplicated >= 1, "{:?}", psp.stats());
    assert_eq!(app.count("SELECT COUNT(*) FROM orders", &[]).await, 4);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        4
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn when_every_webhook_is_lost_the_reconciler_asks_and_settles() {
    let faults = Faults {
        webhook_drop_rate: 1.0,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, Duration::from_millis(200)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-3"]).await;
    let (status, body) = pay(
        &buyer,
        hold["id"].as_str().unwrap(),
        "lost-hooks",
        CARD_SLOW_SUCCESS,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let payment = wait_paid(
        &buyer,
        body["payment"]["id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(psp.stats().webhooks_delivered, 0);
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_provider_answering_500_charges_nothing_and_the_same_key_works_once_it_recovers() {
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, Duration::from_millis(200)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-7"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = pay(&buyer, hold_id, "retry-me", GOOD_CARD).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(app.seat_state("P-7").await, "held");
    psp.set_faults(Faults::default());
    let (status, body) = pay(&buyer, hold_id, "retry-me", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_times_out_charges_nothing_and_the_same_key_works_once_it_answers() {
    let faults = Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, Duration::from_millis(200)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-9"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    // Creating the intent times out: nothing was charged, the buyer may retry.
    let (status, body) = pay(&buyer, hold_id, "slowpoke", GOOD_CARD).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM payments WHERE status = 'failed'", &[])
            .await,
        1
    );
    psp.set_faults(Faults::default());
    let (status, body) = pay(&buyer, hold_id, "slowpoke", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_charge_whose_answer_never_comes_back_is_found_by_asking_the_provider() {
    let (app, psp) = app_behind_psp(Faults::default(), Duration::from_millis(200)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-11"]).await;
    let (status, body) = pay(
        &buyer,
        hold["id"].as_str().unwrap(),
        "silent",
        boxoffice_payments::sandbox::CARD_ANSWER_LOST,
    )
    .await;
    // The confirmation times out; asking the provider shows the charge went through.
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_slow_provider_that_declines_good_cards_keeps_the_hold_for_another_try() {
    let faults = Faults {
        latency: Duration::from_millis(300),
        decline_rate: 1.0,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, SLOW_RECONCILER).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-13"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = pay(&buyer, hold_id, "unlucky", GOOD_CARD).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "payment_declined");
    assert_eq!(app.seat_state("P-13").await, "held");
    psp.set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    let (status, body) = pay(&buyer, hold_id, "lucky", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(psp.stats().injected_declines >= 1);
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

const PUBLISHABLE: &str = "pk_test_boxoffice";

/// The app as buyers' browsers use it: the Stripe provider with a publishable key, so checkout
/// hands the page a client secret and the browser confirms at the provider.
async fn app_for_browsers(hold_ttl: Duration) -> (TestApp, PspHandle) {
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
async fn confirm_in_browser(psp: &PspHandle, client_secret: &str, card: &str) -> Value {
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

async fn start_browser_payment(buyer: &Buyer, seat: &str, key: &str) -> Value {
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
