//! Crowds racing for the same seats: a seat is held by at most one buyer, holds are all or
//! nothing, and nothing breaks.

use std::collections::{HashMap, HashSet};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, strings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_buyers_racing_for_the_same_four_seats_yield_exactly_one_hold() {
    let app = TestApp::spawn().await;
    let buyers = app.buyers(200).await;
    let seats = ["H-13", "H-14", "H-15", "H-16"];
    let results = join_all(buyers.iter().map(|b| async move {
        let r = b.hold(&seats).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, body)
    }))
    .await;

    let mut created = Vec::new();
    for (i, (status, body)) in results.iter().enumerate() {
        match *status {
            StatusCode::CREATED => created.push(i),
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "seat_unavailable", "{body}");
                let named = strings(&body["error"]["details"]["seat_ids"]);
                assert!(!named.is_empty(), "the refusal names seats: {body}");
                assert!(named.iter().all(|s| seats.contains(&s.as_str())), "{body}");
            }
            other => panic!("buyer {i}: unexpected {other}: {body}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one winner");
    let winner = &buyers[created[0]];
    let seat_view = winner.seats().await;
    let mine: HashSet<&str> = seat_view["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["mine"] == true)
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(mine, seats.iter().copied().collect());
    let map = app.seat_map().await;
    assert_eq!(map.count("held"), 4);
    app.assert_audit_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_buyers_racing_for_overlapping_pairs_never_share_a_seat() {
    let app = TestApp::spawn().await;
    let buyers = app.buyers(200).await;
    // A ring of 20 seats; pair k is (seat k, seat k+1): every seat is in two pairs.
    let ring: Vec<String> = (1..=20).map(|n| format!("K-{n}")).collect();
    let pairs: Vec<[&str; 2]> = (0..20)
        .map(|k| [ring[k].as_str(), ring[(k + 1) % 20].as_str()])
        .collect();
    let results = join_all(buyers.iter().enumerate().map(|(i, b)| {
        let pair = pairs[i % 20];
        async move {
            let r = b.hold(&pair).await;
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (i, status, body)
        }
    }))
    .await;

    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut winners = 0;
    for (i, status, body) in &results {
        match *status {
            StatusCode::CREATED => {
                winners += 1;
                let held = strings(&body["hold"]["seat_ids"]);
                assert_eq!(held.len(), 2);
                for s in held {
                    if let Some(other) = owner.insert(s.clone(), *i) {
                        panic!("{s} is held by buyers {other} and {i}");
                    }
                }
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "seat_unavailable", "{body}");
                let named = strings(&body["error"]["details"]["seat_ids"]);
                assert!(!named.is_empty(), "{body}");
                let pair = pairs[i % 20];
                assert!(named.iter().all(|s| pair.contains(&s.as_str())), "{body}");
            }
            other => panic!("buyer {i}: unexpected {other}: {body}"),
        }
    }
    // At most 10 disjoint pairs fit in a ring of 20; at least 7 must win (a maximal matching).
    assert!((7..=10).contains(&winners), "{winners} winners");

    // /seats agrees: exactly the won seats are held, each marked mine for its owner only.
    let map = app.seat_map().await;
    for s in &ring {
        let expected = if owner.contains_key(s) {
            "held"
        } else {
            "available"
        };
        assert_eq!(map.state(s), expected, "{s}");
    }
    assert_eq!(map.count("held"), owner.len());
    for (seat, i) in owner.iter().take(5) {
        let view = buyers[*i].seats().await;
        let s = view["seats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == seat.as_str())
            .unwrap()
            .clone();
        assert_eq!(s["mine"], true, "{seat}");
    }
    // Every hold's own record agrees as well.
    app.assert_audit_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_buyer_racing_many_holds_cannot_exceed_the_per_buyer_limit() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let seats: Vec<String> = (1..=20).map(|n| format!("L-{n}")).collect();
    let results = join_all(seats.iter().map(|s| {
        let buyer = &buyer;
        async move { buyer.hold(&[s.as_str()]).await.status() }
    }))
    .await;
    let created = results
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 8, "{results:?}");
    assert!(
        results
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNPROCESSABLE_ENTITY)
    );
    assert_eq!(app.seat_map().await.count("held"), 8);
    app.assert_audit_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_racing_to_pay_for_what_they_hold_sell_each_seat_once() {
    let app = TestApp::spawn().await;
    let buyers = app.buyers(12).await;
    // Each buyer holds 2 seats of row M, then all pay at once, twice each (a double click).
    let holds = join_all(buyers.iter().enumerate().map(|(i, b)| async move {
        let a = format!("M-{}", 2 * i + 1);
        let c = format!("M-{}", 2 * i + 2);
        b.hold_ok(&[&a, &c]).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }))
    .await;
    let results = join_all(buyers.iter().zip(&holds).flat_map(|(b, h)| {
        let key = format!("pay-{h}");
        [0, 1].map(move |_| {
            let key = key.clone();
            async move {
                b.checkout(h, &key, crate::helpers::GOOD_CARD)
                    .await
                    .status()
            }
        })
    }))
    .await;
    assert!(
        results
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{results:?}"
    );
    let map = app.seat_map().await;
    assert_eq!(map.count("sold"), 24);
    let orders: i64 = app.count("SELECT COUNT(*) FROM orders", &[]).await;
    assert_eq!(orders, 12);
    app.assert_audit_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_email_create_exactly_one_account() {
    let app = TestApp::spawn().await;
    let email = format!("twin-{}@example.com", uuid::Uuid::new_v4().simple());
    let results = join_all((0..10).map(|i| {
        let (app, email) = (&app, &email);
        async move {
            // Vary the case: the address is the same account.
            let email = if i % 2 == 0 {
                email.clone()
            } else {
                email.to_uppercase()
            };
            let r = app.register(&email, crate::helpers::PASSWORD, "Twin").await;
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{results:?}");
    for (status, body) in &results {
        if *status != StatusCode::CREATED {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "email_taken");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_racing_a_checkout_either_sells_or_refunds_never_both() {
    let app = TestApp::spawn().await;
    let buyer = app.register_and_login().await;
    let mut sold = 0;
    let mut refunded = 0;
    for i in 1..=12 {
        let seat = format!("N-{i}");
        let hold = buyer.hold_ok(&[&seat]).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let key = format!("race-{i}");
        let (paid, released) = tokio::join!(
            async {
                let r = buyer.checkout(&hold, &key, crate::helpers::GOOD_CARD).await;
                let status = r.status();
                (status, r.json::<Value>().await.unwrap())
            },
            buyer.release(&hold)
        );
        assert_eq!(released.status(), StatusCode::NO_CONTENT);
        let state = app.seat_state(&seat).await;
        match paid.0 {
            StatusCode::CREATED => {
                sold += 1;
                assert_eq!(state, "sold", "{seat}: paid but not sold");
            }
            StatusCode::CONFLICT => {
                assert_eq!(paid.1["error"]["code"], "hold_not_active", "{}", paid.1);
                if paid.1["error"]["details"]["refunded"] == true {
                    refunded += 1;
                }
                assert_eq!(state, "available", "{seat}: released but not available");
            }
            other => panic!("{seat}: unexpected {other}: {}", paid.1),
        }
    }
    let orders: Value = buyer.get("/api/v1/orders").await.json().await.unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), sold);
    let refunds: i64 = app
        .count("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'", &[])
        .await;
    let refunded_payments: i64 = app
        .count(
            "SELECT COUNT(*) FROM payments WHERE status = 'refunded'",
            &[],
        )
        .await;
    assert_eq!(refunds, refunded as i64);
    assert_eq!(refunded_payments, refunded as i64);
    app.assert_audit_ok().await;
}
