//! Accounts: registration, sign-in (cookie and bearer token), sign-out and `/me`.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, assert_error, plain_client};

fn unique_email() -> String {
    format!("ann-{}@example.com", Uuid::new_v4().simple())
}

#[tokio::test]
async fn registering_returns_201_with_the_new_buyer() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let r = app.register(&email, PASSWORD, "Ann Example").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let user = &body["user"];
    assert!(user["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(user["email"], email);
    assert_eq!(user["name"], "Ann Example");
    assert_eq!(user["role"], "buyer");
    assert!(
        user.get("password_hash").is_none() && user.get("password").is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn an_email_can_register_only_once_whatever_its_case() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    assert_eq!(
        app.register(&email, PASSWORD, "Ann").await.status(),
        StatusCode::CREATED
    );
    let r = app.register(&email, PASSWORD, "Ann again").await;
    assert_error(r, StatusCode::CONFLICT, "email_taken").await;
    let r = app.register(&email.to_uppercase(), PASSWORD, "ANN").await;
    assert_error(r, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn registration_refuses_a_bad_email_a_short_password_or_a_blank_name_with_422() {
    let app = TestApp::spawn().await;
    for (email, password, name) in [
        ("not-an-email", PASSWORD, "Ann"),
        ("ann@", PASSWORD, "Ann"),
        ("@example.com", PASSWORD, "Ann"),
        ("", PASSWORD, "Ann"),
        ("ann@example.com", "short", "Ann"),
        ("ann@example.com", "", "Ann"),
        ("ann@example.com", PASSWORD, ""),
        ("ann@example.com", PASSWORD, "    "),
    ] {
        let r = app.register(email, password, name).await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email:?} / {password:?} / {name:?}"
        );
        crate::helpers::error_body(r).await;
    }
    // None of them created an account.
    let r = app.login("ann@example.com", PASSWORD).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn login_returns_the_user_a_token_and_an_httponly_samesite_lax_cookie() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD, "Ann").await;
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["role"], "buyer");
    assert!(body["token"].as_str().is_some_and(|t| t.len() >= 20));
    // Logging in with another case of the e-mail works too.
    let r = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_are_both_invalid_credentials() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD, "Ann").await;
    let wrong = app.login(&email, "not the password").await;
    let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = app.login(&unique_email(), PASSWORD).await;
    let unknown = assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown, "the two failures must be indistinguishable");
    for (email, password) in [("", ""), ("x", "y"), (email.as_str(), "")] {
        let r = app.login(email, password).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

#[tokio::test]
async fn me_works_with_the_cookie_and_with_a_bearer_token_and_is_401_without() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;

    // The cookie jar of the buyer's client.
    let r = buyer.get("/api/v1/me").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["id"], buyer.user_id.as_str());
    assert_eq!(body["user"]["email"], buyer.email.as_str());

    // The bearer token on a client without cookies.
    let r = app
        .api
        .get(app.url("/api/v1/me"))
        .bearer_auth(&buyer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["id"], buyer.user_id.as_str());

    // Nothing, or a made-up token.
    assert_error(
        app.get("/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let r = app
        .api
        .get(app.url("/api/v1/me"))
        .bearer_auth("made-up-token")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .api
        .get(app.url("/api/v1/me"))
        .header(header::COOKIE, "boxoffice_session=made-up")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn after_logout_neither_the_cookie_nor_the_token_works() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD, "Ann").await;
    let r = app.login(&email, PASSWORD).await;
    let set_cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = plain_client();
    let me_with_cookie = || {
        client
            .get(app.url("/api/v1/me"))
            .header(header::COOKIE, cookie.clone())
            .send()
    };
    assert_eq!(me_with_cookie().await.unwrap().status(), StatusCode::OK);

    let r = client
        .post(app.url("/api/v1/auth/logout"))
        .header(header::COOKIE, cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.contains("Max-Age=0"),
        "the cookie is cleared: {cleared}"
    );

    assert_eq!(
        me_with_cookie().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let r = client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the token died with the session"
    );

    // A second logout, or one without any session, is still 204.
    let r = client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn logging_out_with_a_bearer_token_ends_that_session_only() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    // A second session of the same account.
    let r = app.login(&buyer.email, PASSWORD).await;
    let other_token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .api
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .api
        .get(app.url("/api/v1/me"))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(buyer.get("/api/v1/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes_only() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD, "Ann").await;
    let hash: String = app
        .text("SELECT password_hash FROM users WHERE email = ?", &[&email])
        .await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    // Sessions are stored as digests, never as the token itself.
    let r = app.login(&email, PASSWORD).await;
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored: i64 = app
        .count(
            "SELECT COUNT(*) FROM sessions WHERE token_hash = ?",
            &[&token],
        )
        .await;
    assert_eq!(stored, 0, "the raw token must not be stored");
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn registration_and_login_bodies_with_wrong_types_are_422_not_500() {
    let app = TestApp::spawn().await;
    for body in [
        json!({}),
        json!({"email": null, "password": PASSWORD, "name": "Ann"}),
        json!({"email": 42, "password": PASSWORD, "name": "Ann"}),
        json!({"email": "a@example.com", "password": ["x"], "name": "Ann"}),
        json!([]),
        json!("a string"),
    ] {
        let r = app.post_json("/api/v1/auth/register", &body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        crate::helpers::error_body(r).await;
        let r = app.post_json("/api/v1/auth/login", &body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        crate::helpers::error_body(r).await;
    }
}

#[tokio::test]
async fn a_buyer_cannot_register_as_an_admin() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": PASSWORD, "name": "Mallory", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["role"], "buyer");
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.json::<Value>().await.unwrap()["user"]["role"], "buyer");
}
