//! Rows as the repositories read and write them.

use boxoffice_domain::{
    account::Role,
    ids::{EventId, HoldId, OrderId, PaymentId, UserId},
    time::Timestamp,
};

/// An account as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Its id (UUIDv7).
    pub id: UserId,
    /// Lower-cased and unique.
    pub email: String,
    /// The display name.
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// Argon2 PHC string; the password itself is never stored.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: Timestamp,
}

/// A venue as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VenueRecord {
    /// Its id.
    pub id: String,
    /// Shown to buyers.
    pub name: String,
    /// The layout as JSON (see `domain::venue::Layout`).
    pub layout: String,
    /// When it was created.
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// An event to insert; its categories and seats are inserted after it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Its id.
    pub id: EventId,
    /// The venue it takes place in.
    pub venue_id: String,
    /// Shown to buyers.
    pub name: String,
    /// When the event begins.
    pub starts_at: Timestamp,
    /// When holds are first accepted.
    pub sale_opens_at: Timestamp,
    /// The currency of every category.
    pub currency: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Listed and sold at once, or a draft only admins see.
    pub published: bool,
}

/// What an edit of an event changes in the event's own row.
#[derive(Debug, Clone)]
pub struct EventChange {
    /// The event.
    pub id: EventId,
    /// Shown to buyers.
    pub name: String,
    /// When the event begins.
    pub starts_at: Timestamp,
    /// When holds are first accepted.
    pub sale_opens_at: Timestamp,
    /// The currency of every category.
    pub currency: String,
}

/// A venue as the admin's list shows it, without its layout.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VenueSummary {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created.
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    /// How many events are sold in it.
    pub events: i64,
}

/// An event with its venue, as listed and shown.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRecord {
    /// Its id.
    pub id: String,
    /// Shown to buyers.
    pub name: String,
    /// The venue it takes place in.
    pub venue_id: String,
    /// The venue's name.
    pub venue_name: String,
    /// The venue's layout as JSON.
    #[sqlx(rename = "layout")]
    pub venue_layout: String,
    /// When the event begins.
    #[sqlx(try_from = "i64")]
    pub starts_at: Timestamp,
    /// When holds are first accepted.
    #[sqlx(try_from = "i64")]
    pub sale_opens_at: Timestamp,
    /// The currency of every category.
    pub currency: String,
    /// 1 when listed and sold, 0 for a draft only admins see (see [`EventRecord::is_published`]).
    pub published: i64,
    /// Grows with every edit of the event: a catalogue that read an older one reads it again.
    pub revision: i64,
}

impl EventRecord {
    /// Whether buyers see the event.
    pub fn is_published(&self) -> bool {
        self.published != 0
    }
}

/// A price category of one event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRecord {
    /// Its id.
    pub id: String,
    /// The event it prices.
    pub event_id: String,
    /// Unique within the event.
    pub name: String,
    /// Minor units of `currency`.
    pub price_cents: i64,
    /// The event's currency.
    pub currency: String,
    /// Its place in the order buyers see categories in.
    pub position: i64,
}

/// The first request made with one buyer's idempotency key.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    /// What the first request was; another request with the key is refused.
    pub fingerprint: String,
    /// `None` while the first request is still being processed.
    pub response: Option<(u16, String)>,
}

/// Where a payment attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Recorded, and the provider's answer is not settled yet.
    Pending,
    /// Charged: the order exists.
    Succeeded,
    /// The provider refused the card; nothing was charged.
    Declined,
    /// The attempt went wrong before any charge; it may be retried with the same key.
    Failed,
    /// Charged, then refunded in full.
    Refunded,
}

impl PaymentStatus {
    /// The name stored in the database.
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
    pub(crate) fn blocks_hold(self) -> bool {
        matches!(self, PaymentStatus::Pending | PaymentStatus::Succeeded)
    }
}

impl PaymentStatus {
    /// The status stored under `s`, if any.
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
    /// Its id.
    pub id: PaymentId,
    /// The hold it pays for.
    pub hold_id: HoldId,
    /// The buyer.
    pub user_id: UserId,
    /// The buyer's key for the checkout that made it.
    pub idempotency_key: String,
    /// The total, computed by the server from the seats' prices.
    pub amount_cents: i64,
    /// The event's currency.
    pub currency: String,
    /// What became of it so far.
    pub status: PaymentStatus,
    /// The provider's intent id, once the intent exists.
    pub provider_ref: Option<String>,
    /// When the attempt was recorded, before the provider was called.
    pub created_at: Timestamp,
    /// When its status last changed.
    pub updated_at: Timestamp,
}

