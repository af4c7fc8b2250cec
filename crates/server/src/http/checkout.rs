//! Checkout over HTTP: the `Idempotency-Key` header and the body are read here, once; the
//! use case ([`boxoffice_app::checkout`]) charges at most once and says what to answer.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    extract::{ApiJson, ApiPath, CurrentUser},
    queue,
};
use boxoffice_app::{
    ErrorCode,
    checkout::{CheckoutCommand, Reply, checkout as pay_for_hold},
};
use boxoffice_domain::{
    idempotency::{IdempotencyKey, fingerprint},
    ids::HoldId,
};

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CheckoutRequest {
    pub payment: PaymentDetails,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PaymentDetails {
    /// `card`, or the provider's name (`sandbox`, `stripe`).
    pub method: String,
    /// The in-process sandbox only: with a provider whose buyers pay in the browser, sending a
    /// card number is refused.
    #[serde(default)]
    pub card_number: Option<String>,
}

/// Pay for a hold. Requires `Idempotency-Key`; the same key with the same request replays the
/// first response, and never charges twice.
#[utoipa::path(post, path = "/api/v1/holds/{hold_id}/checkout", tag = "holds", request_body = CheckoutRequest,
    params(("hold_id" = String, Path), ("Idempotency-Key" = String, Header, description = "Unique per payment attempt, at most 255 characters")),
    responses((status = 201, body = boxoffice_app::views::OrderResponse),
        (status = 202, body = boxoffice_app::views::PaymentResponse, description = "confirming: the provider has not decided yet; poll GET /api/v1/payments/{id}"),
        (status = 503, description = "payment_provider_unavailable: nothing was charged; retry with the same key"),
        (status = 400, description = "idempotency_key_required"),
        (status = 402, description = "payment_declined: the hold stays active"),
        (status = 403, description = "admission_required or invalid_admission: the event's waiting room comes first"),
        (status = 404), (status = 409, description = "hold_not_active or payment_in_progress"),
        (status = 422, description = "idempotency_key_reused, invalid_card_number or unsupported_payment_method")))]
pub(crate) async fn checkout(
    State(state): State<AppState>,
    ApiPath(hold_id): ApiPath<String>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let raw_key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{7f}"));
    let key = IdempotencyKey::parse(raw_key)?
        .ok_or_else(|| ApiError::of(ErrorCode::IdempotencyKeyRequired))?;
    let request: CheckoutRequest = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::of(ErrorCode::InvalidRequest).message(e.to_string()))?;
    let print = fingerprint("checkout", &hold_id, &body);
    let hold_id = HoldId::parse(&hold_id).ok_or_else(|| ApiError::not_found("Hold"))?;
    let command = CheckoutCommand {
        user_id: user.id(),
        hold_id: &hold_id,
        key,
        fingerprint: print,
        method: &request.payment.method,
        card_number: request.payment.card_number.as_deref(),
    };
    let admit = |event_id: &str| {
        queue::admit(&state, event_id, user.id().as_str(), &headers).map_err(ApiError::into_app)
    };
    let reply = pay_for_hold(&state.app, command, admit).await?;
    Ok(replay(reply))
}

/// A stored response, sent byte for byte as the first time.
fn replay(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(reply.body),
    )
        .into_response()
}
