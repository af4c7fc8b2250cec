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
    /// A JSON body the server could not take for another reason than those below.
    BadRequest => 400, "bad_request", "The request could not be read.";
    /// The body is not valid JSON.
    MalformedJson => 400, "malformed_json", "The request body is not valid JSON.";
    /// The body of an endpoint whose body is optional could not be read.
    InvalidBody => 400, "invalid_body", "The request body could not be read.";
    /// The query string does not have the expected parameters.
    InvalidQuery => 400, "invalid_query", "The query string could not be read.";
    /// A checkout came without an `Idempotency-Key` header.
    IdempotencyKeyRequired => 400, "idempotency_key_required", "Send an Idempotency-Key header with each payment attempt.";
    /// The seat WebSocket endpoint was asked without a WebSocket upgrade.
    WebsocketUpgradeRequired => 400, "websocket_upgrade_required", "Open this endpoint as a WebSocket.";
    /// A payment webhook whose signature is missing or does not match.
    InvalidSignature => 400, "invalid_signature", "The webhook's signature does not match.";
    /// A payment webhook whose signed timestamp is too old (a replay).
    StaleWebhook => 400, "stale_webhook", "The webhook's timestamp is too old.";
    /// A payment webhook whose body could not be read.
    MalformedWebhook => 400, "malformed_webhook", "The webhook's body could not be read.";
    /// Nobody is signed in (no valid session cookie or bearer token), or `/metrics` was asked without the scraper's token.
    Unauthorized => 401, "unauthorized", "Sign in to continue.";
    /// A login with an unknown e-mail or a wrong password.
    InvalidCredentials => 401, "invalid_credentials", "The e-mail or password is not right.";
    /// The card was declined; `details.hold_expires_at` says how long the seats stay held for another try.
    PaymentDeclined => 402, "payment_declined", "Your card was declined.";
    /// The provider cancelled the payment; nothing was charged and the hold stays (`details.hold_expires_at`).
    PaymentFailed => 402, "payment_failed", "The payment was cancelled by the provider and nothing was charged. You can try again.";
    /// The caller's role may not do this, or `/metrics` was asked from an address it is not served to.
    Forbidden => 403, "forbidden", "You are not allowed to do that.";
    /// A hold or checkout without an admission token while the event's waiting room is on (`details.queue_url`).
    AdmissionRequired => 403, "admission_required", "This sale has a waiting room: wait your turn in line first.";
    /// An admission token that is forged, expired, or another event's or another buyer's.
    InvalidAdmission => 403, "invalid_admission", "This admission is not valid here; join the line again.";
    /// A request that changes state and comes from another site (by its `Origin` or
    /// `Sec-Fetch-Site`).
    CrossOriginRequest => 403, "cross_origin_request", "Requests that change state must come from this site.";
    /// A resource that does not exist, or belongs to another user.
    NotFound => 404, "not_found", "Not found.";
    /// A check-in code that is forged, refunded or unknown.
    InvalidTicket => 404, "invalid_ticket", "This code is not a valid ticket.";
    /// Reading one's place in an event's line without having joined it.
    NotInQueue => 404, "not_in_queue", "You are not in this event's line; join it first.";
    /// An endpoint asked with a method it does not accept.
    MethodNotAllowed => 405, "method_not_allowed", "This endpoint does not accept that method.";
    /// The write collides with a row that already exists (`details.constraint`).
    Conflict => 409, "conflict", "That conflicts with the current state; reload and try again.";
    /// Some of the seats asked for are held or sold (`details.seat_ids`); no seat was held.
    SeatUnavailable => 409, "seat_unavailable", "Some of these seats were just taken by someone else.";
    /// No block of that many adjacent free seats in one row (of the category asked for) is left, or
    /// other buyers kept taking the best ones first (`details.count`, `details.category_id`).
    NoSeatsTogether => 409, "no_seats_together", "There are not that many free seats together; try fewer seats or another category.";
    /// The account asks again for seats it just released or let expire; `Retry-After` says when it may.
    SeatCoolingDown => 409, "seat_cooling_down", "You just let these seats go; you may hold them again shortly.";
    /// A hold before the event's sale opens.
    SaleNotOpen => 409, "sale_not_open", "The sale has not opened yet.";
    /// A hold once the event has started.
    EventEnded => 409, "event_ended", "This event has already taken place.";
    /// A checkout or settlement for a hold that expired, was released or was already paid for; also a late payment refunded because its seats were gone.
    HoldNotActive => 409, "hold_not_active", "This hold is no longer active; its seats were released or already paid for.";
    /// A checkout for a hold that another payment attempt is already paying for.
    PaymentInProgress => 409, "payment_in_progress", "Another payment for this hold is being processed.";
    /// A checkout retried with an `Idempotency-Key` whose first request has not finished.
    RequestInProgress => 409, "request_in_progress", "This payment is still being processed.";
    /// Registering an e-mail that already has an account.
    EmailTaken => 409, "email_taken", "An account with this e-mail already exists.";
    /// A ticket scanned at check-in a second time.
    AlreadyCheckedIn => 409, "already_checked_in", "This ticket was already scanned.";
    /// A refund naming tickets that were already refunded (`details.ticket_ids`).
    TicketAlreadyRefunded => 409, "ticket_already_refunded", "Some of these tickets were already refunded.";
    /// A refund of an order whose every ticket was already refunded.
    OrderAlreadyRefunded => 409, "order_already_refunded", "Every ticket of this order was already refunded.";
    /// The provider accepted a refund but has not finished it; nothing is recorded yet (`details.refund_id`).
    RefundPending => 409, "refund_pending", "The payment provider accepted the refund but has not finished it.";
    /// An edit of an event that would reprice held or sold seats, or move them to another category (`details.seat_ids`); nothing changed.
    SeatsTaken => 409, "seats_taken", "Some seats this edit would reprice are held or sold; their price and category stay as they are.";
    /// The body is over the size limit.
    PayloadTooLarge => 413, "payload_too_large", "The request body is too large.";
    /// A body sent without `Content-Type: application/json`.
    UnsupportedMediaType => 415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.";
    /// The JSON body lacks a field or has one of the wrong type.
    InvalidRequest => 422, "invalid_request", "The request does not have the expected fields.";
    /// A hold naming seats this event does not have (`details.seat_ids`).
    UnknownSeats => 422, "unknown_seats", "Some seats do not exist in this event.";
    /// A best-available hold asking for a category the event does not have.
    UnknownCategory => 422, "unknown_category", "This event has no such category.";
    /// An event created with a `venue_id` no venue has.
    UnknownVenue => 422, "unknown_venue", "There is no venue with this venue_id.";
    /// A seat map asked with a `format` other than `full` or `compact`.
    UnknownFormat => 422, "unknown_format", "format must be full or compact.";
    /// An event asked with a `layout` other than `inline` or `url`.
    UnknownLayoutOption => 422, "unknown_layout_option", "layout must be inline or url.";
    /// A checkout whose `payment.method` is neither `card` nor the provider's name.
    UnsupportedPaymentMethod => 422, "unsupported_payment_method", "This payment method is not accepted.";
    /// A checkout that sends a `card_number` to a provider whose buyers pay in the browser.
    CardDataNotAccepted => 422, "card_data_not_accepted", "Card details go to the payment provider from your browser, never to this server: send no card_number.";
    /// A checkout whose total the payment provider cannot charge.
    AmountNotPayable => 422, "amount_not_payable", "This amount cannot be paid by card.";
    /// An `Idempotency-Key` sent again with a different request.
    IdempotencyKeyReused => 422, "idempotency_key_reused", "This Idempotency-Key was already used for a different request.";
    /// An account given a role other than buyer, staff or admin.
    InvalidRole => 422, "invalid_role", "The role must be buyer, staff or admin.";
    /// A refund with an empty `ticket_ids`.
    InvalidTicketIds => 422, "invalid_ticket_ids", "Name at least one ticket, or leave ticket_ids out to refund the whole order.";
    /// A refund naming tickets that are not this order's (`details.ticket_ids`).
    TicketNotInOrder => 422, "ticket_not_in_order", "Some of these tickets are not part of this order.";
    /// Too many requests from this address, or sign-ins or holds from this account; `Retry-After`
    /// says when to try again.
    RateLimited => 429, "rate_limited", "Too many requests; try again shortly.";
    /// A failure nobody could have asked for; its cause is logged, never sent.
    Internal => 500, "internal_error", "Something went wrong on our side.";
    /// The provider failed or cancelled a refund; nothing was changed (`details.refund_id`, `details.reason`).
    RefundFailed => 502, "refund_failed", "The payment provider could not refund this order. Nothing was changed.";
    /// The server is overloaded, has too many seat streams open, is not ready or is shutting down,
    /// or the database, the shared waiting line or the provider did not answer; `Retry-After` says
    /// when to try again.
    Unavailable => 503, "unavailable", "Busy moment: please try again.";
    /// The payment provider did not answer a charge or a refund; nothing was charged or changed, and `Retry-After` says when to try again.
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

    /// The text values listed under `key` in the refusal's details (the seats it names, say).
    pub fn detail_strings(&self, key: &str) -> Vec<String> {
        self.details
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
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
