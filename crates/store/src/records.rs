//! Rows as the repositories read and write them.

use boxoffice_domain::{account::Role, time::Timestamp};

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VenueRecord {
    pub id: String,
    pub name: String,
    /// The layout as JSON (see `domain::venue::Layout`).
    pub layout: String,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub venue_id: String,
    pub name: String,
    pub starts_at: Timestamp,
    pub sale_opens_at: Timestamp,
    pub currency: String,
    pub created_at: Timestamp,
}

/// An event with its venue, as listed and shown.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRecord {
    pub id: String,
    pub name: String,
    pub venue_id: String,
    pub venue_name: String,
    #[sqlx(rename = "layout")]
    pub venue_layout: String,
    #[sqlx(try_from = "i64")]
    pub starts_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub sale_opens_at: Timestamp,
    pub currency: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRecord {
    pub id: String,
    pub event_id: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
    pub position: i64,
}

#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    /// `None` while the first request is still being processed.
    pub response: Option<(u16, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Declined,
    Failed,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Declined => "declined",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Refunded => "refunded",
        }
    }

    /// Whether the payment still blocks other payment attempts for its hold.
    pub fn blocks_hold(self) -> bool {
        matches!(self, PaymentStatus::Pending | PaymentStatus::Succeeded)
    }
}

impl PaymentStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(PaymentStatus::Pending),
            "succeeded" => Some(PaymentStatus::Succeeded),
            "declined" => Some(PaymentStatus::Declined),
            "failed" => Some(PaymentStatus::Failed),
            "refunded" => Some(PaymentStatus::Refunded),
            _ => None,
        }
    }
}

/// A payment attempt as stored, with what became of it.
#[derive(Debug, Clone)]
pub struct StoredPayment {
    pub id: String,
    pub hold_id: String,
    pub user_id: String,
    pub idempotency_key: String,
    pub amount_cents: i64,
    pub currency: String,
    pub status: PaymentStatus,
    /// The provider's intent id, once the intent exists.
    pub provider_ref: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub id: String,
    pub hold_id: String,
    pub user_id: String,
    pub idempotency_key: String,
    pub amount_cents: i64,
    pub currency: String,
    pub provider: String,
    pub card_last4: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Paid,
    Refunded,
    PartiallyRefunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Paid => "paid",
            OrderStatus::Refunded => "refunded",
            OrderStatus::PartiallyRefunded => "partially_refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "paid" => Some(OrderStatus::Paid),
            "refunded" => Some(OrderStatus::Refunded),
            "partially_refunded" => Some(OrderStatus::PartiallyRefunded),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub id: String,
    pub user_id: String,
    pub hold_id: String,
    pub event_id: String,
    pub payment_id: String,
    pub status: OrderStatus,
    pub total_cents: i64,
    pub currency: String,
    pub created_at: Timestamp,
    pub tickets: Vec<TicketRecord>,
}

#[derive(Debug, Clone)]
pub struct TicketRecord {
    pub id: String,
    pub order_id: String,
    pub event_id: String,
    pub seat_id: String,
    pub price_cents: i64,
    pub code: String,
    pub valid: bool,
    /// When the ticket was first scanned at the door.
    pub checked_in_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    Charge,
    Refund,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Charge => "charge",
            LedgerKind::Refund => "refund",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub id: String,
    pub payment_id: String,
    pub order_id: Option<String>,
    pub kind: LedgerKind,
    pub amount_cents: i64,
    pub currency: String,
    pub provider_ref: String,
    pub created_at: Timestamp,
}
