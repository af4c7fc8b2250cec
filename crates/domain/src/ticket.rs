//! Ticket codes: signed with a per-event key derived from the server secret, so a code cannot be
//! forged and verifies without trusting the client.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "BO1";

/// The key for one event's tickets: HMAC(secret, "ticket-key:" + event id).
pub(crate) fn event_key(secret: &[u8], event_id: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"ticket-key:");
    mac.update(event_id.as_bytes());
    mac.finalize().into_bytes().into()
}

fn signature(key: &[u8; 32], ticket_id: &str, event_id: &str, seat_id: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in [ticket_id, event_id, seat_id] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

/// `BO1.<ticket id>.<signature>`: short enough for a small QR code.
pub fn issue_code(secret: &[u8], ticket_id: &str, event_id: &str, seat_id: &str) -> String {
    let key = event_key(secret, event_id);
    format!(
        "{PREFIX}.{ticket_id}.{}",
        signature(&key, ticket_id, event_id, seat_id)
    )
}

/// The ticket id a code claims to be for, before it is verified.
pub fn claimed_ticket_id(code: &str) -> Option<&str> {
    let mut parts = code.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(PREFIX), Some(id), Some(_), None) if !id.is_empty() => Some(id),
        _ => None,
    }
}

/// Whether `code` is the genuine code of this ticket, compared in constant time.
pub fn verify_code(
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
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length");
    for part in [ticket_id, event_id, seat_id] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    mac.verify_truncated_left(&given).is_ok() && given.len() == 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_code_verifies_for_its_ticket() {
        let code = issue_code(b"secret", "t1", "e1", "A-1");
        assert_eq!(claimed_ticket_id(&code), Some("t1"));
        assert!(verify_code(b"secret", &code, "t1", "e1", "A-1"));
    }

    #[test]
    fn a_code_does_not_verify_for_another_seat_event_or_secret() {
        let code = issue_code(b"secret", "t1", "e1", "A-1");
        assert!(!verify_code(b"secret", &code, "t1", "e1", "A-2"));
        assert!(!verify_code(b"secret", &code, "t1", "e2", "A-1"));
        assert!(!verify_code(b"other", &code, "t1", "e1", "A-1"));
    }

    #[test]
    fn a_tampered_code_does_not_verify() {
        let code = issue_code(b"secret", "t1", "e1", "A-1");
        let mut forged = code.clone();
        forged.pop();
        forged.push(if code.ends_with('A') { 'B' } else { 'A' });
        assert!(!verify_code(b"secret", &forged, "t1", "e1", "A-1"));
        assert!(!verify_code(b"secret", "BO1.t1.", "t1", "e1", "A-1"));
        assert_eq!(claimed_ticket_id("garbage"), None);
    }
}
