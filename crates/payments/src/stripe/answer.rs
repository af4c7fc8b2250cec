//! Stripe's answers read as the trait's: a `PaymentIntent`'s or a refund's status, a 402 as a
//! decline, and which failures leave the effect unknown.

use reqwest::StatusCode;
use serde::Deserialize;

use crate::{Intent, IntentStatus, ProviderError, Refund, RefundStatus};

/// A raw answer: the status and the body, to be read by [`Answer::intent`] or [`Answer::object`].
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: axum::body::Bytes,
}

#[derive(Debug, Deserialize)]
pub(super) struct PaymentIntentObject {
    pub(super) id: String,
    pub(super) status: String,
    #[serde(default)]
    last_payment_error: Option<ErrorObject>,
    #[serde(default)]
    client_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RefundObject {
    id: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    failure_reason: Option<String>,
}

impl RefundObject {
    pub(super) fn refund(self) -> Refund {
        Refund {
            status: refund_status(self.status.as_deref(), self.failure_reason),
            id: self.id,
        }
    }
}

/// A refund's status as the trait sees it; an unknown or missing one is not a success.
fn refund_status(status: Option<&str>, failure_reason: Option<String>) -> RefundStatus {
    match status {
        Some("succeeded") => RefundStatus::Succeeded,
        Some("failed") => RefundStatus::Failed {
            reason: failure_reason.unwrap_or_else(|| "unknown".into()),
        },
        Some("canceled") => RefundStatus::Canceled,
        _ => RefundStatus::Pending,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorObject {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    pub(super) payment_intent: Option<Box<PaymentIntentObject>>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

const DEFAULT_DECLINE: &str = "Your card was declined.";

/// A `PaymentIntent`'s status as the trait sees it.
pub(super) fn intent_status(pi: &PaymentIntentObject) -> Result<IntentStatus, ProviderError> {
    let declined = |e: Option<&ErrorObject>| IntentStatus::Declined {
        reason: e
            .and_then(|e| e.message.clone())
            .unwrap_or_else(|| DEFAULT_DECLINE.to_owned()),
    };
    Ok(match pi.status.as_str() {
        "succeeded" => IntentStatus::Succeeded,
        "processing" | "requires_capture" => IntentStatus::Processing,
        "canceled" => IntentStatus::Canceled,
        "requires_payment_method" if pi.last_payment_error.is_some() => {
            declined(pi.last_payment_error.as_ref())
        }
        "requires_payment_method" | "requires_confirmation" | "requires_action" => {
            IntentStatus::RequiresConfirmation
        }
        other => {
            return Err(ProviderError::Unavailable(format!(
                "payment intent {} has a status we do not know: {other}",
                pi.id
            )));
        }
    })
}

impl Answer {
    pub(super) fn error(&self) -> ErrorObject {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .map(|b| b.error)
            .unwrap_or_default()
    }

    fn summary(&self) -> String {
        let e = self.error();
        let mut s = format!("HTTP {}", self.status.as_u16());
        for part in [e.kind, e.code, e.decline_code, e.message]
            .into_iter()
            .flatten()
        {
            s.push_str(": ");
            s.push_str(&part);
        }
        s
    }

    /// Failures every endpoint shares: unknown effect or a refused request.
    pub(super) fn failure(&self) -> ProviderError {
        let s = self.status;
        if s.is_server_error()
            || s == StatusCode::TOO_MANY_REQUESTS
            || s == StatusCode::CONFLICT
            || s == StatusCode::REQUEST_TIMEOUT
        {
            ProviderError::Unavailable(self.summary())
        } else {
            ProviderError::Rejected(self.summary())
        }
    }

    pub(super) fn object<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProviderError> {
        if !self.status.is_success() {
            return Err(self.failure());
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ProviderError::Unavailable(format!("an answer we cannot read ({e})")))
    }

    /// A `PaymentIntent` answer, with a 402 card error read as a decline.
    pub(super) fn intent(&self) -> Result<Intent, ProviderError> {
        if self.status == StatusCode::PAYMENT_REQUIRED {
            let e = self.error();
            let reason = e.message.clone().unwrap_or_else(|| DEFAULT_DECLINE.into());
            let id = e.payment_intent.map(|pi| pi.id).unwrap_or_default();
            return Ok(Intent {
                id,
                status: IntentStatus::Declined { reason },
                client_secret: None,
            });
        }
        let pi: PaymentIntentObject = self.object()?;
        Ok(Intent {
            status: intent_status(&pi)?,
            id: pi.id,
            client_secret: pi.client_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.to_owned().into(),
        }
    }

    fn pi(status: &str, error: Option<&str>) -> PaymentIntentObject {
        PaymentIntentObject {
            id: "pi_1".into(),
            status: status.into(),
            last_payment_error: error.map(|m| ErrorObject {
                message: Some(m.into()),
                ..ErrorObject::default()
            }),
            client_secret: None,
        }
    }

    #[test]
    fn statuses_map_onto_the_trait() {
        let s = |status, error| intent_status(&pi(status, error)).unwrap();
        assert_eq!(s("succeeded", None), IntentStatus::Succeeded);
        assert_eq!(s("processing", None), IntentStatus::Processing);
        assert_eq!(s("canceled", None), IntentStatus::Canceled);
        assert_eq!(
            s("requires_payment_method", None),
            IntentStatus::RequiresConfirmation
        );
        assert_eq!(
            s("requires_confirmation", None),
            IntentStatus::RequiresConfirmation
        );
        assert_eq!(
            s(
                "requires_payment_method",
                Some("Your card has insufficient funds.")
            ),
            IntentStatus::Declined {
                reason: "Your card has insufficient funds.".into()
            }
        );
        assert_eq!(
            s("requires_action", None),
            IntentStatus::RequiresConfirmation
        );
        assert!(matches!(
            intent_status(&pi("something_new", None)),
            Err(ProviderError::Unavailable(_))
        ));
    }

    #[test]
    fn answers_map_to_intents_declines_and_errors() {
        let ok = answer(
            200,
            r#"{"id":"pi_9","object":"payment_intent","status":"succeeded","amount":5}"#,
        );
        assert_eq!(
            ok.intent().unwrap(),
            Intent {
                id: "pi_9".into(),
                status: IntentStatus::Succeeded,
                client_secret: None,
            }
        );
        let declined = answer(
            402,
            r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline",
                "message":"Your card was declined.","payment_intent":{"id":"pi_9","status":"requires_payment_method"}}}"#,
        );
        assert_eq!(
            declined.intent().unwrap().status,
            IntentStatus::Declined {
                reason: "Your card was declined.".into()
            }
        );
        let cases = [
            (500, true),
            (502, true),
            (503, true),
            (429, true),
            (409, true),
            (400, false),
            (401, false),
            (404, false),
        ];
        for (status, unavailable) in cases {
            let a = answer(
                status,
                r#"{"error":{"type":"invalid_request_error","code":"x","message":"m"}}"#,
            );
            let e = a.intent().unwrap_err();
            assert_eq!(
                matches!(e, ProviderError::Unavailable(_)),
                unavailable,
                "{status}: {e}"
            );
        }
        let garbled = answer(200, "<html>");
        assert!(matches!(
            garbled.intent(),
            Err(ProviderError::Unavailable(_))
        ));
        let summary = answer(
            400,
            r#"{"error":{"type":"idempotency_error","message":"Keys…"}}"#,
        )
        .summary();
        assert_eq!(summary, "HTTP 400: idempotency_error: Keys…");
    }
    #[test]
    fn refund_statuses_count_only_a_success_as_money_returned() {
        assert_eq!(
            refund_status(Some("succeeded"), None),
            RefundStatus::Succeeded
        );
        assert_eq!(refund_status(Some("pending"), None), RefundStatus::Pending);
        assert_eq!(
            refund_status(Some("requires_action"), None),
            RefundStatus::Pending
        );
        assert_eq!(refund_status(None, None), RefundStatus::Pending);
        assert_eq!(
            refund_status(Some("failed"), Some("expired_or_canceled_card".into())),
            RefundStatus::Failed {
                reason: "expired_or_canceled_card".into()
            }
        );
    }
}
