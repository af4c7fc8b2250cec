//! What a message says, fixed when the sale or refund commits and stored with the message: the
//! sender writes the message from these facts alone, so that what the buyer reads is what was
//! true at that moment (a later refund does not rewrite an earlier confirmation), and a message
//! sent again reads the same.

use serde::{Deserialize, Serialize};

use crate::catalog::EventInfo;
use boxoffice_domain::{hold::Hold, new_id};
use boxoffice_store::{MailKind, NewMail, OrderRecord, StoredPayment, TicketRecord};

/// The event, as the buyer knows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct EventFacts {
    pub(crate) name: String,
    pub(crate) venue: String,
    /// RFC 3339, UTC.
    pub(crate) starts_at: String,
}

/// One ticket: its seat, its price, and (in a confirmation) the code the door scans.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct TicketFacts {
    pub(crate) id: String,
    pub(crate) seat: String,
    pub(crate) price_cents: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
}

/// An order confirmation: the tickets and what was paid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Confirmation {
    pub(crate) order_id: String,
    pub(crate) event: EventFacts,
    pub(crate) currency: String,
    pub(crate) total_cents: i64,
    pub(crate) tickets: Vec<TicketFacts>,
}

/// A refund notice: which tickets, how much went back, and whether anything is left.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct RefundNotice {
    pub(crate) order_id: String,
    pub(crate) event: EventFacts,
    pub(crate) currency: String,
    pub(crate) refunded_cents: i64,
    /// The whole order is refunded now (this refund and any before it).
    pub(crate) whole_order: bool,
    pub(crate) tickets: Vec<TicketFacts>,
    /// The tickets of the order that still admit.
    pub(crate) tickets_left: usize,
}

/// A payment refunded because its seats were gone by the time it went through (see
/// `settlement.rs`): the buyer paid, has no order, and has the money back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PaymentRefunded {
    pub(crate) payment_id: String,
    pub(crate) event: EventFacts,
    pub(crate) currency: String,
    pub(crate) refunded_cents: i64,
    /// The seats that were being paid for.
    pub(crate) seats: Vec<String>,
}

fn event_facts(event: &EventInfo) -> EventFacts {
    EventFacts {
        name: event.record.name.clone(),
        venue: event.record.venue_name.clone(),
        starts_at: event.record.starts_at.to_rfc3339(),
    }
}

fn ticket_facts(event: &EventInfo, ticket: &TicketRecord, with_code: bool) -> TicketFacts {
    TicketFacts {
        id: ticket.id.clone(),
        seat: event.seat_label(&ticket.seat_id),
        price_cents: ticket.price_cents,
        code: with_code.then(|| ticket.code.clone()),
    }
}

/// The confirmation of a new order, to its buyer.
pub(crate) fn confirmation(order: &OrderRecord, event: &EventInfo) -> NewMail {
    let facts = Confirmation {
        order_id: order.id.to_string(),
        event: event_facts(event),
        currency: order.currency.clone(),
        total_cents: order.total_cents,
        tickets: order
            .tickets
            .iter()
            .map(|t| ticket_facts(event, t, true))
            .collect(),
    };
    new_mail(MailKind::OrderConfirmation, order, &facts)
}

/// The notice of a refund of `refunded` (ticket ids) and `amount_cents`; `order` is the order as
/// it stands after the refund.
pub(crate) fn refund_notice(
    order: &OrderRecord,
    event: &EventInfo,
    refunded: &[String],
    amount_cents: i64,
) -> NewMail {
    let facts = RefundNotice {
        order_id: order.id.to_string(),
        event: event_facts(event),
        currency: order.currency.clone(),
        refunded_cents: amount_cents,
        whole_order: order.tickets.iter().all(|t| !t.valid),
        tickets: order
            .tickets
            .iter()
            .filter(|t| refunded.contains(&t.id))
            .map(|t| ticket_facts(event, t, false))
            .collect(),
        tickets_left: order.tickets.iter().filter(|t| t.valid).count(),
    };
    new_mail(MailKind::RefundNotice, order, &facts)
}

/// The notice of a late payment given back in full, to its buyer.
pub(crate) fn payment_refunded(payment: &StoredPayment, hold: &Hold, event: &EventInfo) -> NewMail {
    let facts = PaymentRefunded {
        payment_id: payment.id.to_string(),
        event: event_facts(event),
        currency: payment.currency.clone(),
        refunded_cents: payment.amount_cents,
        seats: hold.seat_ids.iter().map(|s| event.seat_label(s)).collect(),
    };
    NewMail {
        id: new_id(),
        kind: MailKind::PaymentRefunded,
        order_id: None,
        user_id: payment.user_id.to_string(),
        payload: serde_json::to_string(&facts).expect("the facts always serialise"),
        created_at: boxoffice_domain::time::Timestamp::now(),
    }
}

fn new_mail(kind: MailKind, order: &OrderRecord, facts: &impl Serialize) -> NewMail {
    NewMail {
        id: new_id(),
        kind,
        order_id: Some(order.id.to_string()),
        user_id: order.user_id.to_string(),
        payload: serde_json::to_string(facts).expect("the facts always serialise"),
        created_at: boxoffice_domain::time::Timestamp::now(),
    }
}
