//! The catalogue: an admin creates venues and events, which buyers can then see, watch live, hold
//! and buy at once, on this instance and on every other one sharing the database.

mod creation;
mod editing;
mod validation;

use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

use crate::helpers::{Buyer, TestApp};

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
pub(crate) async fn venue_and_event(admin: &Buyer, rows: usize, per_row: usize) -> String {
    let layout = hall(rows, per_row);
    let venue = create_venue(admin, "Small Hall", &layout).await;
    let event = create_event(admin, &event_body(venue["id"].as_str().unwrap(), &layout)).await;
    event["id"].as_str().unwrap().to_owned()
}

/// A new buyer whose hold helpers act on `event_id`.
pub(crate) async fn buyer_for(app: &TestApp, event_id: &str) -> Buyer {
    let mut buyer = app.register_and_login().await;
    buyer.event_id = event_id.to_owned();
    buyer
}

fn changes_include(data: &Value, seat: &str, state: &str) -> bool {
    data["changes"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["id"] == seat && c["state"] == state))
}
