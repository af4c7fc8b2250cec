//! Seat hoarding: the caps on seats held per account and per address, the cool-down after letting
//! a seat go, holds per event per hour, and the pruning of ended holds.

use std::time::Duration;

use reqwest::{StatusCode, header};
use serde_json::json;

use super::assert_rate_limited;
use super::rate_limits::{rand_octet, wait_for_shared_limits};
use crate::{
    admin::ADMIN,
    catalog::{buyer_for, venue_and_event},
    helpers::{PASSWORD, TestApp, WAIT, assert_error},
};

#[tokio::test]
async fn one_account_cannot_hold_more_seats_across_events_than_the_total_cap() {
    let (app, admin) = app_with_admin_and(|s| s.limits.max_seats_held_total = 4).await;
    let second = venue_and_event(&admin, 2, 4).await;
    let buyer = app.register_and_login().await;
    buyer.hold_ok(&["C-1", "C-2", "C-3"]).await;
    let elsewhere = buyer_for(&app, &second).await;
    let mut again = app.sign_in(&buyer.email, PASSWORD).await;
    again.event_id = second.clone();
    let r = again.hold(&["R1-1", "R1-2"]).await;
    let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "too_many_seats_held").await;
    assert_eq!(error["details"]["limit"], 4);
    assert_eq!(error["details"]["held"], 3);
    again.hold_ok(&["R1-1"]).await;
    // Another account is counted on its own.
    elsewhere.hold_ok(&["R1-2", "R1-3"]).await;
}

pub(super) async fn app_with_admin_and(
    configure: impl FnOnce(&mut boxoffice_server::Settings),
) -> (TestApp, crate::helpers::Buyer) {
    let app = TestApp::spawn_with(|s| {
        s.admin = Some((ADMIN.to_owned(), PASSWORD.to_owned()));
        configure(s);
    })
    .await;
    let admin = app.sign_in(ADMIN, PASSWORD).await;
    (app, admin)
}

