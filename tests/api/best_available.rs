//! Best available (API.md "Best available"): a hold of the best N adjacent seats in one row,
//! nearest the stage's centre, of one category, never stranding a single seat; 409
//! `no_seats_together` when no such block is left; the same caps, admission and answers as a
//! pick; and a crowd asking at once never shares a seat.

use std::collections::{HashMap, HashSet};

use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::{
    admin::{ADMIN, app_with_admin},
    catalog::{buyer_for, venue_and_event},
    helpers::{Buyer, PASSWORD, TestApp, assert_error, strings},
};

/// Asks for the best `count` seats of the buyer's event, of `category` if given.
async fn best(buyer: &Buyer, count: u64, category: Option<&str>) -> Response {
    let mut ask = json!({ "count": count });
    if let Some(c) = category {
        ask["category_id"] = json!(c);
    }
    buyer
        .post_json(
            &format!("/api/v1/events/{}/holds", buyer.event_id),
            &json!({ "best_available": ask }),
        )
        .await
}

/// The best seats, which must be granted; returns the `hold` object.
async fn best_ok(buyer: &Buyer, count: u64, category: Option<&str>) -> Value {
    let r = best(buyer, count, category).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "best {count}: {body}");
    body["hold"].clone()
}

/// One seat of an event's layout, where it sits.
#[derive(Debug, Clone)]
struct Place {
    row: usize,
    /// Its position in its row, from 0.
    position: usize,
    x: f64,
    category: String,
}

