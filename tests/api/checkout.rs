//! Checkout: idempotency, declines, server-side pricing, races, and the resulting orders and
//! tickets.

use std::collections::HashSet;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    Buyer, DECLINED_CARD, GOOD_CARD, TestApp, assert_error, checkout_body, strings,
};

async fn held(buyer: &Buyer, seats: &[&str]) -> String {
    buyer.hold_ok(seats).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Status and raw body bytes.
async fn raw(r: reqwest::Response) -> (StatusCode, Vec<u8>) {
    let status = r.status();
    (status, r.bytes().await.unwrap().to_vec())
}

async fn order_count(app: &TestApp) -> i64 {
    let n: i64 = app.count("SELECT COUNT(*) FROM orders", &[]).await;
    n
}

#[tokio::test]
async fn checkout_without_an_idempotency_key_is_400() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["A-1"]).await;
    let r = buyer
        .checkout_body(&hold, None, &checkout_body(GOOD_CARD))
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "idempotency_key_required").await;
    let r = buyer
        .checkout_body(&hold, Some("   "), &checkout_body(GOOD_CARD))
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "idempotency_key_required").await;
    assert_eq!(app.seat_state("A-1").await, "held");
    assert_eq!(order_count(&app).await, 0);
}

#[tokio::test]
async fn an_idempotency_key_longer_than_255_characters_is_422() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["A-1"]).await;
    let r = buyer.checkout(&hold, &"k".repeat(256), GOOD_CARD).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    crate::helpers::error_body(r).await;
    assert_eq!(order_count(&app).await, 0);
    // 255 is fine.
    let r = buyer.checkout(&hold, &"k".repeat(255), GOOD_CARD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_paid_order_has_the_documented_shape_and_the_server_computed_total() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let prices = app.prices().await;
    let seats = ["A-3", "H-16", "P-32"];
    let hold = held(&buyer, &seats).await;
    let r = buyer.checkout(&hold, "order-shape", GOOD_CARD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    let order = &body["order"];
    assert!(order["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(order["status"], "paid");
    assert_eq!(order["hold_id"], hold.as_str());
    assert_eq!(order["event_id"], buyer.event_id.as_str());
    let mut got = strings(&order["seat_ids"]);
    got.sort();
    let mut want: Vec<String> = seats.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    let expected: i64 = seats.iter().map(|s| prices[*s]).sum();
    assert_eq!(order["total_cents"], expected);
    assert_eq!(order["currency"], "EUR");
    crate::helpers::parse_time(order["created_at"].as_str().unwrap());
    let tickets = order["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 3);
    let mut ticket_seats = Vec::new();
    let mut ids = HashSet::new();
    let mut codes = HashSet::new();
    for t in tickets {
        assert!(ids.insert(t["id"].as_str().unwrap().to_owned()));
        assert!(codes.insert(t["code"].as_str().unwrap().to_owned()));
        ticket_seats.push(t["seat_id"].as_str().unwrap().to_owned());
    }
    ticket_seats.sort();
    assert_eq!(ticket_seats, want);

    let r = buyer.get_hold(&hold).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["hold"]["status"],
        "converted"
    );
    let map = app.seat_map().await;
    for s in seats {
        assert_eq!(map.state(s), "sold");
    }
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn the_client_cannot_influence_the_amount() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let prices = app.prices().await;
    let hold = held(&buyer, &["B-7", "B-8"]).await;
    let body = json!({
        "payment": {"method": "sandbox", "card_number": GOOD_CARD, "amount": 1, "amount_cents": 1},
        "amount": 1,
        "total_cents": 1,
        "price_cents": 0,
        "currency": "XXX",
    });
    let r = buyer.checkout_body(&hold, Some("cheapskate"), &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let order: Value = r.json().await.unwrap();
    assert_eq!(order["order"]["total_cents"], prices["B-7"] + prices["B-8"]);
    assert_eq!(order["order"]["currency"], "EUR");
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn replaying_a_successful_checkout_returns_the_same_response_and_charges_once() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["C-1", "C-2"]).await;
    let first = raw(buyer.checkout(&hold, "replay-201", GOOD_CARD).await).await;
    assert_eq!(first.0, StatusCode::CREATED);
    for _ in 0..3 {
        let again = raw(buyer.checkout(&hold, "replay-201", GOOD_CARD).await).await;
        assert_eq!(again.0, first.0);
        assert_eq!(
            String::from_utf8_lossy(&again.1),
            String::from_utf8_lossy(&first.1),
            "byte-identical"
        );
    }
    // The same body in another key order is the same request.
    let reordered = r#"{"payment":{"card_number":"4242424242424242","method":"sandbox"}}"#;
    let r = buyer
        .client
        .post(buyer.url(&format!("/api/v1/holds/{hold}/checkout")))
        .header("Idempotency-Key", "replay-201")
        .header(header::CONTENT_TYPE, "application/json")
        .body(reordered)
        .send()
        .await
        .unwrap();
    assert_eq!(raw(r).await, first);

    let orders: Value = buyer.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
    let charges: i64 = app
        .count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
        .await;
    let payments: i64 = app.count("SELECT COUNT(*) FROM payments", &[]).await;
    assert_eq!((charges, payments), (1, 1));
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn the_same_key_with_a_different_request_is_422_idempotency_key_reused() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["C-3"]).await;
    let other_hold = held(&buyer, &["C-4"]).await;
    let r = buyer.checkout(&hold, "reused", DECLINED_CARD).await;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    // Another card.
    let r = buyer.checkout(&hold, "reused", GOOD_CARD).await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    // Another hold.
    let r = buyer.checkout(&other_hold, "reused", DECLINED_CARD).await;
    assert_error(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(order_count(&app).await, 0);
    // Keys belong to their buyer: another buyer may use the same string.
    let other = app.register_and_login().await;
    let h = held(&other, &["C-5"]).await;
    assert_eq!(
        other.checkout(&h, "reused", GOOD_CARD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_declined_card_is_402_the_hold_stays_active_and_a_new_key_can_pay() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["D-1", "D-2"]).await;
    let declined = raw(buyer.checkout(&hold, "attempt-1", DECLINED_CARD).await).await;
    assert_eq!(declined.0, StatusCode::PAYMENT_REQUIRED);
    let body: Value = serde_json::from_slice(&declined.1).unwrap();
    assert_eq!(body["error"]["code"], "payment_declined");
    assert!(body["error"]["message"].as_str().is_some());

    // The replay of the decline is byte-identical, and charges nothing.
    let again = raw(buyer.checkout(&hold, "attempt-1", DECLINED_CARD).await).await;
    assert_eq!(again.0, declined.0);
    assert_eq!(
        String::from_utf8_lossy(&again.1),
        String::from_utf8_lossy(&declined.1)
    );

    let r = buyer.get_hold(&hold).await;
    assert_eq!(r.json::<Value>().await.unwrap()["hold"]["status"], "active");
    assert_eq!(app.seat_state("D-1").await, "held");
    assert_eq!(order_count(&app).await, 0);

    let r = buyer.checkout(&hold, "attempt-2", GOOD_CARD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.seat_state("D-1").await, "sold");
    // The first key still replays its decline.
    let again = raw(buyer.checkout(&hold, "attempt-1", DECLINED_CARD).await).await;
    assert_eq!(again, declined);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_bad_payment_method_or_card_number_is_422() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["D-5"]).await;
    for (i, body) in [
        json!({"payment": {"method": "visa", "card_number": GOOD_CARD}}),
        json!({"payment": {"method": "sandbox", "card_number": "4242424242424241"}}),
        json!({"payment": {"method": "sandbox", "card_number": "not a number"}}),
        json!({"payment": {"method": "sandbox", "card_number": "9".repeat(5000)}}),
        json!({"payment": {"method": "sandbox"}}),
        json!({"payment": null}),
        json!({}),
    ]
    .into_iter()
    .enumerate()
    {
        let r = buyer
            .checkout_body(&hold, Some(&format!("bad-{i}")), &body)
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        crate::helpers::error_body(r).await;
    }
    assert_eq!(app.seat_state("D-5").await, "held");
    // None of them used up the hold.
    let r = buyer.checkout(&hold, "good", GOOD_CARD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_racing_checkouts_with_different_keys_produce_exactly_one_order() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["E-1", "E-2"]).await;
    let results = futures_util::future::join_all((0..20).map(|i| {
        let (buyer, hold) = (&buyer, hold.clone());
        async move {
            let r = buyer
                .checkout(&hold, &format!("racer-{i}"), GOOD_CARD)
                .await;
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{results:?}");
    for (status, body) in &results {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::CONFLICT,
            "{status}: {body}"
        );
        if *status == StatusCode::CONFLICT {
            let code = body["error"]["code"].as_str().unwrap();
            assert!(
                [
                    "hold_not_active",
                    "payment_in_progress",
                    "request_in_progress"
                ]
                .contains(&code),
                "{body}"
            );
        }
    }
    let orders: Value = buyer.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
    assert_eq!(order_count(&app).await, 1);
    app.assert_audit_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_racing_checkouts_with_the_same_key_produce_one_order_and_one_answer() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["E-5", "E-6"]).await;
    let results = futures_util::future::join_all((0..20).map(|_| {
        let (buyer, hold) = (&buyer, hold.clone());
        async move { raw(buyer.checkout(&hold, "double-click", GOOD_CARD).await).await }
    }))
    .await;
    let bodies: HashSet<Vec<u8>> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(bodies.len(), 1, "every 201 carries the same body");
    for (status, body) in &results {
        if *status != StatusCode::CREATED {
            assert_eq!(*status, StatusCode::CONFLICT);
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["error"]["code"], "request_in_progress", "{v}");
        }
    }
    // Afterwards the key replays the 201.
    let (status, body) = raw(buyer.checkout(&hold, "double-click", GOOD_CARD).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(bodies.contains(&body));
    assert_eq!(order_count(&app).await, 1);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_paid_hold_cannot_be_paid_again_with_another_key() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold = held(&buyer, &["E-9"]).await;
    assert_eq!(
        buyer.checkout(&hold, "first", GOOD_CARD).await.status(),
        StatusCode::CREATED
    );
    let r = buyer.checkout(&hold, "second", GOOD_CARD).await;
    assert_error(r, StatusCode::CONFLICT, "hold_not_active").await;
    // Releasing a converted hold changes nothing.
    assert_eq!(buyer.release(&hold).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.seat_state("E-9").await, "sold");
    assert_eq!(order_count(&app).await, 1);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn orders_and_tickets_are_visible_to_their_owner_and_404_to_others() {
    let app = TestApp::spawn().await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    let order = ann.buy(&["F-1", "F-2"]).await;
    let order_id = order["id"].as_str().unwrap();

    let list: Value = ann.get("/api/v1/orders").await.json().await.unwrap();
    let orders = list["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["id"], order_id);
    assert_eq!(orders[0]["total_cents"], order["total_cents"]);

    let r = ann.get(&format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let one: Value = r.json().await.unwrap();
    assert_eq!(one["order"]["id"], order_id);
    assert_eq!(one["order"]["tickets"], order["tickets"]);

    for t in order["tickets"].as_array().unwrap() {
        let tid = t["id"].as_str().unwrap();
        let r = ann.get(&format!("/api/v1/tickets/{tid}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let ticket: Value = r.json().await.unwrap();
        let ticket = &ticket["ticket"];
        assert_eq!(ticket["id"], tid);
        assert_eq!(ticket["order_id"], order_id);
        assert_eq!(ticket["event_id"], ann.event_id.as_str());
        assert_eq!(ticket["seat_id"], t["seat_id"]);
        assert_eq!(ticket["code"], t["code"]);
        assert!(ticket["seat_label"].as_str().is_some_and(|l| !l.is_empty()));

        let r = ann.get(&format!("/api/v1/tickets/{tid}/qr.svg")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with("image/svg+xml"), "{ct}");
        let svg = r.text().await.unwrap();
        assert!(
            svg.starts_with("<?xml") || svg.starts_with("<svg"),
            "{}",
            &svg[..40.min(svg.len())]
        );
        assert!(svg.contains("<svg"));

        for path in [
            format!("/api/v1/tickets/{tid}"),
            format!("/api/v1/tickets/{tid}/qr.svg"),
        ] {
            assert_error(bob.get(&path).await, StatusCode::NOT_FOUND, "not_found").await;
            let r = app.get(&path).await;
            assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }
    assert_error(
        bob.get(&format!("/api/v1/orders/{order_id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let bobs: Value = bob.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(bobs["orders"], json!([]));
    assert_error(
        app.get("/api/v1/orders").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        ann.get("/api/v1/orders/no-such-order").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        ann.get("/api/v1/tickets/no-such-ticket/qr.svg").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn ticket_codes_verify_with_the_server_key_and_cannot_be_forged() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["G-1", "G-2"]).await;
    let secret: String = app
        .text("SELECT value FROM settings WHERE key = 'secret'", &[])
        .await;
    let event_id = buyer.event_id.as_str();
    let tickets = order["tickets"].as_array().unwrap();
    for t in tickets {
        let (id, seat, code) = (
            t["id"].as_str().unwrap(),
            t["seat_id"].as_str().unwrap(),
            t["code"].as_str().unwrap(),
        );
        use boxoffice_domain::ticket::verify_code;
        assert!(verify_code(secret.as_bytes(), code, id, event_id, seat));
        assert!(!verify_code(b"another secret", code, id, event_id, seat));
        assert!(!verify_code(secret.as_bytes(), code, id, event_id, "G-3"));
    }
    // One ticket's code does not verify for the other ticket.
    let (a, b) = (&tickets[0], &tickets[1]);
    assert!(!boxoffice_domain::ticket::verify_code(
        secret.as_bytes(),
        a["code"].as_str().unwrap(),
        b["id"].as_str().unwrap(),
        event_id,
        b["seat_id"].as_str().unwrap(),
    ));
}