#[tokio::test]
async fn a_seat_let_go_cannot_be_held_again_by_the_same_account_during_the_cool_down() {
    let app = TestApp::spawn_with(|s| {
        s.limits.hold_cooldown = Duration::from_secs(2);
        s.hold_ttl = Duration::from_secs(1);
    })
    .await;
    let buyer = app.register_and_login().await;
    let other = app.register_and_login().await;
    // Released.
    let hold = buyer.hold_ok(&["D-1"]).await;
    let r = buyer.release(hold["id"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = buyer.hold(&["D-1", "D-2"]).await;
    let retry: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let error = assert_error(r, StatusCode::CONFLICT, "seat_cooling_down").await;
    assert_eq!(error["details"]["seat_ids"], json!(["D-1"]));
    assert_eq!(app.seat_state("D-2").await, "available", "all or nothing");
    // Anyone else may take it at once.
    let theirs = other.hold_ok(&["D-1"]).await;
    other.release(theirs["id"].as_str().unwrap()).await;
    // Let expire.
    buyer.hold_ok(&["D-5"]).await;
    wait_until_available(&app, "D-5").await;
    let r = buyer.hold(&["D-5"]).await;
    assert_error(r, StatusCode::CONFLICT, "seat_cooling_down").await;
    // Once the cool-down is over, the seat is the buyer's to hold again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    buyer.hold_ok(&["D-1"]).await;
}

pub(super) async fn wait_until_available(app: &TestApp, seat: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.seat_state(seat).await != "available" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{seat} never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn holds_per_account_per_event_per_hour_are_capped() {
    let app = TestApp::spawn_with(|s| s.limits.max_holds_per_event_per_hour = 2).await;
    let buyer = app.register_and_login().await;
    for seat in ["E-1", "E-2"] {
        let hold = buyer.hold_ok(&[seat]).await;
        buyer.release(hold["id"].as_str().unwrap()).await;
    }
    let retry = assert_rate_limited(buyer.hold(&["E-3"]).await).await;
    assert!(retry > 3500 && retry <= 3600, "Retry-After {retry}");
    let other = app.register_and_login().await;
    other.hold_ok(&["E-3"]).await;
}

#[tokio::test]
async fn an_hourly_cap_of_zero_is_no_cap_and_the_other_caps_still_count() {
    let app = TestApp::spawn_with(|s| {
        s.limits.max_holds_per_event_per_hour = 0;
        s.limits.hold_cooldown = Duration::ZERO;
        s.limits.max_seats_held_total = 2;
    })
    .await;
    let buyer = app.register_and_login().await;
    for seat in ["G-1", "G-2", "G-3", "G-4", "G-5"] {
        let hold = buyer.hold_ok(&[seat]).await;
        buyer.release(hold["id"].as_str().unwrap()).await;
    }
    // The seats the buyer holds are still counted with the hourly cap off.
    buyer.hold_ok(&["G-6", "G-7"]).await;
    let r = buyer.hold(&["G-8"]).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "too_many_seats_held").await;
}

#[tokio::test]
async fn ended_holds_past_the_retention_are_pruned_and_the_others_kept() {
    let app = TestApp::spawn_with(|s| {
        s.limits.ended_hold_retention = Duration::from_millis(500);
    })
    .await;
    let buyer = app.register_and_login().await;
    let released = buyer.hold_ok(&["F-1"]).await;
    let released = released["id"].as_str().unwrap().to_owned();
    buyer.release(&released).await;
    let active = buyer.hold_ok(&["F-2"]).await;
    let active = active["id"].as_str().unwrap().to_owned();
    let paid = buyer.buy(&["F-3"]).await;
    let paid = paid["hold_id"].as_str().unwrap().to_owned();
    let declined = buyer.hold_ok(&["F-4"]).await;
    let declined = declined["id"].as_str().unwrap().to_owned();
    let r = buyer
        .checkout(&declined, "declined", crate::helpers::DECLINED_CARD)
        .await;
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED);
    buyer.release(&declined).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let count = |id: String| {
        let app = &app;
        async move {
            app.count("SELECT COUNT(*) FROM holds WHERE id = ?", &[&id])
                .await
        }
    };
    while count(released.clone()).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the released hold was never pruned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seat_rows = app
        .count(
            "SELECT COUNT(*) FROM hold_seats WHERE hold_id = ?",
            &[&released],
        )
        .await;
    assert_eq!(seat_rows, 0);
    assert_eq!(count(active).await, 1, "an active hold stays");
    assert_eq!(count(paid).await, 1, "a paid hold stays");
    assert_eq!(count(declined).await, 1, "a hold a payment refers to stays");
    app.assert_audit_ok().await;
}

/// A hold of the demo event sent as if through the trusted proxy for `client`.
pub(super) async fn hold_from(
    buyer: &crate::helpers::Buyer,
    seats: &[&str],
    client: &str,
) -> reqwest::Response {
    buyer
        .client
        .post(buyer.url(&format!("/api/v1/events/{}/holds", buyer.event_id)))
        .bearer_auth(&buyer.token)
        .header("x-forwarded-for", client)
        .json(&json!({ "seat_ids": seats }))
        .send()
        .await
        .unwrap()
}

pub(super) fn behind_the_proxy(s: &mut boxoffice_server::Settings) {
    s.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

#[tokio::test]
async fn accounts_from_one_address_together_hold_no_more_seats_than_the_address_cap() {
    let app = TestApp::spawn_with(|s| {
        behind_the_proxy(s);
        s.limits.max_seats_per_address = 5;
    })
    .await;
    let farm = "198.51.100.7";
    let (a, b, c) = (
        app.register_and_login().await,
        app.register_and_login().await,
        app.register_and_login().await,
    );
    for (buyer, seats) in [(&a, ["D-1", "D-2"]), (&b, ["D-3", "D-4"])] {
        let r = hold_from(buyer, &seats, farm).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // A third account from the same address: two more seats would make six.
    let retry = assert_rate_limited(hold_from(&c, &["D-5", "D-6"], farm).await).await;
    assert!(
        retry <= 600,
        "the window is one hold's lifetime, said {retry}"
    );
    assert_eq!(app.seat_state("D-5").await, "available");
    let r = hold_from(&c, &["D-5"], farm).await;
    assert_eq!(r.status(), StatusCode::CREATED, "one more seat fits");
    // The same account from another address is counted there.
    let r = hold_from(&c, &["D-6", "D-7"], "198.51.100.8").await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_hold_refused_for_a_taken_seat_does_not_spend_the_address_allowance() {
    let app = TestApp::spawn_with(|s| {
        behind_the_proxy(s);
        s.limits.max_seats_per_address = 2;
    })
    .await;
    let (first, second) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    let r = hold_from(&first, &["E-1"], "198.51.100.20").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    for _ in 0..3 {
        let r = hold_from(&second, &["E-1", "E-2"], "198.51.100.21").await;
        assert_error(r, StatusCode::CONFLICT, "seat_unavailable").await;
    }
    let r = hold_from(&second, &["E-2", "E-3"], "198.51.100.21").await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn with_redis_two_instances_share_one_address_seat_cap() {
    let redis = std::env::var("BOXOFFICE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = format!("10.{}.{}.{}", rand_octet(), rand_octet(), rand_octet());
    let configure = |s: &mut boxoffice_server::Settings| {
        s.redis_url = Some(redis.clone());
        s.limits.max_seats_per_address = 3;
        behind_the_proxy(s);
    };
    let a = TestApp::spawn_with(configure).await;
    let b = TestApp::spawn_with(configure).await;
    wait_for_shared_limits(&a).await;
    wait_for_shared_limits(&b).await;
    let on_a = a.register_and_login().await;
    let on_b = b.register_and_login().await;
    let r = hold_from(&on_a, &["F-1", "F-2"], &client).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Each instance alone has counted two: only the shared window refuses two more.
    assert_rate_limited(hold_from(&on_b, &["F-1", "F-2"], &client).await).await;
    let r = hold_from(&on_b, &["F-1"], &client).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
