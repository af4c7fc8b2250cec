//! The application layer's one error type, and the one table of refusal codes: each code with the
//! HTTP status the API answers it with and the message a buyer sees unless the refusal says more.

use std::borrow::Cow;

use serde_json::{Value, json};

use boxoffice_domain::InvalidInput;
use boxoffice_store::StoreError;

/// What every use case returns.
pub type AppResult<T> = Result<T, AppError>;

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $status:literal, $code:literal, $message:literal;)*) => {
        /// A refusal's machine-readable code, as the API's error body names it (`error.code`).
        /// Input that fails a domain rule carries the domain's own code instead (see
        /// [`InvalidInput`]); it is always a 422.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, for the tests that keep this table and the API's promises in step.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as the error body spells it.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status the API answers this refusal with.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// The message sent when the refusal gives none of its own.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message,)* }
            }
        }
    };
}

error_codes! {
    BadRequest => 400, "bad_request", "The request could not be read.";
    MalformedJson => 400, "malformed_json", "The request body is not valid JSON.";
    InvalidBody => 400, "invalid_body", "The request body could not be read.";
    InvalidQuery => 400, "invalid_query", "The query string could not be read.";
    IdempotencyKeyRequired => 400, "idempotency_key_required", "Send an Idempotency-Key header with each payment attempt.";
    WebsocketUpgradeRequired => 400, "websocket_upgrade_required", "Open this endpoint as a WebSocket.";
    InvalidSignature => 400, "invalid_signature", "The webhook's signature does not match.";
    StaleWebhook => 400, "stale_webhook", "The webhook's timestamp is too old.";
    MalformedWebhook => 400, "malformed_webhook", "The webhook's body could not be read.";
    Unauthorized => 401, "unauthorized", "Sign in to continue.";
    InvalidCredentials => 401, "invalid_credentials", "The e-mail or password is not right.";
    PaymentDeclined => 402, "payment_declined", "Your card was declined.";
    PaymentFailed => 402, "payment_failed", "The payment was cancelled by the provider and nothing was charged. You can try again.";
    Forbidden => 403, "forbidden", "You are not allowed to do that.";
    AdmissionRequired => 403, "admission_required", "This sale has a waiting room: wait your turn in line first.";
    InvalidAdmission => 403, "invalid_admission", "This admission is not valid here; join the line again.";
    CrossOriginRequest => 403, "cross_origin_request", "Requests that change state must come from this site.";
    NotFound => 404, "not_found", "Not found.";
    InvalidTicket => 404, "invalid_ticket", "This code is not a valid ticket.";
    NotInQueue => 404, "not_in_queue", "You are not in this event's line; join it first.";
    MethodNotAllowed => 405, "method_not_allowed", "This endpoint does not accept that method.";
    Conflict => 409, "conflict", "That conflicts with the current state; reload and try again.";
    SeatUnavailable => 409, "seat_unavailable", "Some of these seats were just taken by someone else.";
    SeatCoolingDown => 409, "seat_cooling_down", "You just let these seats go; you may hold them again shortly.";
    SaleNotOpen => 409, "sale_not_open", "The sale has not opened yet.";
    EventEnded => 409, "event_ended", "This event has already taken place.";
    HoldNotActive => 409, "hold_not_active", "This hold is no longer active; its seats were released or already paid for.";
    PaymentInProgress => 409, "payment_in_progress", "Another payment for this hold is being processed.";
    RequestInProgress => 409, "request_in_progress", "This payment is still being processed.";
    EmailTaken => 409, "email_taken", "An account with this e-mail already exists.";
    AlreadyCheckedIn => 409, "already_checked_in", "This ticket was already scanned.";
    TicketAlreadyRefunded => 409, "ticket_already_refunded", "Some of these tickets were already refunded.";
    OrderAlreadyRefunded => 409, "order_already_refunded", "Every ticket of this order was already refunded.";
    RefundPending => 409, "refund_pending", "The payment provider accepted the refund but has not finished it.";
    PayloadTooLarge => 413, "payload_too_large", "The request body is too large.";
    UnsupportedMediaType => 415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.";
    InvalidRequest => 422, "invalid_request", "The request does not have the expected fields.";
    UnknownSeats => 422, "unknown_seats", "Some seats do not exist in this event.";
    UnknownVenue => 422, "unknown_venue", "There is no venue with this venue_id.";
    UnknownFormat => 422, "unknown_format", "format must be full or compact.";
    UnknownLayoutOption => 422, "unknown_layout_option", "layout must be inline or url.";
    UnsupportedPaymentMethod => 422, "unsupported_payment_method", "This payment method is not accepted.";
    CardDataNotAccepted => 422, "card_data_not_accepted", "Card details go to the payment provider from your browser, never to this server: send no card_number.";
    AmountNotPayable => 422, "amount_not_payable", "This amount cannot be paid by card.";
    IdempotencyKeyReused => 422, "idempotency_key_reused", "This Idempotency-Key was already used for a different request.";
    InvalidRole => 422, "invalid_role", "The role must be buyer, staff or admin.";
    InvalidTicketIds => 422, "invalid_ticket_ids", "Name at least one ticket, or leave ticket_ids out to refund the whole order.";
    TicketNotInOrder => 422, "ticket_not_in_order", "Some of these tickets are not part of this order.";
    RateLimited => 429, "rate_limited", "Too many requests; try again shortly.";
    Internal => 500, "internal_error", "Something went wrong on our side.";
    RefundFailed => 502, "refund_failed", "The payment provider could not refund this order. Nothing was changed.";
    Unavailable => 503, "unavailable", "Busy moment: please try again.";
    PaymentProviderUnavailable => 503, "payment_provider_unavailable", "The payment provider is not answering. Nothing was charged; please try again.";
}