/// The event's layout as seat id → place (rows numbered from the first, nearest the stage in
/// every hall these tests use), and the stage's centre x.
async fn places(buyer: &Buyer) -> (HashMap<String, Place>, f64) {
    let r = buyer
        .get(&format!("/api/v1/events/{}", buyer.event_id))
        .await;
    let event: Value = r.json::<Value>().await.unwrap()["event"].clone();
    let layout = &event["layout"];
    let stage = &layout["stage"];
    let centre = stage["x"].as_f64().unwrap() + stage["width"].as_f64().unwrap() / 2.0;
    let mut out = HashMap::new();
    let rows = layout["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["rows"].as_array().unwrap().iter());
    for (row, r) in rows.enumerate() {
        for (position, seat) in r["seats"].as_array().unwrap().iter().enumerate() {
            out.insert(
                seat["id"].as_str().unwrap().to_owned(),
                Place {
                    row,
                    position,
                    x: seat["x"].as_f64().unwrap(),
                    category: seat["category_id"].as_str().unwrap_or_default().to_owned(),
                },
            );
        }
    }
    (out, centre)
}

/// The hold's seats as places in row order; asserts they are one row's consecutive seats.
fn one_block(hold: &Value, places: &HashMap<String, Place>) -> Vec<Place> {
    let mut block: Vec<Place> = strings(&hold["seat_ids"])
        .iter()
        .map(|id| places[id].clone())
        .collect();
    block.sort_by_key(|p| p.position);
    assert!(
        block.iter().all(|p| p.row == block[0].row),
        "one row: {hold}"
    );
    assert!(
        block.windows(2).all(|w| w[1].position == w[0].position + 1),
        "side by side: {hold}"
    );
    block
}

fn category_named(event: &Value, name: &str) -> String {
    event["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("a category {name}: {event}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn in_an_empty_hall_the_block_is_side_by_side_in_the_front_row_facing_the_stage_centre() {
    for count in [3, 4] {
        let app = TestApp::spawn().await;
        let buyer = app.register_and_login().await;
        let (places, centre) = places(&buyer).await;
        let hold = best_ok(&buyer, count, None).await;
        // The very answer a pick gives.
        assert_eq!(hold["status"], "active");
        assert_eq!(hold["event_id"], buyer.event_id.as_str());
        assert!(hold["id"].as_str().is_some() && hold["expires_at"].as_str().is_some());
        let block = one_block(&hold, &places);
        assert_eq!(block.len(), count as usize);
        assert_eq!(block[0].row, 0, "the front row: {hold}");
        // Its middle is within half a seat of the stage's centre line.
        let pitch = (block[1].x - block[0].x).abs();
        let middle = block.iter().map(|p| p.x).sum::<f64>() / block.len() as f64;
        assert!(
            (middle - centre).abs() <= pitch / 2.0 + 0.5,
            "middle {middle}, stage centre {centre}: {hold}"
        );
        let map = app.seat_map().await;
        for id in strings(&hold["seat_ids"]) {
            assert_eq!(map.state(&id), "held", "{id}");
        }
        assert_eq!(map.count("held"), count as usize);
        let again: Value = buyer
            .get_hold(hold["id"].as_str().unwrap())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(again["hold"]["seat_ids"], hold["seat_ids"]);
    }
}

/// Other buyers hold every seat of row A but `free`, in holds of at most eight.
async fn leave_free_in_row_a(app: &TestApp, free: std::ops::RangeInclusive<u32>) {
    let taken: Vec<String> = (1..=32)
        .filter(|n| !free.contains(n))
        .map(|n| format!("A-{n}"))
        .collect();
    for chunk in taken.chunks(8) {
        let other = app.register_and_login().await;
        let seats: Vec<&str> = chunk.iter().map(String::as_str).collect();
        other.hold_ok(&seats).await;
    }
}

#[tokio::test]
async fn a_block_that_would_strand_a_single_seat_is_passed_over() {
    let app = TestApp::spawn().await;
    // Row A free only from 14 to 18. The pairs nearest the middle, 15-16 and 16-17, would each
    // leave one seat alone between the pair and a taken seat.
    leave_free_in_row_a(&app, 14..=18).await;
    let buyer = app.register_and_login().await;
    let hold = best_ok(&buyer, 2, None).await;
    let mut seats = strings(&hold["seat_ids"]);
    seats.sort();
    assert!(
        seats == ["A-17", "A-18"] || seats == ["A-14", "A-15"],
        "a pair that strands nothing: {hold}"
    );
    // Whatever is left of the five seats is two or three together, never one alone.
    let map = app.seat_map().await;
    let left: Vec<u32> = (14..=18)
        .filter(|n| map.state(&format!("A-{n}")) == "available")
        .collect();
    assert_eq!(left.len(), 3);
    assert!(left.windows(2).all(|w| w[1] == w[0] + 1), "{left:?}");
}

#[tokio::test]
async fn three_free_seats_go_together_and_a_pair_among_them_is_looked_for_elsewhere() {
    let app = TestApp::spawn().await;
    leave_free_in_row_a(&app, 16..=18).await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    let (places, _) = places(&ann).await;
    // Any pair of the three would strand the third: the pair comes from the next row.
    let pair = best_ok(&ann, 2, None).await;
    assert_eq!(one_block(&pair, &places)[0].row, 1, "row B: {pair}");
    for n in 16..=18 {
        assert_eq!(app.seat_state(&format!("A-{n}")).await, "available");
    }
    // Three take all of them.
    let three = best_ok(&bob, 3, None).await;
    let mut seats = strings(&three["seat_ids"]);
    seats.sort();
    assert_eq!(seats, ["A-16", "A-17", "A-18"]);
}

#[tokio::test]
async fn a_category_asked_for_is_the_one_given_from_its_row_nearest_the_stage() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let event = app.event().await;
    let (places, _) = places(&buyer).await;
    for name in ["Standard", "Value", "Premium"] {
        let category = category_named(&event, name);
        let nearest_row = places
            .values()
            .filter(|p| p.category == category)
            .map(|p| p.row)
            .min()
            .unwrap();
        let hold = best_ok(&buyer, 2, Some(&category)).await;
        let block = one_block(&hold, &places);
        assert!(
            block.iter().all(|p| p.category == category),
            "{name}: {hold}"
        );
        assert_eq!(block[0].row, nearest_row, "{name}: {hold}");
    }
    // A category of no event, or of another one, is refused and holds nothing.
    let r = best(&buyer, 2, Some("no-such-category")).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_category").await;
    assert_eq!(app.seat_map().await.count("held"), 6);
}

#[tokio::test]
async fn with_no_block_left_the_answer_is_409_no_seats_together_and_nothing_changes() {
    let (app, admin) = app_with_admin().await;
    // One row of five; another buyer holds both ends, leaving three in the middle.
    let event = venue_and_event(&admin, 1, 5).await;
    let other = buyer_for(&app, &event).await;
    other.hold_ok(&["R1-1", "R1-5"]).await;
    let buyer = buyer_for(&app, &event).await;
    let before = other.seats().await;
    for count in [2, 4, 8] {
        let e = assert_error(
            best(&buyer, count, None).await,
            StatusCode::CONFLICT,
            "no_seats_together",
        )
        .await;
        assert_eq!(e["details"]["count"], count, "{e}");
    }
    // The one category with no seats in this hall has no block either.
    let back = category_named(
        &buyer
            .get(&format!("/api/v1/events/{event}"))
            .await
            .json::<Value>()
            .await
            .unwrap()["event"],
        "Back",
    );
    let e = assert_error(
        best(&buyer, 1, Some(&back)).await,
        StatusCode::CONFLICT,
        "no_seats_together",
    )
    .await;
    assert_eq!(e["details"]["category_id"], back.as_str());
    assert_eq!(other.seats().await, before, "no seat changed");
    // Three together are there.
    let hold = best_ok(&buyer, 3, None).await;
    let mut seats = strings(&hold["seat_ids"]);
    seats.sort();
    assert_eq!(seats, ["R1-2", "R1-3", "R1-4"]);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn the_body_names_picked_seats_or_best_available_exactly_once_with_a_sensible_count() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let path = format!("/api/v1/events/{}/holds", buyer.event_id);
    for (body, code) in [
        (
            json!({"seat_ids": ["A-1"], "best_available": {"count": 2}}),
            "invalid_request",
        ),
        (json!({}), "invalid_request"),
        (json!({"best_available": {}}), "invalid_request"),
        (json!({"best_available": {"count": -1}}), "invalid_request"),
        (
            json!({"best_available": {"count": "two"}}),
            "invalid_request",
        ),
        (json!({"best_available": {"count": 0}}), "no_seats"),
        (json!({"best_available": {"count": 9}}), "too_many_seats"),
    ] {
        let r = buyer.post_json(&path, &body).await;
        let e = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        assert!(!e["message"].as_str().unwrap().is_empty(), "{body}: {e}");
    }
    assert_eq!(app.seat_map().await.count("held"), 0);
    // Signed out: 401, as for a pick.
    let r = app
        .post_json(&path, &json!({"best_available": {"count": 2}}))
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn the_per_event_cap_and_the_address_cap_count_best_available_seats_as_picked_ones() {
    let app = TestApp::spawn_with(|s| s.limits.max_seats_per_address = 9).await;
    let buyer = app.register_and_login().await;
    buyer
        .hold_ok(&["P-10", "P-11", "P-12", "P-13", "P-14", "P-15"])
        .await;
    // Six held, eight allowed.
    let e = assert_error(
        best(&buyer, 3, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_seats",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains('8'), "{e}");
    best_ok(&buyer, 2, None).await;
    // Eight seats from this address now, of nine: another account from it gets one more.
    let other = app.register_and_login().await;
    let r = best(&other, 2, None).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    best_ok(&other, 1, None).await;
    assert_eq!(app.seat_map().await.count("held"), 9);
}

#[tokio::test]
async fn seats_the_buyer_just_let_go_cool_down_and_the_next_best_block_is_given_instead() {
    let app =
        TestApp::spawn_with(|s| s.limits.hold_cooldown = std::time::Duration::from_secs(60)).await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    let first = best_ok(&ann, 2, None).await;
    let r = ann.release(first["id"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let second = best_ok(&ann, 2, None).await;
    let (a, b): (HashSet<String>, HashSet<String>) = (
        strings(&first["seat_ids"]).into_iter().collect(),
        strings(&second["seat_ids"]).into_iter().collect(),
    );
    assert!(a.is_disjoint(&b), "{first} then {second}");
    // Anyone else may have the released block at once: it is still the best.
    let third = best_ok(&bob, 2, None).await;
    assert_eq!(
        strings(&third["seat_ids"])
            .into_iter()
            .collect::<HashSet<_>>(),
        a
    );
}

#[tokio::test]
async fn with_the_waiting_room_on_best_available_needs_an_admission_as_a_pick_does() {
    let app =
        TestApp::spawn_with(|s| s.admin = Some((ADMIN.to_owned(), PASSWORD.to_owned()))).await;
    let admin = app.sign_in(ADMIN, PASSWORD).await;
    let buyer = app.register_and_login().await;
    let r = admin
        .client
        .put(admin.url(&format!(
            "/api/v1/admin/events/{}/waiting-room",
            buyer.event_id
        )))
        .json(&json!({"enabled": true, "admit_per_minute": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = best(&buyer, 2, None).await;
    assert_error(r, StatusCode::FORBIDDEN, "admission_required").await;
    assert_eq!(app.seat_map().await.count("held"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_asking_at_once_for_a_small_hall_never_shares_a_seat() {
    let (app, admin) = app_with_admin().await;
    // Two rows of six: room for three pairs a row that strand nobody (the middle pair, then
    // both ends), six pairs in all; twice as many buyers ask.
    let event = venue_and_event(&admin, 2, 6).await;
    let mut buyers = Vec::new();
    for _ in 0..12 {
        buyers.push(buyer_for(&app, &event).await);
    }
    let (places, _) = places(&buyers[0]).await;
    let answers = join_all(buyers.iter().map(|b| async move {
        let r = best(b, 2, None).await;
        (r.status(), r.json::<Value>().await.unwrap())
    }))
    .await;
    let mut held: HashSet<String> = HashSet::new();
    let mut granted = 0;
    for (status, body) in &answers {
        match *status {
            StatusCode::CREATED => {
                granted += 1;
                let hold = &body["hold"];
                assert_eq!(one_block(hold, &places).len(), 2);
                for seat in strings(&hold["seat_ids"]) {
                    assert!(held.insert(seat.clone()), "{seat} held twice");
                }
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "no_seats_together", "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!((1..=6).contains(&granted), "{granted} pairs granted");
    // The map and the database agree with the answers.
    let seats = buyers[0].seats().await;
    let on_map: HashSet<String> = seats["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "held")
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(on_map, held);
    // Whoever was refused can still have what is left, one by one, until nothing is.
    let mut sequential = 0;
    for buyer in &buyers {
        if best(buyer, 2, None).await.status() == StatusCode::CREATED {
            sequential += 1;
        }
    }
    assert!(granted + sequential <= 6, "{granted} + {sequential} pairs");
    let late = buyer_for(&app, &event).await;
    assert_error(
        best(&late, 2, None).await,
        StatusCode::CONFLICT,
        "no_seats_together",
    )
    .await;
    app.assert_audit_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_asking_at_once_in_a_roomy_hall_all_get_different_blocks() {
    // Forty at once, each for the best pair: on one instance they choose around each other's
    // picks in flight instead of all racing for the one best pair, so every one is served.
    let app = TestApp::spawn().await;
    let buyers = app.buyers(40).await;
    let (places, _) = places(&buyers[0]).await;
    let holds = join_all(buyers.iter().map(|b| best_ok(b, 2, None))).await;
    let mut held = HashSet::new();
    for hold in &holds {
        assert_eq!(one_block(hold, &places).len(), 2);
        for seat in strings(&hold["seat_ids"]) {
            assert!(held.insert(seat.clone()), "{seat} held twice");
        }
    }
    assert_eq!(app.seat_map().await.count("held"), 80);
    app.assert_audit_ok().await;
    // And they got the very seats forty pairs asked for one after another get: nobody was sent
    // further back than the crowd made necessary.
    let one_by_one = TestApp::spawn().await;
    let mut sequential = HashSet::new();
    for buyer in one_by_one.buyers(10).await {
        for _ in 0..4 {
            sequential.extend(strings(&best_ok(&buyer, 2, None).await["seat_ids"]));
        }
    }
    assert_eq!(held, sequential);
}
