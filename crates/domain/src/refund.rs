//! Refund rules: which of an order's tickets a refund covers, how much money goes back, and what
//! the order becomes. The server computes the amount from the tickets' own prices, never from input.

use std::collections::BTreeSet;

/// One ticket of the order, as far as refunding is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundableTicket {
    /// The ticket's id.
    pub id: String,
    /// The seat it is for.
    pub seat_id: String,
    /// What was paid for it, in the order's currency.
    pub price_cents: i64,
    /// False once the ticket has been refunded.
    pub valid: bool,
}

/// What a refund will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    /// Sorted, so that the same refund asked twice gets the same provider idempotency key.
    pub ticket_ids: Vec<String>,
    /// The seats that go back on sale.
    pub seat_ids: Vec<String>,
    /// The sum of the refunded tickets' prices.
    pub amount_cents: i64,
    /// True when no valid ticket is left afterwards: the order becomes `refunded`.
    pub whole_order: bool,
}

/// Why a refund was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    /// Tickets were named, but none.
    #[error("an explicit list of tickets to refund must not be empty")]
    EmptySelection,
    /// Some named tickets belong to another order, or to none.
    #[error("these tickets are not part of the order: {0:?}")]
    NotInOrder(Vec<String>),
    /// Some named tickets were refunded before: money goes back once.
    #[error("these tickets were already refunded: {0:?}")]
    AlreadyRefunded(Vec<String>),
    /// The whole order was refunded before.
    #[error("every ticket of the order was already refunded")]
    NothingLeft,
}

/// Plans a refund of `requested` tickets (every valid ticket when `None`).
pub fn plan_refund(
    tickets: &[RefundableTicket],
    requested: Option<&[String]>,
) -> Result<RefundPlan, RefundRefused> {
    let chosen: Vec<&RefundableTicket> = match requested {
        None => {
            let valid: Vec<_> = tickets.iter().filter(|t| t.valid).collect();
            if valid.is_empty() {
                return Err(RefundRefused::NothingLeft);
            }
            valid
        }
        Some(ids) => {
            let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
            if wanted.is_empty() {
                return Err(RefundRefused::EmptySelection);
            }
            let unknown: Vec<String> = wanted
                .iter()
                .filter(|id| !tickets.iter().any(|t| t.id == **id))
                .map(|id| (*id).to_owned())
                .collect();
            if !unknown.is_empty() {
                return Err(RefundRefused::NotInOrder(unknown));
            }
            let chosen: Vec<_> = tickets
                .iter()
                .filter(|t| wanted.contains(t.id.as_str()))
                .collect();
            let refunded: Vec<String> = chosen
                .iter()
                .filter(|t| !t.valid)
                .map(|t| t.id.clone())
                .collect();
            if !refunded.is_empty() {
                return Err(RefundRefused::AlreadyRefunded(refunded));
            }
            chosen
        }
    };
    let mut ticket_ids: Vec<String> = chosen.iter().map(|t| t.id.clone()).collect();
    ticket_ids.sort();
    let mut seat_ids: Vec<String> = chosen.iter().map(|t| t.seat_id.clone()).collect();
    seat_ids.sort();
    let amount_cents = chosen.iter().map(|t| t.price_cents).sum();
    let still_valid = tickets.iter().filter(|t| t.valid).count();
    Ok(RefundPlan {
        whole_order: still_valid == chosen.len(),
        ticket_ids,
        seat_ids,
        amount_cents,
    })
}

impl RefundPlan {
    /// The provider idempotency key of this refund: asking again for the same tickets of the same
    /// order (after a timeout, say) can never return the money twice.
    pub fn idempotency_key(&self, order_id: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        for id in &self.ticket_ids {
            digest.update(id.as_bytes());
            digest.update([0]);
        }
        let hash = digest.finalize();
        let short: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("refund-{order_id}-{short}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: &str, price: i64, valid: bool) -> RefundableTicket {
        RefundableTicket {
            id: id.to_owned(),
            seat_id: format!("seat-{id}"),
            price_cents: price,
            valid,
        }
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn without_a_selection_every_valid_ticket_is_refunded_and_the_order_is_whole() {
        let tickets = [ticket("a", 8900, true), ticket("b", 6500, true)];
        let plan = plan_refund(&tickets, None).unwrap();
        assert_eq!(plan.ticket_ids, ids(&["a", "b"]));
        assert_eq!(plan.seat_ids, ids(&["seat-a", "seat-b"]));
        assert_eq!(plan.amount_cents, 15400);
        assert!(plan.whole_order);
    }

    #[test]
    fn refunding_some_tickets_leaves_the_order_partly_refunded() {
        let tickets = [ticket("a", 8900, true), ticket("b", 6500, true)];
        let plan = plan_refund(&tickets, Some(&ids(&["b"]))).unwrap();
        assert_eq!(plan.amount_cents, 6500);
        assert!(!plan.whole_order);
    }

    #[test]
    fn refunding_the_last_valid_tickets_completes_the_refund() {
        let tickets = [ticket("a", 8900, false), ticket("b", 6500, true)];
        let plan = plan_refund(&tickets, Some(&ids(&["b"]))).unwrap();
        assert!(plan.whole_order);
        assert_eq!(plan_refund(&tickets, None).unwrap().ticket_ids, ids(&["b"]));
    }

    #[test]
    fn a_ticket_counts_once_even_when_named_twice() {
        let tickets = [ticket("a", 8900, true), ticket("b", 6500, true)];
        let plan = plan_refund(&tickets, Some(&ids(&["a", "a"]))).unwrap();
        assert_eq!(plan.amount_cents, 8900);
    }

    #[test]
    fn tickets_of_another_order_are_refused_by_name() {
        let tickets = [ticket("a", 8900, true)];
        assert_eq!(
            plan_refund(&tickets, Some(&ids(&["a", "zz"]))),
            Err(RefundRefused::NotInOrder(ids(&["zz"])))
        );
    }

    #[test]
    fn a_ticket_cannot_be_refunded_twice() {
        let tickets = [ticket("a", 8900, false), ticket("b", 6500, true)];
        assert_eq!(
            plan_refund(&tickets, Some(&ids(&["a", "b"]))),
            Err(RefundRefused::AlreadyRefunded(ids(&["a"])))
        );
    }

    #[test]
    fn a_fully_refunded_order_has_nothing_left_to_refund() {
        let tickets = [ticket("a", 8900, false)];
        assert_eq!(plan_refund(&tickets, None), Err(RefundRefused::NothingLeft));
    }

    #[test]
    fn an_empty_explicit_selection_is_refused() {
        let tickets = [ticket("a", 8900, true)];
        assert_eq!(
            plan_refund(&tickets, Some(&[])),
            Err(RefundRefused::EmptySelection)
        );
    }

    #[test]
    fn the_same_tickets_in_any_order_give_the_same_idempotency_key() {
        let tickets = [
            ticket("a", 1, true),
            ticket("b", 1, true),
            ticket("c", 1, true),
        ];
        let one = plan_refund(&tickets, Some(&ids(&["b", "a"]))).unwrap();
        let two = plan_refund(&tickets, Some(&ids(&["a", "b"]))).unwrap();
        let other = plan_refund(&tickets, Some(&ids(&["a", "c"]))).unwrap();
        assert_eq!(one.idempotency_key("o1"), two.idempotency_key("o1"));
        assert_ne!(one.idempotency_key("o1"), other.idempotency_key("o1"));
        assert_ne!(one.idempotency_key("o1"), one.idempotency_key("o2"));
    }
}
