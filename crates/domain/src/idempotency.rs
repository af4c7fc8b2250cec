//! Idempotency keys and request fingerprints (Stripe's semantics: same key and same request give
//! the same response; same key and another request is an error).

use sha2::{Digest, Sha256};

use super::InvalidInput;

/// A client's `Idempotency-Key`: trimmed, at most 255 bytes, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub(crate) const MAX_LEN: usize = 255;

    /// `None` when the header is missing or blank (a 400 for the caller), an error when malformed.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, InvalidInput> {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidInput::new(
                "invalid_idempotency_key",
                format!(
                    "Idempotency-Key is limited to {} characters.",
                    Self::MAX_LEN
                ),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "invalid_idempotency_key",
                "Idempotency-Key has control characters.",
            ));
        }
        Ok(Some(IdempotencyKey(raw.to_owned())))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of what makes two requests "the same": the operation, its target and its parsed body
/// (re-serialised, so that whitespace or key order do not matter).
pub fn fingerprint(operation: &str, target: &str, body: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(operation.as_bytes());
    h.update([0]);
    h.update(target.as_bytes());
    h.update([0]);
    h.update(canonical(body).as_bytes());
    hex(&h.finalize())
}

fn canonical(v: &serde_json::Value) -> String {
    // serde_json's map is ordered by key (no preserve_order feature), so this is canonical.
    serde_json::to_string(v).unwrap_or_default()
}

/// Lower-case hex of `bytes`, as digests are stored and compared.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_or_blank_key_is_absent() {
        assert_eq!(IdempotencyKey::parse(None).unwrap(), None);
        assert_eq!(IdempotencyKey::parse(Some("  ")).unwrap(), None);
    }

    #[test]
    fn a_key_longer_than_255_characters_is_refused() {
        assert!(
            IdempotencyKey::parse(Some(&"k".repeat(255)))
                .unwrap()
                .is_some()
        );
        assert!(IdempotencyKey::parse(Some(&"k".repeat(256))).is_err());
    }

    #[test]
    fn the_same_body_in_another_key_order_has_the_same_fingerprint() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":{"c":2,"d":3}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "b": {"d":3, "c":2}, "a": 1 }"#).unwrap();
        assert_eq!(
            fingerprint("checkout", "h1", &a),
            fingerprint("checkout", "h1", &b)
        );
    }

    #[test]
    fn another_body_or_target_changes_the_fingerprint() {
        let a = json!({"payment": {"card_number": "4242424242424242"}});
        let b = json!({"payment": {"card_number": "4000000000000002"}});
        assert_ne!(
            fingerprint("checkout", "h1", &a),
            fingerprint("checkout", "h1", &b)
        );
        assert_ne!(
            fingerprint("checkout", "h1", &a),
            fingerprint("checkout", "h2", &a)
        );
    }
}
