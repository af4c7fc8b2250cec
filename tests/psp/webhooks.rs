//! The provider's webhooks: signed, retried until accepted, dropped, duplicated, delayed and
//! reordered at the configured rates, reproducibly.

use std::{
    collections::HashSet,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::http::HeaderMap;
use boxoffice_domain::time::Timestamp;
use boxoffice_payments::{
    IntentStatus, PaymentProvider, WebhookError,
    sandbox::{CARD_DECLINED, CARD_SLOW_SUCCESS, CARD_SUCCEEDS},
};
use boxoffice_psp::{Faults, PspConfig};

use super::{Inbox, SECRET, paid, provider_for, start_with_webhooks, wait_until};

#[tokio::test]
async fn webhooks_arrive_signed_and_are_retried_until_accepted() {
    let (psp, p, inbox) = start_with_webhooks(PspConfig {
        settle_delay: Duration::from_millis(100),
        webhook_retry_base: Duration::from_millis(20),
        ..PspConfig::default()
    })
    .await;
    inbox.fail_first.store(2, Ordering::SeqCst);
    let (ok, _) = paid(&p, "a", CARD_SUCCEEDS).await;
    let (no, _) = paid(&p, "b", CARD_DECLINED).await;
    let (slow, _) = paid(&p, "c", CARD_SLOW_SUCCESS).await;
    wait_until("four webhooks", Duration::from_secs(5), || {
        inbox.events().len() >= 4
    })
    .await;
    let events = inbox.events();
    let of = |id: &str| -> Vec<IntentStatus> {
        events
            .iter()
            .filter(|e| e.intent_id == id)
            .map(|e| e.status.clone())
            .collect()
    };
    assert_eq!(of(&ok), vec![IntentStatus::Succeeded]);
    assert!(matches!(of(&no)[..], [IntentStatus::Declined { .. }]));
    let mut slow_events = of(&slow);
    slow_events.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(
        slow_events,
        vec![IntentStatus::Processing, IntentStatus::Succeeded]
    );
    assert!(inbox.errors.lock().unwrap().is_empty());
    wait_until(
        "the deliveries to be counted",
        Duration::from_secs(2),
        || psp.stats().webhooks_delivered == 4,
    )
    .await;
    let stats = psp.stats();
    assert_eq!(stats.events, 4);
    assert_eq!(stats.webhooks_delivered, 4);
    assert_eq!(stats.webhook_attempts, 6, "two refused, then retried");

    // A receiver holding another secret refuses every one of them.
    let wrong = provider_for(&psp, "whsec_other");
    let body = boxoffice_payments::webhook::event_body("evt_x", &ok, &IntentStatus::Succeeded);
    let mut headers = HeaderMap::new();
    let now = Timestamp::now();
    let signature =
        boxoffice_payments::webhook::sign(SECRET.as_bytes(), now.millis() / 1000, body.as_bytes());
    headers.insert("stripe-signature", signature.parse().unwrap());
    assert_eq!(
        wrong.verify_webhook(&headers, body.as_bytes(), now),
        Err(WebhookError::BadSignature)
    );
    assert!(p.verify_webhook(&headers, body.as_bytes(), now).is_ok());
}

/// Runs 100 successful payments with the given webhook faults; returns the stats and the inbox.
pub(super) async fn hundred_payments(seed: u64) -> (boxoffice_psp::PspStats, Arc<Inbox>) {
    let (psp, p, inbox) = start_with_webhooks(PspConfig {
        faults: Faults {
            webhook_drop_rate: 0.2,
            webhook_duplicate_rate: 0.3,
            ..Faults::default()
        },
        seed: Some(seed),
        ..PspConfig::default()
    })
    .await;
    for i in 0..100 {
        paid(&p, &format!("k{i}"), CARD_SUCCEEDS).await;
    }
    let expected = |s: boxoffice_psp::PspStats| {
        (s.events - s.webhooks_dropped + s.webhooks_duplicated) as usize
    };
    wait_until("every delivery", Duration::from_secs(10), || {
        let s = psp.stats();
        s.events_dispatched == 100 && inbox.events().len() >= expected(s)
    })
    .await;
    // Nothing more trickles in.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = psp.stats();
    assert_eq!(inbox.events().len(), expected(stats));
    (stats, inbox)
}

#[tokio::test]
async fn webhooks_drop_and_duplicate_at_the_configured_rates_reproducibly() {
    let (stats, inbox) = hundred_payments(42).await;
    assert_eq!(stats.events, 100);
    assert!(
        (8..=32).contains(&stats.webhooks_dropped),
        "dropped {} of 100 at 20 %",
        stats.webhooks_dropped
    );
    let sent = 100 - stats.webhooks_dropped;
    assert!(
        (sent * 15 / 100..=sent * 45 / 100).contains(&stats.webhooks_duplicated),
        "duplicated {} of {sent} at 30 %",
        stats.webhooks_duplicated
    );
    let events = inbox.events();
    let unique: HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(unique.len() as u64, sent, "every event not dropped arrived");
    assert_eq!(
        events.len() as u64 - unique.len() as u64,
        stats.webhooks_duplicated,
        "duplicates carry the same event id"
    );
    assert!(inbox.errors.lock().unwrap().is_empty());

    // The same seed draws the same faults.
    let (again, _) = hundred_payments(42).await;
    assert_eq!(
        (again.webhooks_dropped, again.webhooks_duplicated),
        (stats.webhooks_dropped, stats.webhooks_duplicated)
    );
}

#[tokio::test]
async fn delayed_and_reordered_webhooks_all_arrive() {
    let (_psp, p, inbox) = start_with_webhooks(PspConfig {
        faults: Faults {
            webhook_delay: Duration::from_millis(100),
            webhook_reorder: true,
            ..Faults::default()
        },
        seed: Some(3),
        ..PspConfig::default()
    })
    .await;
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(paid(&p, &format!("k{i}"), CARD_SUCCEEDS).await.0);
    }
    wait_until("twenty webhooks", Duration::from_secs(5), || {
        inbox.events().len() >= 20
    })
    .await;
    let received: Vec<String> = inbox.events().into_iter().map(|e| e.intent_id).collect();
    assert_eq!(
        received.iter().collect::<HashSet<_>>(),
        sent.iter().collect::<HashSet<_>>()
    );
    assert_ne!(received, sent, "delivered in another order than sent");
}
