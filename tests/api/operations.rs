//! Operations and hygiene: health, readiness, metrics, the OpenAPI document, cross-origin
//! refusal, body limits, the error format for bad input, overload, graceful shutdown, restart.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{
    GOOD_CARD, PASSWORD, SseReader, TestApp, WAIT, WsItem, assert_error, error_body,
};
use boxoffice_testkit::{free_port, redis::PrivateRedis};

#[tokio::test]
async fn healthz_and_readyz_are_200() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_are_in_prometheus_text_format_and_count_requests() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/events").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = r.text().await.unwrap();
    assert!(text.contains("boxoffice_http_requests_total"), "{text}");
    assert!(text.contains("# TYPE boxoffice_http_requests_total counter"));
    // By route template, never by raw id.
    let id = app.event_id().await;
    app.get(&format!("/api/v1/events/{id}/seats")).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains(&id), "metrics must not carry ids");
}

/// The value of every series of `name` in Prometheus text, with its labels (`{…}` or "").
fn series(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => {
                    let (labels, value) = r.split_once("} ")?;
                    (format!("{{{labels}}}"), value)
                }
                None => ("".to_owned(), rest.strip_prefix(' ')?),
            };
            Some((labels, value.trim().parse().ok()?))
        })
        .collect()
}

fn one(text: &str, name: &str) -> f64 {
    let found = series(text, name);
    assert_eq!(found.len(), 1, "one series of {name}: {found:?}\n{text}");
    found[0].1
}

