//! Overload, graceful shutdown and restart: what clients see when the server is saturated, drains
//! or comes back.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{GOOD_CARD, PASSWORD, TestApp, WAIT, WsItem, error_body};

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
