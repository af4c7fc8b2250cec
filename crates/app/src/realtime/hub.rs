//! The in-memory seat maps of live events and their change broadcasts, and each map's compact
//! snapshot, made once per version of the map and shared by every caller and subscriber.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex as StdMutex, OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;

use tokio::sync::{Mutex, broadcast};

use super::claims::Claims;
use crate::compress::{Compressed, Effort};
use boxoffice_domain::{
    compact_seats::{self, SeatOrder},
    ids::EventId,
    seat::{SeatState, SeatStatus, SeatView, is_newer},
    time::Timestamp,
};
use boxoffice_store::{Database, StoreResult};

/// How many change batches a subscriber may fall behind before it is resynchronised from a
/// snapshot instead of replaying them.
pub(crate) const CHANNEL_CAPACITY: usize = 1024;

/// One event's seat states, in layout order, and the channel its changes go out on.
pub struct LiveEvent {
    /// The event these seats are of.
    pub event_id: EventId,
    index: HashMap<String, usize>,
    seats: RwLock<Vec<SeatStatus>>,
    /// Bumped under the seats' write lock by every apply that changed something, so a snapshot
    /// taken under the read lock knows which version of the map it shows.
    generation: AtomicU64,
    /// The compact snapshot of the latest generation anyone asked for. Its lock also makes a
    /// crowd asking at once build it once.
    compact: StdMutex<Option<Arc<CompactSnapshot>>>,
    /// For each seat of the layout order, its index here (the database lists seats its own way).
    layout_positions: OnceLock<Vec<Option<usize>>>,
    changes: broadcast::Sender<Arc<Vec<SeatStatus>>>,
    /// The seats best-available picks on this instance are trying to hold now.
    claims: Claims,
    /// Batches seen that held seats, and that sold held ones: one a hold and one an order, as
    /// each commit publishes its own batch (the organiser's holds per second and orders per
    /// minute; a reconciliation that heals several lost batches at once counts as one).
    holds_seen: AtomicU64,
    sales_seen: AtomicU64,
}

/// The compact seat map of one version of an event's map (the JSON `GET …/seats?format=compact`
/// answers), compressed, and the same as a WebSocket frame.
#[derive(Debug, PartialEq, Eq)]
pub struct CompactSnapshot {
    /// The version of the map it shows: a snapshot is rebuilt only when this moves on.
    pub(crate) generation: u64,
    /// The layout document it names: an admin's edit of the prices makes a new one.
    layout_hash: String,
    /// The JSON body, in every coding.
    pub body: Compressed,
    /// `{"type":"snapshot",…}`: the body with the frame's type first.
    pub ws_text: Bytes,
}

#[derive(serde::Serialize)]
struct CompactBody<'a> {
    event_id: &'a EventId,
    format: &'static str,
    layout_hash: &'a str,
    version_base: i64,
    states: &'a str,
    versions: &'a std::collections::BTreeMap<usize, i64>,
}

impl LiveEvent {
    fn new(event_id: EventId, seats: Vec<SeatStatus>) -> Self {
        let index = seats
            .iter()
            .enumerate()
            .map(|(i, s)| (s.seat_id.clone(), i))
            .collect();
        let (changes, _) = broadcast::channel(CHANNEL_CAPACITY);
        LiveEvent {
            event_id,
            index,
            seats: RwLock::new(seats),
            generation: AtomicU64::new(0),
            compact: StdMutex::new(None),
            layout_positions: OnceLock::new(),
            changes,
            claims: Claims::default(),
            holds_seen: AtomicU64::new(0),
            sales_seen: AtomicU64::new(0),
        }
    }

    /// The compact snapshot of the map as it is now, in `order` (the event's layout order, which
    /// never changes). Built at most once per version of the map, whoever asks.
    pub fn compact(&self, order: &SeatOrder) -> Arc<CompactSnapshot> {
        let mut cached = self.compact.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref()
            && c.generation == self.generation.load(Ordering::Acquire)
            && c.layout_hash == order.layout_hash
        {
            return c.clone();
        }
        let positions = self.layout_positions.get_or_init(|| {
            order
                .seat_ids
                .iter()
                .map(|id| self.index.get(id).copied())
                .collect()
        });
        let (generation, encoded) = {
            let seats = self.seats.read().unwrap_or_else(|e| e.into_inner());
            let in_order: Vec<Option<(SeatState, i64)>> = positions
                .iter()
                .map(|p| p.map(|i| (seats[i].state, seats[i].version)))
                .collect();
            (
                self.generation.load(Ordering::Acquire),
                compact_seats::encode(&in_order),
            )
        };
        let json = serde_json::to_string(&CompactBody {
            event_id: &self.event_id,
            format: "compact",
            layout_hash: &order.layout_hash,
            version_base: encoded.version_base,
            states: &encoded.states,
            versions: &encoded.versions,
        })
        // Only strings and numbers inside: serialising cannot fail.
        .unwrap_or_default();
        let ws_text = Bytes::from(format!(
            "{{\"type\":\"snapshot\",{}",
            json.strip_prefix('{').unwrap_or_default()
        ));
        let built = Arc::new(CompactSnapshot {
            generation,
            layout_hash: order.layout_hash.clone(),
            body: Compressed::new(json, Effort::Often),
            ws_text,
        });
        metrics::counter!("boxoffice_compact_snapshots_built_total").increment(1);
        *cached = Some(built.clone());
        built
    }