/// A payment attempt to insert, pending, before the provider is called.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    /// Its id.
    pub id: PaymentId,
    /// The hold it pays for.
    pub hold_id: HoldId,
    /// The buyer.
    pub user_id: UserId,
    /// The buyer's key for the checkout.
    pub idempotency_key: String,
    /// The total, computed by the server from the seats' prices.
    pub amount_cents: i64,
    /// The event's currency.
    pub currency: String,
    /// The provider's name (`stripe`, `sandbox`).
    pub provider: String,
    /// The card's last four digits, all that is kept of it.
    pub card_last4: String,
    /// When the attempt was recorded.
    pub created_at: Timestamp,
}

/// What became of a paid order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Every ticket valid.
    Paid,
    /// Every ticket refunded.
    Refunded,
    /// Some tickets refunded, some still valid.
    PartiallyRefunded,
}

impl OrderStatus {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Paid => "paid",
            OrderStatus::Refunded => "refunded",
            OrderStatus::PartiallyRefunded => "partially_refunded",
        }
    }

    /// The status stored under `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "paid" => Some(OrderStatus::Paid),
            "refunded" => Some(OrderStatus::Refunded),
            "partially_refunded" => Some(OrderStatus::PartiallyRefunded),
            _ => None,
        }
    }
}

/// A paid order, with its tickets when read back.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    /// Its id.
    pub id: OrderId,
    /// The buyer.
    pub user_id: UserId,
    /// The hold it converted.
    pub hold_id: HoldId,
    /// The event.
    pub event_id: EventId,
    /// The payment that paid for it.
    pub payment_id: PaymentId,
    /// Paid, or how far refunded.
    pub status: OrderStatus,
    /// What was paid, in minor units.
    pub total_cents: i64,
    /// The event's currency.
    pub currency: String,
    /// When it was paid.
    pub created_at: Timestamp,
    /// One per seat when read back; `insert_order` ignores them (tickets go in one by one).
    pub tickets: Vec<TicketRecord>,
}

/// One seat's ticket.
#[derive(Debug, Clone)]
pub struct TicketRecord {
    /// Its id.
    pub id: String,
    /// The order it belongs to.
    pub order_id: OrderId,
    /// The event.
    pub event_id: EventId,
    /// The seat it admits to.
    pub seat_id: String,
    /// What was paid for this seat.
    pub price_cents: i64,
    /// The signed code in its QR code.
    pub code: String,
    /// False once refunded.
    pub valid: bool,
    /// When the ticket was first scanned at the door (by the scanning device's clock).
    pub checked_in_at: Option<Timestamp>,
    /// The gate of that first scan; `None` for tickets checked in before gates existed.
    pub checked_in_gate: Option<String>,
    /// When it was issued.
    pub created_at: Timestamp,
}

/// An event's valid tickets that share the gate of their first scan.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GateCheckins {
    /// The gate; `None` for the tickets not scanned yet and those checked in before gates.
    pub gate: Option<String>,
    /// How many tickets.
    pub tickets: i64,
    /// How many of them are checked in.
    pub checked_in: i64,
}

/// Which way money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    /// From the buyer to us.
    Charge,
    /// Back to the buyer.
    Refund,
}

impl LedgerKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Charge => "charge",
            LedgerKind::Refund => "refund",
        }
    }
}

/// One movement of money, as the provider confirmed it; never updated.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// Its id.
    pub id: String,
    /// The payment it belongs to.
    pub payment_id: PaymentId,
    /// The order, once it exists.
    pub order_id: Option<OrderId>,
    /// Charge or refund.
    pub kind: LedgerKind,
    /// Minor units, positive either way.
    pub amount_cents: i64,
    /// The payment's currency.
    pub currency: String,
    /// The provider's id for this movement.
    pub provider_ref: String,
    /// When it was recorded.
    pub created_at: Timestamp,
}

/// What a succeeded payment leaves behind, written at once by [`crate::Repository::record_sale`].
#[derive(Debug, Clone, Copy)]
pub struct SaleRecord<'a> {
    /// The new order, with its tickets; its `payment_id` names the payment that ends.
    pub order: &'a OrderRecord,
    /// The provider's intent, stored on the payment if it had none.
    pub provider_ref: Option<&'a str>,
    /// The payment's charge.
    pub charge: &'a LedgerEntry,
    /// The buyer's key for the checkout, whose answer is stored for replays.
    pub idempotency_key: &'a str,
    /// That answer: its HTTP status and JSON body.
    pub answer: (u16, &'a str),
    /// When the payment ended.
    pub now: Timestamp,
    /// The confirmation to queue with the sale, when e-mail is on.
    pub mail: Option<&'a crate::NewMail>,
}

/// Which orders an admin looks for.
#[derive(Debug, Clone, Default)]
pub struct OrderSearch {
    /// An order id, the start of a buyer's e-mail, or a seat id; every order when `None`.
    pub text: Option<String>,
    /// Only this event's orders.
    pub event_id: Option<String>,
    /// At most this many, newest first; all when `None`.
    pub limit: Option<u32>,
}
