//! Rate quotas as operators write them (`20/min`, `10/15min`, `off`), parsed once.

use std::time::Duration;

/// `count` requests in a burst, refilled evenly over `period`: `20/min` allows 20 at once, then
/// one every 3 s. The generic cell rate algorithm behind it never needs a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    /// Requests allowed at once, and per period.
    pub count: u32,
    pub(crate) period: Duration,
}

impl RateQuota {
    /// `count` requests per `period`.
    pub const fn new(count: u32, period: Duration) -> Self {
        RateQuota { count, period }
    }

    /// `N/PERIOD` where PERIOD is `s`, `min` or `h`, optionally preceded by a number (`10/15min`);
    /// `off` for no limit (`None`).
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || format!("{raw:?} is not a rate such as 20/min, 10/15min or off");
        let (count, period) = raw.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let digits = period.len()
            - period
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        let (times, unit) = period.split_at(digits);
        let times: u64 = if times.is_empty() {
            1
        } else {
            times.parse().map_err(|_| bad())?
        };
        let unit_secs = match unit {
            "s" => 1,
            "min" => 60,
            "h" => 3600,
            _ => return Err(bad()),
        };
        if count == 0 || times == 0 {
            return Err(bad());
        }
        Ok(Some(RateQuota::new(
            count,
            Duration::from_secs(times * unit_secs),
        )))
    }

    /// The time one more request earns back.
    pub fn interval(&self) -> Duration {
        self.period / self.count
    }
}

/// Whole seconds for `Retry-After`, never 0: "retry in 0 s" would invite a tight loop.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_with_their_period() {
        assert_eq!(
            RateQuota::parse("20/min"),
            Ok(Some(RateQuota::new(20, Duration::from_secs(60))))
        );
        assert_eq!(
            RateQuota::parse(" 10/15min "),
            Ok(Some(RateQuota::new(10, Duration::from_secs(900))))
        );
        assert_eq!(
            RateQuota::parse("5/h"),
            Ok(Some(RateQuota::new(5, Duration::from_secs(3600))))
        );
        assert_eq!(RateQuota::parse("off"), Ok(None));
    }

    #[test]
    fn malformed_or_empty_rates_are_refused() {
        for bad in [
            "", "20", "0/min", "20/0min", "20/week", "x/min", "20/m", "-1/s",
        ] {
            assert!(RateQuota::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_interval_spreads_the_count_over_the_period() {
        let q = RateQuota::new(20, Duration::from_secs(60));
        assert_eq!(q.interval(), Duration::from_secs(3));
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