    /// The seats held by or sold to `caller`, sent apart from the shared compact map.
    pub fn mine(&self, caller: &str) -> Vec<SeatView> {
        let seats = self.seats.read().unwrap_or_else(|e| e.into_inner());
        seats
            .iter()
            .filter(|s| s.state != SeatState::Available && s.holder.as_deref() == Some(caller))
            .map(|s| s.view_for(Some(caller)))
            .collect()
    }

    /// Subscribe *before* taking a snapshot: a change that commits in between then arrives both
    /// ways, and its version makes the second copy harmless.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<SeatStatus>>> {
        self.changes.subscribe()
    }

    /// How many feeds on this instance are subscribed to the event's changes.
    pub fn subscriber_count(&self) -> usize {
        self.changes.receiver_count()
    }

    /// Every seat's state and version now, with `caller`'s own held or sold seats marked
    /// `mine`.
    pub fn snapshot(&self, caller: Option<&str>) -> Vec<SeatView> {
        let seats = self.seats.read().unwrap_or_else(|e| e.into_inner());
        seats.iter().map(|s| s.view_for(caller)).collect()
    }

    /// The seats counted by state, as this instance sees them now.
    pub fn counts(&self) -> SeatCounts {
        let seats = self.seats.read().unwrap_or_else(|e| e.into_inner());
        let mut c = SeatCounts {
            total: seats.len() as u64,
            ..SeatCounts::default()
        };
        for s in seats.iter() {
            match s.state {
                SeatState::Available => c.available += 1,
                SeatState::Held => c.held += 1,
                SeatState::Sold => c.sold += 1,
            }
        }
        c
    }

    /// Which seats this instance last knew as available, copied at one version of the map so a
    /// whole pick is made against one state without holding the lock while it is made.
    pub(crate) fn availability(&self) -> Availability<'_> {
        let seats = self.seats.read().unwrap_or_else(|e| e.into_inner());
        Availability {
            index: &self.index,
            free: seats
                .iter()
                .map(|s| s.state == SeatState::Available)
                .collect(),
        }
    }

    /// The seats best-available picks on this instance are trying to hold now.
    pub(crate) fn claims(&self) -> &Claims {
        &self.claims
    }

    /// How many holds and how many sales this instance has seen since it loaded the event.
    pub fn moves_seen(&self) -> (u64, u64) {
        (
            self.holds_seen.load(Ordering::Relaxed),
            self.sales_seen.load(Ordering::Relaxed),
        )
    }

    /// The sum of `value` over the sold seats.
    pub fn sum_over_sold(&self, value: impl Fn(&str) -> i64) -> i64 {
        let seats = self.seats.read().unwrap_or_else(|e| e.into_inner());
        seats
            .iter()
            .filter(|s| s.state == SeatState::Sold)
            .map(|s| value(&s.seat_id))
            .sum()
    }

    pub(crate) fn contains(&self, seat_id: &str) -> bool {
        self.index.contains_key(seat_id)
    }

    /// Of `seat_ids`, those this instance last knew as held or sold. A hint, not the truth: the
    /// memory copy can lag the database by a moment, so a caller confirms before refusing.
    pub fn seen_taken<'a>(&self, seat_ids: &'a [String]) -> Vec<&'a String> {
        let seats = self.seats.read().unwrap_or_else(|e| e.into_inner());
        seat_ids
            .iter()
            .filter(|id| {
                self.index
                    .get(id.as_str())
                    .is_some_and(|&i| seats[i].state != SeatState::Available)
            })
            .collect()
    }

    /// Applies the changes that are newer than what is held and broadcasts those; older or
    /// duplicate ones are dropped. Returns how many were applied.
    pub fn apply(&self, changes: Vec<SeatStatus>) -> usize {
        let applied: Vec<SeatStatus> = {
            let mut seats = self.seats.write().unwrap_or_else(|e| e.into_inner());
            let (mut held, mut sold) = (false, false);
            let applied: Vec<SeatStatus> = changes
                .into_iter()
                .filter(|c| match self.index.get(&c.seat_id) {
                    Some(&i) if is_newer(c.version, Some(seats[i].version)) => {
                        held |=
                            seats[i].state == SeatState::Available && c.state == SeatState::Held;
                        sold |= seats[i].state != SeatState::Sold && c.state == SeatState::Sold;
                        seats[i] = c.clone();
                        true
                    }
                    _ => false,
                })
                .collect();
            if !applied.is_empty() {
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            self.holds_seen
                .fetch_add(u64::from(held), Ordering::Relaxed);
            self.sales_seen
                .fetch_add(u64::from(sold), Ordering::Relaxed);
            applied
        };
        let n = applied.len();
        if n > 0 {
            metrics::counter!("boxoffice_seat_changes_applied_total").increment(n as u64);
            // No receivers is fine: nobody is watching this event right now.
            let _ = self.changes.send(Arc::new(applied));
        }
        n
    }
}

