//! Holds: what a buyer may ask to reserve, and when a hold may still be honoured.

use std::collections::BTreeSet;

use super::{
    InvalidInput,
    best_available::BestAvailable,
    ids::{EventId, HoldId, UserId},
    time::Timestamp,
};

/// Where a hold is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// The seats are reserved for the buyer until the hold expires.
    Active,
    /// The buyer let the seats go.
    Released,
    /// The time ran out before checkout.
    Expired,
    /// Paid for: the seats are sold.
    Converted,
}

impl HoldStatus {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
            HoldStatus::Converted => "converted",
        }
    }

    /// The status stored under `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(HoldStatus::Active),
            "released" => Some(HoldStatus::Released),
            "expired" => Some(HoldStatus::Expired),
            "converted" => Some(HoldStatus::Converted),
            _ => None,
        }
    }
}

/// A hold as stored.
#[derive(Debug, Clone)]
pub struct Hold {
    /// The hold's id.
    pub id: HoldId,
    /// The event whose seats are held.
    pub event_id: EventId,
    /// The buyer holding them.
    pub user_id: UserId,
    /// The held seats.
    pub seat_ids: Vec<String>,
    /// As stored; see [`Hold::effective_status`] for what it means now.
    pub status: HoldStatus,
    /// When the hold was granted.
    pub created_at: Timestamp,
    /// When the seats go back on sale unless paid for.
    pub expires_at: Timestamp,
}

impl Hold {
    /// The status a buyer should see: an active hold past its expiry is expired even before the
    /// sweeper has released its seats, and is never honoured at checkout.
    pub fn effective_status(&self, now: Timestamp) -> HoldStatus {
        if self.status == HoldStatus::Active && now >= self.expires_at {
            HoldStatus::Expired
        } else {
            self.status
        }
    }

    /// Whether checkout may still take payment for this hold.
    pub fn can_be_paid(&self, now: Timestamp) -> bool {
        self.effective_status(now) == HoldStatus::Active
    }
}

/// A validated request to hold seats: at least one, no duplicates, within the per-user limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    seat_ids: Vec<String>,
}

impl HoldRequest {
    /// Checks the seats asked for: at least one, none twice, at most `max_seats`.
    pub fn parse(seat_ids: &[String], max_seats: u32) -> Result<Self, InvalidInput> {
        if seat_ids.is_empty() {
            return Err(no_seats());
        }
        let unique: BTreeSet<&str> = seat_ids.iter().map(String::as_str).collect();
        if unique.len() != seat_ids.len() {
            return Err(InvalidInput::new(
                "duplicate_seats",
                "A seat appears more than once.",
            ));
        }
        if unique.len() > max_seats as usize {
            return Err(too_many(max_seats));
        }
        if unique.iter().any(|s| s.is_empty() || s.len() > 64) {
            return Err(InvalidInput::new(
                "unknown_seats",
                "Some seats do not exist in this event.",
            ));
        }
        Ok(HoldRequest {
            seat_ids: unique.into_iter().map(str::to_owned).collect(),
        })
    }

    /// Sorted, so that concurrent holds touch rows in the same order.
    pub fn seat_ids(&self) -> &[String] {
        &self.seat_ids
    }

    /// The per-user limit counts seats already held by the same buyer for the same event.
    pub fn check_limit(&self, already_held: u32, max_seats: u32) -> Result<(), InvalidInput> {
        if already_held as usize + self.seat_ids.len() > max_seats as usize {
            return Err(too_many(max_seats));
        }
        Ok(())
    }
}

/// What a hold asks for: the seats the buyer picked, or the best block of so many the hall has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldChoice {
    /// These seats, all or none.
    Pick(HoldRequest),
    /// The best adjacent seats free now.
    BestAvailable(BestAvailable),
}