#[tokio::test]
async fn metrics_carry_the_signals_autoscalers_and_operators_scale_on() {
    // Two instances on one database and a Redis of this test's own, so that a seat change
    // crosses the fan-out and the receiving side measures its lag.
    let port = free_port();
    let _redis = PrivateRedis::start(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let a = TestApp::spawn_with(|s| s.redis_url = Some(url.clone())).await;
    let b = TestApp::spawn_on(a.db_url.clone(), |s| s.redis_url = Some(url.clone())).await;
    for app in [&a, &b] {
        let deadline = Instant::now() + WAIT;
        while app.get("/readyz").await.status() != StatusCode::OK {
            assert!(Instant::now() < deadline, "ready with Redis in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut map = SseReader::connect(&b, None).await;
    map.next().await.expect("the snapshot");
    let buyer = a.register_and_login().await;
    buyer.hold_ok(&["A-1"]).await;
    map.until(WAIT, |name, data| {
        name == "seats" && data.to_string().contains("A-1")
    })
    .await;

    let text = b.get("/metrics").await.text().await.unwrap();
    // This scrape is itself in flight.
    let in_flight = one(&text, "boxoffice_http_requests_in_flight");
    assert!((1.0..100.0).contains(&in_flight), "in flight {in_flight}");
    // b's live map (the test process shares one recorder between a and b).
    assert!(one(&text, "boxoffice_open_streams") >= 1.0);
    // Every pool of the backend, in use + idle within its maximum, nobody waiting now.
    let max = series(&text, "boxoffice_db_pool_max_connections");
    assert!(
        max.len() >= 2,
        "a main (or readers) and a refusals pool: {max:?}"
    );
    for (labels, max) in &max {
        let pool = labels.trim_start_matches('{').trim_end_matches('}');
        let count = |state: &str| {
            series(&text, "boxoffice_db_pool_connections")
                .into_iter()
                .find(|(l, _)| l.contains(pool) && l.contains(&format!("state=\"{state}\"")))
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("{state} connections of {pool}: {text}"))
        };
        assert!(*max >= 1.0, "{pool}: max {max}");
        assert!(
            count("in_use") + count("idle") <= *max,
            "{pool}: over its maximum"
        );
    }
    assert!(
        series(&text, "boxoffice_db_pool_max_connections")
            .iter()
            .any(|(_, v)| *v == f64::from(a.settings.db_pool_size)),
        "the configured pool size: {max:?}"
    );
    for (labels, waiting) in series(&text, "boxoffice_db_pool_waiting") {
        assert!(
            (0.0..=2.0).contains(&waiting),
            "{labels}: {waiting} waiting"
        );
    }
    // The hold crossed from a to b through Redis: one lag measured, well under a second here.
    let lags = one(&text, "boxoffice_fanout_lag_seconds_count");
    let lag_sum = one(&text, "boxoffice_fanout_lag_seconds_sum");
    assert!(lags >= 1.0, "fan-out lag measured");
    assert!(lag_sum / lags < 1.0, "mean fan-out lag {}", lag_sum / lags);
    assert!((0.0..10.0).contains(&one(&text, "boxoffice_fanout_publish_queue")));
    assert_eq!(one(&text, "boxoffice_redis_connected"), 1.0);
    assert!(
        text.contains("# HELP boxoffice_http_requests_in_flight"),
        "{text}"
    );
}

#[tokio::test]
async fn the_probe_subcommand_passes_on_a_ready_server_and_fails_on_a_draining_or_absent_one() {
    let mut app = TestApp::spawn_with(|s| s.drain_delay = Duration::from_secs(3)).await;
    let listen: std::net::SocketAddr = format!("0.0.0.0:{}", app.port).parse().unwrap();
    boxoffice_server::probe::probe(listen, "/healthz")
        .await
        .unwrap();
    boxoffice_server::probe::probe(listen, "readyz")
        .await
        .unwrap();
    let missing = boxoffice_server::probe::probe(listen, "/no-such-page").await;
    assert!(missing.is_err(), "a 404 is not healthy");
    app.begin_shutdown();
    let deadline = Instant::now() + WAIT;
    while boxoffice_server::probe::probe(listen, "/readyz")
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "/readyz fails while draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stopped(Duration::from_secs(10)).await.unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(
        boxoffice_server::probe::probe(free, "/healthz")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_public_endpoint() {
    let app = TestApp::spawn().await;
    let doc = app.get_json("/api/openapi.json").await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "OpenAPI 3: {}",
        doc["openapi"]
    );
    let paths = &doc["paths"];
    let expected = [
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/events/{event_id}"),
        ("get", "/api/v1/events/{event_id}/seats"),
        ("get", "/api/v1/events/{event_id}/stream"),
        ("get", "/api/v1/events/{event_id}/ws"),
        ("post", "/api/v1/events/{event_id}/holds"),
        ("get", "/api/v1/holds/{hold_id}"),
        ("delete", "/api/v1/holds/{hold_id}"),
        ("post", "/api/v1/holds/{hold_id}/checkout"),
        ("get", "/api/v1/orders"),
        ("get", "/api/v1/orders/{order_id}"),
        ("get", "/api/v1/tickets/{ticket_id}"),
        ("get", "/api/v1/tickets/{ticket_id}/qr.svg"),
        ("post", "/api/v1/admin/venues"),
        ("post", "/api/v1/admin/events"),
        ("get", "/api/v1/admin/events/{event_id}/sales"),
        ("post", "/api/v1/admin/orders/{order_id}/refund"),
        ("put", "/api/v1/admin/users/role"),
        ("post", "/api/v1/checkin"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/api/openapi.json"),
    ];
    let missing: Vec<_> = expected
        .iter()
        .filter(|(method, path)| paths[*path].get(*method).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "missing from the OpenAPI document: {missing:?}"
    );
    let create_event = paths["/api/v1/admin/events"]["post"]["requestBody"].to_string();
    assert!(
        create_event.contains("CreateEventRequest"),
        "{create_event}"
    );
    let checkout = &paths["/api/v1/holds/{hold_id}/checkout"]["post"];
    let params = checkout["parameters"].to_string();
    assert!(params.contains("Idempotency-Key"), "{params}");
}

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
struct Case {
    method: Method,
    path: String,
    body: Option<String>,
    headers: Vec<(&'static str, Vec<u8>)>,
}

fn case(method: Method, path: impl Into<String>) -> Case {
    Case {
        method,
        path: path.into(),
        body: None,
        headers: Vec::new(),
    }
}

impl Case {
    fn json(mut self, body: impl Into<String>) -> Case {
        self.body = Some(body.into());
        self.headers
            .push(("content-type", b"application/json".to_vec()));
        self
    }
    fn header(mut self, name: &'static str, value: &[u8]) -> Case {
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
async fn json_error_failures(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_overload_the_api_answers_503_with_retry_after_at_once() {
    let app = TestApp::spawn_with(|s| s.max_concurrent_requests = 1).await;
    let results = futures_util::future::join_all((0..12).map(|i| {
        let app = &app;
        async move {
            let started = Instant::now();
            let r = app
                .register(
                    &format!("load-{i}-{}@example.com", Uuid::new_v4().simple()),
                    PASSWORD,
                    "L",
                )
                .await;
            (r, started.elapsed())
        }
    }))
    .await;
    let mut shed = 0;
    for (r, elapsed) in results {
        match r.status() {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                shed += 1;
                assert!(r.headers().contains_key(header::RETRY_AFTER));
                assert!(elapsed < Duration::from_secs(2));
                error_body(r).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(shed > 0, "with one slot, a burst of sign-ups must be shed");
    // Operations endpoints are not shed.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_tells_streams_to_reconnect_and_finishes_requests_in_flight() {
    let mut app = TestApp::spawn().await;
    let id = app.event_id().await;
    let mut sse = app.sse().await;
    assert_eq!(sse.next().await.unwrap().0, "snapshot");
    let mut ws = app.ws().await;
    assert_eq!(ws.next_json().await["type"], "snapshot");

    // A request in flight: its head and half its body are sent.
    let body = json!({"email": format!("late-{}@example.com", Uuid::new_v4().simple()), "password": PASSWORD, "name": "Late"})
        .to_string();
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    tcp.write_all(
        format!(
            "POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            app.port,
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tcp.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    app.begin_shutdown();

    let (name, data) = sse.until(WAIT, |n, _| n == "reconnect").await;
    assert_eq!(name, "reconnect");
    assert!(data.is_object(), "{data}");
    assert!(
        sse.next().await.is_none(),
        "the stream ends after reconnect"
    );

    let frame = ws.next_json().await;
    assert_eq!(frame["type"], "reconnect");
    match ws.next().await {
        WsItem::Close(code) => assert_eq!(code, Some(1012)),
        other => panic!("expected a close frame, got {other:?}"),
    }

    // New streams are refused while draining (if the listener still answers at all).
    if let Ok(Ok(r)) = tokio::time::timeout(
        Duration::from_millis(500),
        crate::helpers::plain_client()
            .get(app.url(&format!("/api/v1/events/{id}/stream")))
            .send(),
    )
    .await
    {
        assert_ne!(
            r.status(),
            StatusCode::OK,
            "a new stream opened during the drain"
        );
    }

    tcp.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut response))
        .await
        .expect("the in-flight request is answered")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    app.stopped(Duration::from_secs(5))
        .await
        .expect("run_until returns Ok");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Gone: new connections are refused.
    let r = crate::helpers::plain_client()
        .get(app.url("/healthz"))
        .send()
        .await;
    assert!(r.is_err(), "the server still answers after stopping");
}

#[tokio::test]
async fn shutting_down_with_no_clients_returns_promptly() {
    let mut app = TestApp::spawn().await;
    let _ = app.event_id().await;
    let started = Instant::now();
    app.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn after_a_restart_orders_and_sold_seats_are_still_there_and_no_second_demo_event_appears() {
    let mut first = TestApp::spawn().await;
    first.keep_database();
    let event_id = first.event_id().await;
    let buyer = first.register_and_login().await;
    let order = buyer.buy(&["A-1", "A-2"]).await;
    let held = buyer.hold_ok(&["B-1"]).await;
    first.shutdown().await;

    let second = TestApp::spawn_on(first.db_url.clone(), |_| {}).await;
    let events = second.get_json("/api/v1/events").await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "no second demo event");
    assert_eq!(events[0]["id"], event_id.as_str());
    assert_eq!(events[0]["seats_available"], 509);
    let map = second.seat_map().await;
    assert_eq!(map.state("A-1"), "sold");
    assert_eq!(map.state("A-2"), "sold");
    assert_eq!(map.state("B-1"), "held");

    // The buyer's session survived (it lives in the database), and so did the order.
    let r = buyer
        .client
        .get(second.url("/api/v1/orders"))
        .bearer_auth(&buyer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let orders: Value = r.json().await.unwrap();
    assert_eq!(orders["orders"][0]["id"], order["id"]);
    assert_eq!(orders["orders"][0]["tickets"], order["tickets"]);
    let r = second.login(&buyer.email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The hold is still the buyer's and still payable.
    let r = buyer
        .client
        .post(second.url(&format!(
            "/api/v1/holds/{}/checkout",
            held["id"].as_str().unwrap()
        )))
        .bearer_auth(&buyer.token)
        .header("Idempotency-Key", "after-restart")
        .json(&crate::helpers::checkout_body(GOOD_CARD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    second.assert_audit_ok().await;
    let venues: i64 = second.count("SELECT COUNT(*) FROM venues", &[]).await;
    assert_eq!(venues, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_does_not_wait_for_subscribers_that_never_read() {
    let mut app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let event_id = app.event_id().await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        let mut stream = socket
            .connect(format!("127.0.0.1:{}", app.port).parse().unwrap())
            .await
            .unwrap();
        stream
            .write_all(
                format!("GET /api/v1/events/{event_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        slow.push(stream);
    }
    let seats = crate::helpers::all_seat_ids();
    for i in 0..50 {
        let group: Vec<&str> = seats[(i * 8) % 512..(i * 8) % 512 + 8]
            .iter()
            .map(String::as_str)
            .collect();
        let hold = buyer.hold_ok(&group).await;
        buyer.release(hold["id"].as_str().unwrap()).await;
    }
    let started = Instant::now();
    app.begin_shutdown();
    app.stopped(Duration::from_secs(10))
        .await
        .expect("run_until returns despite the silent subscribers");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(slow);
}