/// A copy of which seats of one live event are available (see [`LiveEvent::availability`]).
pub(crate) struct Availability<'a> {
    index: &'a HashMap<String, usize>,
    free: Vec<bool>,
}

impl Availability<'_> {
    /// Whether the seat is one of the event's and was available; a hint, as the map is.
    pub(crate) fn is_free(&self, seat_id: &str) -> bool {
        self.index.get(seat_id).is_some_and(|&i| self.free[i])
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
/// How many of an event's seats are in each state.
pub struct SeatCounts {
    /// Every seat of the event.
    pub total: u64,
    /// Free to hold.
    pub available: u64,
    /// Held by a buyer, not paid for yet.
    pub held: u64,
    /// Paid for.
    pub sold: u64,
}

/// All live events of this instance.
pub struct SeatHub {
    db: Arc<dyn Database>,
    events: RwLock<HashMap<String, Arc<LiveEvent>>>,
    /// Serialises first loads so that a crowd arriving at once loads an event once.
    loading: Mutex<()>,
}

impl SeatHub {
    /// A hub with no event loaded yet: each is read from `db` on first use.
    pub fn new(db: Arc<dyn Database>) -> Self {
        SeatHub {
            db,
            events: RwLock::new(HashMap::new()),
            loading: Mutex::new(()),
        }
    }

    fn cached(&self, event_id: &str) -> Option<Arc<LiveEvent>> {
        self.events
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(event_id)
            .cloned()
    }

    /// The live copy of an event's seats, loaded from the database on first use. `None` if the
    /// event has no seats (it does not exist).
    pub async fn live(&self, event_id: &str) -> StoreResult<Option<Arc<LiveEvent>>> {
        if let Some(live) = self.cached(event_id) {
            return Ok(Some(live));
        }
        let _guard = self.loading.lock().await;
        if let Some(live) = self.cached(event_id) {
            return Ok(Some(live));
        }
        // Text that is not a well-formed id names no event, and so no seats.
        let Some(id) = EventId::parse(event_id) else {
            return Ok(None);
        };
        let mut tx = self.db.read().await?;
        let seats = tx.seat_statuses(&id).await?;
        tx.commit().await?;
        if seats.is_empty() {
            return Ok(None);
        }
        let live = Arc::new(LiveEvent::new(id, seats));
        self.events
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event_id.to_owned(), live.clone());
        metrics::gauge!("boxoffice_live_events")
            .set(self.events.read().map(|e| e.len()).unwrap_or(0) as f64);
        Ok(Some(live))
    }

    /// Applies changes to an event this instance has loaded; changes to other events are ignored
    /// (they will be read fresh when the event is first loaded).
    pub fn apply(&self, event_id: &str, changes: Vec<SeatStatus>) -> usize {
        match self.cached(event_id) {
            Some(live) => live.apply(changes),
            None => 0,
        }
    }

    pub(crate) fn loaded_events(&self) -> Vec<Arc<LiveEvent>> {
        self.events
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Re-reads recent changes (or everything, when `since` is `None`) of every loaded event and
    /// applies what the memory copy missed. Returns how many seats were corrected.
    pub async fn reconcile(&self, since: Option<std::time::Duration>) -> StoreResult<usize> {
        let mut corrected = 0;
        for live in self.loaded_events() {
            let mut tx = self.db.read().await?;
            let seats = match since {
                Some(window) => {
                    let now: Timestamp = tx.db_now().await?;
                    tx.seat_statuses_changed_since(&live.event_id, now.minus(window))
                        .await?
                }
                None => tx.seat_statuses(&live.event_id).await?,
            };
            tx.commit().await?;
            corrected += live.apply(seats);
        }
        Ok(corrected)
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn live_event(seats: Vec<SeatStatus>) -> LiveEvent {
        LiveEvent::new(EventId::parse("e").unwrap(), seats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: &str, state: SeatState, version: i64) -> SeatStatus {
        SeatStatus {
            seat_id: id.into(),
            state,
            version,
            holder: None,
        }
    }

    #[test]
    fn a_newer_change_is_applied_and_broadcast() {
        let live = LiveEvent::new(
            EventId::parse("e").unwrap(),
            vec![seat("A-1", SeatState::Available, 1)],
        );
        let mut rx = live.subscribe();
        assert_eq!(live.apply(vec![seat("A-1", SeatState::Held, 2)]), 1);
        assert_eq!(live.snapshot(None)[0].state, SeatState::Held);
        assert_eq!(rx.try_recv().unwrap()[0].version, 2);
    }

    #[test]
    fn stale_duplicate_and_unknown_changes_are_ignored() {
        let live = LiveEvent::new(
            EventId::parse("e").unwrap(),
            vec![seat("A-1", SeatState::Held, 5)],
        );
        let mut rx = live.subscribe();
        assert_eq!(
            live.apply(vec![
                seat("A-1", SeatState::Available, 4),
                seat("A-1", SeatState::Held, 5)
            ]),
            0
        );
        assert_eq!(live.apply(vec![seat("Z-9", SeatState::Sold, 9)]), 0);
        assert!(rx.try_recv().is_err());
        assert_eq!(live.snapshot(None)[0].version, 5);
    }

    fn order(ids: &[&str]) -> SeatOrder {
        SeatOrder {
            layout_hash: "h".into(),
            seat_ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_compact_snapshot_is_built_once_per_version_and_anew_after_a_change() {
        let live = LiveEvent::new(
            EventId::parse("e").unwrap(),
            vec![
                seat("A-2", SeatState::Available, 1),
                seat("A-1", SeatState::Available, 1),
            ],
        );
        let order = order(&["A-1", "A-2"]);
        let first = live.compact(&order);
        assert!(
            Arc::ptr_eq(&first, &live.compact(&order)),
            "shared while nothing changes"
        );
        assert_eq!(live.apply(vec![seat("A-1", SeatState::Available, 1)]), 0);
        assert!(
            Arc::ptr_eq(&first, &live.compact(&order)),
            "a stale change changes nothing"
        );
        live.apply(vec![seat("A-2", SeatState::Held, 2)]);
        let second = live.compact(&order);
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(Arc::ptr_eq(&second, &live.compact(&order)));
        let body: serde_json::Value = serde_json::from_slice(&second.body.identity).unwrap();
        assert_eq!(body["states"], "Ab", "layout order, not the database's");
        assert_eq!(body["version_base"], 1);
        assert_eq!(body["layout_hash"], "h");
        let frame: serde_json::Value = serde_json::from_slice(&second.ws_text).unwrap();
        assert_eq!(frame["type"], "snapshot");
        assert_eq!(frame["states"], "Ab");
    }

    #[test]
    fn mine_lists_only_the_callers_held_and_sold_seats() {
        let mut held = seat("A-1", SeatState::Held, 2);
        held.holder = Some("u1".into());
        let mut released = seat("A-2", SeatState::Available, 3);
        released.holder = Some("u1".into());
        let mut other = seat("A-3", SeatState::Sold, 3);
        other.holder = Some("u2".into());
        let live = LiveEvent::new(EventId::parse("e").unwrap(), vec![held, released, other]);
        let mine = live.mine("u1");
        assert_eq!(mine.len(), 1);
        assert_eq!((mine[0].id.as_str(), mine[0].mine), ("A-1", true));
        assert!(live.mine("u3").is_empty());
    }

    #[test]
    fn counts_follow_the_states() {
        let live = LiveEvent::new(
            EventId::parse("e").unwrap(),
            vec![
                seat("A-1", SeatState::Available, 1),
                seat("A-2", SeatState::Held, 1),
                seat("A-3", SeatState::Sold, 1),
            ],
        );
        assert_eq!(
            live.counts(),
            SeatCounts {
                total: 3,
                available: 1,
                held: 1,
                sold: 1
            }
        );
    }
}
