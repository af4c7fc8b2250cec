//! One subscriber's view of an event: a snapshot, then coalesced batches of changes, a fresh
//! snapshot whenever it fell behind, and a request to reconnect when the instance shuts down.
//! A compact feed sends the shared compact snapshot instead, then the caller's own seats apart.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::{sync::broadcast::error::RecvError, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{CompactSnapshot, LiveEvent};
use boxoffice_domain::{
    compact_seats::SeatOrder,
    seat::{SeatStatus, SeatView},
};

/// Under a storm each subscriber gets at most one batch per window; a change after a quiet
/// period goes out at once.
pub const COALESCE_WINDOW: Duration = Duration::from_millis(100);

/// One message of a seat feed, sent as an SSE event or a WebSocket frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// Every seat, with the caller's own held or sold seats marked `mine`: the first message,
    /// and again whenever the subscriber fell behind.
    Snapshot(Vec<SeatView>),
    /// The map in compact form, the same for every subscriber of this version of the map.
    CompactSnapshot(Arc<CompactSnapshot>),
    /// The caller's own seats, right after a compact snapshot (which does not mark them).
    Mine(Vec<SeatView>),
    /// The seats that changed since the last message, each in its latest version, at most
    /// one batch per [`COALESCE_WINDOW`].
    Changes(Vec<SeatView>),
    /// The instance is draining: the client should reconnect (elsewhere) and resync.
    Reconnect,
}

/// One subscriber's feed of an event's seats; each [`SeatFeed::next`] is the next message.
pub struct SeatFeed {
    live: Arc<LiveEvent>,
    rx: tokio::sync::broadcast::Receiver<Arc<Vec<SeatStatus>>>,
    caller: Option<String>,
    shutdown: CancellationToken,
    /// Set for a compact feed: the layout order of its snapshots.
    compact: Option<Arc<SeatOrder>>,
    /// The caller's seats, to send after the compact snapshot just sent.
    mine_due: Option<Vec<SeatView>>,
    snapshot_sent: bool,
    done: bool,
    last_flush: Instant,
}

impl SeatFeed {
    /// A feed of `live` for `caller` (whose own seats are marked), which asks the client to
    /// reconnect once `shutdown` fires.
    pub fn new(live: Arc<LiveEvent>, caller: Option<String>, shutdown: CancellationToken) -> Self {
        let rx = live.subscribe();
        SeatFeed {
            live,
            rx,
            caller,
            shutdown,
            compact: None,
            mine_due: None,
            snapshot_sent: false,
            done: false,
            last_flush: Instant::now() - COALESCE_WINDOW,
        }
    }

    /// Snapshots in compact form (in `order`), each followed by the caller's own seats.
    pub fn compact(mut self, order: Arc<SeatOrder>) -> Self {
        self.compact = Some(order);
        self
    }

    fn snapshot(&mut self) -> FeedItem {
        self.last_flush = Instant::now();
        match &self.compact {
            None => FeedItem::Snapshot(self.live.snapshot(self.caller.as_deref())),
            Some(order) => {
                let snapshot = self.live.compact(order);
                self.mine_due = self
                    .caller
                    .as_deref()
                    .map(|c| self.live.mine(c))
                    .filter(|m| !m.is_empty());
                FeedItem::CompactSnapshot(snapshot)
            }
        }
    }

    /// The next thing to send, or `None` when the feed has ended.
    pub async fn next(&mut self) -> Option<FeedItem> {
        if self.done {
            return None;
        }
        if !self.snapshot_sent {
            self.snapshot_sent = true;
            return Some(self.snapshot());
        }
        if let Some(mine) = self.mine_due.take() {
            return Some(FeedItem::Mine(mine));
        }
        if self.shutdown.is_cancelled() {
            self.done = true;
            return Some(FeedItem::Reconnect);
        }
        let first = tokio::select! {
            _ = self.shutdown.cancelled() => {
                self.done = true;
                return Some(FeedItem::Reconnect);
            }
            r = self.rx.recv() => r,
        };
        let mut pending: HashMap<String, SeatStatus> = HashMap::new();
        match first {
            Ok(batch) => merge(&mut pending, &batch),
            Err(RecvError::Lagged(_)) => return Some(self.lagged()),
            Err(RecvError::Closed) => {
                self.done = true;
                return None;
            }
        }
        let due = self.last_flush + COALESCE_WINDOW;
        if Instant::now() < due {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = self.shutdown.cancelled() => {}
            }
        }
        loop {
            match self.rx.try_recv() {
                Ok(batch) => merge(&mut pending, &batch),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                    return Some(self.lagged());
                }
                Err(_) => break,
            }
        }
        self.last_flush = Instant::now();
        let mut changes: Vec<SeatView> = pending
            .values()
            .map(|s| s.view_for(self.caller.as_deref()))
            .collect();
        changes.sort_by(|a, b| a.id.cmp(&b.id));
        Some(FeedItem::Changes(changes))
    }

    fn lagged(&mut self) -> FeedItem {
        metrics::counter!("boxoffice_feed_resyncs_total").increment(1);
        // Drop whatever is queued: the snapshot supersedes it.
        self.rx = self.rx.resubscribe();
        self.snapshot()
    }
}

