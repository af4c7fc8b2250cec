//! `BO2` codes: `BO2.<ticket id>.<event id>.<seat id>.<signature>`, the signature an Ed25519
//! signature (base64url, 86 characters) over everything before its dot, made with the event's
//! signing key. A door device that has the event's public key checks a code with nothing else:
//! the ticket, the event and the seat are in the code itself.
//!
//! The signing key's seed is HMAC-SHA256(secret, "door-key:" + event id): derived, not stored,
//! exactly as the `BO1` key is, so any instance signs and verifies without a key table, and the
//! server secret stays the one thing to keep safe. Ticket and event ids are ours and never hold a
//! dot; a seat id may, which is why it comes last before the signature.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "BO2.";

/// What the door-key endpoint names the algorithm, as WebCrypto does.
pub const DOOR_KEY_ALGORITHM: &str = "Ed25519";

fn signing_key(secret: &[u8], event_id: &str) -> SigningKey {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"door-key:");
    mac.update(event_id.as_bytes());
    SigningKey::from_bytes(&mac.finalize().into_bytes().into())
}

/// The event's public key (raw, 32 bytes): all a door device needs to check its codes offline.
pub fn door_public_key(secret: &[u8], event_id: &str) -> [u8; 32] {
    signing_key(secret, event_id).verifying_key().to_bytes()
}

pub(super) fn issue(secret: &[u8], ticket_id: &str, event_id: &str, seat_id: &str) -> String {
    debug_assert!(!ticket_id.contains('.') && !event_id.contains('.'));
    let message = format!("{PREFIX}{ticket_id}.{event_id}.{seat_id}");
    let signature = signing_key(secret, event_id).sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// A `BO2` code taken apart, not yet verified.
#[derive(Debug)]
pub(super) struct SignedCode<'a> {
    pub(super) ticket_id: &'a str,
    event_id: &'a str,
    seat_id: &'a str,
    /// The signed part: the code up to its last dot.
    message: &'a str,
    signature: Signature,
}

impl<'a> SignedCode<'a> {
    pub(super) fn parse(code: &'a str) -> Option<Self> {
        let (fields, signature) = code.strip_prefix(PREFIX)?.rsplit_once('.')?;
        let message = &code[..PREFIX.len() + fields.len()];
        let (ticket_id, rest) = fields.split_once('.')?;
        let (event_id, seat_id) = rest.split_once('.')?;
        if ticket_id.is_empty() || event_id.is_empty() || seat_id.is_empty() {
            return None;
        }
        // The strict decoder refuses stray trailing bits, so each signature has one spelling.
        let bytes: [u8; 64] = URL_SAFE_NO_PAD.decode(signature).ok()?.try_into().ok()?;
        Some(SignedCode {
            ticket_id,
            event_id,
            seat_id,
            message,
            signature: Signature::from_bytes(&bytes),
        })
    }

    /// Whether the signature is the event's, by its public key alone (what a door device does).
    fn signed_by(&self, public_key: &[u8; 32]) -> bool {
        VerifyingKey::from_bytes(public_key).is_ok_and(|key| {
            key.verify_strict(self.message.as_bytes(), &self.signature)
                .is_ok()
        })
    }

    /// Whether this is the genuine code of that ticket of that event for that seat.
    pub(super) fn verify(
        &self,
        secret: &[u8],
        ticket_id: &str,
        event_id: &str,
        seat_id: &str,
    ) -> bool {
        (self.ticket_id, self.event_id, self.seat_id) == (ticket_id, event_id, seat_id)
            && self.signed_by(&door_public_key(secret, event_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifies_offline(code: &str, public_key: &[u8; 32]) -> bool {
        SignedCode::parse(code).is_some_and(|c| c.signed_by(public_key))
    }

    #[test]
    fn a_code_verifies_offline_with_its_events_public_key_alone() {
        let code = issue(b"secret", "t1", "e1", "A-1");
        assert!(verifies_offline(&code, &door_public_key(b"secret", "e1")));
        let parsed = SignedCode::parse(&code).unwrap();
        assert_eq!(
            (parsed.ticket_id, parsed.event_id, parsed.seat_id),
            ("t1", "e1", "A-1")
        );
        // Derived, not random: every instance has the same key, and so signs the same code.
        assert_eq!(
            door_public_key(b"secret", "e1"),
            door_public_key(b"secret", "e1")
        );
        assert_eq!(code, issue(b"secret", "t1", "e1", "A-1"));
    }

    #[test]
    fn another_events_key_or_another_secrets_does_not_verify_a_code() {
        let code = issue(b"secret", "t1", "e1", "A-1");
        assert_ne!(
            door_public_key(b"secret", "e1"),
            door_public_key(b"secret", "e2")
        );
        assert!(!verifies_offline(&code, &door_public_key(b"secret", "e2")));
        assert!(!verifies_offline(&code, &door_public_key(b"other", "e1")));
        // A code signed with another event's key does not pass for this event's either.
        let signed_for_e2 = issue(b"secret", "t1", "e2", "A-1");
        let (_, sig) = signed_for_e2.rsplit_once('.').unwrap();
        let transplanted = format!("BO2.t1.e1.A-1.{sig}");
        assert!(
            !SignedCode::parse(&transplanted)
                .unwrap()
                .verify(b"secret", "t1", "e1", "A-1")
        );
    }

    #[test]
    fn an_altered_or_forged_code_does_not_verify() {
        let key = door_public_key(b"secret", "e1");
        let code = issue(b"secret", "t1", "e1", "A-1");
        let (_, sig) = code.rsplit_once('.').unwrap();
        for altered in [
            format!("BO2.t2.e1.A-1.{sig}"),
            format!("BO2.t1.e1.A-2.{sig}"),
            format!("BO2.t1.e1.A-1.x.{sig}"),
            format!("BO2.t1.e1.A-1.{}", "A".repeat(86)),
            format!("BO2.t1.e1.A-1.{}", &sig[1..]),
        ] {
            assert!(!verifies_offline(&altered, &key), "{altered}");
        }
        // A seat id with dots is fine: the seat runs up to the signature.
        let dotted = issue(b"secret", "t1", "e1", "S.A.1");
        assert!(
            SignedCode::parse(&dotted)
                .unwrap()
                .verify(b"secret", "t1", "e1", "S.A.1")
        );
        for malformed in [
            "BO2.",
            "BO2.t1.e1",
            "BO2..e1.A-1.x",
            "BO2.t1.e1..x",
            "BO1.t1.e1.A-1.x",
        ] {
            assert!(SignedCode::parse(malformed).is_none(), "{malformed}");
        }
    }

    #[test]
    fn the_code_fits_a_small_qr_code() {
        let code = issue(b"secret", &"f".repeat(32), &"e".repeat(32), "Stalls-G-17");
        assert!(code.len() <= 180, "{} characters", code.len());
    }
}
