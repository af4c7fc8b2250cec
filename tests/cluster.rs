//! Several real `boxoffice` processes on one database and one Redis: any instance serves any
//! request, seat changes reach every instance, and neither a killed instance nor a Redis restart
//! loses a sale or leaves a seat map wrong.

use std::{collections::HashMap, time::Duration};

use boxoffice_testkit::{
    database, free_port,
    process::{self, Boxoffice, Buyer},
    redis::PrivateRedis,
    watcher::SeatWatcher,
};
use serde_json::Value;

/// This test binary's `boxoffice`, its crowd all from one address (as in the rehearsal).
fn boxoffice() -> Boxoffice {
    Boxoffice::new(env!("CARGO_BIN_EXE_boxoffice")).envs(boxoffice_rehearse::CROWD_FROM_ONE_ADDRESS)
}

const REDIS: &str = "redis://127.0.0.1:6379";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_instance_sees_holds_releases_and_sales_made_through_another() {
    let db = database::fresh_database_url().await;
    let cluster = boxoffice().spawn_cluster(&db, Some(REDIS), 2).await;
    let event = cluster[0].event_id().await;
    let mut watcher = SeatWatcher::connect(&cluster[0], &event).await;
    let buyer = Buyer::register(&cluster[1]).await;

    let hold = buyer.hold(&event, &["C-3", "C-4"]).await;
    assert_eq!(hold.0, 201, "{}", hold.1);
    watcher
        .wait_for("C-3", "held", Duration::from_secs(2))
        .await;
    watcher
        .wait_for("C-4", "held", Duration::from_secs(2))
        .await;

    let hold_id = hold.1["hold"]["id"].as_str().unwrap().to_owned();
    assert_eq!(buyer.release(&hold_id).await, 204);
    watcher
        .wait_for("C-3", "available", Duration::from_secs(2))
        .await;

    let hold = buyer.hold(&event, &["C-3"]).await;
    let hold_id = hold.1["hold"]["id"].as_str().unwrap().to_owned();
    let paid = buyer.checkout(&hold_id, "key-1", "4242424242424242").await;
    assert_eq!(paid.0, 201, "{}", paid.1);
    watcher
        .wait_for("C-3", "sold", Duration::from_secs(2))
        .await;
    assert!(boxoffice().audit(&db).await, "audit must pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_buyers_session_hold_and_idempotency_key_work_on_every_instance() {
    let db = database::fresh_database_url().await;
    let cluster = boxoffice().spawn_cluster(&db, Some(REDIS), 3).await;
    let event = cluster[0].event_id().await;
    // Signed in through instance 0; every later step goes through another instance.
    let on_0 = Buyer::register(&cluster[0]).await;
    let (on_1, on_2) = (on_0.on(&cluster[1]), on_0.on(&cluster[2]));
    assert_eq!(on_2.get("/api/v1/me").await.0, 200);

    let (status, hold) = on_1.hold(&event, &["D-9", "D-10"]).await;
    assert_eq!(status, 201, "{hold}");
    let hold_id = hold["hold"]["id"].as_str().unwrap().to_owned();
    assert_eq!(on_2.get(&format!("/api/v1/holds/{hold_id}")).await.0, 200);

    let first = on_2
        .checkout(&hold_id, "cross-key", "4242424242424242")
        .await;
    assert_eq!(first.0, 201, "{}", first.1);
    // The same key replayed on the other instances answers the first response, charging nothing.
    for buyer in [&on_0, &on_1] {
        let replay = buyer
            .checkout(&hold_id, "cross-key", "4242424242424242")
            .await;
        assert_eq!(replay, first);
    }
    // A different key for the same hold, on yet another instance, cannot pay a second time.
    let second = on_0
        .checkout(&hold_id, "other-key", "4242424242424242")
        .await;
    assert_eq!(second.0, 409, "{}", second.1);
    let (_, orders) = on_1.get("/api/v1/orders").await;
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
    assert!(boxoffice().audit(&db).await, "audit must pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_spread_over_three_instances_racing_for_the_same_seats_get_one_winner_per_seat() {
    let db = database::fresh_database_url().await;
    let cluster = boxoffice().spawn_cluster(&db, Some(REDIS), 3).await;
    let event = cluster[0].event_id().await;
    let mut buyers = Vec::new();
    for chunk in (0..200).collect::<Vec<_>>().chunks(20) {
        let regs = chunk.iter().map(|i| Buyer::register(&cluster[i % 3]));
        buyers.extend(futures_util::future::join_all(regs).await);
    }
    let attempts = buyers
        .iter()
        .map(|b| b.hold(&event, &["F-10", "F-11", "F-12", "F-13"]));
    let results = futures_util::future::join_all(attempts).await;
    let winners = results.iter().filter(|(s, _)| *s == 201).count();
    let losers: Vec<_> = results.iter().filter(|(s, _)| *s == 409).collect();
    assert_eq!(winners, 1, "exactly one buyer holds the seats");
    assert_eq!(
        losers.len(),
        199,
        "every other buyer is told the seats were taken"
    );
    for (_, body) in losers {
        assert_eq!(body["error"]["code"], "seat_unavailable");
        assert!(
            !body["error"]["details"]["seat_ids"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    assert!(boxoffice().audit(&db).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_never_lost_when_an_instance_is_killed_mid_checkout() {
    let db = database::fresh_database_url().await;
    let mut cluster = boxoffice().spawn_cluster(&db, Some(REDIS), 2).await;
    let event = cluster[0].event_id().await;
    let mut buyers = Vec::new();
    for _ in 0..30 {
        buyers.push(Buyer::register(&cluster[0]).await);
    }
    // Each buyer holds a seat, then all pay at once while the instance serving them is killed.
    let mut holds = Vec::new();
    for (i, b) in buyers.iter().enumerate() {
        let seat = format!("G-{}", i + 1);
        let (status, body) = b.hold(&event, &[seat.as_str()]).await;
        assert_eq!(status, 201, "{body}");
        holds.push(body["hold"]["id"].as_str().unwrap().to_owned());
    }
    let keys: Vec<String> = holds.iter().map(|h| format!("pay-{h}")).collect();
    let pays = buyers
        .iter()
        .zip(&holds)
        .zip(&keys)
        .map(|((b, h), k)| b.checkout(h, k, "4242424242424242"));
    let killer = async {
        tokio::time::sleep(Duration::from_millis(15)).await;
        cluster[0].kill();
    };
    let (results, ()) = tokio::join!(futures_util::future::join_all(pays), killer);
    let cut_off = results.iter().filter(|(s, _)| *s == 0).count();
    eprintln!(
        "{cut_off} of {} checkouts were cut off by the crash",
        results.len()
    );
    // Every order a buyer was told about exists, served by the surviving instance.
    let survivor = &cluster[1];
    for (i, (status, body)) in results.iter().enumerate() {
        if *status == 201 {
            let order_id = body["order"]["id"].as_str().unwrap();
            let again = buyers[i]
                .on(survivor)
                .get(&format!("/api/v1/orders/{order_id}"))
                .await;
            assert_eq!(
                again.0, 200,
                "confirmed order {order_id} must survive the crash"
            );
            assert_eq!(again.1["order"]["status"], "paid");
        }
    }
    // The buyers whose checkout was cut off can retry with the same key on the survivor and get
    // one definite answer; nobody is charged twice (the audit checks one charge per order).
    for (i, (status, _)) in results.iter().enumerate() {
        if *status != 201 {
            let (s, body) = buyers[i]
                .on(survivor)
                .checkout(&holds[i], &keys[i], "4242424242424242")
                .await;
            assert!(matches!(s, 201 | 409), "retry after crash: {s} {body}");
        }
    }
    assert!(
        boxoffice().audit(&db).await,
        "audit must pass after the crash"
    );
    cluster.truncate(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_converge_when_redis_restarts_in_the_middle_of_a_sale() {
    let port = free_port();
    let mut redis = PrivateRedis::start(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let db = database::fresh_database_url().await;
    let cluster = boxoffice().spawn_cluster(&db, Some(&url), 2).await;
    let event = cluster[0].event_id().await;
    let mut watcher = SeatWatcher::connect(&cluster[0], &event).await;
    let buyer = Buyer::register(&cluster[1]).await;

    assert_eq!(buyer.hold(&event, &["H-1"]).await.0, 201);
    watcher
        .wait_for("H-1", "held", Duration::from_secs(2))
        .await;

    redis.stop();
    // Sales go on without Redis, and the change still reaches the other instance.
    assert_eq!(buyer.hold(&event, &["H-2"]).await.0, 201);
    watcher
        .wait_for("H-2", "held", Duration::from_secs(2))
        .await;

    redis = PrivateRedis::start(port).await;
    assert_eq!(buyer.hold(&event, &["H-3"]).await.0, 201);
    watcher
        .wait_for("H-3", "held", Duration::from_secs(3))
        .await;
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_never_publishes_still_converges_every_other_instance_within_two_seconds()
{
    // Instance 1 listens on Redis; instance 0 has no Redis at all, as if every message it
    // published were lost (or it died between commit and publish).
    let db = database::fresh_database_url().await;
    let silent = boxoffice().spawn(&db, None).await;
    let listener = boxoffice().spawn(&db, Some(REDIS)).await;
    let event = listener.event_id().await;
    let mut watcher = SeatWatcher::connect(&listener, &event).await;
    let buyer = Buyer::register(&silent).await;
    assert_eq!(buyer.hold(&event, &["J-7"]).await.0, 201);
    watcher
        .wait_for("J-7", "held", Duration::from_secs(2))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_instance_fails_readiness_and_tells_its_streams_to_reconnect() {
    let db = database::fresh_database_url().await;
    let cluster = boxoffice().spawn_cluster(&db, Some(REDIS), 2).await;
    let event = cluster[0].event_id().await;
    let mut watcher = SeatWatcher::connect(&cluster[0], &event).await;
    assert_eq!(process::status(&cluster[0], "/readyz").await, Some(200));
    cluster[0].terminate();
    let mut refused = false;
    for _ in 0..40 {
        if process::status(&cluster[0], "/readyz").await == Some(503) {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(refused, "/readyz turns 503 as soon as the drain begins");
    let reconnect = watcher
        .next_event_named("reconnect", Duration::from_secs(5))
        .await;
    assert!(reconnect.is_some(), "the stream is told to reconnect");
    // Reconnecting elsewhere starts from a fresh snapshot of the same truth.
    let seats = process::get(&cluster[1], &format!("/api/v1/events/{event}/seats")).await;
    let snapshot: HashMap<String, Value> = seats["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s["state"].clone()))
        .collect();
    assert_eq!(snapshot.len(), 512);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_while_redis_is_down_sells_at_once_and_joins_the_fan_out_when_redis_comes_up()
 {
    let db = database::fresh_database_url().await;
    // Nothing listens on this port yet.
    let port = free_port();
    let redis_url = format!("redis://127.0.0.1:{port}");
    let early = boxoffice().spawn(&db, Some(&redis_url)).await;
    // It serves at once: readiness says Redis is missing, but buyers can buy.
    assert_eq!(process::status(&early, "/readyz").await, Some(503));
    assert_eq!(
        process::status(&early, "/readyz?optional=redis").await,
        Some(200)
    );
    let event = early.event_id().await;
    let buyer = Buyer::register(&early).await;
    assert_eq!(buyer.hold(&event, &["K-1"]).await.0, 201);

    let redis = PrivateRedis::start(port).await;
    let mut ready = false;
    for _ in 0..100 {
        if process::status(&early, "/readyz").await == Some(200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the instance joins Redis once it answers");
    // Now a second instance's changes reach the first one's maps, and the other way round.
    let late = boxoffice().spawn(&db, Some(&redis_url)).await;
    let mut on_early = SeatWatcher::connect(&early, &event).await;
    let mut on_late = SeatWatcher::connect(&late, &event).await;
    on_late
        .wait_for("K-1", "held", Duration::from_secs(2))
        .await;
    assert_eq!(buyer.on(&late).hold(&event, &["K-2"]).await.0, 201);
    on_early
        .wait_for("K-2", "held", Duration::from_secs(2))
        .await;
    assert_eq!(buyer.hold(&event, &["K-3"]).await.0, 201);
    on_late
        .wait_for("K-3", "held", Duration::from_secs(2))
        .await;
    drop(redis);
}
