//! Input and exposure: control and spoofing characters refused, staff routes and metrics closed to
//! buyers, answers not to be sniffed, writes from another scheme refused.

use reqwest::{StatusCode, header};
use serde_json::json;

use super::unique_email;
use crate::{
    admin::app_with_admin,
    helpers::{PASSWORD, TestApp, assert_error},
};

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
