//! A payment intent as the ledger keeps it, its statuses and their Stripe JSON, and the
//! parameters and events that cross the ledger's edge.

use std::{collections::BTreeMap, time::Instant};

use serde_json::{Value, json};

use boxoffice_payments::IntentStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    RequiresPaymentMethod,
    RequiresConfirmation,
    /// Waiting for the buyer to pass 3-D Secure.
    RequiresAction,
    Processing,
    Succeeded,
    Canceled,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::RequiresPaymentMethod => "requires_payment_method",
            Status::RequiresConfirmation => "requires_confirmation",
            Status::RequiresAction => "requires_action",
            Status::Processing => "processing",
            Status::Succeeded => "succeeded",
            Status::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Decline {
    pub(super) decline_code: &'static str,
    pub(super) message: String,
    pub(super) payment_method: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct PaymentIntent {
    pub(super) id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) description: Option<String>,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) status: Status,
    pub(super) last_error: Option<Decline>,
    pub(super) payment_method: Option<String>,
    pub(super) latest_charge: Option<String>,
    pub(super) amount_refunded: i64,
    pub(super) created: i64,
    /// For processing intents: when they settle, and whether they then succeed.
    pub(super) settles: Option<(Instant, bool)>,
    /// The random part of the client secret.
    pub(super) secret: String,
}

impl PaymentIntent {
    /// What the buyer's browser confirms with; a publishable key alone cannot touch the intent.
    pub(super) fn client_secret(&self) -> String {
        format!("{}_secret_{}", self.id, &self.secret)
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_received": if self.status == Status::Succeeded { self.amount } else { 0 },
            "amount_refunded": self.amount_refunded,
            "currency": self.currency,
            "description": self.description,
            "metadata": self.metadata,
            "status": self.status.as_str(),
            "last_payment_error": self.last_error.as_ref().map(|d| json!({
                "type": "card_error",
                "code": "card_declined",
                "decline_code": d.decline_code,
                "message": d.message,
                "payment_method": d.payment_method.as_ref().map(|id| json!({"id": id, "object": "payment_method"})),
            })),
            "payment_method": self.payment_method,
            "latest_charge": self.latest_charge,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "payment_method_types": ["card"],
            "client_secret": self.client_secret(),
            "next_action": (self.status == Status::RequiresAction).then(|| json!({
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect", "source": self.id},
            })),
            "created": self.created,
            "livemode": false,
        })
    }
}

/// A webhook the service owes: the event id, the intent, and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub id: String,
    pub intent_id: String,
    pub status: IntentStatus,
}

/// The parameters of `POST /v1/payment_intents`.
#[derive(Debug, Default)]
pub(crate) struct CreateParams {
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub payment_method: Option<String>,
}

/// How the card for a confirmation was named.
#[derive(Debug, Clone)]
pub(crate) enum PaymentMethod {
    Id(String),
    Card(String),
}
