//! When buyers arrive: an open model, so arrivals keep coming at the planned times however slowly
//! the server answers (a closed loop would politely slow down with it and hide the overload).

use std::time::Duration;

use rand::Rng;

use super::scenario::{Arrival, MAX_BUYERS};

/// Real clicks at an opening are spread over a moment, not one instant.
pub(crate) const SPIKE_WINDOW: Duration = Duration::from_millis(200);
/// A spike with neither a count nor a rate.
const DEFAULT_SPIKE: usize = 100;

/// Arrival offsets from the opening, sorted, all within `duration`, at most `MAX_BUYERS`.
pub(crate) fn schedule(
    arrival: Arrival,
    buyers: Option<usize>,
    rate: Option<f64>,
    duration: Duration,
    rng: &mut impl Rng,
) -> Vec<Duration> {
    let secs = duration.as_secs_f64();
    let cap = buyers.unwrap_or(MAX_BUYERS).min(MAX_BUYERS);
    let mut times = match arrival {
        Arrival::Spike => {
            let n = buyers
                .or(rate.map(|r| (r * secs).round() as usize))
                .unwrap_or(DEFAULT_SPIKE)
                .min(MAX_BUYERS);
            let window = SPIKE_WINDOW.min(duration).as_secs_f64();
            (0..n).map(|_| rng.random::<f64>() * window).collect()
        }
        Arrival::Steady => {
            let rate = rate.unwrap_or(buyers.unwrap_or(DEFAULT_SPIKE) as f64 / secs);
            poisson(rate, secs, cap, rng)
        }
        Arrival::Ramp => {
            // The rate climbs linearly to its peak, so the k-th of n arrivals is due when the
            // cumulative count D·(t/D)²·n reaches k: t = D·sqrt(k/n).
            let n = buyers
                .or(rate.map(|peak| (peak * secs / 2.0).round() as usize))
                .unwrap_or(DEFAULT_SPIKE)
                .min(MAX_BUYERS);
            (0..n)
                .map(|k| secs * ((k as f64 + rng.random::<f64>()) / n as f64).sqrt())
                .collect()
        }
    };
    times.sort_by(f64::total_cmp);
    times
        .into_iter()
        .map(|t| Duration::from_secs_f64(t.clamp(0.0, secs)))
        .collect()
}

/// Exponential gaps at `rate` per second until `secs` or `cap` arrivals.
fn poisson(rate: f64, secs: f64, cap: usize, rng: &mut impl Rng) -> Vec<f64> {
    let mut times = Vec::new();
    let mut t = 0.0;
    while times.len() < cap {
        // 1 - u is in (0, 1], so the logarithm is finite.
        t += -(1.0 - rng.random::<f64>()).ln() / rate;
        if t >= secs {
            break;
        }
        times.push(t);
    }
    times
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(42)
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_spike_brings_everyone_within_the_opening_moment() {
        let times = schedule(Arrival::Spike, Some(500), None, MINUTE, &mut rng());
        assert_eq!(times.len(), 500);
        assert!(times.iter().all(|t| *t <= SPIKE_WINDOW));
    }

    #[test]
    fn a_steady_stream_arrives_at_about_its_rate_over_the_whole_duration() {
        let times = schedule(Arrival::Steady, None, Some(10.0), MINUTE, &mut rng());
        assert!((540..660).contains(&times.len()), "{}", times.len());
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let last_half = times.iter().filter(|t| **t >= MINUTE / 2).count();
        assert!((250..350).contains(&last_half), "{last_half}");
    }

    #[test]
    fn a_steady_stream_stops_at_the_buyer_cap() {
        let times = schedule(Arrival::Steady, Some(50), Some(100.0), MINUTE, &mut rng());
        assert_eq!(times.len(), 50);
    }

    #[test]
    fn a_steady_stream_without_a_rate_spreads_its_buyers_over_the_duration() {
        let times = schedule(Arrival::Steady, Some(600), None, MINUTE, &mut rng());
        assert!((500..=600).contains(&times.len()), "{}", times.len());
        assert!(*times.last().unwrap() > MINUTE * 9 / 10);
    }

    #[test]
    fn a_ramp_brings_three_times_as_many_in_its_second_half() {
        let times = schedule(Arrival::Ramp, Some(1000), None, MINUTE, &mut rng());
        assert_eq!(times.len(), 1000);
        let first_half = times.iter().filter(|t| **t < MINUTE / 2).count();
        // Linear rate: a quarter of the area lies under the first half.
        assert!((220..280).contains(&first_half), "{first_half}");
        assert!(times.iter().all(|t| *t <= MINUTE));
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let a = schedule(Arrival::Steady, None, Some(5.0), MINUTE, &mut rng());
        let b = schedule(Arrival::Steady, None, Some(5.0), MINUTE, &mut rng());
        assert_eq!(a, b);
    }
}
