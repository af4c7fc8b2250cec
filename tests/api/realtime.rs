//! Live seat status over SSE and WebSocket: a snapshot, then versioned changes that converge.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::helpers::{GOOD_CARD, SeatMap, SseReader, TestApp, WAIT, all_seat_ids};

/// The change of `seat` in a `seats` event, if any.
fn change_of<'a>(data: &'a Value, seat: &str) -> Option<&'a Value> {
    data["changes"].as_array()?.iter().find(|c| c["id"] == seat)
}

/// Waits for a change of `seat` to `state`; returns its version.
async fn wait_change(sse: &mut SseReader, seat: &str, state: &str) -> i64 {
    let (_, data) = sse
        .until(WAIT, |name, data| {
            name == "seats" && change_of(data, seat).is_some_and(|c| c["state"] == state)
        })
        .await;
    change_of(&data, seat).unwrap()["version"].as_i64().unwrap()
}

#[tokio::test]
async fn sse_sends_a_snapshot_then_each_hold_release_and_sale_with_growing_versions() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let mut sse = app.sse().await;
    let (name, data) = sse.next().await.expect("a first event");
    assert_eq!(name, "snapshot");
    let seats = data["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 512);
    assert!(
        seats
            .iter()
            .all(|s| s["id"].is_string() && s["state"] == "available" && s["version"].is_i64())
    );
    let v0 = seats.iter().find(|s| s["id"] == "A-1").unwrap()["version"]
        .as_i64()
        .unwrap();

    let hold = buyer.hold_ok(&["A-1"]).await;
    let v1 = wait_change(&mut sse, "A-1", "held").await;
    assert!(v1 > v0);

    buyer.release(hold["id"].as_str().unwrap()).await;
    let v2 = wait_change(&mut sse, "A-1", "available").await;
    assert!(v2 > v1);

    let hold = buyer.hold_ok(&["A-1"]).await;
    let v3 = wait_change(&mut sse, "A-1", "held").await;
    assert!(v3 > v2);

    let started = Instant::now();
    let r = buyer
        .checkout(hold["id"].as_str().unwrap(), "sale", GOOD_CARD)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v4 = wait_change(&mut sse, "A-1", "sold").await;
    assert!(v4 > v3, "{v3} < {v4}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the sale reached the subscriber promptly"
    );
    // Changes have exactly the documented fields.
    assert_eq!(app.seat_map().await.version("A-1"), v4);
}

