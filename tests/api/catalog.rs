//! The catalogue: an admin creates venues and events, which buyers can then see, watch live, hold
//! and buy at once, on this instance and on every other one sharing the database.

use std::time::Instant;

use reqwest::{StatusCode, header};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::{
    admin::app_with_admin,
    helpers::{Buyer, GOOD_CARD, SseReader, TestApp, WAIT, WsReader, assert_error, parse_time},
};

/// An RFC 3339 time `days` from now (negative: in the past).
fn in_days(days: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::days(days))
        .format(&Rfc3339)
        .unwrap()
}

/// A rectangular hall under a stage: `rows` rows (`R1`, `R2`, …) of `per_row` seats
/// (`R1-1`, `R1-2`, …), 20 units apart.
fn hall(rows: usize, per_row: usize) -> Value {
    let width = (per_row * 20 + 40) as f64;
    let height = (rows * 20 + 100) as f64;
    let rows: Vec<Value> = (1..=rows)
        .map(|r| {
            let seats: Vec<Value> = (1..=per_row)
                .map(|n| {
                    json!({"id": format!("R{r}-{n}"), "label": n.to_string(),
                        "x": (20 * n) as f64, "y": (60 + 20 * r) as f64, "accessible": false})
                })
                .collect();
            json!({"label": format!("R{r}"), "seats": seats})
        })
        .collect();
    json!({
        "width": width, "height": height,
        "stage": {"x": 20.0, "y": 10.0, "width": width - 40.0, "height": 30.0, "label": "Stage"},
        "sections": [{"id": "floor", "name": "Floor", "rows": rows}],
    })
}

fn seat_ids(layout: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for section in layout["sections"].as_array().unwrap() {
        for row in section["rows"].as_array().unwrap() {
            for seat in row["seats"].as_array().unwrap() {
                ids.push(seat["id"].as_str().unwrap().to_owned());
            }
        }
    }
    ids
}

const FRONT_CENTS: i64 = 7300;
const BACK_CENTS: i64 = 2100;

/// An event in the venue: row R1 is "Front", every other row "Back"; on sale since yesterday.
fn event_body(venue_id: &str, layout: &Value) -> Value {
    let seat_categories: Map<String, Value> = seat_ids(layout)
        .into_iter()
        .map(|id| {
            let category = if id.starts_with("R1-") {
                "Front"
            } else {
                "Back"
            };
            (id, json!(category))
        })
        .collect();
    json!({
        "venue_id": venue_id,
        "name": "Late Show",
        "starts_at": in_days(60),
        "sale_opens_at": in_days(-1),
        "categories": [
            {"name": "Front", "price_cents": FRONT_CENTS},
            {"name": "Back", "price_cents": BACK_CENTS, "currency": "EUR"},
        ],
        "seat_categories": seat_categories,
    })
}

/// Creates a venue, which must succeed; returns the `venue` object.
async fn create_venue(admin: &Buyer, name: &str, layout: &Value) -> Value {
    let r = admin
        .post_json(
            "/api/v1/admin/venues",
            &json!({"name": name, "layout": layout}),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "create venue: {body}");
    body["venue"].clone()
}

/// Creates an event, which must succeed; returns the `event` object.
async fn create_event(admin: &Buyer, body: &Value) -> Value {
    let r = admin.post_json("/api/v1/admin/events", body).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "create event: {body}");
    body["event"].clone()
}

/// A venue of `rows` × `per_row` seats with the standard event in it; returns the event id.
pub async fn venue_and_event(admin: &Buyer, rows: usize, per_row: usize) -> String {
    let layout = hall(rows, per_row);
    let venue = create_venue(admin, "Small Hall", &layout).await;
    let event = create_event(admin, &event_body(venue["id"].as_str().unwrap(), &layout)).await;
    event["id"].as_str().unwrap().to_owned()
}

/// A new buyer whose hold helpers act on `event_id`.
pub async fn buyer_for(app: &TestApp, event_id: &str) -> Buyer {
    let mut buyer = app.register_and_login().await;
    buyer.event_id = event_id.to_owned();
    buyer
}

fn changes_include(data: &Value, seat: &str, state: &str) -> bool {
    data["changes"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["id"] == seat && c["state"] == state))
}

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

