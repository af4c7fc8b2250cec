//! `BO1` codes, the first format: an HMAC-SHA256 over the ticket, its event and its seat with a
//! per-event key, truncated to 16 bytes. Only the server can check one; tickets issued before the
//! door verified codes offline carry them, and they keep getting in.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "BO1";

/// The key for one event's tickets: HMAC(secret, "ticket-key:" + event id).
fn event_key(secret: &[u8], event_id: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"ticket-key:");
    mac.update(event_id.as_bytes());
    mac.finalize().into_bytes().into()
}

fn ticket_mac(key: &[u8; 32], ticket_id: &str, event_id: &str, seat_id: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in [ticket_id, event_id, seat_id] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    mac
}

/// `BO1.<ticket id>.<signature>`, as tickets were issued before `BO2`.
#[cfg(test)]
pub(super) fn issue_code(secret: &[u8], ticket_id: &str, event_id: &str, seat_id: &str) -> String {
    let key = event_key(secret, event_id);
    let tag = ticket_mac(&key, ticket_id, event_id, seat_id).finalize();
    format!(
        "{PREFIX}.{ticket_id}.{}",
        URL_SAFE_NO_PAD.encode(&tag.into_bytes()[..16])
    )
}

/// The ticket id a `BO1` code claims to be for, before it is verified.
pub(super) fn claimed_ticket_id(code: &str) -> Option<&str> {
    let mut parts = code.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(PREFIX), Some(id), Some(_), None) if !id.is_empty() => Some(id),
        _ => None,
    }
}

/// Whether `code` is this ticket's genuine `BO1` code, compared in constant time.
pub(super) fn verify_code(
    secret: &[u8],
    code: &str,
    ticket_id: &str,
    event_id: &str,
    seat_id: &str,
) -> bool {
    let Some(sig) = code.rsplit('.').next() else {
        return false;
    };
    if claimed_ticket_id(code) != Some(ticket_id) {
        return false;
    }
    let Ok(given) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    let key = event_key(secret, event_id);
    given.len() == 16
        && ticket_mac(&key, ticket_id, event_id, seat_id)
            .verify_truncated_left(&given)
            .is_ok()
}
