//! Cross-instance fan-out. Every committed change is applied to this instance's seat maps at once;
//! with `REDIS_URL` it is also published on Redis so that every other instance applies it too.
//! Redis pub/sub is at-most-once: a lost message is healed by reconciliation, and when the
//! subscription comes back after an outage the instance resynchronises from the database.
//! An instance never waits for Redis to start: it serves at once (its maps converge through
//! reconciliation meanwhile, and `/readyz` says Redis is missing) and joins the fan-out as soon
//! as Redis answers, so that instances restarting during a Redis outage stay up.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use redis::{AsyncCommands, PushKind, aio::ConnectionManager};
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use super::SeatHub;
use boxoffice_domain::{
    seat::{SeatState, SeatStatus},
    time::Timestamp,
};

/// The Redis pub/sub channel every instance publishes its batches on and listens to.
pub(crate) const CHANNEL: &str = "boxoffice:seats";
/// Changes waiting to be published; past this the oldest work is dropped (and healed by
/// reconciliation) rather than letting requests wait on Redis.
const PUBLISH_QUEUE: usize = 10_000;
/// After this long without Redis at start, say so in the log (once).
const REDIS_START_WARNING: Duration = Duration::from_secs(10);
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// A batch of changes as it travels between instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireBatch {
    /// The instance that published it, which ignores it when it comes back.
    pub(crate) origin: String,
    pub(crate) event_id: String,
    pub(crate) changes: Vec<WireChange>,
    /// The publisher's wall clock (ms) when it handed the batch over, right after the commit:
    /// receivers report their fan-out lag from it. Absent from older instances' batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sent_ms: Option<i64>,
}

/// One seat's new status in a [`WireBatch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireChange {
    pub(crate) id: String,
    pub(crate) state: SeatState,
    pub(crate) version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) holder: Option<String>,
}

impl WireBatch {
    pub(crate) fn new(origin: &str, event_id: &str, changes: &[SeatStatus]) -> Self {
        WireBatch {
            origin: origin.to_owned(),
            event_id: event_id.to_owned(),
            changes: changes
                .iter()
                .map(|s| WireChange {
                    id: s.seat_id.clone(),
                    state: s.state,
                    version: s.version,
                    holder: s.holder.clone(),
                })
                .collect(),
            sent_ms: Some(Timestamp::now().millis()),
        }
    }

    pub(crate) fn into_statuses(self) -> Vec<SeatStatus> {
        self.changes
            .into_iter()
            .map(|c| SeatStatus {
                seat_id: c.id,
                state: c.state,
                version: c.version,
                holder: c.holder,
            })
            .collect()
    }
}

/// How this instance shares seat changes.
#[derive(Clone)]
pub struct FanOut {
    hub: Arc<SeatHub>,
    redis: Option<RedisLink>,
}

#[derive(Clone)]
struct RedisLink {
    queue: mpsc::Sender<WireBatch>,
    /// Empty until Redis first answers; from then on the manager reconnects by itself.
    connection: Arc<OnceCell<ConnectionManager>>,
    subscribed: Arc<AtomicBool>,
}

impl FanOut {
    /// Changes go to this instance's seat maps only (no `REDIS_URL`).
    pub fn local(hub: Arc<SeatHub>) -> Self {
        FanOut { hub, redis: None }
    }

