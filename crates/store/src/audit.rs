//! `boxoffice audit`: checks every invariant of the database and reports each violation.

use serde::Serialize;

use crate::Database;
use boxoffice_domain::time::Timestamp;

/// One invariant: the query lists whatever breaks it (text columns only, joined with `/`).
struct Check {
    name: &'static str,
    description: &'static str,
    sql: &'static str,
}

const CHECKS: &[Check] = &[
    Check {
        name: "seat_with_two_valid_tickets",
        description: "a seat is sold at most once: at most one valid ticket per seat",
        sql: "SELECT event_id, seat_id FROM tickets WHERE valid_seat IS NOT NULL GROUP BY event_id, seat_id HAVING COUNT(*) > 1",
    },
    Check {
        name: "sold_seat_without_valid_ticket",
        description: "every sold seat has a valid ticket",
        sql: "SELECT s.event_id, s.id FROM seats s WHERE s.state = 'sold' AND NOT EXISTS \
              (SELECT 1 FROM tickets t WHERE t.event_id = s.event_id AND t.seat_id = s.id AND t.valid_seat IS NOT NULL)",
    },
    Check {
        name: "valid_ticket_for_unsold_seat",
        description: "every valid ticket's seat is sold, to the hold of the ticket's order",
        sql: "SELECT t.id FROM tickets t JOIN orders o ON o.id = t.order_id \
              JOIN seats s ON s.event_id = t.event_id AND s.id = t.seat_id \
              WHERE t.valid_seat IS NOT NULL AND (s.state <> 'sold' OR s.hold_id IS NULL OR s.hold_id <> o.hold_id)",
    },
    Check {
        name: "valid_ticket_of_refunded_order",
        description: "no valid ticket belongs to a refunded order",
        sql: "SELECT t.id FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.valid_seat IS NOT NULL AND o.status = 'refunded'",
    },
    Check {
        name: "paid_order_tickets_differ_from_its_hold",
        description: "every paid order has exactly one valid ticket per seat of its hold",
        sql: "SELECT o.id FROM orders o WHERE o.status = 'paid' AND \
              ((SELECT COUNT(*) FROM tickets t WHERE t.order_id = o.id AND t.valid_seat IS NOT NULL) <> \
               (SELECT COUNT(*) FROM hold_seats hs WHERE hs.hold_id = o.hold_id) \
               OR EXISTS (SELECT 1 FROM hold_seats hs WHERE hs.hold_id = o.hold_id AND NOT EXISTS \
                 (SELECT 1 FROM tickets t WHERE t.order_id = o.id AND t.seat_id = hs.seat_id)))",
    },
    Check {
        name: "order_total_differs_from_ticket_prices",
        description: "an order's total is the sum of its tickets' prices",
        sql: "SELECT o.id FROM orders o WHERE o.total_cents <> (SELECT COALESCE(SUM(t.price_cents), 0) FROM tickets t WHERE t.order_id = o.id)",
    },
    Check {
        name: "paid_order_without_one_charge",
        description: "every paid order has exactly one captured charge in the ledger",
        sql: "SELECT o.id FROM orders o WHERE o.total_cents > 0 AND \
              (SELECT COUNT(*) FROM ledger l WHERE l.order_id = o.id AND l.kind = 'charge') <> 1",
    },
    Check {
        name: "paid_order_without_succeeded_payment",
        description: "every paid order's payment succeeded",
        sql: "SELECT o.id FROM orders o JOIN payments p ON p.id = o.payment_id WHERE o.status = 'paid' AND p.status <> 'succeeded'",
    },
    Check {
        name: "succeeded_payment_without_order",
        description: "every succeeded payment became an order",
        sql: "SELECT p.id FROM payments p WHERE p.status = 'succeeded' AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.payment_id = p.id)",
    },
    Check {
        name: "ledger_does_not_balance",
        description: "charges minus refunds equal the revenue of valid tickets",
        sql: "SELECT 'ledger' FROM (SELECT 1 AS one) x WHERE \
              (SELECT COALESCE(SUM(CASE WHEN kind = 'charge' THEN amount_cents ELSE -amount_cents END), 0) FROM ledger) <> \
              (SELECT COALESCE(SUM(price_cents), 0) FROM tickets WHERE valid_seat IS NOT NULL)",
    },
    Check {
        name: "held_seat_without_active_hold",
        description: "a held seat belongs to an active hold",
        sql: "SELECT s.event_id, s.id FROM seats s LEFT JOIN holds h ON h.id = s.hold_id \
              WHERE s.state = 'held' AND (h.id IS NULL OR h.status <> 'active')",
    },
    Check {
        name: "active_hold_missing_its_seats",
        description: "an active hold holds each of its seats",
        sql: "SELECT h.id FROM holds h JOIN hold_seats hs ON hs.hold_id = h.id \
              JOIN seats s ON s.event_id = hs.event_id AND s.id = hs.seat_id \
              WHERE h.status = 'active' AND (s.state <> 'held' OR s.hold_id IS NULL OR s.hold_id <> h.id)",
    },
    Check {
        name: "seat_in_two_active_holds",
        description: "no seat is in two active holds",
        sql: "SELECT hs.event_id, hs.seat_id FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id \
              WHERE h.status = 'active' GROUP BY hs.event_id, hs.seat_id HAVING COUNT(*) > 1",
    },
    Check {
        name: "converted_hold_without_order",
        description: "every converted hold has its order",
        sql: "SELECT h.id FROM holds h WHERE h.status = 'converted' AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.hold_id = h.id)",
    },
    Check {
        name: "available_seat_with_hold",
        description: "an available seat belongs to no hold, and a held or sold one to a hold",
        sql: "SELECT event_id, id FROM seats WHERE (state = 'available' AND hold_id IS NOT NULL) OR (state <> 'available' AND hold_id IS NULL)",
    },
    Check {
        name: "hold_ended_but_active",
        description: "a hold is active exactly while it has not ended (the hold statements rely on it)",
        sql: "SELECT id FROM holds WHERE (status = 'active' AND ended_at IS NOT NULL) OR (status <> 'active' AND ended_at IS NULL)",
    },
];

