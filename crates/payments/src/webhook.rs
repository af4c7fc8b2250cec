//! Webhook signatures and events in the widely used `t=…,v1=…` scheme: an HMAC-SHA256 over
//! `"{timestamp}.{raw body}"`, so that a tampered body or a replayed old delivery is refused.
//! The sandbox and the Stripe provider share it (the sandbox speaks the same wire format).

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::{IntentStatus, WebhookError, WebhookEvent};
use boxoffice_domain::{idempotency::hex, time::Timestamp};

type HmacSha256 = Hmac<Sha256>;

/// The header that carries a webhook's signature.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// How far a webhook's timestamp may be from our clock.
pub(crate) const TOLERANCE_SECS: i64 = 300;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header value for `body` sent at `timestamp` (seconds since the epoch).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex(&digest))
}

/// Checks a signature header: one of its `v1` signatures must match, in constant time, and its
/// timestamp must be within [`TOLERANCE_SECS`] of `now`.
pub(crate) fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::BadSignature)?;
    let genuine = signatures.iter().any(|s| {
        decode_hex(s).is_some_and(|bytes| mac(secret, timestamp, body).verify_slice(&bytes).is_ok())
    });
    if !genuine {
        return Err(WebhookError::BadSignature);
    }
    if (now.millis() / 1000 - timestamp).abs() > TOLERANCE_SECS {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Deserialize)]
struct EventBody {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: IntentObject,
}

#[derive(Deserialize)]
struct IntentObject {
    id: String,
    /// On a charge or a refund: the intent it belongs to.
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    last_payment_error: Option<PaymentError>,
}

#[derive(Deserialize)]
struct PaymentError {
    #[serde(default)]
    message: Option<String>,
}

/// Reads a `payment_intent.*` event. Kinds that change nothing for us are [`WebhookError::Ignored`].
pub(crate) fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let event: EventBody =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let status = match event.kind.as_str() {
        "payment_intent.succeeded" => IntentStatus::Succeeded,
        "payment_intent.payment_failed" => IntentStatus::Declined {
            reason: event
                .data
                .object
                .last_payment_error
                .and_then(|e| e.message)
                .unwrap_or_else(|| "Your card was declined.".to_owned()),
        },
        "payment_intent.processing" => IntentStatus::Processing,
        "payment_intent.canceled" => IntentStatus::Canceled,
        // A refund moved on: settle the intent's payment again, which finishes a late refund
        // waiting for it (the ledger records a refund once the provider says it succeeded).
        "charge.refunded"
        | "charge.refund.updated"
        | "refund.created"
        | "refund.updated"
        | "refund.failed" => {
            let intent_id = event.data.object.payment_intent.ok_or_else(|| {
                WebhookError::Malformed(format!("{} without a payment_intent", event.kind))
            })?;
            return Ok(WebhookEvent {
                id: event.id,
                intent_id,
                // Not final: the handler asks the provider for the intent's status.
                status: IntentStatus::Processing,
            });
        }
        _ => return Err(WebhookError::Ignored),
    };
    Ok(WebhookEvent {
        id: event.id,
        intent_id: event.data.object.id,
        status,
    })
}

/// The body of a `payment_intent.*` event, as providers send it (used by the sandbox).
pub fn event_body(event_id: &str, intent_id: &str, status: &IntentStatus) -> String {
    let (kind, error) = match status {
        IntentStatus::Succeeded => ("payment_intent.succeeded", None),
        IntentStatus::Declined { reason } => {
            ("payment_intent.payment_failed", Some(reason.as_str()))
        }
        IntentStatus::Processing => ("payment_intent.processing", None),
        IntentStatus::Canceled => ("payment_intent.canceled", None),
        IntentStatus::RequiresConfirmation => ("payment_intent.created", None),
    };
    serde_json::json!({
        "id": event_id,
        "object": "event",
        "type": kind,
        "data": { "object": {
            "id": intent_id,
            "object": "payment_intent",
            "last_payment_error": error.map(|m| serde_json::json!({ "message": m })),
        }},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    fn at(secs: i64) -> Timestamp {
        Timestamp(secs * 1000)
    }

    #[test]
    fn refund_events_name_the_intent_they_belong_to() {
        for kind in ["charge.refunded", "refund.updated", "refund.failed"] {
            let body = serde_json::json!({
                "id": "evt_r", "object": "event", "type": kind,
                "data": {"object": {"id": "re_1", "object": "refund", "payment_intent": "pi_7", "status": "succeeded"}},
            })
            .to_string();
            let event = parse_event(body.as_bytes()).unwrap();
            assert_eq!(event.intent_id, "pi_7", "{kind}");
            assert!(!event.status.is_final(), "{kind}");
        }
        let orphan = r#"{"id":"e","type":"refund.updated","data":{"object":{"id":"re_1"}}}"#;
        assert!(matches!(
            parse_event(orphan.as_bytes()),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn a_signed_body_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, 1_700_000_000, body);
        assert_eq!(verify(SECRET, &header, body, at(1_700_000_010)), Ok(()));
    }

    #[test]
    fn a_tampered_body_or_another_secret_is_refused() {
        let header = sign(SECRET, 1_700_000_000, b"original");
        assert_eq!(
            verify(SECRET, &header, b"tampered", at(1_700_000_000)),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(b"other", &header, b"original", at(1_700_000_000)),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn an_old_or_future_delivery_is_stale_even_with_a_good_signature() {
        let header = sign(SECRET, 1_700_000_000, b"x");
        assert_eq!(
            verify(SECRET, &header, b"x", at(1_700_000_301)),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify(SECRET, &header, b"x", at(1_699_999_699)),
            Err(WebhookError::Stale)
        );
    }

    #[test]
    fn a_header_without_timestamp_or_signature_is_refused() {
        for header in ["", "v1=abcd", "t=1700000000", "t=x,v1=zz"] {
            assert_eq!(
                verify(SECRET, header, b"x", at(1_700_000_000)),
                Err(WebhookError::BadSignature),
                "{header}"
            );
        }
    }

    #[test]
    fn any_of_several_signatures_may_match_during_a_secret_rotation() {
        let good = sign(SECRET, 1_700_000_000, b"x");
        let header = format!("t=1700000000,v1=00ff,{}", good.split(',').nth(1).unwrap());
        assert_eq!(verify(SECRET, &header, b"x", at(1_700_000_000)), Ok(()));
    }

    #[test]
    fn events_round_trip_through_their_wire_format() {
        for status in [
            IntentStatus::Succeeded,
            IntentStatus::Declined {
                reason: "Insufficient funds.".into(),
            },
            IntentStatus::Processing,
            IntentStatus::Canceled,
        ] {
            let body = event_body("evt_1", "pi_1", &status);
            let event = parse_event(body.as_bytes()).unwrap();
            assert_eq!(
                event,
                WebhookEvent {
                    id: "evt_1".into(),
                    intent_id: "pi_1".into(),
                    status
                }
            );
        }
    }

    #[test]
    fn other_event_kinds_are_ignored_and_garbage_is_malformed() {
        let body =
            br#"{"id":"evt_1","type":"charge.dispute.created","data":{"object":{"id":"dp_1"}}}"#;
        assert_eq!(parse_event(body), Err(WebhookError::Ignored));
        assert!(matches!(
            parse_event(b"nope"),
            Err(WebhookError::Malformed(_))
        ));
    }
}