#[tokio::test]
async fn changes_of_a_subscribers_own_seats_are_marked_mine() {
    let app = TestApp::spawn().await;
    let (ann, bob) = (
        app.register_and_login().await,
        app.register_and_login().await,
    );
    let mut ann_sse = SseReader::connect(&app, Some(&ann.token)).await;
    let mut bob_sse = SseReader::connect(&app, Some(&bob.token)).await;
    assert_eq!(ann_sse.next().await.unwrap().0, "snapshot");
    assert_eq!(bob_sse.next().await.unwrap().0, "snapshot");
    ann.hold_ok(&["B-1"]).await;
    let (_, data) = ann_sse
        .until(WAIT, |n, d| n == "seats" && change_of(d, "B-1").is_some())
        .await;
    assert_eq!(change_of(&data, "B-1").unwrap()["mine"], true);
    let (_, data) = bob_sse
        .until(WAIT, |n, d| n == "seats" && change_of(d, "B-1").is_some())
        .await;
    assert!(
        change_of(&data, "B-1")
            .unwrap()
            .get("mine")
            .is_none_or(|m| m == false)
    );
    // A fresh snapshot for Ann marks the seat too.
    let mut again = SseReader::connect(&app, Some(&ann.token)).await;
    let (_, snap) = again.next().await.unwrap();
    let b1 = snap["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "B-1")
        .unwrap()
        .clone();
    assert_eq!(b1["mine"], true);
    assert_eq!(b1["state"], "held");
}

#[tokio::test]
async fn the_websocket_sends_a_snapshot_frame_then_seats_frames() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let mut ws = app.ws().await;
    let first = ws.next_json().await;
    assert_eq!(first["type"], "snapshot");
    assert_eq!(first["seats"].as_array().unwrap().len(), 512);
    let hold = buyer.hold_ok(&["C-1", "C-2"]).await;
    let frame = ws.next_json().await;
    assert_eq!(frame["type"], "seats");
    let changes = frame["changes"].as_array().unwrap();
    let mut ids: Vec<&str> = changes.iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["C-1", "C-2"]);
    for c in changes {
        assert_eq!(c["state"], "held");
        assert!(c["version"].as_i64().unwrap() > 1);
    }
    buyer.release(hold["id"].as_str().unwrap()).await;
    let frame = ws.next_json().await;
    assert_eq!(frame["type"], "seats");
    assert!(
        frame["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "available")
    );
    ws.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_connects_during_a_storm_converges_to_the_truth() {
    let app = TestApp::spawn().await;
    let buyers = app.buyers(10).await;
    let seats = all_seat_ids();
    // 10 buyers × 5 rounds: hold 2 seats (some contested), release most of them.
    let storm = join_all(buyers.iter().enumerate().map(|(b, buyer)| {
        let seats = &seats;
        async move {
            for round in 0..5 {
                let a = &seats[(b * 7 + round * 3) % 64];
                let c = &seats[(b * 5 + round * 11 + 1) % 64];
                if a == c {
                    continue;
                }
                let r = buyer.hold(&[a, c]).await;
                assert!(
                    r.status() == StatusCode::CREATED || r.status() == StatusCode::CONFLICT,
                    "{}",
                    r.status()
                );
                if r.status() == StatusCode::CREATED && round % 2 == 0 {
                    let hold: Value = r.json().await.unwrap();
                    buyer.release(hold["hold"]["id"].as_str().unwrap()).await;
                }
            }
        }
    }));
    let subscriber = async {
        tokio::time::sleep(Duration::from_millis(15)).await;
        let mut sse = app.sse().await;
        let mut map = SeatMap::default();
        let (name, data) = sse.next().await.unwrap();
        assert_eq!(name, "snapshot");
        map.apply(&name, &data);
        (sse, map)
    };
    let (_, (mut sse, mut map)) = tokio::join!(storm, subscriber);

    let truth = app.seat_map().await;
    assert!(truth.count("held") > 0, "the storm left some holds");
    let deadline = Instant::now() + Duration::from_secs(3);
    while map != truth {
        let left = deadline.saturating_duration_since(Instant::now());
        match sse.next_within(left).await {
            Ok(Some((name, data))) => map.apply(&name, &data),
            Ok(None) => panic!("the stream ended"),
            Err(_) => {
                let diff: Vec<_> = truth
                    .seats
                    .iter()
                    .filter(|(id, v)| map.seats.get(*id) != Some(v))
                    .collect();
                panic!("the subscriber did not converge within 3 s: {diff:?}");
            }
        }
    }
    app.assert_audit_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_does_not_hold_back_the_others() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let event_id = app.event_id().await;

    // Subscribers that open the stream and never read a byte, with tiny receive buffers.
    let mut slow = Vec::new();
    for _ in 0..5 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        let mut stream = socket
            .connect(format!("127.0.0.1:{}", app.port).parse().unwrap())
            .await
            .unwrap();
        stream
            .write_all(
                format!(
                    "GET /api/v1/events/{event_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        slow.push(stream);
    }
    let mut fast = app.sse().await;
    let mut map = SeatMap::default();
    let (name, data) = fast.next().await.unwrap();
    map.apply(&name, &data);

    // A burst of 120 holds and releases.
    let seats = all_seat_ids();
    for i in 0..60 {
        let group: Vec<&str> = seats[(i * 4) % 256..(i * 4) % 256 + 4]
            .iter()
            .map(String::as_str)
            .collect();
        let hold = buyer.hold_ok(&group).await;
        buyer.release(hold["id"].as_str().unwrap()).await;
    }
    let burst_ended = Instant::now();
    let truth = app.seat_map().await;
    while map != truth {
        let left = Duration::from_secs(1).saturating_sub(burst_ended.elapsed());
        match fast.next_within(left).await {
            Ok(Some((name, data))) => map.apply(&name, &data),
            other => panic!(
                "the fast subscriber was not up to date 1 s after the burst ({:?})",
                other.map(|o| o.map(|(n, _)| n))
            ),
        }
    }
    // The slow subscribers' connections are still open (not the server's problem to wait on).
    assert_eq!(slow.len(), 5);
    drop(slow);
    // The server is still responsive to new subscribers and requests.
    let mut late = app.sse().await;
    assert_eq!(late.next().await.unwrap().0, "snapshot");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let order = buyer.buy(&["P-1"]).await;
    assert_eq!(order["status"], "paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_by_another_instance_reaches_this_ones_subscribers_within_2_s() {
    // Two instances on one database, without any fan-out between them: only the periodic
    // reconciliation can carry A's changes to B (as when a pub/sub message is lost).
    let mut a = TestApp::spawn().await;
    a.keep_database();
    let b = TestApp::spawn_on(a.db_url.clone(), |_| {}).await;
    let events = b.get_json("/api/v1/events").await;
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        1,
        "one demo event"
    );
    assert_eq!(a.event_id().await, b.event_id().await);

    let mut on_b = b.sse().await;
    assert_eq!(on_b.next().await.unwrap().0, "snapshot");
    let buyer = a.register_and_login().await;
    let hold = buyer.hold_ok(&["D-4", "D-5"]).await;
    let started = Instant::now();
    on_b.until(Duration::from_secs(2), |n, d| {
        n == "seats" && change_of(d, "D-5").is_some_and(|c| c["state"] == "held")
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(b.seat_state("D-4").await, "held");

    // And the other way: paid through B (the session lives in the database), seen on A.
    let r = b
        .api
        .post(b.url(&format!(
            "/api/v1/holds/{}/checkout",
            hold["id"].as_str().unwrap()
        )))
        .bearer_auth(&buyer.token)
        .header("Idempotency-Key", "via-b")
        .json(&crate::helpers::checkout_body(GOOD_CARD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let deadline = Instant::now() + Duration::from_secs(2);
    while a.seat_state("D-4").await != "sold" {
        assert!(
            Instant::now() < deadline,
            "A did not learn of the sale within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.assert_audit_ok().await;
}
