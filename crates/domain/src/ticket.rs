//! Ticket codes. New tickets carry `BO2` codes signed with their event's Ed25519 key, which a
//! door device checks offline with the event's public key alone; the `BO1` codes (an HMAC) of
//! tickets issued before keep verifying on the server. Both keys are derived from the server
//! secret and the event id, so every instance agrees on them and no private key is stored.

mod legacy;
mod signed;

pub use signed::{DOOR_KEY_ALGORITHM, door_public_key};

/// The code a new ticket gets: `BO2.<ticket id>.<event id>.<seat id>.<signature>`, everything
/// the door needs offline, about 160 characters (a QR code of version 9 at level M).
pub fn issue_code(secret: &[u8], ticket_id: &str, event_id: &str, seat_id: &str) -> String {
    signed::issue(secret, ticket_id, event_id, seat_id)
}

/// The ticket id a code claims to be for, before it is verified.
pub fn claimed_ticket_id(code: &str) -> Option<&str> {
    legacy::claimed_ticket_id(code).or_else(|| signed::SignedCode::parse(code).map(|c| c.ticket_id))
}

/// Whether `code` is the genuine code of this ticket, in either format.
pub fn verify_code(
    secret: &[u8],
    code: &str,
    ticket_id: &str,
    event_id: &str,
    seat_id: &str,
) -> bool {
    match signed::SignedCode::parse(code) {
        Some(signed) => signed.verify(secret, ticket_id, event_id, seat_id),
        None => legacy::verify_code(secret, code, ticket_id, event_id, seat_id),
    }
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

    #[test]
    fn new_tickets_get_signed_codes_and_old_hmac_codes_still_verify() {
        assert!(issue_code(b"secret", "t1", "e1", "A-1").starts_with("BO2.t1.e1.A-1."));
        let old = legacy::issue_code(b"secret", "t1", "e1", "A-1");
        assert!(old.starts_with("BO1.t1."), "{old}");
        assert_eq!(claimed_ticket_id(&old), Some("t1"));
        assert!(verify_code(b"secret", &old, "t1", "e1", "A-1"));
        assert!(!verify_code(b"secret", &old, "t1", "e1", "A-2"));
        assert!(!verify_code(b"other", &old, "t1", "e1", "A-1"));
    }
}
