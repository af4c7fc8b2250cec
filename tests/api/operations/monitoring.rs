//! Health, readiness and metrics, the `probe` subcommand, and the OpenAPI document.

use std::time::{Duration, Instant};

use boxoffice_testkit::{free_port, redis::PrivateRedis};
use reqwest::{StatusCode, header};

use crate::helpers::{SseReader, TestApp, WAIT};

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
pub(super) fn series(text: &str, name: &str) -> Vec<(String, f64)> {
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

pub(super) fn one(text: &str, name: &str) -> f64 {
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
    boxoffice_server::probe(listen, "/healthz").await.unwrap();
    boxoffice_server::probe(listen, "readyz").await.unwrap();
    let missing = boxoffice_server::probe(listen, "/no-such-page").await;
    assert!(missing.is_err(), "a 404 is not healthy");
    app.begin_shutdown();
    let deadline = Instant::now() + WAIT;
    while boxoffice_server::probe(listen, "/readyz").await.is_ok() {
        assert!(Instant::now() < deadline, "/readyz fails while draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stopped(Duration::from_secs(10)).await.unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(boxoffice_server::probe(free, "/healthz").await.is_err());
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
        ("get", "/api/v1/admin/venues"),
        ("get", "/api/v1/admin/venues/{venue_id}"),
        ("get", "/api/v1/admin/events"),
        ("get", "/api/v1/admin/events/{event_id}"),
        ("put", "/api/v1/admin/events/{event_id}"),
        ("put", "/api/v1/admin/events/{event_id}/published"),
        ("get", "/api/v1/admin/orders"),
        ("get", "/api/v1/admin/orders/{order_id}"),
        ("get", "/api/v1/admin/events/{event_id}/orders.csv"),
        ("get", "/api/v1/admin/events/{event_id}/attendees.csv"),
        ("get", "/api/v1/admin/users"),
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
