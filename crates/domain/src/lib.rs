//! Pure domain rules: accounts, seats, holds, money, venues, tickets. No I/O lives here.

pub mod account;
pub mod best_available;
pub mod card;
pub mod compact_seats;
pub mod currency;
pub mod door;
pub mod event_edit;
pub mod event_plan;
pub mod hoarding;
pub mod hold;
pub mod idempotency;
pub mod ids;
pub mod money;
pub mod outbox;
pub mod rate;
pub mod refund;
pub mod seat;
pub mod text;
pub mod ticket;
pub mod time;
pub mod venue;
pub mod venue_rules;
pub mod waiting_room;

/// A fresh opaque identifier. UUIDv7 keeps inserts roughly ordered in B-tree indexes.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Why an input was refused; becomes a 422 with `code`, a human message and, when the input was
/// large, `details` naming the offending parts (seat ids, category names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    /// Machine-readable, stable: clients branch on it.
    pub code: &'static str,
    /// For a person, in plain words.
    pub message: String,
    /// The offending parts, when there were many.
    pub details: Option<serde_json::Value>,
}

impl InvalidInput {
    /// A refusal with no details.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        InvalidInput {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Names the offending items under `key`: at most [`MAX_NAMED`] of them, with their total
    /// `count`, so that a mistake repeated over 50,000 seats stays a short answer.
    /// Each is echoed at most [`MAX_ECHO_CHARS`] long.
    pub(crate) fn naming<S: AsRef<str>>(mut self, key: &str, items: &[S]) -> Self {
        let named: Vec<String> = items
            .iter()
            .take(MAX_NAMED)
            .map(|item| echo(item.as_ref()))
            .collect();
        self.details = Some(serde_json::json!({ key: named, "count": items.len() }));
        self
    }
}

/// How many offending items an error names at most.
pub(crate) const MAX_NAMED: usize = 50;
/// How much of an offending item an error repeats: never the whole of a megabyte-long string.
pub(crate) const MAX_ECHO_CHARS: usize = 64;

fn echo(item: &str) -> String {
    match item.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &item[..cut]),
        None => item.to_owned(),
    }
}
