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
/// in the last hour (the oldest at `oldest`) already reach `cap`.
pub fn hourly_wait(
    count: u32,
    oldest: Option<Timestamp>,
    cap: u32,
    now: Timestamp,
) -> Option<Duration> {
    if count < cap {
        return None;
    }
    let frees_at = oldest.unwrap_or(now).plus(HOUR);
    Some(Duration::from_millis(
        (frees_at.millis() - now.millis()).max(1) as u64,
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
