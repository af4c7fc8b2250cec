//! Rules against hoarding: one account may not sit on a hall. Pure: the caller reads the counts.

use std::time::Duration;

use super::{InvalidInput, time::Timestamp};

/// Refuses a hold that would take the account past `cap` seats held at once across all events.
pub fn check_total(held: u32, asked: usize, cap: u32) -> Result<(), InvalidInput> {
    if u64::from(held) + asked as u64 <= u64::from(cap) {
        return Ok(());
    }
    let mut e = InvalidInput::new(
        "too_many_seats_held",
        format!("One account may hold {cap} seats at once across all events."),
    );
    e.details = Some(serde_json::json!({ "limit": cap, "held": held }));
    Err(e)
}

/// How long until the account may create another hold in the event, when `count` holds created
/// in the last hour (the oldest at `oldest`) already reach `cap`. A cap of 0 is no cap.
pub fn hourly_wait(
    count: u32,
    oldest: Option<Timestamp>,
    cap: u32,
    now: Timestamp,
) -> Option<Duration> {
    if cap == 0 || count < cap {
        return None;
    }
    let frees_at = oldest.unwrap_or(now).plus(HOUR);
    Some(Duration::from_millis(
        (frees_at.millis() - now.millis()).max(1) as u64,
    ))
}

/// The window of the hourly hold cap.
pub const HOUR: Duration = Duration::from_secs(3600);

/// Seats still cooling down for this account, and how long until the last of them may be held.
pub fn cooling_down(
    let_go: &[(String, Timestamp)],
    cooldown: Duration,
    now: Timestamp,
) -> Option<(Vec<String>, Duration)> {
    let cooling: Vec<&(String, Timestamp)> = let_go
        .iter()
        .filter(|(_, ended)| ended.plus(cooldown) > now)
        .collect();
    let last = cooling.iter().map(|(_, ended)| *ended).max()?;
    let wait = Duration::from_millis((last.plus(cooldown).millis() - now.millis()).max(1) as u64);
    Some((cooling.into_iter().map(|(s, _)| s.clone()).collect(), wait))
}

/// The seats granted from one client address that still count against its cap: each counts for
/// one hold's lifetime from when it was granted, whether the hold is still active or not (a farm
/// that releases and re-holds gains nothing). Times are milliseconds on any one clock.
#[derive(Debug, Default)]
pub struct SeatWindow {
    /// (counts until, seats, ticket), oldest first.
    entries: Vec<(u64, u32, u64)>,
}

impl SeatWindow {
    /// Counts `seats` more under `ticket` when they fit under `cap`; else the wait, in ms, until
    /// enough of the counted seats leave the window.
    pub fn reserve(
        &mut self,
        ticket: u64,
        seats: u32,
        cap: u32,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<(), u64> {
        self.forget_before(now_ms);
        let counted: u32 = self.entries.iter().map(|e| e.1).sum();
        if counted.saturating_add(seats) <= cap {
            self.entries.push((now_ms + window_ms, seats, ticket));
            return Ok(());
        }
        let mut over = (counted + seats).saturating_sub(cap);
        for (until, n, _) in &self.entries {
            over = over.saturating_sub(*n);
            if over == 0 {
                return Err(until.saturating_sub(now_ms).max(1));
            }
        }
        // More seats than the cap in one go: never fits, so the whole window.
        Err(window_ms.max(1))
    }

    /// Takes back a reservation whose hold was not granted.
    pub fn cancel(&mut self, ticket: u64) {
        self.entries.retain(|e| e.2 != ticket);
    }

    /// Forgets what left the window; true when nothing counts any more.
    pub fn forget_before(&mut self, now_ms: u64) -> bool {
        self.entries.retain(|e| e.0 > now_ms);
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_up_to_its_cap_and_waits_for_the_oldest_seats_to_leave_the_window() {
        let mut w = SeatWindow::default();
        assert_eq!(w.reserve(1, 8, 20, 0, 1000), Ok(()));
        assert_eq!(w.reserve(2, 8, 20, 100, 1000), Ok(()));
        assert_eq!(w.reserve(3, 4, 20, 200, 1000), Ok(()));
        // 20 counted: one more seat waits until the first 8 leave at 1000.
        assert_eq!(w.reserve(4, 1, 20, 300, 1000), Err(700));
        // Nine more need the second 8 gone too.
        assert_eq!(w.reserve(4, 9, 20, 300, 1000), Err(800));
        assert_eq!(w.reserve(4, 8, 20, 1000, 1000), Ok(()));
        assert_eq!(w.reserve(5, 30, 20, 1000, 1000), Err(1000));
    }

    #[test]
    fn a_cancelled_reservation_no_longer_counts_and_an_empty_window_says_so() {
        let mut w = SeatWindow::default();
        assert_eq!(w.reserve(1, 8, 8, 0, 1000), Ok(()));
        assert!(w.reserve(2, 1, 8, 10, 1000).is_err());
        w.cancel(1);
        assert_eq!(w.reserve(2, 8, 8, 20, 1000), Ok(()));
        assert!(!w.forget_before(500));
        assert!(w.forget_before(1020));
    }

    #[test]
    fn the_cross_event_cap_counts_what_is_held_and_what_is_asked() {
        assert!(check_total(8, 8, 16).is_ok());
        let e = check_total(9, 8, 16).unwrap_err();
        assert_eq!(e.code, "too_many_seats_held");
        assert_eq!(e.details.unwrap()["held"], 9);
    }

    #[test]
    fn the_hourly_cap_waits_for_the_oldest_hold_to_leave_the_hour() {
        let now = Timestamp(10_000_000);
        assert_eq!(hourly_wait(29, Some(now), 30, now), None);
        let oldest = now.minus(Duration::from_secs(3000));
        assert_eq!(
            hourly_wait(30, Some(oldest), 30, now),
            Some(Duration::from_secs(600))
        );
    }

    #[test]
    fn an_hourly_cap_of_zero_never_makes_a_buyer_wait() {
        let now = Timestamp(10_000_000);
        assert_eq!(hourly_wait(0, None, 0, now), None);
        assert_eq!(hourly_wait(5_000, Some(now), 0, now), None);
    }

    #[test]
    fn a_seat_let_go_cools_down_for_the_configured_time_only() {
        let now = Timestamp(1_000_000);
        let cooldown = Duration::from_secs(30);
        let let_go = vec![
            ("A-1".to_owned(), now.minus(Duration::from_secs(10))),
            ("A-2".to_owned(), now.minus(Duration::from_secs(40))),
            ("A-3".to_owned(), now.minus(Duration::from_secs(25))),
        ];
        let (seats, wait) = cooling_down(&let_go, cooldown, now).unwrap();
        assert_eq!(seats, vec!["A-1", "A-3"]);
        assert_eq!(wait, Duration::from_secs(20));
        assert_eq!(cooling_down(&let_go[1..2], cooldown, now), None);
    }
}
