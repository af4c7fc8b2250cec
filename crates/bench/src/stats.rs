//! Timing arithmetic shared by the phases: milliseconds, instants on the wall clock, the latency
//! summary every phase reports, and ratios.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};

/// A small xorshift generator: enough to shuffle seats, no extra dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new() -> Rng {
        let bytes = uuid::Uuid::new_v4().as_u64_pair();
        Rng((bytes.0 ^ bytes.1) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
    /// 1 or 2 seats, each half of the time (as many as are left).
    pub(crate) fn seats_per_hold(&mut self, left: usize) -> usize {
        if left >= 2 && self.next().is_multiple_of(2) {
            2
        } else {
            1
        }
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `a - b` in milliseconds, negative when `a` came first.
pub(crate) fn signed_ms(a: Instant, b: Instant) -> f64 {
    if a >= b { ms(a - b) } else { -ms(b - a) }
}

/// Maps this process's monotonic instants onto the wall clock, to compare them with times the
/// database wrote (same machine, same clock).
pub(crate) struct WallClock {
    pub(crate) instant: Instant,
    pub(crate) unix_ms: f64,
}

impl WallClock {
    pub(crate) fn now() -> WallClock {
        WallClock {
            instant: Instant::now(),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(ms)
                .unwrap_or_default(),
        }
    }
    pub(crate) fn unix_ms(&self, at: Instant) -> f64 {
        self.unix_ms + signed_ms(at, self.instant)
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(crate) fn latency(values: &[f64]) -> Value {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    json!({
        "n": v.len(),
        "p50_ms": pct(&v, 50.0).map(round2),
        "p99_ms": pct(&v, 99.0).map(round2),
        "max_ms": v.last().copied().map(round2),
        "mean_ms": mean.map(round2),
    })
}

pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!(((a / b) * 1000.0).round() / 1000.0),
        _ => Value::Null,
    }
}

pub(crate) fn count(errors: &mut BTreeMap<String, usize>, what: String) {
    *errors.entry(what).or_default() += 1;
}