    /// Starts connecting to Redis and subscribing, in the background. Fails only on a URL that
    /// cannot name a Redis server; an unreachable one is waited for, without holding up the start.
    pub async fn redis(
        hub: Arc<SeatHub>,
        url: &str,
        instance_id: String,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let url = if url.contains("protocol=") {
            url.to_owned()
        } else {
            format!(
                "{url}{}protocol=resp3",
                if url.contains('?') { '&' } else { '?' }
            )
        };
        let client = redis::Client::open(url)?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_push_sender(push_tx)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(usize::MAX);
        let connection = Arc::new(OnceCell::new());
        metrics::gauge!("boxoffice_redis_connected").set(0.0);
        // Not subscribed yet: the first subscription confirmation resynchronises the seat maps
        // (see `receive`), which covers whatever other instances changed before Redis answered.
        let subscribed = Arc::new(AtomicBool::new(false));
        let (queue, queue_rx) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(receive(
            push_rx,
            hub.clone(),
            instance_id.clone(),
            subscribed.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(connect(
            client,
            config,
            connection.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(publish(queue_rx, connection.clone(), shutdown));
        Ok(FanOut {
            hub,
            redis: Some(RedisLink {
                queue,
                connection,
                subscribed,
            }),
        })
    }

    /// Applies committed changes here at once and sends them to the other instances.
    pub fn publish(&self, origin: &str, event_id: &str, changes: Vec<SeatStatus>) {
        if changes.is_empty() {
            return;
        }
        if let Some(redis) = &self.redis {
            let batch = WireBatch::new(origin, event_id, &changes);
            if redis.queue.try_send(batch).is_err() {
                metrics::counter!("boxoffice_fanout_dropped_total").increment(1);
            }
        }
        self.hub.apply(event_id, changes);
    }

    /// Whether changes are also shared through Redis (`REDIS_URL` is set), whether or not it
    /// answers now.
    pub fn uses_redis(&self) -> bool {
        self.redis.is_some()
    }

    /// Whether Redis answers a PING now (always true without Redis).
    pub async fn redis_ready(&self) -> bool {
        match &self.redis {
            None => true,
            Some(r) => {
                let Some(mut c) = r.connection.get().cloned() else {
                    return false;
                };
                let ping = async move { redis::cmd("PING").query_async::<String>(&mut c).await };
                matches!(tokio::time::timeout(REDIS_TIMEOUT, ping).await, Ok(Ok(_)))
                    && r.subscribed.load(Ordering::SeqCst)
            }
        }
    }
}

/// Connects (the manager retries until Redis answers), subscribes, and hands the connection to
/// the publisher; warns once when Redis keeps the start waiting.
async fn connect(
    client: redis::Client,
    config: redis::aio::ConnectionManagerConfig,
    cell: Arc<OnceCell<ConnectionManager>>,
    shutdown: CancellationToken,
) {
    let warning = tokio::time::sleep(REDIS_START_WARNING);
    tokio::pin!(warning);
    let mut warned = false;
    let mut manager = loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut warning, if !warned => {
                warned = true;
                tracing::warn!(
                    "Redis does not answer; serving without cross-instance fan-out (seat maps converge through reconciliation) until it does"
                );
            }
            m = client.get_connection_manager_with_config(config.clone()) => match m {
                Ok(m) => break m,
                Err(e) => {
                    tracing::warn!(error = %e, "connecting to Redis failed; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = manager.subscribe(CHANNEL) => match r {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "subscribing on Redis failed; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
    tracing::info!("connected to Redis; cross-instance fan-out is on");
    let _ = cell.set(manager);
}

async fn publish(
    mut queue: mpsc::Receiver<WireBatch>,
    cell: Arc<OnceCell<ConnectionManager>>,
    shutdown: CancellationToken,
) {
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => return,
            b = queue.recv() => match b { Some(b) => b, None => return },
        };
        // What is still waiting behind this batch: a queue that grows means Redis is slower
        // than the sales, and other instances' maps lag (see `boxoffice_fanout_lag_seconds`).
        metrics::gauge!("boxoffice_fanout_publish_queue").set(queue.len() as f64);
        let Some(mut connection) = cell.get().cloned() else {
            // Not connected yet: the other instances' reconciliation picks the change up.
            metrics::counter!("boxoffice_fanout_publish_failures_total").increment(1);
            continue;
        };
        let Ok(payload) = serde_json::to_string(&batch) else {
            continue;
        };
        let sent = tokio::time::timeout(
            REDIS_TIMEOUT,
            connection.publish::<_, _, i64>(CHANNEL, payload),
        )
        .await;
        match sent {
            Ok(Ok(_)) => metrics::counter!("boxoffice_fanout_published_total").increment(1),
            _ => {
                // Lost: the other instances' reconciliation picks the change up from the database.
                metrics::counter!("boxoffice_fanout_publish_failures_total").increment(1);
            }
        }
    }
}

async fn receive(
    mut pushes: mpsc::UnboundedReceiver<redis::PushInfo>,
    hub: Arc<SeatHub>,
    instance_id: String,
    subscribed: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    loop {
        let push = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = pushes.recv() => match p { Some(p) => p, None => return },
        };
        match push.kind {
            PushKind::Message => {
                let Some(redis::Value::BulkString(bytes)) = push.data.get(1) else {
                    continue;
                };
                let Ok(batch) = serde_json::from_slice::<WireBatch>(bytes) else {
                    metrics::counter!("boxoffice_fanout_malformed_total").increment(1);
                    continue;
                };
                if batch.origin == instance_id {
                    continue; // applied locally when it was published
                }
                metrics::counter!("boxoffice_fanout_received_total").increment(1);
                if let Some(sent) = batch.sent_ms {
                    // Across machines this includes their clock difference (NTP keeps it to
                    // milliseconds); a clock behind the publisher's reads as no lag.
                    let lag_ms = (Timestamp::now().millis() - sent).max(0);
                    metrics::histogram!("boxoffice_fanout_lag_seconds")
                        .record(lag_ms as f64 / 1000.0);
                }
                let event_id = batch.event_id.clone();
                hub.apply(&event_id, batch.into_statuses());
            }
            PushKind::Disconnection => {
                tracing::warn!(
                    "lost the Redis subscription; live updates from other instances pause until it returns"
                );
                subscribed.store(false, Ordering::SeqCst);
                metrics::gauge!("boxoffice_redis_connected").set(0.0);
            }
            // The first subscription confirmation after a disconnection: the manager has
            // reconnected and resubscribed, so resynchronise what was missed meanwhile.
            PushKind::Subscribe if !subscribed.swap(true, Ordering::SeqCst) => {
                metrics::gauge!("boxoffice_redis_connected").set(1.0);
                tracing::info!(
                    "Redis subscription restored; resynchronising seat maps from the database"
                );
                if let Err(e) = hub.reconcile(None).await {
                    tracing::warn!(error = %e, "resync after Redis outage failed; periodic reconciliation will heal");
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_survives_the_wire() {
        let changes = vec![SeatStatus {
            seat_id: "A-1".into(),
            state: SeatState::Held,
            version: 7,
            holder: Some("u".into()),
        }];
        let batch = WireBatch::new("i1", "e1", &changes);
        let back: WireBatch =
            serde_json::from_str(&serde_json::to_string(&batch).unwrap()).unwrap();
        assert_eq!(back.clone().into_statuses(), changes);
        assert_eq!(back.origin, "i1");
    }
}