fn merge(pending: &mut HashMap<String, SeatStatus>, batch: &[SeatStatus]) {
    for s in batch {
        match pending.get(&s.seat_id) {
            Some(p) if p.version >= s.version => {}
            _ => {
                pending.insert(s.seat_id.clone(), s.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_domain::seat::SeatState;

    fn seat(id: &str, state: SeatState, version: i64, holder: Option<&str>) -> SeatStatus {
        SeatStatus {
            seat_id: id.into(),
            state,
            version,
            holder: holder.map(Into::into),
        }
    }

    fn live() -> Arc<LiveEvent> {
        Arc::new(super::super::hub::tests_support::live_event(vec![
            seat("A-1", SeatState::Available, 1, None),
            seat("A-2", SeatState::Available, 1, None),
        ]))
    }

    #[tokio::test]
    async fn a_feed_starts_with_a_snapshot_then_sends_changes() {
        let live = live();
        let mut feed = SeatFeed::new(live.clone(), Some("u1".into()), CancellationToken::new());
        assert!(matches!(feed.next().await, Some(FeedItem::Snapshot(s)) if s.len() == 2));
        live.apply(vec![seat("A-1", SeatState::Held, 2, Some("u1"))]);
        let Some(FeedItem::Changes(c)) = feed.next().await else {
            panic!("expected changes")
        };
        assert_eq!(c.len(), 1);
        assert!(c[0].mine, "the caller's own hold is marked mine");
    }

    #[tokio::test(start_paused = true)]
    async fn changes_within_the_window_are_coalesced_into_one_batch_keeping_the_newest() {
        let live = live();
        let mut feed = SeatFeed::new(live.clone(), None, CancellationToken::new());
        feed.next().await;
        live.apply(vec![seat("A-1", SeatState::Held, 2, Some("x"))]);
        live.apply(vec![seat("A-1", SeatState::Available, 3, None)]);
        live.apply(vec![seat("A-2", SeatState::Held, 2, Some("y"))]);
        let Some(FeedItem::Changes(c)) = feed.next().await else {
            panic!("expected changes")
        };
        assert_eq!(
            c.iter()
                .map(|s| (s.id.as_str(), s.version))
                .collect::<Vec<_>>(),
            vec![("A-1", 3), ("A-2", 2)]
        );
    }

    #[tokio::test]
    async fn a_subscriber_that_fell_behind_gets_a_fresh_snapshot() {
        let live = live();
        let mut feed = SeatFeed::new(live.clone(), None, CancellationToken::new());
        feed.next().await;
        for v in 2..(super::super::hub::CHANNEL_CAPACITY as i64 + 10) {
            live.apply(vec![seat("A-1", SeatState::Held, v, None)]);
        }
        assert!(matches!(feed.next().await, Some(FeedItem::Snapshot(_))));
    }

    fn order() -> Arc<SeatOrder> {
        Arc::new(SeatOrder {
            layout_hash: "h".into(),
            seat_ids: vec!["A-1".into(), "A-2".into()],
        })
    }

    #[tokio::test]
    async fn a_compact_feed_shares_one_snapshot_and_sends_the_callers_seats_apart() {
        let live = live();
        live.apply(vec![seat("A-2", SeatState::Held, 2, Some("u1"))]);
        let mut mine = SeatFeed::new(live.clone(), Some("u1".into()), CancellationToken::new())
            .compact(order());
        let mut other = SeatFeed::new(live.clone(), Some("u2".into()), CancellationToken::new())
            .compact(order());
        let (Some(FeedItem::CompactSnapshot(a)), Some(FeedItem::CompactSnapshot(b))) =
            (mine.next().await, other.next().await)
        else {
            panic!("expected compact snapshots")
        };
        assert!(Arc::ptr_eq(&a, &b), "one snapshot for every subscriber");
        let Some(FeedItem::Mine(seats)) = mine.next().await else {
            panic!("expected the caller's seats")
        };
        assert_eq!(
            seats.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["A-2"]
        );
        live.apply(vec![seat("A-1", SeatState::Held, 2, Some("u2"))]);
        assert!(
            matches!(other.next().await, Some(FeedItem::Changes(c)) if c[0].mine),
            "no mine frame for a caller without seats; changes mark its own as before"
        );
    }

    #[tokio::test]
    async fn shutdown_asks_the_client_to_reconnect_and_ends_the_feed() {
        let token = CancellationToken::new();
        let mut feed = SeatFeed::new(live(), None, token.clone());
        feed.next().await;
        token.cancel();
        assert_eq!(feed.next().await, Some(FeedItem::Reconnect));
        assert_eq!(feed.next().await, None);
    }
}
