//! The Stripe-shaped error every refusal is answered with, and the responses kept per
//! idempotency key for replays.

use axum::http::StatusCode;
use serde_json::{Value, json};

pub(super) fn incorrect_number(param: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        "card_error",
        Some("incorrect_number"),
        "Your card number is incorrect.".into(),
    );
    e.body["error"]["param"] = json!(param);
    e
}

/// A Stripe-shaped API error: the status and `{"error": {type, code, message, …}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &str, code: Option<&str>, message: String) -> Self {
        let mut error = json!({ "type": kind });
        error["message"] = Value::String(message);
        if let Some(code) = code {
            error["code"] = json!(code);
        }
        ApiError {
            status,
            body: json!({ "error": error }),
        }
    }

    pub(crate) fn invalid(code: &str, message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some(code),
            message,
        )
    }

    pub(crate) fn param(code: &str, param: &str, message: String) -> Self {
        let mut e = Self::invalid(code, message);
        e.body["error"]["param"] = json!(param);
        e
    }

    pub(super) fn missing(kind: &str, id: &str) -> Self {
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("resource_missing"),
            format!("No such {kind}: '{id}'"),
        );
        e.body["error"]["param"] = json!("id");
        e
    }

    pub(super) fn with_intent(mut self, intent: Value) -> Self {
        self.body["error"]["payment_intent"] = intent;
        self
    }
}

/// A response as sent, kept for idempotent replays.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub status: StatusCode,
    pub body: String,
}

pub(crate) enum Replay {
    /// First use of the key (or forgotten): execute.
    Fresh,
    /// The same request again: send the stored response.
    Same(Stored),
    /// The key was first used with other parameters.
    Mismatch,
}
