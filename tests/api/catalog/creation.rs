//! Venues and events created through the admin API: sellable at once, on every instance, at
//! stadium size, free or priced within what the provider takes; only by an admin.

use std::time::Instant;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    BACK_CENTS, FRONT_CENTS, buyer_for, changes_include, create_event, create_venue, event_body,
    hall, venue_and_event,
};
use crate::{
    admin::app_with_admin,
    helpers::{GOOD_CARD, SseReader, TestApp, WAIT, WsReader, assert_error, parse_time},
};

#[tokio::test]
async fn an_admin_creates_a_venue_and_an_event_that_buyers_can_hold_and_buy_at_once() {
    let (app, admin) = app_with_admin().await;
    let layout = hall(3, 10);
    let venue = create_venue(&admin, "  Small Hall ", &layout).await;
    assert_eq!(venue["name"], "Small Hall", "the name is trimmed");
    assert_eq!(venue["layout"], layout);
    parse_time(venue["created_at"].as_str().unwrap());
    let venue_id = venue["id"].as_str().unwrap();

    let r = admin
        .post_json("/api/v1/admin/events", &event_body(venue_id, &layout))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let created = r.json::<Value>().await.unwrap()["event"].clone();
    let event_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/events/{event_id}"));

    // The answer is the event exactly as GET shows it.
    let shown = app.get_json(&location).await["event"].clone();
    assert_eq!(created, shown);
    assert_eq!(shown["name"], "Late Show");
    assert_eq!(
        shown["venue"],
        json!({"id": venue_id, "name": "Small Hall"})
    );
    assert_eq!(shown["status"], "on_sale");
    assert_eq!(shown["currency"], "EUR");
    let categories = shown["categories"].as_array().unwrap();
    let summary: Vec<(&str, i64, &str)> = categories
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["price_cents"].as_i64().unwrap(),
                c["currency"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("Front", FRONT_CENTS, "EUR"), ("Back", BACK_CENTS, "EUR")]
    );
    let (front, back) = (&categories[0]["id"], &categories[1]["id"]);
    let rows = shown["layout"]["sections"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        for seat in row["seats"].as_array().unwrap() {
            let expected = if row["label"] == "R1" { front } else { back };
            assert_eq!(&seat["category_id"], expected, "{seat}");
        }
    }

    let list = app.get_json("/api/v1/events").await;
    let events = list["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "the demo event and the new one");
    let listed = events
        .iter()
        .find(|e| e["id"] == event_id.as_str())
        .unwrap();
    assert_eq!(listed["seats_total"], 30);
    assert_eq!(listed["seats_available"], 30);
    assert_eq!(listed["venue"]["name"], "Small Hall");

    let seats = app
        .get_json(&format!("/api/v1/events/{event_id}/seats"))
        .await;
    let seats = seats["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 30);
    assert!(seats.iter().all(|s| s["state"] == "available"));

    let mut sse = SseReader::connect_to(&app, &event_id, None).await;
    let (name, snapshot) = sse.next().await.unwrap();
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["seats"].as_array().unwrap().len(), 30);
    let mut ws = WsReader::connect_to(&app, &event_id).await;
    let first = ws.next_json().await;
    assert_eq!(first["type"], "snapshot");
    assert_eq!(first["seats"].as_array().unwrap().len(), 30);

    let buyer = buyer_for(&app, &event_id).await;
    let hold = buyer.hold_ok(&["R1-5", "R2-5"]).await;
    sse.until(WAIT, |name, data| {
        name == "seats" && changes_include(data, "R1-5", "held")
    })
    .await;
    loop {
        let frame = ws.next_json().await;
        if frame["type"] == "seats" && changes_include(&frame, "R1-5", "held") {
            break;
        }
    }

    let r = buyer
        .checkout(
            hold["id"].as_str().unwrap(),
            &Uuid::new_v4().to_string(),
            GOOD_CARD,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let order = r.json::<Value>().await.unwrap()["order"].clone();
    assert_eq!(order["total_cents"], FRONT_CENTS + BACK_CENTS);
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["event_id"], event_id.as_str());

    let r = admin
        .get(&format!("/api/v1/admin/events/{event_id}/sales"))
        .await;
    let sales: Value = r.json().await.unwrap();
    assert_eq!(
        (
            &sales["seats_total"],
            &sales["sold"],
            &sales["revenue_cents"]
        ),
        (&json!(30), &json!(2), &json!(FRONT_CENTS + BACK_CENTS))
    );
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn only_an_admin_creates_venues_and_events_and_others_are_refused_before_the_body_is_read() {
    let (app, admin) = app_with_admin().await;
    let layout = hall(1, 2);
    let venue_body = json!({"name": "Hall", "layout": layout});
    for path in ["/api/v1/admin/venues", "/api/v1/admin/events"] {
        assert_error(
            app.post_json(path, &venue_body).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        let buyer = app.register_and_login().await;
        assert_error(
            buyer.post_json(path, &venue_body).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        // Not even parsed: a buyer cannot make the server read a catalogue-sized body.
        let r = buyer
            .client
            .post(buyer.url(path))
            .header(header::CONTENT_TYPE, "application/json")
            .body("{ not json")
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
        // And another site cannot use the admin's cookie.
        let r = admin
            .client
            .post(admin.url(path))
            .header(header::ORIGIN, "http://evil.example")
            .json(&venue_body)
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM venues", &[]).await, 1);
}

#[tokio::test]
async fn a_twenty_thousand_seat_event_is_created_in_seconds_and_sold_while_other_bodies_keep_the_small_limit()
 {
    let (app, admin) = app_with_admin().await;
    let layout = hall(100, 200);
    let started = Instant::now();
    let venue = create_venue(&admin, "Arena", &layout).await;
    let venue_took = started.elapsed();
    let body = event_body(venue["id"].as_str().unwrap(), &layout);
    let started = Instant::now();
    let event = create_event(&admin, &body).await;
    let event_took = started.elapsed();
    eprintln!(
        "{}: 20,000-seat venue created in {venue_took:?}, its event in {event_took:?}",
        crate::database::backend()
    );
    let event_id = event["id"].as_str().unwrap().to_owned();

    let list = app.get_json("/api/v1/events").await;
    let listed = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == event_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["seats_total"], 20_000);
    let seats = app
        .get_json(&format!("/api/v1/events/{event_id}/seats"))
        .await;
    assert_eq!(seats["seats"].as_array().unwrap().len(), 20_000);
    let order = buyer_for(&app, &event_id).await.buy(&["R100-200"]).await;
    assert_eq!(order["total_cents"], BACK_CENTS);

    // Every other endpoint keeps the general body limit.
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "big@example.com", "password": "x".repeat(200_000), "name": "Big"}),
        )
        .await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn an_event_created_on_one_instance_is_listed_watched_and_sold_on_another_sharing_the_database()
 {
    let (first, admin) = app_with_admin().await;
    let mut second = TestApp::spawn_on(first.db_url.clone(), |_| {}).await;
    second.keep_database();
    // The second instance is running before the event exists, so it must find it afterwards.
    assert_eq!(
        second.get_json("/api/v1/events").await["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let event_id = venue_and_event(&admin, 3, 10).await;
    let mut watcher = SseReader::connect_to(&first, &event_id, None).await;
    assert_eq!(watcher.next().await.unwrap().0, "snapshot");

    let listed = second.get_json("/api/v1/events").await;
    let listed = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == event_id.as_str())
        .cloned()
        .expect("the second instance lists the new event");
    assert_eq!(listed["seats_total"], 30);
    let shown = second.get_json(&format!("/api/v1/events/{event_id}")).await;
    assert_eq!(shown["event"]["categories"][0]["price_cents"], FRONT_CENTS);

    let buyer = buyer_for(&second, &event_id).await;
    let order = buyer.buy(&["R1-7"]).await;
    assert_eq!(order["total_cents"], FRONT_CENTS);
    // The first instance's live map learns of the sale made on the second.
    watcher
        .until(WAIT, |name, data| {
            name == "seats" && changes_include(data, "R1-7", "sold")
        })
        .await;
    let seats = first
        .get_json(&format!("/api/v1/events/{event_id}/seats"))
        .await;
    let sold: Vec<&Value> = seats["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "sold")
        .collect();
    assert_eq!(sold.len(), 1);
    assert_eq!(sold[0]["id"], "R1-7");
    first.assert_audit_ok().await;
}

#[tokio::test]
async fn a_free_event_is_paid_without_the_provider_and_leaves_a_zero_charge_in_the_ledger() {
    let (app, admin) = app_with_admin().await;
    let layout = hall(2, 5);
    let venue = create_venue(&admin, "Free Hall", &layout).await;
    let mut body = event_body(venue["id"].as_str().unwrap(), &layout);
    body["categories"] = json!([
        {"name": "Front", "price_cents": 0},
        {"name": "Back", "price_cents": 0, "currency": "EUR"},
    ]);
    let event = create_event(&admin, &body).await;
    let buyer = buyer_for(&app, event["id"].as_str().unwrap()).await;
    let hold = buyer.hold_ok(&["R1-1", "R1-2"]).await;
    let r = buyer
        .checkout(hold["id"].as_str().unwrap(), "free-seats", GOOD_CARD)
        .await;
    let status = r.status();
    let order: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["order"]["total_cents"], 0);
    assert_eq!(order["order"]["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM payments WHERE provider_ref IS NULL AND status = 'succeeded'",
            &[]
        )
        .await,
        1,
        "no intent was ever made"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'charge' AND amount_cents = 0",
            &[]
        )
        .await,
        1
    );
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_price_above_what_the_payment_provider_takes_is_refused() {
    let (_app, admin) = app_with_admin().await;
    let layout = hall(1, 3);
    let venue = create_venue(&admin, "Dear Hall", &layout).await;
    let mut body = event_body(venue["id"].as_str().unwrap(), &layout);
    body["categories"][0]["price_cents"] = json!(100_000_000);
    let r = admin.post_json("/api/v1/admin/events", &body).await;
    let refused = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_prices").await;
    assert_eq!(refused["details"]["categories"], json!(["Front"]));
    // Eight digits, Stripe's limit, is fine.
    body["categories"][0]["price_cents"] = json!(99_999_999);
    create_event(&admin, &body).await;
}
