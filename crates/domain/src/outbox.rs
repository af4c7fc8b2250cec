//! How long an outbox message that could not be sent waits before it is tried again:
//! exponential backoff from one second, doubling with each failure, never longer than the cap.
//! A mail server that is down for a minute is retried a handful of times, not thousands, and one
//! that comes back is found within the cap.

use std::time::Duration;

/// The wait after the message's `failures`-th failed attempt (1 for the first).
pub fn retry_delay(failures: u32, cap: Duration) -> Duration {
    let doubled = Duration::from_secs(1).saturating_mul(1u32 << failures.saturating_sub(1).min(30));
    doubled.min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(300);

    #[test]
    fn the_wait_doubles_from_one_second() {
        let waits: Vec<u64> = (1..=5).map(|n| retry_delay(n, CAP).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16]);
    }

    #[test]
    fn the_wait_never_exceeds_the_cap_however_many_failures() {
        assert_eq!(retry_delay(9, CAP), Duration::from_secs(256));
        assert_eq!(retry_delay(10, CAP), CAP);
        assert_eq!(retry_delay(u32::MAX, CAP), CAP);
        assert_eq!(
            retry_delay(3, Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn a_message_that_never_failed_waits_as_after_one_failure() {
        assert_eq!(retry_delay(0, CAP), Duration::from_secs(1));
    }
}
