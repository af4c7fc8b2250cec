//! Invalid venues and events: refused with the offending seats or categories named.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{create_venue, event_body, hall, in_days};
use crate::{admin::app_with_admin, helpers::assert_error};

/// A refused request: what is wrong with it, the body, the expected error code, and a detail
/// the error must carry (its key and value).
pub(super) type Refusal = (
    &'static str,
    Value,
    &'static str,
    Option<(&'static str, Value)>,
);

/// Applies `change` to a copy of `base` (a JSON pointer and its new value; `None` removes it).
pub(super) fn with(base: &Value, pointer: &str, value: Option<Value>) -> Value {
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
