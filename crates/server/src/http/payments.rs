//! Payments after checkout: the buyer asks what became of a payment that was still confirming,
//! and the provider's webhooks tell us. Webhooks may come twice, late, out of order or before
//! the buyer's own request has finished: each one only triggers a settlement, and the payment's
//! status is taken from the provider itself, so order and repetition do not matter.

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use boxoffice_app::error::ErrorCode;

use super::{
    ApiError, ApiResult, AppState,
    extract::{ApiPath, CurrentUser},
};
use boxoffice_app::{
    settlement,
    views::{self, PaymentResponse},
};
use boxoffice_domain::{ids::PaymentId, time::Timestamp};
use boxoffice_payments::{IntentStatus, WebhookError};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/payments/provider", get(get_provider))
        .route("/payments/{payment_id}", get(get_payment))
}

/// What the buyer's page needs to collect card details: with a provider whose buyers pay in
/// the browser, its publishable key and where its script (Stripe.js) is.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProviderView {
    pub name: String,
    /// `None` when payments are taken over the API only (the in-process sandbox's card numbers).
    pub browser: Option<BrowserView>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BrowserView {
    pub publishable_key: String,
    pub stripe_js_url: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProviderResponse {
    pub payment_provider: ProviderView,
}

/// The payment provider, as the buyer's page sees it (no secrets: the publishable key is public).
#[utoipa::path(get, path = "/api/v1/payments/provider", tag = "orders",
    responses((status = 200, body = ProviderResponse)))]
pub(crate) async fn get_provider(State(state): State<AppState>) -> Json<ProviderResponse> {
    Json(ProviderResponse {
        payment_provider: ProviderView {
            name: state.app.payments.name().to_owned(),
            browser: state.app.payments.browser_checkout().map(|b| BrowserView {
                publishable_key: b.publishable_key.clone(),
                stripe_js_url: b.js_url.clone(),
            }),
        },
    })
}

/// The webhook comes from the provider, not a browser: no session, no origin check.
pub(crate) fn webhook_router() -> Router<AppState> {
    Router::new().route("/payments/webhook", post(webhook))
}

/// What became of one of the caller's payment attempts (others' are 404).
#[utoipa::path(get, path = "/api/v1/payments/{payment_id}", tag = "orders",
    params(("payment_id" = String, Path)),
    responses((status = 200, body = PaymentResponse), (status = 401), (status = 404)))]
pub(crate) async fn get_payment(
    State(state): State<AppState>,
    ApiPath(payment_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<Json<PaymentResponse>> {
    let payment_id = PaymentId::parse(&payment_id).ok_or_else(|| ApiError::not_found("Payment"))?;
    let mut tx = state.app.db.read().await?;
    let payment = tx
        .payment_by_id(&payment_id)
        .await?
        .filter(|p| &p.user_id == user.id())
        .ok_or_else(|| ApiError::not_found("Payment"))?;
    let order_id = tx.order_id_for_payment(&payment.id).await?;
    tx.commit().await?;
    let mut view = views::payment_view(&payment, order_id.map(String::from));
    if let Some(reason) = declined_in_browser(&state, &payment).await {
        // Still open at the provider (the same intent takes another card), but this card failed:
        // the buyer's page says so and offers another try.
        view.status = "declined".to_owned();
        view.message =
            format!("{reason} Your seats stay held until the timer runs out: try another card.");
    }
    Ok(Json(PaymentResponse { payment: view }))
}

/// Why the last card failed on a pending payment that the buyer's browser confirms, as the
/// provider says now; `None` when it did not fail (or the provider cannot say).
async fn declined_in_browser(
    state: &AppState,
    payment: &boxoffice_store::StoredPayment,
) -> Option<String> {
    if payment.status != boxoffice_store::PaymentStatus::Pending
        || state.app.payments.browser_checkout().is_none()
    {
        return None;
    }
    match state
        .app
        .payments
        .retrieve(payment.provider_ref.as_deref()?)
        .await
    {
        Ok(IntentStatus::Declined { reason }) => Some(reason),
        _ => None,
    }
}

/// The payment provider's webhook: verified by its signature and timestamp, then settled.
/// Answers 200 once the event is handled (or needs no handling), so the provider stops
/// retrying; any failure is a 5xx, so it retries later.
#[utoipa::path(post, path = "/api/v1/payments/webhook", tag = "orders",
    responses((status = 200, description = "handled"), (status = 400, description = "bad signature, stale or malformed"),
        (status = 503, description = "not handled now; the provider retries")))]
pub(crate) async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let event = match state
        .app
        .payments
        .verify_webhook(&headers, &body, Timestamp::now())
    {
        Ok(event) => event,
        Err(WebhookError::Ignored) => return Ok(StatusCode::OK),
        Err(e) => {
            metrics::counter!("boxoffice_webhooks_refused_total").increment(1);
            tracing::warn!(error = %e, "webhook refused");
            let code = match e {
                WebhookError::Stale => ErrorCode::StaleWebhook,
                WebhookError::Malformed(_) => ErrorCode::MalformedWebhook,
                _ => ErrorCode::InvalidSignature,
            };
            return Err(ApiError::of(code).message(e.to_string()));
        }
    };
    metrics::counter!("boxoffice_webhooks_received_total").increment(1);
    let mut tx = state.app.db.read().await?;
    let payment = tx.payment_by_reference(&event.intent_id).await?;
    tx.commit().await?;
    let Some(payment) = payment else {
        // Not ours (or its checkout has not recorded the intent yet; the reconciler covers that).
        tracing::info!(intent_id = %event.intent_id, "webhook for an unknown intent");
        return Ok(StatusCode::OK);
    };
    // Events can arrive out of order: ask the provider for the status now, and fall back on the
    // (signed) event when it does not answer.
    let status = match state.app.payments.retrieve(&event.intent_id).await {
        Ok(status) => status,
        Err(_) if event.status.is_final() => event.status.clone(),
        Err(e) => {
            tracing::warn!(error = %e, "webhook: provider did not answer");
            return Err(ApiError::of(ErrorCode::Unavailable)
                .message("Try again later.")
                .retry_after(5));
        }
    };
    if !matches!(status, IntentStatus::RequiresConfirmation) {
        settlement::settle(&state.app, &payment.id, Some(&event.intent_id), &status).await?;
    }
    Ok(StatusCode::OK)
}