const EXAMPLES: usize = 10;

/// One invariant's check: how many rows break it, and a few of them.
#[derive(Debug, Serialize)]
pub struct CheckResult {
    /// Short and stable, for scripts.
    pub name: &'static str,
    /// The invariant, in words.
    pub description: &'static str,
    /// Rows that break it.
    pub violations: usize,
    pub(crate) examples: Vec<String>,
}

/// What `boxoffice audit` prints: every check, and whether all passed.
#[derive(Debug, Serialize)]
pub struct AuditReport {
    /// True when no check found a violation.
    pub ok: bool,
    /// The dialect audited.
    pub database: &'static str,
    pub(crate) checked_at: String,
    /// Violations over every check.
    pub violations: usize,
    /// Each check's result, in a fixed order.
    pub checks: Vec<CheckResult>,
}

/// Runs every check in one read transaction, so the report describes one consistent moment.
pub async fn run(db: &dyn Database) -> anyhow::Result<AuditReport> {
    let mut tx = db.read().await?;
    let mut checks = Vec::with_capacity(CHECKS.len());
    for check in CHECKS {
        let rows = tx.audit_query(check.sql).await?;
        checks.push(CheckResult {
            name: check.name,
            description: check.description,
            violations: rows.len(),
            examples: rows.into_iter().take(EXAMPLES).collect(),
        });
    }
    tx.commit().await?;
    let violations = checks.iter().map(|c| c.violations).sum();
    Ok(AuditReport {
        ok: violations == 0,
        database: db.dialect(),
        checked_at: Timestamp::now().to_rfc3339(),
        violations,
        checks,
    })
}
