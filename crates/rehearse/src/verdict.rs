//! The correctness verdict over what the crowd observed: no seat told to two buyers, every paid
//! order with its tickets, every live map converged, payments replayed not repeated. Pure: the
//! driver gathers the observations, this module only counts what contradicts the promises.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};

use serde::Serialize;

/// A hold the server granted (201), and what became of it, in offsets from the run's start.
#[derive(Debug, Clone, Default)]
pub(crate) struct HoldRecord {
    pub hold_id: String,
    pub seats: Vec<String>,
    pub(crate) requested_at: Duration,
    /// When the 201 arrived: from here the seats are certainly this hold's.
    pub(crate) granted_at: Duration,
    /// `expires_at − created_at` as the server gave it.
    pub ttl: Option<Duration>,
    /// When the release (DELETE) was sent: the seats may be free from then on.
    pub(crate) release_sent_at: Option<Duration>,
    /// Paid: the seats are this buyer's for good.
    pub converted: bool,
    /// The server said the hold was no longer active although we never released it.
    pub lost: bool,
}

impl HoldRecord {
    /// The end of the time the seats were certainly this hold's (`None`: for good). The bound is
    /// deliberately early, so that a real overlap is never explained away by timing.
    pub(crate) fn certain_until(&self) -> Option<Duration> {
        if self.converted {
            return None;
        }
        if self.lost {
            return Some(self.granted_at);
        }
        let expiry = self.ttl.map(|t| self.requested_at + t);
        let end = match (self.release_sent_at, expiry) {
            (Some(r), Some(e)) => r.min(e),
            (Some(r), None) => r,
            (None, Some(e)) => e,
            (None, None) => self.granted_at,
        };
        Some(end.max(self.granted_at))
    }
}

/// A paid order as checkout returned it, and as `GET /orders/{id}` showed it at the end.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderRecord {
    pub order_id: String,
    pub seats: Vec<String>,
    /// `None`: the order could not be read back (404 or no answer).
    pub(crate) read_back: Option<OrderReadBack>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct OrderReadBack {
    pub status: String,
    pub seats: Vec<String>,
    /// The seat of each ticket.
    pub ticket_seats: Vec<String>,
}

/// A payment sent again with the same Idempotency-Key: it must return the same order.
#[derive(Debug, Clone)]
pub(crate) struct ReplayRecord {
    pub(crate) first_order_id: String,
    pub(crate) replay_order_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Observations {
    pub holds: Vec<HoldRecord>,
    pub orders: Vec<OrderRecord>,
    pub(crate) replays: Vec<ReplayRecord>,
    /// For each live map, the seats it still disagreed on with a fresh `/seats` at the end.
    pub(crate) map_differences: Vec<usize>,
    /// A fresh `/seats` at the end: seat id → state (`available`, `held`, `sold`).
    pub(crate) final_states: HashMap<String, String>,
    /// Responses 500–599 other than 503 (the documented answer to overload).
    pub server_errors: u64,
    /// Violations reported by `boxoffice audit`, when it ran.
    pub(crate) audit_violations: Option<u64>,
}

/// Every counter is zero on a clean run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Seats in more than one paid order (each extra order counts once).
    pub double_sale_violations: u64,
    /// Pairs of granted holds that certainly held the same seat at the same moment.
    pub(crate) double_hold_violations: u64,
    /// Seats of paid orders without exactly one ticket, or orders not paid when read back.
    pub(crate) missing_ticket_violations: u64,
    /// Seats of paid orders that the final `/seats` does not show sold.
    pub(crate) unsold_paid_seat_violations: u64,
    /// Live maps that did not converge to the final `/seats`.
    pub(crate) convergence_violations: u64,
    /// Replayed payments that did not return the first order.
    pub(crate) idempotency_violations: u64,
    pub(crate) server_error_violations: u64,
    pub(crate) audit_violations: u64,
}

