//! The virtual waiting room's rules: its settings, the queue's order and admission pace, the
//! signed admission token, and the controller that paces admissions by the sale's hold latency.
//!
//! The queue is a line of sequence numbers. Buyers who join before the opening are given a random
//! key instead, and at the opening they are numbered in the order of their keys: arriving early
//! gives no advantage over arriving just before. Everyone after is numbered as they come. The
//! *frontier* is the highest number let in so far; it moves at the admission rate from the
//! opening, so every instance that knows the rate, the frontier and a buyer's number can say where
//! the buyer stands without asking anyone.

mod queue;
mod token;

use serde::{Deserialize, Serialize};

use super::InvalidInput;
pub use queue::{Claim, QueueBook, QueueFigures};
pub use token::{AdmissionRefused, AdmissionToken};

/// The fastest admission rate an admin may set or the controller may reach.
pub(crate) const MAX_ADMIT_PER_MINUTE: u32 = 600_000;
/// The slowest the controller goes: a room never stops admitting altogether.
pub(crate) const MIN_AUTO_ADMIT_PER_MINUTE: u32 = 30;

/// How an admin configured one event's room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    /// Whether buyers queue before they may hold seats.
    pub enabled: bool,
    /// How many buyers are let in per minute (the starting rate when automatic).
    pub admit_per_minute: u32,
    /// At most this many admitted buyers shopping at once, when set.
    pub max_active: Option<u32>,
    /// Pacing by the sale's hold latency instead of a fixed rate, when set.
    pub auto: Option<AutoPacing>,
    /// When these settings were saved (ms): a change restarts the automatic rate from
    /// `admit_per_minute`.
    #[serde(default)]
    pub revision: i64,
}

/// Pacing admissions by the hold latency the sale sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoPacing {
    /// The hold p99 the rate is steered to stay under.
    pub target_hold_p99_ms: u32,
}

impl RoomSettings {
    /// Checks an admin's request; `revision` is the time of saving.
    pub fn parse(
        enabled: bool,
        admit_per_minute: i64,
        max_active: Option<i64>,
        target_hold_p99_ms: Option<i64>,
        revision: i64,
    ) -> Result<Self, InvalidInput> {
        if !(1..=i64::from(MAX_ADMIT_PER_MINUTE)).contains(&admit_per_minute) {
            return Err(InvalidInput::new(
                "invalid_admission_rate",
                format!("admit_per_minute must be between 1 and {MAX_ADMIT_PER_MINUTE}."),
            ));
        }
        let max_active = match max_active {
            None => None,
            Some(n) if (1..=10_000_000).contains(&n) => Some(n as u32),
            Some(_) => {
                return Err(InvalidInput::new(
                    "invalid_max_active",
                    "max_active must be between 1 and 10,000,000, or left out.",
                ));
            }
        };
        let auto = match target_hold_p99_ms {
            None => None,
            Some(ms) if (10..=60_000).contains(&ms) => Some(AutoPacing {
                target_hold_p99_ms: ms as u32,
            }),
            Some(_) => {
                return Err(InvalidInput::new(
                    "invalid_latency_target",
                    "auto.target_hold_p99_ms must be between 10 and 60,000.",
                ));
            }
        };
        Ok(RoomSettings {
            enabled,
            admit_per_minute: admit_per_minute as u32,
            max_active,
            auto,
            revision,
        })
    }
}

/// Seconds until `ahead` more buyers have been let in at `admit_per_minute`.
pub fn eta_seconds(ahead: u64, admit_per_minute: u32) -> u64 {
    let rate = u64::from(admit_per_minute.max(1));
    (ahead * 60).div_ceil(rate)
}

/// Where one buyer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Joined before the opening: the order is drawn then. `position` is where the buyer's
    /// random key puts them among those already waiting, which is where they will be if nobody
    /// else arrives early.
    BeforeOpening {
        /// Counted from 1.
        position: u64,
    },
    /// In line with number `seq`, behind `ahead` others still waiting.
    Waiting {
        /// The buyer's number in line.
        seq: u64,
        /// Buyers still waiting in front.
        ahead: u64,
    },
    /// Let in: may now hold seats and pay.
    Admitted {
        /// The buyer's number in line.
        seq: u64,
    },
}

/// The standing of number `seq` against `frontier`.
pub fn standing(seq: u64, frontier: u64) -> Standing {
    if seq <= frontier {
        Standing::Admitted { seq }
    } else {
        Standing::Waiting {
            seq,
            ahead: seq - frontier - 1,
        }
    }
}

