//! Abuse resistance (issue 11): rate limits per address and per account, trusted proxies, Redis
//! shared limits, hoarding caps and cool-down, ended-hold retention, refused characters, roles
//! before bodies, and who may read `/metrics`.

use std::time::Duration;

use boxoffice_domain::rate::RateQuota;
use reqwest::{StatusCode, header};
use serde_json::json;
use uuid::Uuid;

use crate::{
    admin::{ADMIN, app_with_admin},
    catalog::{buyer_for, venue_and_event},
    helpers::{GOOD_CARD, PASSWORD, TestApp, WAIT, assert_error},
};

fn per_minute(n: u32) -> Option<RateQuota> {
    Some(RateQuota::new(n, Duration::from_secs(60)))
}

/// Asserts a 429 `rate_limited` in the JSON error format; returns its `Retry-After` in seconds.
async fn assert_rate_limited(r: reqwest::Response) -> u64 {
    let retry_after: u64 = r
        .headers()
        .get(header::RETRY_AFTER)
        .expect("a 429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    let error = assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(error["details"]["retry_after_seconds"], retry_after);
    retry_after
}

async fn login_from(
    app: &TestApp,
    email: &str,
    password: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .api
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(addr) = forwarded {
        request = request.header("x-forwarded-for", addr);
    }
    request.send().await.unwrap()
}

fn unique_email() -> String {
    format!("abuse-{}@example.com", Uuid::new_v4().simple())
}

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
    let configure = |s: &mut boxoffice_server::config::Settings| {
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

fn rand_octet() -> u8 {
    Uuid::new_v4().as_bytes()[0]
}

/// The instance connects to Redis for its limits in the background; `/readyz` shows Redis up.
async fn wait_for_shared_limits(app: &TestApp) {
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

async fn app_with_admin_and(
    configure: impl FnOnce(&mut boxoffice_server::config::Settings),
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

async fn wait_until_available(app: &TestApp, seat: &str) {
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

#[tokio::test]
async fn nul_in_an_email_a_name_or_a_code_is_422_on_every_backend() {
    let (app, admin) = app_with_admin().await;
    let r = app.register("ann\u{0}@example.com", PASSWORD, "Ann").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters").await;
    let r = app.register(&unique_email(), PASSWORD, "Ann\u{0}").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters").await;
    let r = app.login("ann\u{0}@example.com", PASSWORD).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters").await;
    let r = admin
        .client
        .put(admin.url("/api/v1/admin/users/role"))
        .json(&json!({"email": "ann\u{0}@example.com", "role": "staff"}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters").await;
    let r = admin
        .post_json("/api/v1/checkin", &json!({"code": "abc\u{0}def"}))
        .await;
    let error = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters").await;
    assert_eq!(error["details"]["field"], "/code");
    let r = admin
        .post_json(
            "/api/v1/admin/venues",
            &json!({"name": "Hall\u{0}", "layout": {}}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters").await;
}

#[tokio::test]
async fn bidi_overrides_and_zero_width_characters_are_refused_in_emails_and_names() {
    let app = TestApp::spawn().await;
    for (email, name) in [
        ("\u{202E}moc.elpmaxe@ann.com".to_owned(), "Ann"),
        ("ad\u{200B}min@example.com".to_owned(), "Ann"),
        (unique_email(), "Ann\u{2066}Admin"),
        (unique_email(), "A\u{200D}nn"),
        (unique_email(), "\u{FEFF}Ann"),
    ] {
        let r = app.register(&email, PASSWORD, name).await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters").await;
    }
    let r = app
        .register(&unique_email(), PASSWORD, "Zoë Ærø 東京")
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn admin_and_staff_routes_refuse_a_buyer_before_reading_the_body() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let send = |method: reqwest::Method, path: &str| {
        buyer
            .client
            .request(method, buyer.url(path))
            .header(header::CONTENT_TYPE, "text/plain")
            .body("{not json")
    };
    for (method, path) in [
        (reqwest::Method::POST, "/api/v1/admin/orders/nope/refund"),
        (reqwest::Method::PUT, "/api/v1/admin/users/role"),
        (reqwest::Method::POST, "/api/v1/checkin"),
    ] {
        let r = send(method, path).send().await.unwrap();
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Signed out, the same requests are 401, still before the body.
    let r = app
        .api
        .post(app.url("/api/v1/checkin"))
        .body("junk")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn metrics_need_an_allowed_address_or_the_scrapers_bearer_token() {
    let open = TestApp::spawn().await;
    assert_eq!(
        open.get("/metrics").await.status(),
        StatusCode::OK,
        "loopback by default"
    );
    // Through a proxy we do not trust, loopback says nothing about the client.
    let r = open
        .api
        .get(open.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;

    let guarded = TestApp::spawn_with(|s| {
        s.limits.metrics_allow = Vec::new();
        s.limits.metrics_token = Some("scrape-secret".to_owned());
    })
    .await;
    let r = guarded.get("/metrics").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let scrape = |token: &str| {
        guarded
            .api
            .get(guarded.url("/metrics"))
            .bearer_auth(token)
            .send()
    };
    assert_error(
        scrape("wrong").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let r = scrape("scrape-secret").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("boxoffice_"));
}

#[tokio::test]
async fn json_answers_and_qr_images_are_not_to_be_sniffed() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let order = buyer.buy(&["G-1"]).await;
    let ticket = order["tickets"][0]["id"].as_str().unwrap();
    for r in [
        app.get("/api/v1/events").await,
        app.get("/api/v1/nope").await,
        buyer.get(&format!("/api/v1/tickets/{ticket}/qr.svg")).await,
    ] {
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{}",
            r.url()
        );
    }
}

#[tokio::test]
async fn a_write_from_the_same_host_over_another_scheme_is_refused() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let https_origin = app.address.replace("http://", "https://");
    let r = buyer
        .client
        .post(buyer.url(&format!("/api/v1/events/{}/holds", buyer.event_id)))
        .header(header::ORIGIN, https_origin)
        .json(&json!({"seat_ids": ["H-1"]}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;
    assert_eq!(app.seat_state("H-1").await, "available");
    let r = buyer
        .client
        .post(buyer.url(&format!("/api/v1/events/{}/holds", buyer.event_id)))
        .header(header::ORIGIN, app.address.as_str())
        .json(&json!({"seat_ids": ["H-1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the same scheme and host is this site"
    );
}

/// A hold of the demo event sent as if through the trusted proxy for `client`.
async fn hold_from(
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

fn behind_the_proxy(s: &mut boxoffice_server::config::Settings) {
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
    let configure = |s: &mut boxoffice_server::config::Settings| {
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
