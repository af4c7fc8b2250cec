//! What buyers are shown of their orders and payments: the bodies the API sends, which checkout
//! also stores, byte for byte, to replay for a retried request.

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::catalog::EventInfo;
use boxoffice_store::{OrderRecord, PaymentStatus, StoredPayment};

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderTicketView {
    pub id: String,
    pub seat_id: String,
    pub seat_label: String,
    pub price_cents: i64,
    /// The signed code the QR image encodes.
    pub code: String,
    /// `valid` or `refunded`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    /// `paid`, `refunded` or `partially_refunded`.
    pub status: String,
    pub hold_id: String,
    pub event_id: String,
    pub event_name: String,
    pub seat_ids: Vec<String>,
    pub total_cents: i64,
    pub currency: String,
    pub created_at: String,
    pub tickets: Vec<OrderTicketView>,
}

impl OrderView {
    pub fn of(order: &OrderRecord, event: Option<&EventInfo>) -> Self {
        let label = |seat: &str| {
            event
                .map(|e| e.seat_label(seat))
                .unwrap_or_else(|| seat.to_owned())
        };
        OrderView {
            id: order.id.clone(),
            status: order.status.as_str().to_owned(),
            hold_id: order.hold_id.clone(),
            event_id: order.event_id.clone(),
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

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderResponse {
    pub order: OrderView,
}

/// What the buyer sees of a payment attempt that has not finished yet.
/// The answer a buyer gets about a payment: stored for replays once it is final.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub hold_id: String,
    /// `confirming`, `paid`, `declined`, `failed` or `refunded`.
    pub status: String,
    pub amount_cents: i64,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishable_key: Option<String>,
    /// Where the page loads Stripe.js from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_js_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentResponse {
    pub payment: PaymentView,
}

pub const CONFIRMING_MESSAGE: &str = "Confirming your payment with the bank. This page updates by itself; if the payment goes through after your hold ends, you keep the seats that are still free, or get your money back.";
pub const REFUNDED_MESSAGE: &str = "Your payment arrived after your hold ended and some of the seats had been taken by then. The charge was refunded in full.";

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
        id: payment.id.clone(),
        hold_id: payment.hold_id.clone(),
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
