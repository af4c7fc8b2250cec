//! Holds: all or nothing, the per-user limit, ownership, release, and expiry.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{GOOD_CARD, TestApp, WAIT, assert_error, parse_time, strings};

#[tokio::test]
async fn a_hold_is_201_active_and_expires_after_the_ttl() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let before = time::OffsetDateTime::now_utc();
    let r = buyer.hold(&["C-5", "C-4"]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let hold = &body["hold"];
    assert!(hold["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(hold["event_id"], buyer.event_id.as_str());
    let mut seats = strings(&hold["seat_ids"]);
    seats.sort();
    assert_eq!(seats, ["C-4", "C-5"]);
    assert_eq!(hold["status"], "active");
    let expires = parse_time(hold["expires_at"].as_str().unwrap());
    let ttl = time::Duration::seconds(app.settings.hold_ttl.as_secs() as i64);
    assert!(
        expires >= before + ttl - time::Duration::seconds(2)
            && expires <= time::OffsetDateTime::now_utc() + ttl + time::Duration::seconds(2),
        "expires_at {expires} is not now + 600 s"
    );

    // GET returns the same hold.
    let r = buyer.get_hold(hold["id"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["hold"]["id"], hold["id"]);
    assert_eq!(again["hold"]["status"], "active");
    assert_eq!(again["hold"]["expires_at"], hold["expires_at"]);

    let map = app.seat_map().await;
    assert_eq!(map.state("C-4"), "held");
    assert_eq!(map.state("C-5"), "held");
    assert_eq!(map.state("C-6"), "available");
}

#[tokio::test]
async fn a_seat_held_by_one_buyer_cannot_be_held_by_another() {
    let app = TestApp::spawn().await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    ann.hold_ok(&["D-10"]).await;
    let r = bob.hold(&["D-10"]).await;
    let err = assert_error(r, StatusCode::CONFLICT, "seat_unavailable").await;
    assert_eq!(strings(&err["details"]["seat_ids"]), ["D-10"]);
    // Nor by the same buyer twice.
    let r = ann.hold(&["D-10"]).await;
    assert_error(r, StatusCode::CONFLICT, "seat_unavailable").await;
}

#[tokio::test]
async fn a_seat_this_instance_still_shows_taken_is_held_when_the_database_has_freed_it() {
    // Refusals are answered from a read when the live map says a seat is taken; the map is only
    // a hint, so a stale one must never turn a free seat away.
    let app = TestApp::spawn().await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    let hold = ann.hold_ok(&["D-20"]).await;
    // Behind the instance's back (as if its copy had missed a change): the seat is free again.
    let _: Vec<String> = app
        .scalars(
            "UPDATE seats SET state = 'available', hold_id = NULL WHERE id = ?",
            &["D-20"],
        )
        .await;
    let _: Vec<String> = app
        .scalars(
            "UPDATE holds SET status = 'released', ended_at = created_at WHERE id = ?",
            &[hold["id"].as_str().unwrap()],
        )
        .await;
    let r = bob.hold(&["D-20"]).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    // And a seat that really is taken is still refused, naming it.
    let r = ann.hold(&["D-20", "D-21"]).await;
    let err = assert_error(r, StatusCode::CONFLICT, "seat_unavailable").await;
    assert_eq!(strings(&err["details"]["seat_ids"]), ["D-20"]);
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_hold_is_all_or_nothing_and_names_exactly_the_taken_seats() {
    let app = TestApp::spawn().await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    ann.hold_ok(&["E-2", "E-4"]).await;
    let before = app.seat_map().await;
    let r = bob.hold(&["E-1", "E-2", "E-3", "E-4"]).await;
    let err = assert_error(r, StatusCode::CONFLICT, "seat_unavailable").await;
    let mut named = strings(&err["details"]["seat_ids"]);
    named.sort();
    assert_eq!(named, ["E-2", "E-4"], "exactly the taken ones");
    // No seat changed, not even its version.
    let after = app.seat_map().await;
    assert_eq!(before, after);
    assert_eq!(after.state("E-1"), "available");
    assert_eq!(after.state("E-3"), "available");
    // The free ones can still be held.
    bob.hold_ok(&["E-1", "E-3"]).await;
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn invalid_hold_requests_are_422() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let nine: Vec<String> = (1..=9).map(|n| format!("F-{n}")).collect();
    let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    let long = "A".repeat(10_000);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "no_seats"),
        (vec!["Z-99"], "unknown_seats"),
        (vec!["A-1", "A-0"], "unknown_seats"),
        (vec!["a-1"], "unknown_seats"),
        (vec![""], "unknown_seats"),
        (vec![long.as_str()], "unknown_seats"),
        (vec!["A-1", "A-1"], "duplicate_seats"),
        (nine, "too_many_seats"),
    ];
    for (seats, code) in cases {
        let r = buyer.hold(&seats).await;
        let status = r.status();
        let err = crate::helpers::error_body(r).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}: {err}",
            seats
                .iter()
                .map(|s| &s[..s.len().min(10)])
                .collect::<Vec<_>>()
        );
        assert_eq!(err["code"], code);
    }
    let r = buyer.hold(&["Z-99", "A-1"]).await;
    let err = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_seats").await;
    assert_eq!(strings(&err["details"]["seat_ids"]), ["Z-99"]);
    // Nothing was held by any of them.
    assert_eq!(app.seat_map().await.count("available"), 512);
}

