//! Seats, their states, and the versioned changes that keep every seat map in step.

use serde::{Deserialize, Serialize};

/// Where a seat is in the sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeatState {
    /// Free to hold.
    Available,
    /// Reserved by a hold until it ends.
    Held,
    /// Paid for: a valid ticket exists.
    Sold,
}

impl SeatState {
    /// The name stored in the database and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SeatState::Available => "available",
            SeatState::Held => "held",
            SeatState::Sold => "sold",
        }
    }

    /// The state stored under `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "available" => Some(SeatState::Available),
            "held" => Some(SeatState::Held),
            "sold" => Some(SeatState::Sold),
            _ => None,
        }
    }
}

/// A seat's state at one version, with the user holding it (kept server-side to answer `mine`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatStatus {
    /// The seat's id in the layout.
    pub seat_id: String,
    /// Its state at `version`.
    pub state: SeatState,
    /// Increases with every change to this seat.
    pub version: i64,
    /// The account holding or owning the seat; never sent to other buyers.
    pub holder: Option<String>,
}

impl SeatStatus {
    /// The public view for a given caller: who holds a seat is never revealed, only whether it is
    /// the caller.
    pub fn view_for(&self, caller: Option<&str>) -> SeatView {
        let mine = match (&self.holder, caller) {
            (Some(h), Some(c)) if self.state != SeatState::Available => h == c,
            _ => false,
        };
        SeatView {
            id: self.seat_id.clone(),
            state: self.state,
            version: self.version,
            mine,
        }
    }
}

/// A seat as one caller may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeatView {
    /// The seat's id in the layout.
    pub id: String,
    /// Its state at `version`.
    pub state: SeatState,
    /// Increases with every change to this seat.
    pub version: i64,
    /// Present (true) only for seats held by, or sold to, the signed-in caller.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mine: bool,
}

/// Whether a change should replace what a copy already has: only strictly newer versions do, so
/// duplicated or reordered deliveries are harmless.
pub fn is_newer(incoming: i64, current: Option<i64>) -> bool {
    current.is_none_or(|c| incoming > c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: SeatState, holder: Option<&str>) -> SeatStatus {
        SeatStatus {
            seat_id: "A-1".into(),
            state,
            version: 3,
            holder: holder.map(Into::into),
        }
    }

    #[test]
    fn a_seat_held_by_the_caller_is_marked_mine_and_nobody_elses_is() {
        let s = status(SeatState::Held, Some("u1"));
        assert!(s.view_for(Some("u1")).mine);
        assert!(!s.view_for(Some("u2")).mine);
        assert!(!s.view_for(None).mine);
    }

    #[test]
    fn only_strictly_newer_versions_replace_a_seat() {
        assert!(is_newer(4, Some(3)));
        assert!(!is_newer(3, Some(3)));
        assert!(!is_newer(2, Some(3)));
        assert!(is_newer(0, None));
    }

    #[test]
    fn the_view_of_a_seat_serialises_without_mine_when_false() {
        let v = status(SeatState::Sold, None).view_for(None);
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::json!({"id":"A-1","state":"sold","version":3})
        );
    }
}
