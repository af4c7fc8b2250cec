//! Rate limits per address and per account: sign-in, registration, holds and checkouts, locked
//! accounts, forwarded addresses, and allowances shared through Redis (or not, when it is down).

use std::time::Duration;

use boxoffice_domain::rate::RateQuota;
use reqwest::StatusCode;
use uuid::Uuid;

use super::hoarding::behind_the_proxy;
use super::{assert_rate_limited, login_from, per_minute, unique_email};
use crate::helpers::{GOOD_CARD, PASSWORD, TestApp, WAIT};

#[tokio::test]
async fn sign_in_from_one_address_past_its_limit_is_429_with_retry_after() {
    let app = TestApp::spawn_with(|s| s.limits.sign_in_per_address = per_minute(3)).await;
    for _ in 0..3 {
        let r = login_from(&app, &unique_email(), "wrong password", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let retry = assert_rate_limited(login_from(&app, &unique_email(), "x", None).await).await;
    assert!(
        retry <= 20,
        "one more sign-in is earned back every 20 s, said {retry}"
    );
}

#[tokio::test]
async fn registrations_from_one_address_past_their_limit_are_429() {
    let app = TestApp::spawn_with(|s| s.limits.register_per_address = per_minute(2)).await;
    for _ in 0..2 {
        let r = app.register(&unique_email(), PASSWORD, "Farm").await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert_rate_limited(app.register(&unique_email(), PASSWORD, "Farm").await).await;
}

#[tokio::test]
async fn holds_and_checkouts_from_one_address_past_their_limits_are_429() {
    let app = TestApp::spawn_with(|s| {
        s.limits.holds_per_address = per_minute(2);
        s.limits.checkout_per_address = per_minute(1);
    })
    .await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["A-1"]).await;
    buyer.hold_ok(&["A-2"]).await;
    assert_rate_limited(buyer.hold(&["A-3"]).await).await;
    assert_eq!(app.seat_state("A-3").await, "available");
    let hold_id = hold["id"].as_str().unwrap();
    let r = buyer.checkout(hold_id, "first", GOOD_CARD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_rate_limited(buyer.checkout(hold_id, "second", GOOD_CARD).await).await;
}

#[tokio::test]
async fn holds_per_account_past_their_limit_are_429_whatever_the_address() {
    let app = TestApp::spawn_with(|s| s.limits.holds_per_account = per_minute(2)).await;
    let buyer = app.register_and_login().await;
    let other = app.register_and_login().await;
    buyer.hold_ok(&["B-1"]).await;
    buyer.hold_ok(&["B-2"]).await;
    assert_rate_limited(buyer.hold(&["B-3"]).await).await;
    other.hold_ok(&["B-3"]).await;
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_and_the_owner_gets_back_in_once_the_lock_runs_out() {
    // Three attempts, one earned back every second.
    let app = TestApp::spawn_with(|s| {
        s.limits.sign_in_per_account = Some(RateQuota::new(3, Duration::from_secs(3)))
    })
    .await;
    let owner = unique_email();
    let bystander = unique_email();
    for email in [&owner, &bystander] {
        let r = app.register(email, PASSWORD, "Owner").await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    for _ in 0..3 {
        let r = login_from(&app, &owner, "guess guess guess", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password waits, so that a guesser learns nothing from it.
    let retry = assert_rate_limited(login_from(&app, &owner, PASSWORD, None).await).await;
    assert!(retry <= 2, "Retry-After {retry}");
    // Another account is not affected.
    let r = login_from(&app, &bystander, PASSWORD, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let r = login_from(&app, &owner, PASSWORD, None).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the owner gets in once the lock ran out"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let app = TestApp::spawn_with(|s| {
        s.limits.sign_in_per_address = per_minute(1);
        s.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let email = unique_email();
    let first = login_from(&app, &email, "x", Some("198.51.100.1")).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    assert_rate_limited(login_from(&app, &email, "x", Some("198.51.100.1")).await).await;
    // What the client wrote itself, left of the address the proxy saw, changes nothing.
    assert_rate_limited(login_from(&app, &email, "x", Some("203.0.113.7, 198.51.100.1")).await)
        .await;
    let other = login_from(&app, &email, "x", Some("198.51.100.2")).await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_untrusted_peer_cannot_escape_its_limit_by_forging_x_forwarded_for() {
    let app = TestApp::spawn_with(|s| s.limits.sign_in_per_address = per_minute(1)).await;
    let email = unique_email();
    let first = login_from(&app, &email, "x", Some("198.51.100.1")).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    assert_rate_limited(login_from(&app, &email, "x", Some("198.51.100.2")).await).await;
}

#[tokio::test]
async fn with_redis_two_instances_share_one_allowance() {
    let redis = std::env::var("BOXOFFICE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    // A client address of its own, so that no other run shares the counter in Redis.
    let client = format!("10.{}.{}.{}", rand_octet(), rand_octet(), rand_octet());
    let configure = |s: &mut boxoffice_server::Settings| {
        s.redis_url = Some(redis.clone());
        s.limits.sign_in_per_address = per_minute(2);
        s.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    };
    let a = TestApp::spawn_with(configure).await;
    let b = TestApp::spawn_with(configure).await;
    wait_for_shared_limits(&a).await;
    wait_for_shared_limits(&b).await;
    let email = unique_email();
    let r = login_from(&a, &email, "x", Some(&client)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = login_from(&b, &email, "x", Some(&client)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Each instance alone has allowed one: only a shared counter refuses the third.
    assert_rate_limited(login_from(&a, &email, "x", Some(&client)).await).await;
    assert_rate_limited(login_from(&b, &email, "x", Some(&client)).await).await;
}

pub(super) fn rand_octet() -> u8 {
    Uuid::new_v4().as_bytes()[0]
}

/// The instance connects to Redis for its limits in the background; `/readyz` shows Redis up.
pub(super) async fn wait_for_shared_limits(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if app.get("/readyz").await.status() == StatusCode::OK {
            // The limits' own connection is made alongside the fan-out's.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Redis did not come up");
}

#[tokio::test]
async fn with_redis_down_each_instance_still_limits_on_its_own() {
    let app = TestApp::spawn_with(|s| {
        // Nothing listens on port 1.
        s.redis_url = Some("redis://127.0.0.1:1".to_owned());
        s.limits.sign_in_per_address = per_minute(1);
    })
    .await;
    let email = unique_email();
    let r = login_from(&app, &email, "x", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_rate_limited(login_from(&app, &email, "x", None).await).await;
}

#[tokio::test]
async fn a_guesser_at_another_address_cannot_lock_the_owner_out_but_many_addresses_meet_the_account_limit()
 {
    let app = TestApp::spawn_with(|s| {
        behind_the_proxy(s);
        s.limits.sign_in_per_account = Some(RateQuota::new(3, Duration::from_secs(3600)));
        s.limits.sign_in_per_account_any_address =
            Some(RateQuota::new(6, Duration::from_secs(3600)));
    })
    .await;
    let owner = unique_email();
    let r = app.register(&owner, PASSWORD, "Owner").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let guesser = "203.0.113.50";
    for _ in 0..3 {
        let r = login_from(&app, &owner, "guess", Some(guesser)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited(login_from(&app, &owner, "guess", Some(guesser)).await).await;
    // The owner, at home, is not locked out by the guesser.
    let r = login_from(&app, &owner, PASSWORD, Some("192.0.2.10")).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A guesser spreading over addresses meets the account-wide allowance of 6: the guesser's
    // 3 and the owner's 1 are spent (the refused attempt was stopped before it), 2 more are left.
    for n in 0..2 {
        let r = login_from(
            &app,
            &owner,
            "guess",
            Some(&format!("203.0.113.{}", 60 + n)),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited(login_from(&app, &owner, "guess", Some("203.0.113.70")).await).await;
}
