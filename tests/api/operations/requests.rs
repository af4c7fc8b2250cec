//! Requests the API refuses: from another origin, too big, malformed, of a wrong content type,
//! method or path; every refusal in the one JSON error shape and never a 5xx.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{GOOD_CARD, PASSWORD, TestApp, assert_error, error_body};

#[tokio::test]
async fn a_state_changing_request_from_another_origin_is_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let id = app.event_id().await;
    let hold_path = format!("/api/v1/events/{id}/holds");
    let evil = "http://evil.example";

    // Holding with the victim's cookie from another site.
    let r = buyer
        .client
        .post(buyer.url(&hold_path))
        .header(header::ORIGIN, evil)
        .json(&json!({"seat_ids": ["A-1"]}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;
    assert_eq!(app.seat_state("A-1").await, "available");

    // Fetch metadata says cross-site.
    let r = buyer
        .client
        .post(buyer.url(&hold_path))
        .header("Sec-Fetch-Site", "cross-site")
        .json(&json!({"seat_ids": ["A-1"]}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;

    // Same origin works.
    let r = buyer
        .client
        .post(buyer.url(&hold_path))
        .header(header::ORIGIN, app.address.as_str())
        .header("Sec-Fetch-Site", "same-origin")
        .json(&json!({"seat_ids": ["A-1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let hold: Value = r.json().await.unwrap();
    let hold_id = hold["hold"]["id"].as_str().unwrap();

    // Releasing, paying, logging out, registering and logging in from elsewhere.
    let r = buyer
        .client
        .delete(buyer.url(&format!("/api/v1/holds/{hold_id}")))
        .header(header::ORIGIN, evil)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;
    let r = buyer
        .client
        .post(buyer.url(&format!("/api/v1/holds/{hold_id}/checkout")))
        .header(header::ORIGIN, evil)
        .header("Idempotency-Key", "csrf")
        .json(&crate::helpers::checkout_body(GOOD_CARD))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;
    assert_eq!(app.seat_state("A-1").await, "held");
    let r = buyer
        .client
        .post(buyer.url("/api/v1/auth/logout"))
        .header(header::ORIGIN, evil)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;
    assert_eq!(buyer.get("/api/v1/me").await.status(), StatusCode::OK);
    let email = format!("csrf-{}@example.com", Uuid::new_v4().simple());
    let r = app
        .api
        .post(app.url("/api/v1/auth/register"))
        .header(header::ORIGIN, "null")
        .json(&json!({"email": email, "password": PASSWORD, "name": "X"}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;
    let r = app
        .api
        .post(app.url("/api/v1/auth/login"))
        .header(header::ORIGIN, evil)
        .json(&json!({"email": buyer.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "cross_origin_request").await;

    // Reads from elsewhere are fine.
    let r = buyer
        .client
        .get(buyer.url(&format!("/api/v1/events/{id}/seats")))
        .header(header::ORIGIN, evil)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_in_json() {
    let app = TestApp::spawn().await;
    let body =
        json!({"email": "big@example.com", "password": PASSWORD, "name": "x".repeat(70 * 1024)});
    let r = app.post_json("/api/v1/auth/register", &body).await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let buyer = app.register_and_login().await;
    let seats: Vec<String> = (0..20_000).map(|n| format!("X-{n}")).collect();
    let r = buyer
        .post_json(
            &format!("/api/v1/events/{}/holds", buyer.event_id),
            &json!({"seat_ids": seats}),
        )
        .await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Just under the limit is read (and refused for what it says, not for its size).
    let body =
        json!({"email": "big@example.com", "password": PASSWORD, "name": "x".repeat(60 * 1024)});
    let r = app.post_json("/api/v1/auth/register", &body).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_content_type_is_415_both_in_json() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let hold_path = format!("/api/v1/events/{}/holds", buyer.event_id);
    for raw in [
        "{\"seat_ids\": [",
        "{seat_ids: ['A-1']}",
        "",
        "{\"seat_ids\": [\"A-1\"]} trailing",
        "{\"seat_ids\": [\"\\ud800\"]}",
    ] {
        let r = buyer
            .client
            .post(buyer.url(&hold_path))
            .header(header::CONTENT_TYPE, "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let err = error_body(r).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw:?}: {err}");
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = buyer
        .client
        .post(buyer.url(&hold_path))
        .header(header::CONTENT_TYPE, "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    error_body(r).await;

    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut rb = buyer
            .client
            .post(buyer.url(&hold_path))
            .body(r#"{"seat_ids": ["A-1"]}"#);
        if let Some(ct) = ct {
            rb = rb.header(header::CONTENT_TYPE, ct);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let err = error_body(r).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}: {err}");
    }
    assert_eq!(app.seat_state("A-1").await, "available");
}

/// One request of the bad-input table.
pub(super) struct Case {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) body: Option<String>,
    pub(super) headers: Vec<(&'static str, Vec<u8>)>,
}

pub(super) fn case(method: Method, path: impl Into<String>) -> Case {
    Case {
        method,
        path: path.into(),
        body: None,
        headers: Vec::new(),
    }
}

impl Case {
    pub(super) fn json(mut self, body: impl Into<String>) -> Case {
        self.body = Some(body.into());
        self.headers
            .push(("content-type", b"application/json".to_vec()));
        self
    }
    pub(super) fn header(mut self, name: &'static str, value: &[u8]) -> Case {
        self.headers.push((name, value.to_vec()));
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_never_yield_a_5xx_and_always_the_json_error_shape() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let event = buyer.event_id.clone();
    let hold = buyer.hold_ok(&["A-1"]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let long = "x".repeat(5_000);
    let holds = format!("/api/v1/events/{event}/holds");
    let checkout = format!("/api/v1/holds/{hold}/checkout");
    let odd_ids = [
        "%00",
        "..%2F..%2Fetc%2Fpasswd",
        "'%20OR%20'1'%3D'1",
        "%F0%9F%8E%AB",
        "%E2%80%AE",
        long.as_str(),
        "a%0Ab",
        "-1",
        "9223372036854775808",
    ];
    let mut cases = Vec::new();
    for id in odd_ids {
        for path in [
            format!("/api/v1/events/{id}"),
            format!("/api/v1/events/{id}/seats"),
            format!("/api/v1/events/{id}/stream"),
            format!("/api/v1/holds/{id}"),
            format!("/api/v1/orders/{id}"),
            format!("/api/v1/tickets/{id}"),
            format!("/api/v1/tickets/{id}/qr.svg"),
        ] {
            cases.push(case(Method::GET, path));
        }
        cases.push(case(Method::DELETE, format!("/api/v1/holds/{id}")));
        cases.push(
            case(Method::POST, format!("/api/v1/holds/{id}/checkout"))
                .header("idempotency-key", b"k")
                .json(
                    json!({"payment": {"method": "sandbox", "card_number": GOOD_CARD}}).to_string(),
                ),
        );
        cases.push(
            case(Method::POST, format!("/api/v1/events/{id}/holds"))
                .json(r#"{"seat_ids":["A-2"]}"#),
        );
    }
    for body in [
        json!({"seat_ids": null}),
        json!({"seat_ids": "A-2"}),
        json!({"seat_ids": [1, 2]}),
        json!({"seat_ids": [null]}),
        json!({"seat_ids": [["A-2"]]}),
        json!({"seat_ids": {"A-2": true}}),
        json!({}),
        json!([]),
        json!(null),
        json!(12),
        json!({"seat_ids": ["🎫"]}),
        json!({"seat_ids": ["A-2\u{0000}"]}),
        json!({"seat_ids": ["A-2'; DROP TABLE seats; --"]}),
        json!({"seat_ids": [long]}),
        json!({"seat_ids": (0..5000).map(|n| format!("Q-{n}")).collect::<Vec<_>>()}),
        json!({"seat_ids": (0..5000).map(|_| "A-2").collect::<Vec<_>>()}),
    ] {
        cases.push(case(Method::POST, holds.clone()).json(body.to_string()));
    }
    for body in [
        json!({"email": "x".repeat(10_000) + "@example.com", "password": PASSWORD, "name": "A"}),
        json!({"email": "ok@example.com", "password": "p".repeat(10_000), "name": "A"}),
        json!({"email": "ok@example.com", "password": PASSWORD, "name": "A\u{0000}B"}),
        json!({"email": "ok@example.com", "password": PASSWORD, "name": "n".repeat(1000)}),
        json!({"email": "ünï@exämple.com", "password": "pässwörd🎫🎫🎫", "name": "Zoë 🎫"}),
        json!({"email": "a@b.c", "password": PASSWORD, "name": "\u{202e}"}),
        json!({"email": true, "password": false, "name": 1.5}),
        json!({"email": "a@b.co", "password": PASSWORD, "name": "A", "role": "admin"}),
    ] {
        cases.push(case(Method::POST, "/api/v1/auth/register").json(body.to_string()));
        cases.push(case(Method::POST, "/api/v1/auth/login").json(body.to_string()));
    }
    for body in [
        json!({"payment": {"method": "sandbox", "card_number": 4242424242424242_u64}}),
        json!({"payment": {"method": null, "card_number": GOOD_CARD}}),
        json!({"payment": {"method": "sandbox", "card_number": "４２４２４２４２４２４２４２４２"}}),
        json!({"payment": [GOOD_CARD]}),
        json!({"payment": {"method": "sandbox", "card_number": "4000000000000002"}, "extra": 1e300}),
    ] {
        cases.push(
            case(Method::POST, checkout.clone())
                .header("idempotency-key", Uuid::new_v4().to_string().as_bytes())
                .json(body.to_string()),
        );
    }
    let good =
        json!({"payment": {"method": "sandbox", "card_number": "4000000000000002"}}).to_string();
    for key in [&b"\xff\xfe"[..], b"\t", "é".as_bytes(), &[b'k'; 300][..]] {
        cases.push(
            case(Method::POST, checkout.clone())
                .header("idempotency-key", key)
                .json(good.clone()),
        );
    }
    cases.push(
        case(Method::POST, checkout.clone())
            .header("idempotency-key", b"num")
            .json(r#"{"payment": {"method": "sandbox", "card_number": "4242"}, "n": 1e400}"#),
    );
    for auth in [
        format!("Bearer {long}").into_bytes(),
        b"Bearer ".to_vec(),
        b"Basic dXNlcjpwYXNz".to_vec(),
        b"Bearer \xff\xfe".to_vec(),
        b"bearer lowercase".to_vec(),
    ] {
        cases.push(case(Method::GET, "/api/v1/me").header("authorization", &auth));
        cases.push(case(Method::GET, "/api/v1/orders").header("authorization", &auth));
    }
    cases
        .push(case(Method::GET, "/api/v1/me").header("cookie", b"boxoffice_session=\xff; other=1"));
    cases.push(
        case(Method::GET, "/api/v1/me")
            .header("cookie", format!("boxoffice_session={long}").as_bytes()),
    );
    // Paths that are not UTF-8, unknown API paths, wrong methods and plain GETs of the WebSocket
    // endpoint have tests of their own below (they currently fail: server bugs).

    let anon = crate::helpers::plain_client();
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        // Half the cases signed in with the cookie, half anonymous.
        let client = if i % 2 == 0 { &buyer.client } else { &anon };
        let mut rb = client.request(c.method.clone(), app.url(&c.path));
        for (name, value) in &c.headers {
            rb = rb.header(*name, header::HeaderValue::from_bytes(value).unwrap());
        }
        if let Some(b) = &c.body {
            rb = rb.body(b.clone());
        }
        let label = format!("{} {}", c.method, &c.path[..c.path.len().min(80)]);
        let r = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{label}: no response: {e}"));
                continue;
            }
        };
        let status = r.status();
        if status.is_server_error() {
            failures.push(format!("{label}: {status}"));
            continue;
        }
        if status.is_client_error() {
            let ct = r
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let text = r.text().await.unwrap_or_default();
            let v: Option<Value> = serde_json::from_str(&text).ok();
            let shaped = ct.starts_with("application/json")
                && v.as_ref().is_some_and(|v| {
                    v["error"]["code"].is_string() && v["error"]["message"].is_string()
                });
            if !shaped {
                failures.push(format!(
                    "{label}: {status} without the JSON error shape: {ct:?} {text:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // None of this disturbed the hold or the invariants.
    assert_eq!(app.seat_state("A-1").await, "held");
    app.assert_audit_ok().await;
}

/// Sends each request and collects those not answered with `status` and the JSON error shape.
pub(super) async fn json_error_failures(
    app: &TestApp,
    requests: Vec<(Method, String)>,
    status: StatusCode,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (method, path) in requests {
        let r = app
            .api
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        let got = r.status();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().await.unwrap_or_default();
        let shaped = ct.starts_with("application/json")
            && serde_json::from_str::<Value>(&text).is_ok_and(|v| v["error"]["code"].is_string());
        if got != status || !shaped {
            failures.push(format!("{method} {path}: {got} {ct:?} {text:?}"));
        }
    }
    failures
}

#[tokio::test]
async fn an_unknown_api_path_is_a_json_404() {
    let app = TestApp::spawn().await;
    let failures = json_error_failures(
        &app,
        vec![
            (Method::GET, "/api/v1/nope".into()),
            (Method::GET, "/api/v1/".into()),
            (Method::GET, "/api/v1/events/".into()),
            (Method::GET, "/api/v1/holds".into()),
            (Method::DELETE, "/api/v1/nope".into()),
        ],
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_wrong_method_on_an_api_route_is_405_with_the_json_error_shape() {
    let app = TestApp::spawn().await;
    let id = app.event_id().await;
    let failures = json_error_failures(
        &app,
        vec![
            (Method::PUT, "/api/v1/events".into()),
            (Method::POST, format!("/api/v1/events/{id}/seats")),
            (Method::GET, "/api/v1/auth/login".into()),
            (Method::PATCH, "/api/v1/holds/x".into()),
        ],
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_path_id_that_is_not_utf8_is_a_json_error() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let mut failures = Vec::new();
    for (method, path) in [
        (Method::GET, "/api/v1/events/%FF%FE"),
        (Method::GET, "/api/v1/events/%FF%FE/seats"),
        (Method::GET, "/api/v1/events/%FF%FE/stream"),
        (Method::GET, "/api/v1/holds/%FF%FE"),
        (Method::DELETE, "/api/v1/holds/%FF%FE"),
        (Method::POST, "/api/v1/holds/%FF%FE/checkout"),
        (Method::POST, "/api/v1/events/%FF%FE/holds"),
        (Method::GET, "/api/v1/orders/%FF%FE"),
        (Method::GET, "/api/v1/tickets/%FF%FE"),
        (Method::GET, "/api/v1/tickets/%FF%FE/qr.svg"),
    ] {
        let r = buyer
            .client
            .request(method.clone(), app.url(path))
            .header("Idempotency-Key", "k")
            .json(&json!({"seat_ids": ["A-1"]}))
            .send()
            .await
            .unwrap();
        let got = r.status();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().await.unwrap_or_default();
        let shaped = ct.starts_with("application/json")
            && serde_json::from_str::<Value>(&text).is_ok_and(|v| v["error"]["code"].is_string());
        // 404 (no such resource) or 400 are both fine, in the API's JSON format.
        if !(got == StatusCode::NOT_FOUND || got == StatusCode::BAD_REQUEST) || !shaped {
            failures.push(format!("{method} {path}: {got} {ct:?} {text:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_plain_get_of_the_websocket_endpoint_is_a_json_error() {
    let app = TestApp::spawn().await;
    let id = app.event_id().await;
    let r = app.get(&format!("/api/v1/events/{id}/ws")).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    error_body(r).await;
}