/// Why a use case did not do what it was asked: a refusal with its code, or an unexpected
/// failure whose cause is logged and never shown.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    code: &'static str,
    status: u16,
    message: Cow<'static, str>,
    details: Option<Value>,
    retry_after: Option<u64>,
    #[source]
    source: Option<anyhow::Error>,
}

impl AppError {
    /// A refusal with the code's usual message.
    pub fn refused(code: ErrorCode) -> Self {
        AppError {
            code: code.as_str(),
            status: code.status(),
            message: Cow::Borrowed(code.message()),
            details: None,
            retry_after: None,
            source: None,
        }
    }

    /// A resource that does not exist, or that the caller may not know exists.
    pub fn not_found(what: &str) -> Self {
        Self::refused(ErrorCode::NotFound).message(format!("{what} not found."))
    }

    /// A failure nobody could have asked for: logged with its cause chain, answered as a bare 500.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::refused(ErrorCode::Internal);
        e.source = Some(source.into());
        e
    }

    /// Says more than the code's usual message.
    pub fn message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// What the client needs to act on the refusal (`error.details`).
    pub fn details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// When the client may try again, in seconds (`Retry-After`).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The code as the error body spells it.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether this is the refusal `code`.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == code.as_str()
    }

    /// Seconds the client should wait before trying again, when the refusal says.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
    }

    /// The unexpected cause, for the log; never sent.
    pub fn cause(&self) -> Option<&anyhow::Error> {
        self.source.as_ref()
    }

    /// The API's one error body: `{"error": {"code", "message", "details"?}}`.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(d) = &self.details {
            error["details"] = d.clone();
        }
        json!({ "error": error })
    }
}

impl From<ErrorCode> for AppError {
    fn from(code: ErrorCode) -> Self {
        AppError::refused(code)
    }
}

impl From<InvalidInput> for AppError {
    fn from(e: InvalidInput) -> Self {
        AppError {
            code: e.code,
            status: 422,
            message: Cow::Owned(e.message),
            details: e.details,
            retry_after: None,
            source: None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(c) => {
                AppError::refused(ErrorCode::Conflict).details(json!({ "constraint": c }))
            }
            StoreError::Retryable(reason) => {
                tracing::info!(%reason, "transaction aborted by the database; client told to retry");
                AppError::refused(ErrorCode::Unavailable).retry_after(1)
            }
            other => AppError::internal(other),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_is_spelled_once_and_in_snake_case() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} appears twice");
            assert!(
                s.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{s} is not snake_case"
            );
        }
    }

    #[test]
    fn every_code_answers_with_an_error_status_and_a_sentence() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code:?}");
            assert!(code.message().ends_with('.'), "{code:?}");
        }
    }

    #[test]
    fn a_refusal_has_the_documented_shape() {
        let e = AppError::refused(ErrorCode::SeatUnavailable)
            .message("Taken.")
            .details(json!({"seat_ids": ["A-1"]}));
        assert_eq!(e.status(), 409);
        assert_eq!(
            e.body(),
            json!({"error": {"code": "seat_unavailable", "message": "Taken.", "details": {"seat_ids": ["A-1"]}}})
        );
    }

    #[test]
    fn an_invalid_input_keeps_its_domain_code_and_is_a_422() {
        let e = AppError::from(InvalidInput::new("no_seats", "Pick at least one seat."));
        assert_eq!((e.code(), e.status()), ("no_seats", 422));
    }

    #[test]
    fn unexpected_errors_reveal_nothing_of_their_cause() {
        let e = AppError::internal(anyhow::anyhow!("password=hunter2 in connection string"));
        assert_eq!(e.status(), 500);
        assert!(!e.body().to_string().contains("hunter2"));
        assert!(e.cause().is_some());
    }

    #[test]
    fn a_database_conflict_is_a_409_and_a_retryable_abort_a_503_with_retry_after() {
        let e = AppError::from(StoreError::Conflict("uniq".into()));
        assert_eq!((e.code(), e.status()), ("conflict", 409));
        let e = AppError::from(StoreError::Retryable("deadlock".into()));
        assert_eq!((e.status(), e.retry_after_secs()), (503, Some(1)));
    }
}
