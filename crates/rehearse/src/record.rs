//! Everything the crowd observes, gathered in one place while it runs: each request's timing and
//! answer, each hold and order, the versions of buyers' own holds, and live counters for the
//! progress line. Locks are held only to push a record.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;

use super::verdict::{HoldRecord, OrderRecord, ReplayRecord};

/// Each kind of request a buyer or watcher makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Register,
    Login,
    Event,
    /// The layout, from the event's `layout_url` (once per buyer, as a browser's cache would).
    Layout,
    Seats,
    Subscribe,
    Hold,
    Release,
    Checkout,
    Replay,
    /// `GET /payments/{id}` while a payment is confirming.
    Payment,
    Order,
    /// Joining the waiting room and asking one's place in it.
    Queue,
}

impl Step {
    pub(crate) const ALL: [Step; 13] = [
        Step::Register,
        Step::Login,
        Step::Event,
        Step::Layout,
        Step::Seats,
        Step::Subscribe,
        Step::Hold,
        Step::Release,
        Step::Checkout,
        Step::Replay,
        Step::Payment,
        Step::Order,
        Step::Queue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Register => "register",
            Step::Login => "login",
            Step::Event => "event",
            Step::Layout => "layout",
            Step::Seats => "seats",
            Step::Subscribe => "subscribe",
            Step::Hold => "hold",
            Step::Release => "release",
            Step::Checkout => "checkout",
            Step::Replay => "replay",
            Step::Payment => "payment",
            Step::Order => "order",
            Step::Queue => "queue",
        }
    }
}

/// One request: when it started, how long it took, and how it was answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub step: Step,
    pub at: Duration,
    pub latency: Duration,
    pub ok: bool,
}

/// A kind of answer other than success: the step, the HTTP status (0: no answer) and the code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Outcome {
    pub step: Step,
    pub status: u16,
    pub code: String,
}

impl Outcome {
    /// Answers the crowd asks for: a seat someone else took first, a card meant to be declined.
    pub(crate) fn is_expected(&self) -> bool {
        // A request or stream cut by a dying instance and sent again to another is expected
        // too: that is what a client of a cluster does.
        (self.status == 0 && self.code.ends_with("_failed_over"))
            || matches!(
                (self.step, self.status, self.code.as_str()),
                (Step::Hold, 409, "seat_unavailable") | (Step::Checkout, 402, "payment_declined")
            )
    }
}

/// How each buyer's visit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visit {
    /// Bought seats.
    Paid,
    /// Released the hold.
    Cancelled,
    /// Left the hold to expire.
    Abandoned,
    /// No free seat left on its map.
    SoldOut,
    /// Every attempt was refused.
    GaveUp,
    /// An unexpected answer ended the visit.
    Failed,
    /// Still going when the time was up.
    Unfinished,
}

/// A live map saw a seat turn held or sold: (seat index, version, held?, when).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sighting {
    pub seat: u32,
    pub version: i64,
    pub sold: bool,
    pub at: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct Records {
    pub samples: Vec<Sample>,
    pub(crate) outcomes: BTreeMap<Outcome, u64>,
    pub holds: Vec<HoldRecord>,
    pub orders: Vec<OrderRecord>,
    /// Who paid for each order: the buyer's token reads it back at the end.
    pub(crate) order_tokens: Vec<String>,
    pub(crate) replays: Vec<ReplayRecord>,
    /// (hold index, seat index, version) of a buyer's own hold, seen on its own feed.
    pub(crate) own_holds: Vec<(usize, usize, i64)>,
    /// When checkout answered 201 for each sold seat: (seat index, when).
    pub sales: Vec<(usize, Duration)>,
    pub visits: BTreeMap<Visit, u64>,
    /// When each 5xx other than 503 was answered.
    pub(crate) server_error_times: Vec<Duration>,
    /// Payments answered 202 `confirming` and not yet seen final, by payment id.
    pub confirming: BTreeMap<String, Confirming>,
    /// How many checkouts were answered 202 `confirming`.
    pub(crate) confirming_seen: u64,
    /// Each buyer's time in the waiting room, for events that have one.
    pub queue: Vec<super::queue::QueueRecord>,
    /// From a live stream's end to the first snapshot on the next connection, every time.
    pub(crate) reconnect_gaps: Vec<Duration>,
}

/// A payment the server is still confirming, and what the buyer needs to follow it up.
#[derive(Debug, Clone)]
pub(crate) struct Confirming {
    pub token: String,
    /// The recorder's index of the hold it pays for.
    pub hold: usize,
    pub seats: Vec<String>,
}

/// Counters the progress line reads without taking the lock.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub arrived: AtomicU64,
    pub finished: AtomicU64,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub holds: AtomicU64,
    pub refused: AtomicU64,
    pub(crate) paid_seats: AtomicU64,
    pub resyncs: AtomicU64,
    pub reconnects: AtomicU64,
    /// Requests sent again to another instance after getting no answer.
    pub(crate) failovers: AtomicU64,
}

pub(crate) struct Recorder {
    epoch: Instant,
    pub records: Mutex<Records>,
    pub counters: Counters,
}

/// Caps memory on long runs; the figures then describe the first samples only.
pub(crate) const MAX_SAMPLES: usize = 2_000_000;

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            epoch: Instant::now(),
            records: Mutex::new(Records::default()),
            counters: Counters::default(),
        }
    }

    /// The offset of now from the start of the run.
    pub(crate) fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        // A panicking buyer must not take every other observation down with it.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn request(&self, sample: Sample, outcome: Option<Outcome>) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let unexpected = outcome.as_ref().is_some_and(|o| !o.is_expected());
        if unexpected {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut r = self.lock();
        if r.samples.len() < MAX_SAMPLES {
            r.samples.push(sample);
        }
        if let Some(o) = outcome {
            if o.status >= 500 && o.status != 503 {
                r.server_error_times.push(sample.at);
            }
            *r.outcomes.entry(o).or_default() += 1;
        }
    }

    pub(crate) fn visit(&self, visit: Visit) {
        self.counters.finished.fetch_add(1, Ordering::Relaxed);
        *self.lock().visits.entry(visit).or_default() += 1;
    }

    /// Records a granted hold; returns its index for later updates.
    pub(crate) fn hold(&self, record: HoldRecord) -> usize {
        self.counters.holds.fetch_add(1, Ordering::Relaxed);
        let mut r = self.lock();
        r.holds.push(record);
        r.holds.len() - 1
    }

    pub(crate) fn update_hold(&self, index: usize, update: impl FnOnce(&mut HoldRecord)) {
        if let Some(h) = self.lock().holds.get_mut(index) {
            update(h);
        }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}