impl HoldChoice {
    /// Exactly one of the two ways of asking, each checked against `max_seats`.
    pub fn parse(
        seat_ids: Option<&[String]>,
        best_available: Option<(u64, Option<String>)>,
        max_seats: u32,
    ) -> Result<Self, InvalidInput> {
        match (seat_ids, best_available) {
            (Some(ids), None) => Ok(HoldChoice::Pick(HoldRequest::parse(ids, max_seats)?)),
            (None, Some((count, category_id))) => Ok(HoldChoice::BestAvailable(
                BestAvailable::parse(count, category_id, max_seats)?,
            )),
            (Some(_), Some(_)) | (None, None) => Err(InvalidInput::new(
                "invalid_request",
                "Send seat_ids or best_available: exactly one of them.",
            )),
        }
    }
}

pub(crate) fn no_seats() -> InvalidInput {
    InvalidInput::new("no_seats", "Choose at least one seat.")
}

pub(crate) fn too_many(max: u32) -> InvalidInput {
    InvalidInput::new(
        "too_many_seats",
        format!("You can hold at most {max} seats for this event."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn an_empty_hold_request_is_refused() {
        assert_eq!(HoldRequest::parse(&[], 8).unwrap_err().code, "no_seats");
    }

    #[test]
    fn a_hold_request_with_a_repeated_seat_is_refused() {
        assert_eq!(
            HoldRequest::parse(&ids(&["A-1", "A-1"]), 8)
                .unwrap_err()
                .code,
            "duplicate_seats"
        );
    }

    #[test]
    fn a_hold_request_over_the_limit_is_refused() {
        let many: Vec<String> = (1..=9).map(|n| format!("A-{n}")).collect();
        assert_eq!(
            HoldRequest::parse(&many, 8).unwrap_err().code,
            "too_many_seats"
        );
    }

    #[test]
    fn seats_already_held_count_towards_the_limit() {
        let r = HoldRequest::parse(&ids(&["A-1", "A-2"]), 8).unwrap();
        assert!(r.check_limit(6, 8).is_ok());
        assert_eq!(r.check_limit(7, 8).unwrap_err().code, "too_many_seats");
    }

    #[test]
    fn seat_ids_come_out_sorted() {
        let r = HoldRequest::parse(&ids(&["B-2", "A-1"]), 8).unwrap();
        assert_eq!(r.seat_ids(), &ids(&["A-1", "B-2"])[..]);
    }

    #[test]
    fn a_hold_asks_for_picked_seats_or_the_best_ones_but_never_both_or_neither() {
        let picked = ids(&["A-2", "A-1"]);
        assert!(matches!(
            HoldChoice::parse(Some(&picked), None, 8),
            Ok(HoldChoice::Pick(r)) if r.seat_ids() == &ids(&["A-1", "A-2"])[..]
        ));
        match HoldChoice::parse(None, Some((3, Some("std".into()))), 8) {
            Ok(HoldChoice::BestAvailable(b)) => {
                assert_eq!((b.count(), b.category_id()), (3, Some("std")));
            }
            other => panic!("{other:?}"),
        }
        for (seats, best) in [(Some(&picked[..]), Some((2, None))), (None, None)] {
            assert_eq!(
                HoldChoice::parse(seats, best, 8).unwrap_err().code,
                "invalid_request"
            );
        }
    }

    #[test]
    fn the_best_available_count_is_one_to_the_per_hold_maximum() {
        let code = |count| {
            HoldChoice::parse(None, Some((count, None)), 8)
                .err()
                .map(|e| e.code)
        };
        assert_eq!(code(0), Some("no_seats"));
        assert_eq!(code(1), None);
        assert_eq!(code(8), None);
        assert_eq!(code(9), Some("too_many_seats"));
        assert_eq!(code(u64::MAX), Some("too_many_seats"));
    }

    #[test]
    fn a_hold_past_its_expiry_is_never_honoured() {
        let hold = Hold {
            id: HoldId::parse("h").unwrap(),
            event_id: EventId::parse("e").unwrap(),
            user_id: UserId::parse("u").unwrap(),
            seat_ids: ids(&["A-1"]),
            status: HoldStatus::Active,
            created_at: Timestamp(0),
            expires_at: Timestamp(1000),
        };
        assert!(hold.can_be_paid(Timestamp(999)));
        assert!(!hold.can_be_paid(Timestamp(1000)));
        assert_eq!(hold.effective_status(Timestamp(5000)), HoldStatus::Expired);
    }
}