/// A refused request: what is wrong with it, the body, the expected error code, and a detail
/// the error must carry (its key and value).
type Refusal = (
    &'static str,
    Value,
    &'static str,
    Option<(&'static str, Value)>,
);

/// Applies `change` to a copy of `base` (a JSON pointer and its new value; `None` removes it).
fn with(base: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut v = base.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = v.pointer_mut(parent).unwrap_or_else(|| panic!("{parent}"));
    match (target, value) {
        (Value::Object(m), Some(value)) => {
            m.insert(key.to_owned(), value);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (Value::Array(a), Some(value)) => a[key.parse::<usize>().unwrap()] = value,
        (Value::Array(a), None) => {
            a.remove(key.parse::<usize>().unwrap());
        }
        (other, _) => panic!("{pointer}: {other}"),
    }
    v
}

#[tokio::test]
async fn invalid_venues_are_refused_with_the_offending_seats_named() {
    let (app, admin) = app_with_admin().await;
    let good = json!({"name": "Hall", "layout": hall(2, 3)});
    let seat = "/layout/sections/0/rows/0/seats";
    let cases: Vec<Refusal> = vec![
        (
            "empty name",
            with(&good, "/name", Some(json!(" "))),
            "invalid_venue_name",
            None,
        ),
        (
            "zero width",
            with(&good, "/layout/width", Some(json!(0))),
            "invalid_layout",
            None,
        ),
        (
            "stage outside",
            with(&good, "/layout/stage/x", Some(json!(1000.0))),
            "invalid_layout",
            None,
        ),
        (
            "no seats",
            with(&good, "/layout/sections", Some(json!([]))),
            "empty_layout",
            None,
        ),
        (
            "malformed id",
            with(&good, &format!("{seat}/1/id"), Some(json!("R1 2"))),
            "invalid_seat_ids",
            Some(("seat_ids", json!(["R1 2"]))),
        ),
        (
            "repeated id",
            with(&good, &format!("{seat}/1/id"), Some(json!("R1-1"))),
            "duplicate_seat_ids",
            Some(("seat_ids", json!(["R1-1"]))),
        ),
        (
            "empty label",
            with(&good, &format!("{seat}/2/label"), Some(json!(""))),
            "invalid_seat_labels",
            Some(("seat_ids", json!(["R1-3"]))),
        ),
        (
            "seat outside",
            with(&good, &format!("{seat}/0/x"), Some(json!(5000.5))),
            "seats_outside_layout",
            Some(("seat_ids", json!(["R1-1"]))),
        ),
        (
            "no stage",
            with(&good, "/layout/stage", None),
            "invalid_request",
            None,
        ),
        (
            "coordinate as text",
            with(&good, &format!("{seat}/0/y"), Some(json!("10"))),
            "invalid_request",
            None,
        ),
    ];
    for (what, body, code, detail) in cases {
        let r = admin.post_json("/api/v1/admin/venues", &body).await;
        let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        if let Some((key, value)) = detail {
            assert_eq!(error["details"][key], value, "{what}: {error}");
        }
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM venues", &[]).await,
        1,
        "only the demo hall"
    );
}

#[tokio::test]
async fn invalid_events_are_refused_with_the_offending_seats_or_categories_named() {
    let (app, admin) = app_with_admin().await;
    let layout = hall(2, 3);
    let venue = create_venue(&admin, "Hall", &layout).await;
    let good = event_body(venue["id"].as_str().unwrap(), &layout);
    let categories = "/categories";
    let mut missing_seat = good.clone();
    missing_seat["seat_categories"]
        .as_object_mut()
        .unwrap()
        .remove("R2-3");
    let cases: Vec<Refusal> = vec![
        (
            "unknown venue",
            with(&good, "/venue_id", Some(json!("0123456789abcdef"))),
            "unknown_venue",
            None,
        ),
        (
            "venue id with a NUL",
            with(&good, "/venue_id", Some(json!("a\u{0}b"))),
            "invalid_characters",
            None,
        ),
        (
            "empty name",
            with(&good, "/name", Some(json!(""))),
            "invalid_event_name",
            None,
        ),
        (
            "start not a time",
            with(&good, "/starts_at", Some(json!("next friday"))),
            "invalid_time",
            Some(("field", json!("starts_at"))),
        ),
        (
            "sale opens after the start",
            with(&good, "/sale_opens_at", Some(json!(in_days(61)))),
            "sale_opens_after_start",
            None,
        ),
        (
            "in the past",
            with(
                &with(&good, "/starts_at", Some(json!(in_days(-1)))),
                "/sale_opens_at",
                Some(json!(in_days(-2))),
            ),
            "event_in_past",
            None,
        ),
        (
            "no categories",
            with(&good, categories, Some(json!([]))),
            "no_categories",
            None,
        ),
        (
            "a name twice",
            with(&good, "/categories/1/name", Some(json!("FRONT"))),
            "duplicate_categories",
            Some(("categories", json!(["FRONT"]))),
        ),
        (
            "a negative price",
            with(&good, "/categories/1/price_cents", Some(json!(-1))),
            "invalid_prices",
            Some(("categories", json!(["Back"]))),
        ),
        (
            "a fractional price",
            with(&good, "/categories/1/price_cents", Some(json!(12.5))),
            "invalid_request",
            None,
        ),
        (
            "a malformed currency",
            with(&good, "/categories/1/currency", Some(json!("euro"))),
            "invalid_currency",
            Some(("currencies", json!(["euro"]))),
        ),
        (
            "two currencies",
            with(&good, "/categories/0/currency", Some(json!("USD"))),
            "mixed_currencies",
            Some(("currencies", json!(["EUR", "USD"]))),
        ),
        (
            "a seat not in the venue",
            with(&good, "/seat_categories/Z-9", Some(json!("Back"))),
            "unknown_seats",
            Some(("seat_ids", json!(["Z-9"]))),
        ),
        (
            "an undeclared category",
            with(&good, "/seat_categories/R2-1", Some(json!("Balcony"))),
            "unknown_categories",
            Some(("categories", json!(["Balcony"]))),
        ),
        (
            "a seat without a category",
            missing_seat,
            "unpriced_seats",
            Some(("seat_ids", json!(["R2-3"]))),
        ),
    ];
    for (what, body, code, detail) in cases {
        let r = admin.post_json("/api/v1/admin/events", &body).await;
        let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        if let Some((key, value)) = detail {
            assert_eq!(error["details"][key], value, "{what}: {error}");
        }
    }
    // Nothing of a refused event was stored.
    assert_eq!(app.count("SELECT COUNT(*) FROM events", &[]).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM categories", &[]).await, 3);
    assert_eq!(
        app.get_json("/api/v1/events").await["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
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
