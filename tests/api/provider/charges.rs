//! Card payments the server makes through the HTTP provider: charges and declines, webhooks
//! duplicated, delayed, reordered or lost, and a provider that fails, hangs or is slow.

use std::time::Duration;

use boxoffice_payments::sandbox::{CARD_DECLINED, CARD_SLOW_SUCCESS};
use boxoffice_psp::Faults;
use reqwest::StatusCode;

use super::{SLOW_RECONCILER, app_behind_psp, pay, wait_paid};
use crate::helpers::GOOD_CARD;

#[tokio::test]
async fn a_card_is_charged_declined_and_charged_again_through_the_http_provider() {
    let (app, psp) = app_behind_psp(Faults::default(), SLOW_RECONCILER).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["N-1", "N-2"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = pay(&buyer, hold_id, "first", CARD_DECLINED).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    let (status, body) = pay(&buyer, hold_id, "second", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (again, replayed) = pay(&buyer, hold_id, "second", GOOD_CARD).await;
    assert_eq!((again, &replayed), (StatusCode::CREATED, &body));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_processing_payment_is_settled_by_the_providers_webhook() {
    let (app, psp) = app_behind_psp(Faults::default(), SLOW_RECONCILER).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["N-5"]).await;
    let (status, body) = pay(
        &buyer,
        hold["id"].as_str().unwrap(),
        "slow",
        CARD_SLOW_SUCCESS,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let payment = wait_paid(
        &buyer,
        body["payment"]["id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(payment["status"], "paid", "{payment}");
    assert!(psp.stats().webhooks_delivered >= 1);
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn duplicated_delayed_and_reordered_webhooks_make_one_order_each() {
    let faults = Faults {
        webhook_duplicate_rate: 1.0,
        webhook_delay: Duration::from_millis(300),
        webhook_reorder: true,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, SLOW_RECONCILER).await;
    let buyers = app.buyers(4).await;
    let mut payments = Vec::new();
    for (i, buyer) in buyers.iter().enumerate() {
        let seat = format!("O-{}", i + 1);
        let hold = buyer.hold_ok(&[&seat]).await;
        let (status, body) = pay(
            buyer,
            hold["id"].as_str().unwrap(),
            "dup",
            CARD_SLOW_SUCCESS,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        payments.push(body["payment"]["id"].as_str().unwrap().to_owned());
    }
    for (buyer, id) in buyers.iter().zip(&payments) {
        assert_eq!(
            wait_paid(buyer, id, Duration::from_secs(15)).await["status"],
            "paid"
        );
    }
    // Let the duplicates land too.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(psp.stats().webhooks_duplicated >= 1, "{:?}", psp.stats());
    assert_eq!(app.count("SELECT COUNT(*) FROM orders", &[]).await, 4);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        4
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn when_every_webhook_is_lost_the_reconciler_asks_and_settles() {
    let faults = Faults {
        webhook_drop_rate: 1.0,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, Duration::from_millis(200)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-3"]).await;
    let (status, body) = pay(
        &buyer,
        hold["id"].as_str().unwrap(),
        "lost-hooks",
        CARD_SLOW_SUCCESS,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let payment = wait_paid(
        &buyer,
        body["payment"]["id"].as_str().unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(psp.stats().webhooks_delivered, 0);
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_provider_answering_500_charges_nothing_and_the_same_key_works_once_it_recovers() {
    let faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, Duration::from_millis(200)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-7"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = pay(&buyer, hold_id, "retry-me", GOOD_CARD).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(app.seat_state("P-7").await, "held");
    psp.set_faults(Faults::default());
    let (status, body) = pay(&buyer, hold_id, "retry-me", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_times_out_charges_nothing_and_the_same_key_works_once_it_answers() {
    let faults = Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, Duration::from_millis(200)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-9"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    // Creating the intent times out: nothing was charged, the buyer may retry.
    let (status, body) = pay(&buyer, hold_id, "slowpoke", GOOD_CARD).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM payments WHERE status = 'failed'", &[])
            .await,
        1
    );
    psp.set_faults(Faults::default());
    let (status, body) = pay(&buyer, hold_id, "slowpoke", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_charge_whose_answer_never_comes_back_is_found_by_asking_the_provider() {
    let (app, psp) = app_behind_psp(Faults::default(), Duration::from_millis(200)).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-11"]).await;
    let (status, body) = pay(
        &buyer,
        hold["id"].as_str().unwrap(),
        "silent",
        boxoffice_payments::sandbox::CARD_ANSWER_LOST,
    )
    .await;
    // The confirmation times out; asking the provider shows the charge went through.
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", &[])
            .await,
        1
    );
    app.assert_audit_ok().await;
    psp.shutdown().await;
}

#[tokio::test]
async fn a_slow_provider_that_declines_good_cards_keeps_the_hold_for_another_try() {
    let faults = Faults {
        latency: Duration::from_millis(300),
        decline_rate: 1.0,
        ..Faults::default()
    };
    let (app, psp) = app_behind_psp(faults, SLOW_RECONCILER).await;
    let buyer = app.register_and_login().await;
    let hold = buyer.hold_ok(&["P-13"]).await;
    let hold_id = hold["id"].as_str().unwrap();
    let (status, body) = pay(&buyer, hold_id, "unlucky", GOOD_CARD).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "payment_declined");
    assert_eq!(app.seat_state("P-13").await, "held");
    psp.set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    let (status, body) = pay(&buyer, hold_id, "lucky", GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(psp.stats().injected_declines >= 1);
    app.assert_audit_ok().await;
    psp.shutdown().await;
}
