//! The signed admission token: proof that a buyer was let in, checked by any instance with the
//! shared key and no database.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why an admission token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionRefused {
    /// Malformed, or its signature does not match.
    #[error("the admission token is not one this box office signed")]
    Forged,
    /// Genuine, but its admission ran out.
    #[error("the admission token has expired")]
    Expired,
    /// Genuine, for another event.
    #[error("the admission token is for another event")]
    OtherEvent,
    /// Genuine, for another buyer.
    #[error("the admission token is for another buyer")]
    OtherUser,
}

/// Proof that a buyer was let in: any instance checks it with the shared key, no database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionToken {
    /// The event the buyer was let into.
    pub event_id: String,
    /// The buyer.
    pub user_id: String,
    /// When the admission runs out.
    pub expires_ms: i64,
    /// Derived from the rest: the same admission always has the same id.
    pub id: String,
}

type HmacSha256 = Hmac<Sha256>;

impl AdmissionToken {
    /// The token for this admission. Its id is derived from the rest, so asking again gives the
    /// same token.
    pub fn new(event_id: &str, user_id: &str, expires_ms: i64, key: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(format!("id|{event_id}|{user_id}|{expires_ms}").as_bytes());
        let id = hex(&mac.finalize().into_bytes()[..8]);
        AdmissionToken {
            event_id: event_id.to_owned(),
            user_id: user_id.to_owned(),
            expires_ms,
            id,
        }
    }

    fn payload(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.event_id, self.user_id, self.expires_ms, self.id
        )
    }

    /// The token as sent to the buyer: its fields and their signature.
    pub fn sign(&self, key: &[u8]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = self.payload();
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        format!(
            "{}.{}",
            b64.encode(payload.as_bytes()),
            b64.encode(mac.finalize().into_bytes())
        )
    }

    /// Checks `token` for `event_id` and `user_id` at `now_ms`.
    pub fn verify(
        token: &str,
        key: &[u8],
        event_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> Result<AdmissionToken, AdmissionRefused> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (payload, signature) = token.split_once('.').ok_or(AdmissionRefused::Forged)?;
        let payload = b64.decode(payload).map_err(|_| AdmissionRefused::Forged)?;
        let signature = b64
            .decode(signature)
            .map_err(|_| AdmissionRefused::Forged)?;
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(&payload);
        mac.verify_slice(&signature)
            .map_err(|_| AdmissionRefused::Forged)?;
        let payload = String::from_utf8(payload).map_err(|_| AdmissionRefused::Forged)?;
        let mut parts = payload.split('|');
        let (Some(event), Some(user), Some(expires), Some(id), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AdmissionRefused::Forged);
        };
        let expires_ms: i64 = expires.parse().map_err(|_| AdmissionRefused::Forged)?;
        if event != event_id {
            return Err(AdmissionRefused::OtherEvent);
        }
        if user != user_id {
            return Err(AdmissionRefused::OtherUser);
        }
        if expires_ms <= now_ms {
            return Err(AdmissionRefused::Expired);
        }
        Ok(AdmissionToken {
            event_id: event.to_owned(),
            user_id: user.to_owned(),
            expires_ms,
            id: id.to_owned(),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test key";

    #[test]
    fn a_token_verifies_for_its_event_and_buyer_until_it_expires() {
        let t = AdmissionToken::new("ev", "u1", 10_000, KEY).sign(KEY);
        assert!(AdmissionToken::verify(&t, KEY, "ev", "u1", 9_999).is_ok());
        assert_eq!(
            AdmissionToken::verify(&t, KEY, "ev", "u1", 10_000),
            Err(AdmissionRefused::Expired)
        );
        assert_eq!(
            AdmissionToken::verify(&t, KEY, "other", "u1", 0),
            Err(AdmissionRefused::OtherEvent)
        );
        assert_eq!(
            AdmissionToken::verify(&t, KEY, "ev", "u2", 0),
            Err(AdmissionRefused::OtherUser)
        );
    }

    #[test]
    fn a_token_signed_with_another_key_or_altered_is_forged() {
        let t = AdmissionToken::new("ev", "u1", 10_000, b"other").sign(b"other");
        assert_eq!(
            AdmissionToken::verify(&t, KEY, "ev", "u1", 0),
            Err(AdmissionRefused::Forged)
        );
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let good = AdmissionToken::new("ev", "u1", 10_000, KEY).sign(KEY);
        let (_, sig) = good.split_once('.').unwrap();
        let longer = format!("{}.{sig}", b64.encode("ev|u1|99999999|x"));
        assert_eq!(
            AdmissionToken::verify(&longer, KEY, "ev", "u1", 0),
            Err(AdmissionRefused::Forged)
        );
        assert_eq!(
            AdmissionToken::verify("garbage", KEY, "ev", "u1", 0),
            Err(AdmissionRefused::Forged)
        );
    }

    #[test]
    fn asking_again_gives_the_same_token() {
        let a = AdmissionToken::new("ev", "u1", 5, KEY).sign(KEY);
        let b = AdmissionToken::new("ev", "u1", 5, KEY).sign(KEY);
        assert_eq!(a, b);
    }
}