/// How many more numbers to let in after `elapsed_ms` at `admit_per_minute`, given the fraction
/// left over from the last step (`carry`), and how many are still waiting. Returns the whole
/// number to admit and the new carry. Capacity not used because nobody was waiting is not saved
/// up: a quiet minute must not let a later crowd in all at once.
pub(crate) fn admissions_due(
    elapsed_ms: i64,
    admit_per_minute: u32,
    carry: f64,
    waiting: u64,
    room_under_cap: Option<u64>,
) -> (u64, f64) {
    let due = carry + f64::from(admit_per_minute) * elapsed_ms.max(0) as f64 / 60_000.0;
    let whole = due.floor() as u64;
    let limit = room_under_cap.map_or(waiting, |room| room.min(waiting));
    if whole >= limit {
        (limit, 0.0)
    } else {
        (whole, due - whole as f64)
    }
}

/// The automatic rate's next value: down by a third when the hold p99 is over the target, up by
/// a tenth (at least 30/min) while it is comfortably under and buyers are waiting, else unchanged.
/// Cutting harder than raising keeps the p99 under the target rather than around it.
pub fn next_auto_rate(
    current: u32,
    hold_p99_ms: Option<u32>,
    target_ms: u32,
    waiting: bool,
) -> u32 {
    let next = match hold_p99_ms {
        Some(p99) if p99 > target_ms => u64::from(current) * 2 / 3,
        Some(p99) if waiting && u64::from(p99) * 10 < u64::from(target_ms) * 7 => {
            u64::from(current) + (u64::from(current) / 10).max(30)
        }
        // No holds measured: nobody admitted is buying yet, so there is nothing to protect.
        None if waiting => u64::from(current) + (u64::from(current) / 10).max(30),
        _ => u64::from(current),
    };
    next.clamp(
        u64::from(MIN_AUTO_ADMIT_PER_MINUTE),
        u64::from(MAX_ADMIT_PER_MINUTE),
    ) as u32
}

/// The 99th percentile of `samples` (ms), or `None` when there are too few to mean anything.
pub fn p99(samples: &mut [u32]) -> Option<u32> {
    if samples.len() < 5 {
        return None;
    }
    samples.sort_unstable();
    let rank = (samples.len() * 99).div_ceil(100).max(1) - 1;
    Some(samples[rank])
}
#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_eta_is_the_people_ahead_at_the_rate() {
        assert_eq!(eta_seconds(0, 60), 0);
        assert_eq!(eta_seconds(10, 60), 10);
        assert_eq!(eta_seconds(1, 120), 1);
        assert_eq!(eta_seconds(100, 6_000), 1);
    }

    #[test]
    fn the_auto_rate_falls_fast_over_the_target_and_rises_slowly_under_it() {
        assert_eq!(next_auto_rate(600, Some(400), 250, true), 400);
        assert_eq!(next_auto_rate(600, Some(100), 250, true), 660);
        assert_eq!(
            next_auto_rate(600, Some(200), 250, true),
            600,
            "near the target: hold"
        );
        assert_eq!(
            next_auto_rate(600, Some(100), 250, false),
            600,
            "nobody waiting"
        );
        assert_eq!(
            next_auto_rate(40, Some(900), 250, true),
            MIN_AUTO_ADMIT_PER_MINUTE
        );
        assert_eq!(next_auto_rate(600, None, 250, true), 660);
    }

    #[test]
    fn p99_needs_a_few_samples_and_takes_the_high_tail() {
        assert_eq!(p99(&mut [1, 2, 3]), None);
        let mut v: Vec<u32> = (1..=100).collect();
        assert_eq!(p99(&mut v), Some(99));
        let mut v: Vec<u32> = (1..=1000).collect();
        assert_eq!(p99(&mut v), Some(990));
    }

    #[test]
    fn settings_out_of_bounds_are_refused() {
        assert!(RoomSettings::parse(true, 0, None, None, 0).is_err());
        assert!(RoomSettings::parse(true, 60, Some(0), None, 0).is_err());
        assert!(RoomSettings::parse(true, 60, None, Some(5), 0).is_err());
        let s = RoomSettings::parse(true, 60, Some(10), Some(250), 7).unwrap();
        assert_eq!(
            s.auto,
            Some(AutoPacing {
                target_hold_p99_ms: 250
            })
        );
    }
}