impl Verdict {
    pub fn counters(&self) -> [(&'static str, u64); 8] {
        [
            ("double_sale_violations", self.double_sale_violations),
            ("double_hold_violations", self.double_hold_violations),
            ("missing_ticket_violations", self.missing_ticket_violations),
            (
                "unsold_paid_seat_violations",
                self.unsold_paid_seat_violations,
            ),
            ("convergence_violations", self.convergence_violations),
            ("idempotency_violations", self.idempotency_violations),
            ("server_error_violations", self.server_error_violations),
            ("audit_violations", self.audit_violations),
        ]
    }

    pub(crate) fn is_clean(&self) -> bool {
        self.counters().iter().all(|(_, n)| *n == 0)
    }
}

pub(crate) fn judge(obs: &Observations) -> Verdict {
    Verdict {
        double_sale_violations: double_sales(&obs.orders),
        double_hold_violations: double_holds(&obs.holds),
        missing_ticket_violations: obs.orders.iter().map(missing_tickets).sum(),
        unsold_paid_seat_violations: unsold_paid_seats(&obs.orders, &obs.final_states),
        convergence_violations: obs.map_differences.iter().filter(|d| **d > 0).count() as u64,
        idempotency_violations: obs
            .replays
            .iter()
            .filter(|r| r.replay_order_id.as_deref() != Some(r.first_order_id.as_str()))
            .count() as u64,
        server_error_violations: obs.server_errors,
        audit_violations: obs.audit_violations.unwrap_or(0),
    }
}

/// Counts, per seat, the distinct paid orders beyond the first, from both checkout's answer and
/// the tickets read back.
fn double_sales(orders: &[OrderRecord]) -> u64 {
    let mut owners: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for o in orders {
        let read_back = o.read_back.iter().flat_map(|r| &r.ticket_seats);
        for seat in o.seats.iter().chain(read_back) {
            owners.entry(seat).or_default().insert(&o.order_id);
        }
    }
    owners.values().map(|o| o.len() as u64 - 1).sum()
}

fn double_holds(holds: &[HoldRecord]) -> u64 {
    let mut by_seat: HashMap<&str, Vec<(Duration, Option<Duration>)>> = HashMap::new();
    for h in holds {
        for seat in &h.seats {
            by_seat
                .entry(seat)
                .or_default()
                .push((h.granted_at, h.certain_until()));
        }
    }
    let overlaps = |a: &(Duration, Option<Duration>), b: &(Duration, Option<Duration>)| {
        b.1.is_none_or(|end| a.0 < end) && a.1.is_none_or(|end| b.0 < end)
    };
    let mut pairs = 0;
    for spans in by_seat.values() {
        for (i, a) in spans.iter().enumerate() {
            pairs += spans[i + 1..].iter().filter(|b| overlaps(a, b)).count() as u64;
        }
    }
    pairs
}

fn missing_tickets(order: &OrderRecord) -> u64 {
    let Some(back) = &order.read_back else {
        return order.seats.len().max(1) as u64;
    };
    if back.status != "paid" {
        return order.seats.len().max(1) as u64;
    }
    let mut expected: Vec<&String> = order.seats.iter().chain(&back.seats).collect();
    expected.sort();
    expected.dedup();
    expected
        .iter()
        .filter(|seat| back.ticket_seats.iter().filter(|t| t == *seat).count() != 1)
        .count() as u64
}

fn unsold_paid_seats(orders: &[OrderRecord], final_states: &HashMap<String, String>) -> u64 {
    if final_states.is_empty() {
        return 0; // the final map could not be read; nothing to compare with
    }
    orders
        .iter()
        .flat_map(|o| &o.seats)
        .filter(|seat| final_states.get(*seat).map(String::as_str) != Some("sold"))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn hold(seat: &str, granted: u64, released: Option<u64>, converted: bool) -> HoldRecord {
        HoldRecord {
            hold_id: format!("h{granted}"),
            seats: vec![seat.into()],
            requested_at: secs(granted),
            granted_at: secs(granted),
            ttl: Some(secs(600)),
            release_sent_at: released.map(secs),
            converted,
            lost: false,
        }
    }

    fn paid(id: &str, seats: &[&str]) -> OrderRecord {
        let seats: Vec<String> = seats.iter().map(ToString::to_string).collect();
        OrderRecord {
            order_id: id.into(),
            seats: seats.clone(),
            read_back: Some(OrderReadBack {
                status: "paid".into(),
                seats: seats.clone(),
                ticket_seats: seats,
            }),
        }
    }

    fn sold(seats: &[&str]) -> HashMap<String, String> {
        seats
            .iter()
            .map(|s| (s.to_string(), "sold".to_string()))
            .collect()
    }

    fn clean_run() -> Observations {
        Observations {
            holds: vec![hold("A-1", 1, Some(2), false), hold("A-1", 3, None, true)],
            orders: vec![paid("o1", &["A-1"]), paid("o2", &["A-2", "A-3"])],
            replays: vec![ReplayRecord {
                first_order_id: "o1".into(),
                replay_order_id: Some("o1".into()),
            }],
            map_differences: vec![0, 0],
            final_states: sold(&["A-1", "A-2", "A-3"]),
            server_errors: 0,
            audit_violations: Some(0),
        }
    }

    #[test]
    fn a_clean_run_has_no_violations() {
        let v = judge(&clean_run());
        assert!(v.is_clean(), "{v:?}");
    }

    #[test]
    fn a_planted_double_sale_is_detected() {
        let mut obs = clean_run();
        obs.orders.push(paid("o3", &["A-1"]));
        assert_eq!(judge(&obs).double_sale_violations, 1);
    }

    #[test]
    fn a_ticket_for_a_seat_of_another_paid_order_is_a_double_sale() {
        let mut obs = clean_run();
        obs.orders[1]
            .read_back
            .as_mut()
            .unwrap()
            .ticket_seats
            .push("A-1".into());
        let v = judge(&obs);
        assert_eq!(v.double_sale_violations, 1);
        assert_eq!(
            v.missing_ticket_violations, 0,
            "A-1 is not one of o2's seats"
        );
    }

    #[test]
    fn a_planted_missing_ticket_is_detected() {
        let mut obs = clean_run();
        obs.orders[1].read_back.as_mut().unwrap().ticket_seats.pop();
        assert_eq!(judge(&obs).missing_ticket_violations, 1);
    }

    #[test]
    fn an_order_that_cannot_be_read_back_misses_all_its_tickets() {
        let mut obs = clean_run();
        obs.orders[1].read_back = None;
        assert_eq!(judge(&obs).missing_ticket_violations, 2);
    }

    #[test]
    fn two_holds_granted_on_one_seat_at_once_are_detected() {
        let mut obs = clean_run();
        obs.holds = vec![hold("B-1", 1, Some(10), false), hold("B-1", 5, None, false)];
        assert_eq!(judge(&obs).double_hold_violations, 1);
    }

    #[test]
    fn a_hold_after_a_release_or_an_expiry_is_no_double_hold() {
        let mut obs = clean_run();
        let mut short = hold("B-1", 0, None, false);
        short.ttl = Some(secs(5));
        obs.holds = vec![
            short,
            hold("B-1", 6, Some(7), false),
            hold("B-1", 8, None, true),
        ];
        assert_eq!(judge(&obs).double_hold_violations, 0);
    }

    #[test]
    fn a_hold_granted_after_a_sale_of_its_seat_is_a_double_hold() {
        let mut obs = clean_run();
        obs.holds.push(hold("A-1", 100, Some(101), false));
        assert_eq!(judge(&obs).double_hold_violations, 1);
    }

    #[test]
    fn a_paid_seat_shown_available_at_the_end_is_detected() {
        let mut obs = clean_run();
        obs.final_states.insert("A-2".into(), "available".into());
        assert_eq!(judge(&obs).unsold_paid_seat_violations, 1);
    }

    #[test]
    fn a_map_that_did_not_converge_is_detected() {
        let mut obs = clean_run();
        obs.map_differences.push(3);
        assert_eq!(judge(&obs).convergence_violations, 1);
    }

    #[test]
    fn a_replay_that_returns_another_order_is_detected() {
        let mut obs = clean_run();
        obs.replays[0].replay_order_id = Some("o9".into());
        obs.replays.push(ReplayRecord {
            first_order_id: "o2".into(),
            replay_order_id: None,
        });
        assert_eq!(judge(&obs).idempotency_violations, 2);
    }

    #[test]
    fn server_errors_and_audit_findings_make_the_verdict_unclean() {
        let mut obs = clean_run();
        obs.server_errors = 2;
        obs.audit_violations = Some(1);
        let v = judge(&obs);
        assert_eq!((v.server_error_violations, v.audit_violations), (2, 1));
        assert!(!v.is_clean());
    }
}
