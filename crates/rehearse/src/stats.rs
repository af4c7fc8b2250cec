//! Latency arithmetic: percentiles, a fixed-bucket histogram and per-second series. Pure.

use serde::Serialize;

/// p50/p90/p99/max of a set of milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Summary {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Summary {
            count: sorted.len(),
            p50_ms: percentile(&sorted, 50.0),
            p90_ms: percentile(&sorted, 90.0),
            p99_ms: percentile(&sorted, 99.0),
            max_ms: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

/// Nearest rank: the smallest value with at least `p` % of the values at or below it, so every
/// reported figure is one that was really observed. 0 for no values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Upper bounds (ms) of the delivery-latency buckets; a last bucket takes everything above.
pub(crate) const DELIVERY_BUCKETS_MS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 150.0, 250.0, 500.0, 1000.0, 2000.0,
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// `None` for the overflow bucket.
    pub(crate) le_ms: Option<f64>,
    pub count: u64,
}

pub(crate) fn histogram(values: &[f64], bounds: &[f64]) -> Vec<Bucket> {
    let mut buckets: Vec<Bucket> = bounds
        .iter()
        .map(|b| Bucket {
            le_ms: Some(*b),
            count: 0,
        })
        .chain(std::iter::once(Bucket {
            le_ms: None,
            count: 0,
        }))
        .collect();
    for v in values {
        let i = bounds.iter().position(|b| v <= b).unwrap_or(bounds.len());
        buckets[i].count += 1;
    }
    buckets
}

/// Groups `(second, value)` pairs into one entry per whole second from 0 to the last one seen.
pub(crate) fn per_second<T: Copy>(points: impl IntoIterator<Item = (f64, T)>) -> Vec<Vec<T>> {
    let mut series: Vec<Vec<T>> = Vec::new();
    for (t, v) in points {
        let i = t.max(0.0) as usize;
        if series.len() <= i {
            series.resize_with(i + 1, Vec::new);
        }
        series[i].push(v);
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_values() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&values);
        assert_eq!(
            (s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn a_summary_does_not_depend_on_the_order_of_its_values() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.count, s.p50_ms, s.max_ms), (5, 3.0, 5.0));
    }

    #[test]
    fn nothing_summarises_to_zeros() {
        assert_eq!(Summary::of(&[]), Summary::default());
    }

    #[test]
    fn the_histogram_puts_each_value_in_its_bucket_and_the_rest_in_overflow() {
        let h = histogram(&[0.5, 1.0, 3.0, 3000.0, 10.0], &[1.0, 5.0, 10.0]);
        let counts: Vec<u64> = h.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![2, 1, 1, 1]);
        assert_eq!(h.last().unwrap().le_ms, None);
    }

    #[test]
    fn points_are_grouped_by_whole_second() {
        let s = per_second([(0.2, 1), (0.9, 2), (2.5, 3)]);
        assert_eq!(s, vec![vec![1, 2], vec![], vec![3]]);
    }
}
