//! What buyers are shown of their orders and payments: the bodies the API sends, which checkout
//! also stores, byte for byte, to replay for a retried request.

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::catalog::EventInfo;
use boxoffice_store::{OrderRecord, PaymentStatus, StoredPayment};

/// One ticket of an order, as the order body lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderTicketView {
    /// The ticket's id, for `GET /api/v1/tickets/{ticket_id}` and its QR image.
    pub id: String,
    /// The seat it admits to.
    pub seat_id: String,
    /// How the seat is named on the ticket, e.g. "Stalls, row C, seat 14".
    pub seat_label: String,
    /// The seat's price, in minor units of the order's `currency`.
    pub price_cents: i64,
    /// The signed code the QR image encodes.
    pub code: String,
    /// `valid` or `refunded`.
    pub status: String,
}

/// An order as its buyer sees it: the `order` of checkout, order and refund answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    /// The order's id, for `GET /api/v1/orders/{order_id}`.
    pub id: String,
    /// `paid`, `refunded` or `partially_refunded`.
    pub status: String,
    /// The hold it was paid for.
    pub hold_id: String,
    /// The event the tickets are for.
    pub event_id: String,
    /// That event's name; empty if the event cannot be read.
    pub event_name: String,
    /// The seats bought, one per ticket, in the order of `tickets`.
    pub seat_ids: Vec<String>,
    /// The order's total, in minor units of `currency` (cents for EUR).
    pub total_cents: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    /// When the order was made, RFC 3339 UTC.
    pub created_at: String,
    /// One per seat, with the code scanned at the door.
    pub tickets: Vec<OrderTicketView>,
}

impl OrderView {
    /// The view of `order`; `event` gives its name and the seats' labels (without it, seats
    /// are labelled with their ids).
    pub fn of(order: &OrderRecord, event: Option<&EventInfo>) -> Self {
        let label = |seat: &str| {
            event
                .map(|e| e.seat_label(seat))
                .unwrap_or_else(|| seat.to_owned())
        };
        OrderView {
            id: order.id.to_string(),
            status: order.status.as_str().to_owned(),
            hold_id: order.hold_id.to_string(),
            event_id: order.event_id.to_string(),
            event_name: event.map(|e| e.record.name.clone()).unwrap_or_default(),
            seat_ids: order.tickets.iter().map(|t| t.seat_id.clone()).collect(),
            total_cents: order.total_cents,
            currency: order.currency.clone(),
            created_at: order.created_at.to_rfc3339(),
            tickets: order
                .tickets
                .iter()
                .map(|t| OrderTicketView {
                    id: t.id.clone(),
                    seat_id: t.seat_id.clone(),
                    seat_label: label(&t.seat_id),
                    price_cents: t.price_cents,
                    code: t.code.clone(),
                    status: if t.valid { "valid" } else { "refunded" }.to_owned(),
                })
                .collect(),
        }
    }
}

/// The `{order}` body: a paid checkout (201), an order read, a refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderResponse {
    /// The order.
    pub order: OrderView,
}

/// The answer a buyer gets about a payment: stored for replays once it is final.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status: 201 paid, 202 still confirming, or the refusal's own (402, 409).
    pub status: u16,
    /// The JSON body: `{order}`, `{payment}` or the error body.
    pub body: Value,
}

/// A payment attempt as the buyer sees it: the `payment` of the checkout's 202 and of
/// `GET /api/v1/payments/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// The payment's id, for `GET /api/v1/payments/{id}`.
    pub id: String,
    /// The hold it pays for.
    pub hold_id: String,
    /// `confirming`, `paid`, `declined`, `failed` or `refunded`.
    pub status: String,
    /// The amount charged, in minor units of `currency`.
    pub amount_cents: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    /// The order, once paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// What happened, and what happens next, in plain words.
    pub message: String,
    /// For the buyer's browser to confirm with Stripe.js (only in the checkout's 202, with a
    /// provider whose buyers pay in the browser).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The provider's publishable key, for Stripe.js (sent with `client_secret`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishable_key: Option<String>,
    /// Where the page loads Stripe.js from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_js_url: Option<String>,
}

/// The `{payment}` body: the checkout's 202, and `GET /api/v1/payments/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentResponse {
    /// The payment attempt.
    pub payment: PaymentView,
}

/// What a buyer is told while the provider has not decided.
pub(crate) const CONFIRMING_MESSAGE: &str = "Confirming your payment with the bank. This page updates by itself; if the payment goes through after your hold ends, you keep the seats that are still free, or get your money back.";
/// What a buyer is told when their payment came too late for their seats and was refunded.
pub(crate) const REFUNDED_MESSAGE: &str = "Your payment arrived after your hold ended and some of the seats had been taken by then. The charge was refunded in full.";

/// The view of a stored payment: its status and what to tell the buyer, without the Stripe.js
/// fields (the checkout adds those to its 202).
pub fn payment_view(payment: &StoredPayment, order_id: Option<String>) -> PaymentView {
    let (status, message) = match payment.status {
        PaymentStatus::Pending => ("confirming", CONFIRMING_MESSAGE),
        PaymentStatus::Succeeded => ("paid", "Paid. Your tickets are in My tickets."),
        PaymentStatus::Declined => (
            "declined",
            "Your card was declined. Your seats stay held until the timer runs out: try another card.",
        ),
        PaymentStatus::Failed => (
            "failed",
            "The payment could not be made and nothing was charged. You can try again.",
        ),
        PaymentStatus::Refunded => ("refunded", REFUNDED_MESSAGE),
    };
    PaymentView {
        id: payment.id.to_string(),
        hold_id: payment.hold_id.to_string(),
        status: status.to_owned(),
        amount_cents: payment.amount_cents,
        currency: payment.currency.clone(),
        order_id,
        message: message.to_owned(),
        client_secret: None,
        publishable_key: None,
        stripe_js_url: None,
    }
}

/// The 202 answer while the outcome is not known yet.
pub fn confirming(payment: &StoredPayment) -> Answer {
    Answer {
        status: 202,
        body: json!(PaymentResponse {
            payment: payment_view(payment, None),
        }),
    }
}