#[tokio::test]
async fn the_limit_of_8_seats_applies_across_holds_of_the_same_buyer() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    buyer.hold_ok(&["G-1", "G-2", "G-3", "G-4", "G-5"]).await;
    let r = buyer.hold(&["G-6", "G-7", "G-8", "G-9"]).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "too_many_seats").await;
    assert_eq!(app.seat_state("G-6").await, "available");
    let last = buyer.hold_ok(&["G-6", "G-7", "G-8"]).await;
    let r = buyer.hold(&["G-9"]).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "too_many_seats").await;
    // Releasing a hold gives the allowance back.
    assert_eq!(
        buyer.release(last["id"].as_str().unwrap()).await.status(),
        StatusCode::NO_CONTENT
    );
    buyer.hold_ok(&["G-9", "G-10", "G-11"]).await;
    // Another buyer has their own allowance.
    let other = app.register_and_login().await;
    other
        .hold_ok(&["H-1", "H-2", "H-3", "H-4", "H-5", "H-6", "H-7", "H-8"])
        .await;
}

#[tokio::test]
async fn holding_requires_signing_in() {
    let app = TestApp::spawn().await;
    let id = app.event_id().await;
    let r = app
        .post_json(
            &format!("/api/v1/events/{id}/holds"),
            &json!({"seat_ids": ["A-1"]}),
        )
        .await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.seat_state("A-1").await, "available");
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["A-2"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    for r in [
        app.get(&format!("/api/v1/holds/{hold_id}")).await,
        app.api
            .delete(app.url(&format!("/api/v1/holds/{hold_id}")))
            .send()
            .await
            .unwrap(),
        app.api
            .post(app.url(&format!("/api/v1/holds/{hold_id}/checkout")))
            .header("Idempotency-Key", "k1")
            .json(&crate::helpers::checkout_body(GOOD_CARD))
            .send()
            .await
            .unwrap(),
    ] {
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(app.seat_state("A-2").await, "held");
}

#[tokio::test]
async fn another_buyers_hold_is_404_to_read_release_or_pay() {
    let app = TestApp::spawn().await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    let hold = ann.hold_ok(&["J-1", "J-2"]).await;
    let id = hold["id"].as_str().unwrap();
    assert_error(bob.get_hold(id).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(bob.release(id).await, StatusCode::NOT_FOUND, "not_found").await;
    let r = bob.checkout(id, "bob-key", GOOD_CARD).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // Unknown holds look the same.
    assert_error(
        bob.get_hold("no-such-hold").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        bob.release("no-such-hold").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Ann's hold is untouched.
    let r = ann.get_hold(id).await;
    assert_eq!(r.json::<Value>().await.unwrap()["hold"]["status"], "active");
    assert_eq!(app.seat_state("J-1").await, "held");
    assert_eq!(
        bob.get("/api/v1/orders")
            .await
            .json::<Value>()
            .await
            .unwrap()["orders"],
        json!([])
    );
}

#[tokio::test]
async fn releasing_a_hold_frees_its_seats_at_once_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    let hold = ann.hold_ok(&["K-7", "K-8"]).await;
    let id = hold["id"].as_str().unwrap();
    let before = app.seat_map().await;
    assert_eq!(ann.release(id).await.status(), StatusCode::NO_CONTENT);
    // At once: no waiting for a sweep.
    let after = app.seat_map().await;
    for seat in ["K-7", "K-8"] {
        assert_eq!(after.state(seat), "available");
        assert!(after.version(seat) > before.version(seat));
    }
    let r = ann.get_hold(id).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["hold"]["status"],
        "released"
    );
    // Again: still 204, nothing changes.
    assert_eq!(ann.release(id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.seat_map().await, after);
    // Someone else can take them now; the old hold cannot be paid.
    bob.hold_ok(&["K-7", "K-8"]).await;
    let r = ann.checkout(id, "late-key", GOOD_CARD).await;
    assert_error(r, StatusCode::CONFLICT, "hold_not_active").await;
    // Releasing the old hold again does not free Bob's seats.
    assert_eq!(ann.release(id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.seat_state("K-7").await, "held");
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn seats_marks_the_callers_own_held_seats_as_mine_and_nobody_elses() {
    let app = TestApp::spawn().await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    ann.hold_ok(&["L-1", "L-2"]).await;
    bob.hold_ok(&["L-3"]).await;
    let mine = |body: &Value| -> Vec<String> {
        let mut v: Vec<String> = body["seats"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["mine"] == true)
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(mine(&ann.seats().await), ["L-1", "L-2"]);
    assert_eq!(mine(&bob.seats().await), ["L-3"]);
    let id = app.event_id().await;
    assert!(mine(&app.get_json(&format!("/api/v1/events/{id}/seats")).await).is_empty());
    // With a bearer token instead of the cookie.
    let r = app
        .api
        .get(app.url(&format!("/api/v1/events/{id}/seats")))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(mine(&r.json().await.unwrap()), ["L-1", "L-2"]);
}

#[tokio::test]
async fn an_expired_hold_frees_its_seats_is_announced_live_and_cannot_be_paid() {
    let app = TestApp::spawn_with(|s| s.hold_ttl = Duration::from_secs(1)).await;
    let buyer = app.register_and_login().await;
    let mut sse = app.sse().await;
    let (name, _) = sse.next().await.unwrap();
    assert_eq!(name, "snapshot");

    let hold = buyer.hold_ok(&["M-1", "M-2"]).await;
    let id = hold["id"].as_str().unwrap().to_owned();
    let expires = parse_time(hold["expires_at"].as_str().unwrap());
    assert!(expires <= time::OffsetDateTime::now_utc() + time::Duration::milliseconds(1100));
    // The subscriber sees the seats held, then released by the sweeper.
    sse.until(WAIT, |n, d| {
        n == "seats"
            && d["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == "M-1" && c["state"] == "held")
    })
    .await;
    sse.until(WAIT, |n, d| {
        n == "seats"
            && d["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == "M-1" && c["state"] == "available")
    })
    .await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = buyer.get_hold(&id).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["hold"]["status"],
        "expired"
    );
    let map = app.seat_map().await;
    assert_eq!(map.state("M-1"), "available");
    assert_eq!(map.state("M-2"), "available");

    let r = buyer.checkout(&id, "after-expiry", GOOD_CARD).await;
    assert_error(r, StatusCode::CONFLICT, "hold_not_active").await;
    let orders: Value = buyer.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["orders"], json!([]));
    // The seats can be held again, and the expired hold's allowance is back.
    buyer
        .hold_ok(&["M-1", "M-2", "M-3", "M-4", "M-5", "M-6", "M-7", "M-8"])
        .await;
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_hold_past_its_expiry_is_never_honoured_even_before_the_sweep() {
    // A sweeper that practically never runs: the expiry time alone must stop the checkout.
    let app = TestApp::spawn_with(|s| {
        s.hold_ttl = Duration::from_secs(1);
        s.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["N-1"]).await;
    let id = hold["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = buyer.get_hold(id).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["hold"]["status"],
        "expired"
    );
    let r = buyer.checkout(id, "too-late", GOOD_CARD).await;
    assert_error(r, StatusCode::CONFLICT, "hold_not_active").await;
    let orders: Value = buyer.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["orders"], json!([]));
    app.assert_audit_ok().await;
}

#[tokio::test]
async fn a_refusal_for_a_seat_the_map_shows_taken_does_not_wait_for_a_connection_behind_a_sale() {
    // One connection in the pool, taken by a hold that waits on a lock this test holds.
    let app = TestApp::spawn_with(|s| s.db_pool_size = 1).await;
    let (ann, bob, carl) = (
        app.register_and_login().await,
        app.register_and_login().await,
        app.register_and_login().await,
    );
    ann.hold_ok(&["D-1"]).await;
    // Both sessions are now remembered: neither needs the database to be recognised.
    assert_eq!(bob.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(carl.get("/api/v1/me").await.status(), StatusCode::OK);
    let db = boxoffice_store::connect(&app.db_url, 1).await.unwrap();
    let mut lock = db.begin().await.unwrap();
    let carl_id = boxoffice_domain::ids::UserId::parse(&carl.user_id).expect("a user id");
    lock.lock_user(&carl_id).await.unwrap();
    let blocked = tokio::spawn(async move { carl.hold(&["E-5"]).await.status() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!blocked.is_finished(), "the sale waits on the lock");
    let refused = tokio::time::timeout(WAIT, bob.hold(&["D-1"]))
        .await
        .expect("the refusal is answered while the pool's connection waits behind the sale");
    assert_error(refused, StatusCode::CONFLICT, "seat_unavailable").await;
    drop(lock);
    assert_eq!(blocked.await.unwrap(), StatusCode::CREATED);
    db.close().await;
}
