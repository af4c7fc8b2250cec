//! Timing arithmetic shared by the phases: milliseconds, instants on the wall clock, the latency
//! summary every phase reports, and ratios.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use boxoffice_rehearse::percentile;
use serde_json::{Value, json};

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

/// Nearest-rank percentile of sorted values, `None` for none (the report writes null).
fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    (!sorted.is_empty()).then(|| percentile(sorted, p))
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
