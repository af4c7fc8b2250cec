//! Webhook delivery: each event is signed as in [`boxoffice_payments::webhook`] and posted to the
//! configured URL, retried with exponential backoff on anything but a 2xx, a bounded number of
//! times. The fault knobs drop, duplicate, delay and reorder deliveries, drawn from their own seeded
//! generator so that request traffic does not shift them.

use std::{sync::Arc, time::Duration};

use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

use super::{Shared, ledger::Event};
use boxoffice_domain::time::Timestamp;
use boxoffice_payments::{webhook, webhook::SIGNATURE_HEADER};

/// How long the reorder fault gathers events before shuffling them.
const REORDER_WINDOW: Duration = Duration::from_millis(50);
const MAX_BATCH: usize = 256;
/// Deliveries in flight at once; beyond it the queue waits (and then fills, and drops).
const MAX_IN_FLIGHT: usize = 64;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub(super) struct Delivery {
    pub url: String,
    pub secret: Vec<u8>,
    pub max_attempts: u32,
    pub(crate) retry_base: Duration,
}

pub(super) async fn run(
    mut rx: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    delivery: Delivery,
    seed: u64,
    token: CancellationToken,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "sandbox-psp: cannot build the webhook client");
            return;
        }
    };
    let delivery = Arc::new(delivery);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    loop {
        let first = tokio::select! {
            () = token.cancelled() => break,
            e = rx.recv() => match e { Some(e) => e, None => break },
        };
        let mut batch = vec![first];
        let faults = shared.faults();
        if faults.webhook_reorder {
            let window = tokio::time::sleep(REORDER_WINDOW);
            tokio::pin!(window);
            while batch.len() < MAX_BATCH {
                tokio::select! {
                    () = &mut window => break,
                    e = rx.recv() => match e { Some(e) => batch.push(e), None => break },
                }
            }
            batch.shuffle(&mut rng);
        }
        for event in batch {
            let dropped = rng.random_bool(faults.webhook_drop_rate);
            let duplicated = rng.random_bool(faults.webhook_duplicate_rate);
            shared.stats.bump(|s| &s.events_dispatched);
            if dropped {
                shared.stats.bump(|s| &s.webhooks_dropped);
                continue;
            }
            let copies = if duplicated {
                shared.stats.bump(|s| &s.webhooks_duplicated);
                2
            } else {
                1
            };
            let body: Arc<str> =
                webhook::event_body(&event.id, &event.intent_id, &event.status).into();
            for _ in 0..copies {
                let max_delay = faults.webhook_delay.as_millis() as u64;
                let delay = if max_delay > 0 {
                    Duration::from_millis(rng.random_range(0..=max_delay))
                } else {
                    Duration::ZERO
                };
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (client, delivery, shared, token, body) = (
                    client.clone(),
                    delivery.clone(),
                    shared.clone(),
                    token.clone(),
                    body.clone(),
                );
                tasks.spawn(async move {
                    tokio::select! {
                        () = token.cancelled() => {}
                        () = deliver(&client, &delivery, &shared, delay, &body) => {}
                    }
                    drop(permit);
                });
            }
            while tasks.try_join_next().is_some() {}
        }
    }
    tasks.abort_all();
}

async fn deliver(
    client: &reqwest::Client,
    delivery: &Delivery,
    shared: &Shared,
    delay: Duration,
    body: &str,
) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    for attempt in 0..delivery.max_attempts {
        if attempt > 0 {
            tokio::time::sleep(backoff(delivery.retry_base, attempt)).await;
        }
        shared.stats.bump(|s| &s.webhook_attempts);
        let timestamp = Timestamp::now().millis() / 1000;
        let signature = webhook::sign(&delivery.secret, timestamp, body.as_bytes());
        let outcome = client
            .post(&delivery.url)
            .header(SIGNATURE_HEADER, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await;
        match outcome {
            Ok(response) if response.status().is_success() => {
                shared.stats.bump(|s| &s.webhooks_delivered);
                return;
            }
            Ok(response) => {
                tracing::debug!(status = %response.status(), attempt, "sandbox-psp: webhook refused");
            }
            Err(e) => tracing::debug!(error = %e, attempt, "sandbox-psp: webhook failed"),
        }
    }
    shared.stats.bump(|s| &s.webhooks_abandoned);
    tracing::warn!(
        attempts = delivery.max_attempts,
        "sandbox-psp: gave up on a webhook"
    );
}

/// `base`, `2·base`, `4·base`, … capped at ten seconds.
pub(super) fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 2), Duration::from_millis(200));
        assert_eq!(backoff(base, 4), Duration::from_millis(800));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
    }
}
