//! Events and seats: the list, the detail with its layout and prices, and the seat states.

use std::collections::{BTreeSet, HashMap};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, all_seat_ids, assert_error};

#[tokio::test]
async fn the_event_list_has_the_demo_event_on_sale_with_512_seats() {
    let app = TestApp::spawn().await;
    let body = app.get_json("/api/v1/events").await;
    let events = body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "exactly one demo event: {body}");
    let e = &events[0];
    for field in ["id", "name", "starts_at", "sale_opens_at"] {
        assert!(
            e[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}: {e}"
        );
    }
    assert!(e["venue"]["id"].as_str().is_some());
    assert!(e["venue"]["name"].as_str().is_some());
    assert_eq!(e["status"], "on_sale");
    assert_eq!(e["seats_total"], 512);
    assert_eq!(e["seats_available"], 512);
    let opens = crate::helpers::parse_time(e["sale_opens_at"].as_str().unwrap());
    let starts = crate::helpers::parse_time(e["starts_at"].as_str().unwrap());
    let now = time::OffsetDateTime::now_utc();
    assert!(opens <= now && now < starts);
    assert!(
        e["starts_at"].as_str().unwrap().ends_with('Z'),
        "times are UTC: {e}"
    );
}

#[tokio::test]
async fn the_event_detail_has_priced_categories_and_rows_a_to_p_of_32_seats() {
    let app = TestApp::spawn().await;
    let event = app.event().await;
    assert_eq!(event["id"], app.event_id().await);
    assert_eq!(event["status"], "on_sale");

    let categories = event["categories"].as_array().unwrap();
    assert!(categories.len() >= 2, "{categories:?}");
    let mut category_ids = BTreeSet::new();
    for c in categories {
        assert!(c["name"].as_str().is_some());
        assert!(c["price_cents"].as_i64().is_some_and(|p| p > 0), "{c}");
        assert_eq!(c["currency"].as_str().map(str::len), Some(3), "{c}");
        category_ids.insert(c["id"].as_str().unwrap().to_owned());
    }

    let layout = &event["layout"];
    assert!(layout["stage"].is_object(), "a stage: {}", layout["stage"]);
    let mut rows: Vec<String> = Vec::new();
    let mut seat_ids = BTreeSet::new();
    let mut used_categories = BTreeSet::new();
    for section in layout["sections"].as_array().unwrap() {
        assert!(section["id"].as_str().is_some() && section["name"].as_str().is_some());
        for row in section["rows"].as_array().unwrap() {
            rows.push(row["label"].as_str().unwrap().to_owned());
            let seats = row["seats"].as_array().unwrap();
            assert_eq!(seats.len(), 32, "row {}", row["label"]);
            for s in seats {
                assert!(
                    s["x"].as_f64().is_some() && s["y"].as_f64().is_some(),
                    "{s}"
                );
                assert!(s["label"].as_str().is_some());
                assert!(s["accessible"].is_boolean(), "{s}");
                let cat = s["category_id"].as_str().expect("category_id");
                assert!(category_ids.contains(cat), "{s}");
                used_categories.insert(cat.to_owned());
                assert!(seat_ids.insert(s["id"].as_str().unwrap().to_owned()));
            }
        }
    }
    let expected_rows: Vec<String> = ('A'..='P').map(|c| c.to_string()).collect();
    assert_eq!(rows, expected_rows);
    assert_eq!(seat_ids.len(), 512);
    assert!(used_categories.len() >= 2, "at least two categories in use");
    // Every seat of the layout is a seat of /seats and vice versa.
    let map = app.seat_map().await;
    let live: BTreeSet<String> = map.seats.keys().cloned().collect();
    assert_eq!(live, seat_ids);
    assert_eq!(live, all_seat_ids().into_iter().collect());
}

#[tokio::test]
async fn seats_lists_512_available_seats_with_versions() {
    let app = TestApp::spawn().await;
    let id = app.event_id().await;
    let body = app.get_json(&format!("/api/v1/events/{id}/seats")).await;
    assert_eq!(body["event_id"], id);
    let seats = body["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 512);
    let mut seen = HashMap::new();
    for s in seats {
        assert_eq!(s["state"], "available", "{s}");
        assert!(s["version"].as_i64().is_some_and(|v| v >= 1), "{s}");
        assert!(s.get("mine").is_none_or(|m| m == false), "anonymous: {s}");
        assert!(
            seen.insert(s["id"].as_str().unwrap().to_owned(), ())
                .is_none()
        );
    }
}

#[tokio::test]
async fn an_unknown_event_is_404_with_the_json_error_shape() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/events/no-such-event",
        "/api/v1/events/no-such-event/seats",
        "/api/v1/events/no-such-event/stream",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        crate::helpers::error_body(r).await;
    }
    // A real WebSocket handshake for an unknown event.
    let url = format!("ws://127.0.0.1:{}/api/v1/events/no-such-event/ws", app.port);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 404);
            let body: Value = serde_json::from_slice(r.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "not_found");
        }
        other => panic!("expected a 404 handshake, got {other:?}"),
    }
    let buyer = app.register_and_login().await;
    let r = buyer
        .post_json(
            "/api/v1/events/no-such-event/holds",
            &serde_json::json!({"seat_ids": ["A-1"]}),
        )
        .await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn seats_available_in_the_list_follows_holds_and_sales() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    buyer.hold_ok(&["A-1", "A-2"]).await;
    buyer.buy(&["B-1"]).await;
    let body = app.get_json("/api/v1/events").await;
    assert_eq!(body["events"][0]["seats_total"], 512);
    assert_eq!(body["events"][0]["seats_available"], 509);
    let detail: Value = app.event().await;
    assert_eq!(detail["seats_available"], 509);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_seat_is_sold_the_event_reads_sold_out() {
    let app = TestApp::spawn().await;
    let buyers = app.buyers(64).await;
    let seats = all_seat_ids();
    futures_util::future::join_all(buyers.iter().zip(seats.chunks(8)).map(
        |(b, chunk)| async move {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            b.buy(&chunk).await
        },
    ))
    .await;
    let body = app.get_json("/api/v1/events").await;
    let e = &body["events"][0];
    assert_eq!(e["seats_available"], 0);
    assert_eq!(e["status"], "sold_out");
    let map = app.seat_map().await;
    assert_eq!(map.count("sold"), 512);
    let r = buyers[0].hold(&["A-1"]).await;
    assert_error(r, StatusCode::CONFLICT, "seat_unavailable").await;
    app.assert_audit_ok().await;
}
