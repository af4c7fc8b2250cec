//! Pure domain rules: accounts, seats, holds, money, venues, tickets. No I/O lives here.

pub mod account;
pub mod card;
pub mod hold;
pub mod idempotency;
pub mod money;
pub mod refund;
pub mod seat;
pub mod ticket;
pub mod time;
pub mod venue;

/// A fresh opaque identifier. UUIDv7 keeps inserts roughly ordered in B-tree indexes.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Why an input was refused; becomes a 422 with `code` and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub code: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        InvalidInput {
            code,
            message: message.into(),
        }
    }
}
