//! Payments whose outcome is not known at once: "confirming" answers, webhooks (signed, late,
//! duplicated, out of order), the reconciler, and payments that land after the hold ended.

use std::time::Duration;

use boxoffice_payments::{
    IntentStatus,
    sandbox::{CARD_ANSWER_LOST, CARD_SLOW_DECLINE, CARD_SLOW_SUCCESS, SIGNATURE_HEADER},
    webhook,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Buyer, GOOD_CARD, TestApp, assert_error};

const WEBHOOK_SECRET: &str = "whsec_payments_test";

async fn json(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls the buyer's view of a payment until its status is no longer `confirming`.
pub(crate) async fn settled(buyer: &Buyer, payment_id: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (status, body) = json(buyer.get(&format!("/api/v1/payments/{payment_id}")).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["payment"]["status"] != "confirming" {
            return body["payment"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "payment {payment_id} still confirming after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn confirming_checkout(
    buyer: &Buyer,
    seats: &[&str],
    key: &str,
    card: &str,
) -> (String, String) {
    let hold = buyer.hold_ok(seats).await;
    let hold_id = hold["id"].as_str().unwrap().to_owned();
    let (status, body) = json(buyer.checkout(&hold_id, key, card).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["payment"]["status"], "confirming");
    assert_eq!(body["payment"]["hold_id"], hold_id.as_str());
    (hold_id, body["payment"]["id"].as_str().unwrap().to_owned())
}

async fn intent_of(app: &TestApp, payment_id: &str) -> String {
    app.text(
        "SELECT provider_ref FROM payments WHERE id = ?",
        &[payment_id],
    )
    .await
}

async fn post_webhook(app: &TestApp, body: &str, signature: Option<String>) -> reqwest::Response {
    let mut request = app
        .api
        .post(app.url("/api/v1/payments/webhook"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        request = request.header(SIGNATURE_HEADER, sig);
    }
    request.send().await.unwrap()
}

fn signed(body: &str, seconds_ago: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    webhook::sign(
        WEBHOOK_SECRET.as_bytes(),
        now - seconds_ago,
        body.as_bytes(),
    )
}

#[tokio::test]
async fn a_payment_that_settles_later_answers_confirming_then_becomes_the_order() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let (hold_id, payment_id) =
        confirming_checkout(&buyer, &["J-1", "J-2"], "slow-1", CARD_SLOW_SUCCESS).await;
    // The same key while confirming: the same 202, no second attempt.
    let (status, again) = json(buyer.checkout(&hold_id, "slow-1", CARD_SLOW_SUCCESS).await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["payment"]["id"], payment_id.as_str());
    assert!(
        again["payment"]["message"]
            .as_str()
            .unwrap()
            .contains("Confirming")
    );
    // Nobody else can take the seats meanwhile.
    assert_eq!(app.seat_state("J-1").await, "held");

    let payment = settled(&buyer, &payment_id, Duration::from_secs(10)).await;
    assert_eq!(payment["status"], "paid", "{payment}");
    let order_id = payment["order_id"].as_str().unwrap();
    // The key now replays the order, as if it had been paid at once.
    let (status, body) = json(buyer.checkout(&hold_id, "slow-1", CARD_SLOW_SUCCESS).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["order"]["id"], order_id);
    assert_eq!(app.seat_state("J-2").await, "sold");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_payment_whose_checkout_died_before_storing_its_intent_is_found_and_settled_by_the_reconciler()
 {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let (hold_id, payment_id) =
        confirming_checkout(&buyer, &["J-20", "J-21"], "died", CARD_SLOW_SUCCESS).await;
    let intent = intent_of(&app, &payment_id).await;
    // As if the instance had died after confirming and before settling: checkout stores the
    // intent id only when it settles, so the pending payment has none. (The reconciler leaves a
    // payment alone for its first second, so it has not touched this one yet.)
    let _: Vec<String> = app
        .scalars(
            "UPDATE payments SET provider_ref = NULL WHERE id = ? AND status = 'pending'",
            &[&payment_id],
        )
        .await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM payments WHERE provider_ref IS NULL AND status = 'pending'",
            &[],
        )
        .await,
        1
    );
    let payment = settled(&buyer, &payment_id, Duration::from_secs(10)).await;
    assert_eq!(payment["status"], "paid", "{payment}");
    // Asking again under the payment's own key found the same intent: one charge, recorded.
    assert_eq!(intent_of(&app, &payment_id).await, intent);
    let (status, body) = json(buyer.checkout(&hold_id, "died", CARD_SLOW_SUCCESS).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(app.seat_state("J-20").await, "sold");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_decline_that_comes_later_keeps_the_hold_for_another_card() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let (hold_id, payment_id) =
        confirming_checkout(&buyer, &["J-5"], "slow-no", CARD_SLOW_DECLINE).await;
    let payment = settled(&buyer, &payment_id, Duration::from_secs(10)).await;
    assert_eq!(payment["status"], "declined", "{payment}");
    let (status, body) = json(buyer.checkout(&hold_id, "slow-no", CARD_SLOW_DECLINE).await).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "payment_declined");
    let (status, body) = json(buyer.checkout(&hold_id, "second-card", GOOD_CARD).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_charge_whose_answer_was_lost_is_confirmed_by_asking_the_provider_never_charged_twice() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["J-9"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = json(buyer.checkout(hold_id, "lost", CARD_ANSWER_LOST).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, again) = json(buyer.checkout(hold_id, "lost", CARD_ANSWER_LOST).await).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &body));
    assert_eq!(app.count("SELECT COUNT(*) FROM payments", &[]).await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_payment_landing_after_the_hold_expired_keeps_the_seats_when_they_are_still_free() {
    let app = TestApp::spawn_with(|s| s.hold_ttl = Duration::from_secs(1)).await;
    let buyer = app.register_and_login().await;
    let (_, payment_id) =
        confirming_checkout(&buyer, &["K-3", "K-4"], "late-kept", CARD_SLOW_SUCCESS).await;
    let payment = settled(&buyer, &payment_id, Duration::from_secs(10)).await;
    assert_eq!(payment["status"], "paid", "{payment}");
    assert_eq!(app.seat_state("K-3").await, "sold");
    assert_eq!(app.seat_state("K-4").await, "sold");
    let hold: Value = buyer
        .get_hold(payment["hold_id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hold["hold"]["status"], "converted");
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_payment_landing_after_its_seats_were_taken_is_refunded_and_the_buyer_is_told() {
    let app = TestApp::spawn_with(|s| s.hold_ttl = Duration::from_secs(1)).await;
    let late = app.register_and_login().await;
    let quick = app.register_and_login().await;
    let (hold_id, payment_id) =
        confirming_checkout(&late, &["K-7"], "late-lost", CARD_SLOW_SUCCESS).await;
    // The hold expires; someone else takes the seat before the slow payment lands.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.seat_state("K-7").await != "available" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hold never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let taken = quick.hold_ok(&["K-7"]).await;

    let payment = settled(&late, &payment_id, Duration::from_secs(10)).await;
    assert_eq!(payment["status"], "refunded", "{payment}");
    assert!(
        payment["message"].as_str().unwrap().contains("refunded"),
        "{payment}"
    );
    let (status, body) = json(
        late.checkout(&hold_id, "late-lost", CARD_SLOW_SUCCESS)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "hold_not_active");
    assert_eq!(body["error"]["details"]["refunded"], true);
    // The other buyer's hold is untouched and can be paid.
    let r = quick
        .checkout(taken["id"].as_str().unwrap(), "quick", GOOD_CARD)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
}

/// An app whose reconciler is too slow to matter: only webhooks settle payments.
async fn webhook_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.webhook_secret = Some(WEBHOOK_SECRET.to_owned());
        s.payment_reconcile_interval = Duration::from_secs(3600);
    })
    .await
}

#[tokio::test]
async fn a_signed_webhook_settles_a_confirming_payment_and_duplicates_change_nothing() {
    let app = webhook_app().await;
    let buyer = app.register_and_login().await;
    let (_, payment_id) = confirming_checkout(&buyer, &["L-1"], "hooked", CARD_SLOW_SUCCESS).await;
    let intent = intent_of(&app, &payment_id).await;
    // Out of order: "succeeded" arrives while the provider still says processing. The server
    // asks the provider, so nothing is settled early.
    let early = webhook::event_body("evt_early", &intent, &IntentStatus::Succeeded);
    assert_eq!(
        post_webhook(&app, &early, Some(signed(&early, 0)))
            .await
            .status(),
        StatusCode::OK
    );
    let (_, view) = json(buyer.get(&format!("/api/v1/payments/{payment_id}")).await).await;
    assert_eq!(view["payment"]["status"], "confirming");

    tokio::time::sleep(Duration::from_millis(1700)).await;
    let body = webhook::event_body("evt_1", &intent, &IntentStatus::Succeeded);
    for _ in 0..3 {
        let r = post_webhook(&app, &body, Some(signed(&body, 0))).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // A late "processing" event after the success changes nothing either.
    let stale_news = webhook::event_body("evt_0", &intent, &IntentStatus::Processing);
    assert_eq!(
        post_webhook(&app, &stale_news, Some(signed(&stale_news, 0)))
            .await
            .status(),
        StatusCode::OK
    );
    let (_, view) = json(buyer.get(&format!("/api/v1/payments/{payment_id}")).await).await;
    assert_eq!(view["payment"]["status"], "paid", "{view}");
    assert_eq!(app.count("SELECT COUNT(*) FROM orders", &[]).await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn forged_stale_or_malformed_webhooks_are_refused_and_change_nothing() {
    let app = webhook_app().await;
    let buyer = app.register_and_login().await;
    let (_, payment_id) = confirming_checkout(&buyer, &["L-9"], "guarded", CARD_SLOW_SUCCESS).await;
    let intent = intent_of(&app, &payment_id).await;
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let body = webhook::event_body("evt_1", &intent, &IntentStatus::Succeeded);

    let tampered = body.replace("evt_1", "evt_2");
    let r = post_webhook(&app, &tampered, Some(signed(&body, 0))).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_signature").await;
    let r = post_webhook(&app, &body, None).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_signature").await;
    let forged = webhook::sign(
        b"not the secret",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        body.as_bytes(),
    );
    let r = post_webhook(&app, &body, Some(forged)).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_signature").await;
    let r = post_webhook(&app, &body, Some(signed(&body, 600))).await;
    assert_error(r, StatusCode::BAD_REQUEST, "stale_webhook").await;
    let garbage = "{\"not\": \"an event\"}";
    let r = post_webhook(&app, garbage, Some(signed(garbage, 0))).await;
    assert_error(r, StatusCode::BAD_REQUEST, "malformed_webhook").await;
    // Genuine but not ours, or of a kind we do not act on: acknowledged, nothing changes.
    let stranger = webhook::event_body("evt_3", "pi_someone_else", &IntentStatus::Succeeded);
    assert_eq!(
        post_webhook(&app, &stranger, Some(signed(&stranger, 0)))
            .await
            .status(),
        StatusCode::OK
    );
    let other_kind = "{\"id\":\"evt_4\",\"type\":\"charge.dispute.created\",\"data\":{\"object\":{\"id\":\"dp_1\"}}}";
    assert_eq!(
        post_webhook(&app, other_kind, Some(signed(other_kind, 0)))
            .await
            .status(),
        StatusCode::OK
    );

    let (_, view) = json(buyer.get(&format!("/api/v1/payments/{payment_id}")).await).await;
    assert_eq!(view["payment"]["status"], "confirming");
    assert_eq!(app.count("SELECT COUNT(*) FROM orders", &[]).await, 0);
}

#[tokio::test]
async fn a_buyer_cannot_see_another_buyers_payment() {
    let app = TestApp::spawn().await;
    let owner = app.register_and_login().await;
    let stranger = app.register_and_login().await;
    let (_, payment_id) = confirming_checkout(&owner, &["M-1"], "mine", CARD_SLOW_SUCCESS).await;
    let r = stranger
        .get(&format!("/api/v1/payments/{payment_id}"))
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.get(&format!("/api/v1/payments/{payment_id}")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
