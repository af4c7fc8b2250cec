//! The waiting room (API.md "Waiting room"): off until an admin turns it on; then holds and
//! checkouts need an admission token that only the buyer it was given to can use, for that event,
//! until it expires; early arrivals are shuffled at the opening; the pace changes live; with Redis
//! every instance shares one line, and a Redis outage neither opens the doors nor stops the line.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use crate::{
    admin::{ADMIN, app_with_admin},
    helpers::{Buyer, GOOD_CARD, PASSWORD, TestApp, WAIT, assert_error, checkout_body},
};
use boxoffice_testkit::{free_port, redis::PrivateRedis};

const REDIS: &str = "redis://127.0.0.1:6379";

async fn configure(admin: &Buyer, event: &str, body: Value) -> Value {
    let r = admin
        .client
        .put(admin.url(&format!("/api/v1/admin/events/{event}/waiting-room")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["waiting_room"].clone()
}

async fn room(admin: &Buyer, event: &str) -> Value {
    let r = admin
        .get(&format!("/api/v1/admin/events/{event}/waiting-room"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["waiting_room"].clone()
}

async fn join(buyer: &Buyer, event: &str) -> Value {
    let r = buyer
        .post_json(&format!("/api/v1/events/{event}/queue"), &json!({}))
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "join: {body}");
    body["place"].clone()
}

async fn place(buyer: &Buyer, event: &str) -> Value {
    let r = buyer.get(&format!("/api/v1/events/{event}/queue")).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "place: {body}");
    body["place"].clone()
}

/// Polls the buyer's place until they are let in; returns the admission token.
async fn admitted(buyer: &Buyer, event: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let p = place(buyer, event).await;
        if p["status"] == "admitted" {
            return p["admission_token"].as_str().expect("a token").to_owned();
        }
        assert!(Instant::now() < deadline, "never admitted: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn hold_with(
    buyer: &Buyer,
    event: &str,
    seats: &[&str],
    token: Option<&str>,
) -> reqwest::Response {
    let mut rb = buyer
        .client
        .post(buyer.url(&format!("/api/v1/events/{event}/holds")))
        .json(&json!({ "seat_ids": seats }));
    if let Some(t) = token {
        rb = rb.header("Admission-Token", t);
    }
    rb.send().await.unwrap()
}

async fn checkout_with(buyer: &Buyer, hold_id: &str, token: Option<&str>) -> reqwest::Response {
    let mut rb = buyer
        .client
        .post(buyer.url(&format!("/api/v1/holds/{hold_id}/checkout")))
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&checkout_body(GOOD_CARD));
    if let Some(t) = token {
        rb = rb.header("Admission-Token", t);
    }
    rb.send().await.unwrap()
}

fn rfc3339_in(d: Duration) -> String {
    (OffsetDateTime::now_utc() + d).format(&Rfc3339).unwrap()
}

/// A small hall and an event in it whose sale opens `opens_in` from now; returns its id.
async fn event_opening_in(admin: &Buyer, opens_in: Duration) -> String {
    let seats: Vec<Value> = (1..=10)
        .map(|n| json!({"id": format!("A-{n}"), "label": n.to_string(), "x": (20 * n) as f64, "y": 80.0, "accessible": false}))
        .collect();
    let layout = json!({
        "width": 260.0, "height": 140.0,
        "stage": {"x": 20.0, "y": 10.0, "width": 220.0, "height": 30.0, "label": "Stage"},
        "sections": [{"id": "floor", "name": "Floor", "rows": [{"label": "A", "seats": seats}]}],
    });
    let r = admin
        .post_json(
            "/api/v1/admin/venues",
            &json!({"name": "Room Hall", "layout": layout}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let venue: Value = r.json().await.unwrap();
    let categories: serde_json::Map<String, Value> = (1..=10)
        .map(|n| (format!("A-{n}"), json!("Stalls")))
        .collect();
    let r = admin
        .post_json(
            "/api/v1/admin/events",
            &json!({
                "venue_id": venue["venue"]["id"], "name": "Opening Night",
                "starts_at": rfc3339_in(Duration::from_secs(86_400 * 30)),
                "sale_opens_at": rfc3339_in(opens_in),
                "categories": [{"name": "Stalls", "price_cents": 4000}],
                "seat_categories": categories,
            }),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["event"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn holds_and_checkouts_need_the_admission_token_once_an_admin_turns_the_room_on() {
    let (app, admin) = app_with_admin().await;
    let event = app.event_id().await;
    let buyer = app.register_and_login().await;
    assert_eq!(app.event().await["waiting_room"]["enabled"], false);
    // Off by default: no token needed.
    let r = hold_with(&buyer, &event, &["A-1"], None).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let settings = configure(
        &admin,
        &event,
        json!({"enabled": true, "admit_per_minute": 600_000}),
    )
    .await;
    assert_eq!(settings["enabled"], true);
    assert_eq!(app.event().await["waiting_room"]["enabled"], true);

    let e = assert_error(
        hold_with(&buyer, &event, &["A-2"], None).await,
        StatusCode::FORBIDDEN,
        "admission_required",
    )
    .await;
    assert_eq!(
        e["details"]["queue_url"],
        format!("/api/v1/events/{event}/queue")
    );

    join(&buyer, &event).await;
    let token = admitted(&buyer, &event).await;
    // The same place, and the same token, on asking again.
    assert_eq!(
        join(&buyer, &event).await["admission_token"],
        token.as_str()
    );
    let r = hold_with(&buyer, &event, &["A-2"], Some(&token)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let hold: Value = r.json().await.unwrap();
    let hold_id = hold["hold"]["id"].as_str().unwrap();
    // Without the cookie the queue answer set, and without the header: turned away.
    let bare = app
        .api
        .post(app.url(&format!("/api/v1/holds/{hold_id}/checkout")))
        .bearer_auth(&buyer.token)
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&checkout_body(GOOD_CARD))
        .send()
        .await
        .unwrap();
    assert_error(bare, StatusCode::FORBIDDEN, "admission_required").await;
    // The page's way: the admission cookie goes with the checkout by itself.
    let r = checkout_with(&buyer, hold_id, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_forged_expired_other_events_or_other_buyers_token_is_refused() {
    let mut app = TestApp::spawn_with(|s| {
        s.admin = Some((ADMIN.to_owned(), PASSWORD.to_owned()));
        s.admission_ttl = Duration::from_secs(2);
    })
    .await;
    let admin = app.sign_in(ADMIN, PASSWORD).await;
    let event = app.event_id().await;
    let other_event = event_opening_in(&admin, Duration::from_secs(0)).await;
    for e in [&event, &other_event] {
        configure(
            &admin,
            e,
            json!({"enabled": true, "admit_per_minute": 600_000}),
        )
        .await;
    }
    let (alice, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    join(&alice, &event).await;
    join(&bob, &event).await;
    join(&alice, &other_event).await;
    let alices = admitted(&alice, &event).await;
    let bobs = admitted(&bob, &event).await;
    let alices_other = admitted(&alice, &other_event).await;

    let refused = async |token: &str, reason: &str| {
        let e = assert_error(
            hold_with(&alice, &event, &["B-1"], Some(token)).await,
            StatusCode::FORBIDDEN,
            "invalid_admission",
        )
        .await;
        assert_eq!(e["details"]["reason"], reason, "{e}");
    };
    refused(&bobs, "other_user").await;
    refused(&alices_other, "other_event").await;
    let (payload, signature) = alices.split_once('.').unwrap();
    let mut tampered = signature.to_owned();
    tampered.replace_range(0..1, if &signature[0..1] == "A" { "B" } else { "A" });
    refused(&format!("{payload}.{tampered}"), "forged").await;
    refused("not-a-token", "forged").await;
    // The genuine one works, until it expires.
    let r = hold_with(&alice, &event, &["B-1"], Some(&alices)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    refused(&alices, "expired").await;
    // Spent: the buyer joins again at the back of the line.
    let again = join(&alice, &event).await;
    assert!(
        again["admission_token"] != alices.as_str(),
        "a lapsed admission is not given again: {again}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_admission_rate_changes_live_and_the_line_moves_at_it() {
    let (app, admin) = app_with_admin().await;
    let event = app.event_id().await;
    // One a minute: nobody moves within the test.
    configure(
        &admin,
        &event,
        json!({"enabled": true, "admit_per_minute": 1}),
    )
    .await;
    let buyers = app.buyers(6).await;
    for b in &buyers {
        join(b, &event).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let last = place(&buyers[5], &event).await;
    assert_eq!(last["status"], "waiting");
    assert_eq!(last["position"], 6);
    assert_eq!(last["ahead"], 5);
    // Five ahead and then this buyer, at one a minute: six minutes.
    let eta = last["eta_seconds"].as_u64().unwrap();
    assert!((350..=370).contains(&eta), "eta {eta}");
    let figures = room(&admin, &event).await;
    assert_eq!(figures["queue_length"], 6);
    assert_eq!(figures["admitted_total"], 0);

    // Two a second: the six are in within about three seconds, in order.
    configure(
        &admin,
        &event,
        json!({"enabled": true, "admit_per_minute": 120}),
    )
    .await;
    let start = Instant::now();
    admitted(&buyers[0], &event).await;
    let first = start.elapsed();
    admitted(&buyers[5], &event).await;
    let all = start.elapsed();
    assert!(
        first < Duration::from_millis(1_500),
        "first after {first:?}"
    );
    assert!(
        all >= Duration::from_millis(2_000),
        "all six after {all:?}: faster than the rate"
    );
    let figures = room(&admin, &event).await;
    assert_eq!(figures["queue_length"], 0);
    assert_eq!(figures["admitted_total"], 6);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("boxoffice_waiting_room_admitted_total")
                && l.contains(&event)
                && l.ends_with(" 6")),
        "metrics: {metrics}"
    );
    assert!(metrics.contains("boxoffice_waiting_room_wait_seconds"));
}

#[tokio::test]
async fn early_arrivals_are_shuffled_at_the_opening_and_later_ones_queue_behind_in_order() {
    let (app, admin) = app_with_admin().await;
    let event = event_opening_in(&admin, Duration::from_secs(3)).await;
    configure(
        &admin,
        &event,
        json!({"enabled": true, "admit_per_minute": 1}),
    )
    .await;
    let buyers = app.buyers(12).await;
    for b in &buyers {
        let p = join(b, &event).await;
        assert_eq!(p["status"], "waiting");
        assert_eq!(p["before_opening"], true, "{p}");
    }
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let late = app.register_and_login().await;
    assert_eq!(
        join(&late, &event).await["position"],
        13 - admitted_count(&admin, &event).await
    );
    let mut positions = Vec::new();
    for b in &buyers {
        let p = place(b, &event).await;
        assert_eq!(p["before_opening"], false);
        positions.push(p["position"].as_u64().unwrap());
    }
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    let first = sorted[0];
    assert_eq!(
        sorted,
        (first..first + 12).collect::<Vec<_>>(),
        "every early arrival has a place of their own"
    );
    assert_ne!(
        positions, sorted,
        "12 arrivals kept their arrival order: not shuffled"
    );
}

async fn admitted_count(admin: &Buyer, event: &str) -> u64 {
    room(admin, event).await["admitted_total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_place_is_read_with_the_pass_cookie_alone_and_not_without_any_identity() {
    let (app, admin) = app_with_admin().await;
    let event = app.event_id().await;
    configure(
        &admin,
        &event,
        json!({"enabled": true, "admit_per_minute": 1}),
    )
    .await;
    let buyer = app.register_and_login().await;
    let r = buyer
        .post_json(&format!("/api/v1/events/{event}/queue"), &json!({}))
        .await;
    let pass = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("boxoffice_queue_pass="))
        .expect("a pass cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let url = app.url(&format!("/api/v1/events/{event}/queue"));
    let r = app
        .api
        .get(&url)
        .header("cookie", &pass)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["place"]["status"], "waiting");
    let r = app.api.get(&url).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Another event's pass names nobody here.
    let other = app.url("/api/v1/events/another/queue");
    let r = app
        .api
        .get(&other)
        .header("cookie", &pass)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn instances_sharing_redis_give_out_one_line_and_honour_each_others_tokens() {
    let redis = Some(REDIS.to_owned());
    let a = TestApp::spawn_with(|s| {
        s.admin = Some((ADMIN.to_owned(), PASSWORD.to_owned()));
        s.redis_url = redis.clone();
    })
    .await;
    let b = TestApp::spawn_on(a.db_url.clone(), |s| s.redis_url = redis.clone()).await;
    let admin = a.sign_in(ADMIN, PASSWORD).await;
    let event = a.event_id().await;
    configure(
        &admin,
        &event,
        json!({"enabled": true, "admit_per_minute": 1}),
    )
    .await;
    // B reloads rooms' settings every second.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut numbers = Vec::new();
    let mut buyers = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &a } else { &b };
        let buyer = app.register_and_login().await;
        numbers.push(join(&buyer, &event).await["position"].as_u64().unwrap());
        buyers.push(buyer);
    }
    // One line across both: first come, first served, whichever instance each came through.
    let first = numbers[0];
    assert_eq!(numbers, (first..first + 8).collect::<Vec<_>>());
    // B picks up the faster pace A's admin set, and lets the line through.
    configure(
        &admin,
        &event,
        json!({"enabled": true, "admit_per_minute": 600_000}),
    )
    .await;
    let on_a = &buyers[0];
    let token = admitted(on_a, &event).await;
    let on_b = b.sign_in(&on_a.email, PASSWORD).await;
    let r = hold_with(&on_b, &event, &["E-1"], Some(&token)).await;
    assert_eq!(r.status(), StatusCode::CREATED, "a token from A works on B");
}

#[tokio::test]
async fn a_redis_outage_neither_lets_everyone_in_nor_stops_the_line() {
    let port = free_port();
    let mut redis = PrivateRedis::start(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let app = TestApp::spawn_with(|s| {
        s.admin = Some((ADMIN.to_owned(), PASSWORD.to_owned()));
        s.redis_url = Some(url.clone());
    })
    .await;
    let admin = app.sign_in(ADMIN, PASSWORD).await;
    let event = app.event_id().await;
    // Two a second.
    configure(
        &admin,
        &event,
        json!({"enabled": true, "admit_per_minute": 120}),
    )
    .await;
    let buyers = app.buyers(12).await;
    for b in &buyers {
        join(b, &event).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    redis.stop();
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Someone new cannot be given a number: told to retry, not let in.
    let newcomer = app.register_and_login().await;
    let r = newcomer
        .post_json(&format!("/api/v1/events/{event}/queue"), &json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));

    // Those in line keep moving at the rate: the sixth is let in, and holds with its token.
    let sixth = place(&buyers[5], &event).await;
    assert_eq!(sixth["status"], "waiting", "{sixth}");
    let token = admitted(&buyers[5], &event).await;
    let r = hold_with(&buyers[5], &event, &["F-1"], Some(&token)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // … but not everyone at once: the last is still waiting.
    let moved = stopped.elapsed();
    let last = place(&buyers[11], &event).await;
    if moved < Duration::from_secs(3) {
        assert_eq!(last["status"], "waiting", "after {moved:?}: {last}");
    }
}

#[tokio::test]
async fn in_auto_mode_the_rate_falls_when_any_instance_sees_slow_holds_and_rises_when_none_do() {
    use boxoffice_app::{catalog::Catalog, waiting_room::WaitingRoom};
    use boxoffice_domain::waiting_room::RoomSettings;
    use std::sync::Arc;

    let db_url = crate::database::fresh_database_url().await;
    let db = boxoffice_store::connect(&db_url, 2).await.unwrap();
    db.migrate().await.unwrap();
    boxoffice_app::seed::demo_event_if_empty(db.as_ref())
        .await
        .unwrap();
    let catalog = Arc::new(Catalog::new(db.clone()));
    let event = catalog.all().await.unwrap()[0].record.id.clone();
    let instance = |name: &str| {
        WaitingRoom::new(
            db.clone(),
            catalog.clone(),
            b"one secret for both",
            Duration::from_secs(900),
            name.into(),
            Some(REDIS),
        )
        .unwrap()
    };
    let (a, b) = (instance("a"), instance("b"));
    let now = OffsetDateTime::now_utc().unix_timestamp() * 1_000;
    let settings = RoomSettings::parse(true, 600, None, Some(200), now).unwrap();
    a.configure(&event, settings).await.unwrap();
    b.refresh().await.unwrap();
    for i in 0..50 {
        a.join(&event, &format!("buyer-{i}")).await.unwrap();
    }
    // Only A sees slow holds; its step reports them and cuts the rate by a third.
    for _ in 0..20 {
        a.record_hold_latency(&event, Duration::from_millis(800));
    }
    a.step_all().await;
    assert_eq!(a.current_rate(&event), Some(400));
    // A second on, B, which saw no hold at all, acts on A's report: down again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    b.step_all().await;
    assert_eq!(b.current_rate(&event), Some(266));
    // Once A's report is stale (3 s) and nobody measures slow holds, the rate climbs back.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    b.step_all().await;
    assert_eq!(b.current_rate(&event), Some(296));
    db.close().await;
}
