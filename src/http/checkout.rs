//! Checkout: turn an active hold into a paid order, charging at most once whatever the retries.
//!
//! 1. In one transaction: replay or refuse by `Idempotency-Key`, check the hold, price it from the
//!    catalogue, record the payment attempt (its unique in-flight marker admits one per hold).
//! 2. Charge the provider, outside any transaction, with the attempt's id as its idempotency key.
//! 3. In one transaction: convert the hold (only if still active and unexpired), sell its seats,
//!    issue the tickets, write the ledger, and store the response for replays. If the hold was
//!    lost meanwhile, refund the charge and say so.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    extract::{ApiJson, ApiPath, CurrentUser},
    orders::{OrderResponse, OrderView},
};
use crate::{
    catalog::EventInfo,
    domain::{
        card::CardNumber,
        hold::Hold,
        idempotency::{IdempotencyKey, fingerprint},
        money::{Money, total_for},
        new_id,
        ticket::issue_code,
        time::Timestamp,
    },
    payments::{IntentRequest, IntentStatus},
    storage::{
        LedgerEntry, LedgerKind, OrderRecord, OrderStatus, PaymentRecord, PaymentStatus,
        StoreError, TicketRecord,
    },
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckoutRequest {
    pub payment: PaymentDetails,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PaymentDetails {
    /// `sandbox`.
    pub method: String,
    pub card_number: String,
}

/// Pay for a hold. Requires `Idempotency-Key`; the same key with the same request replays the
/// first response, and never charges twice.
#[utoipa::path(post, path = "/api/v1/holds/{hold_id}/checkout", tag = "holds", request_body = CheckoutRequest,
    params(("hold_id" = String, Path), ("Idempotency-Key" = String, Header, description = "Unique per payment attempt, at most 255 characters")),
    responses((status = 201, body = OrderResponse),
        (status = 400, description = "idempotency_key_required"),
        (status = 402, description = "payment_declined: the hold stays active"),
        (status = 404), (status = 409, description = "hold_not_active or payment_in_progress"),
        (status = 422, description = "idempotency_key_reused, invalid_card_number or unsupported_payment_method")))]
pub async fn checkout(
    State(state): State<AppState>,
    ApiPath(hold_id): ApiPath<String>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let raw_key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{7f}"));
    let key = IdempotencyKey::parse(raw_key)?.ok_or_else(|| {
        ApiError::bad_request(
            "idempotency_key_required",
            "Send an Idempotency-Key header with each payment attempt.",
        )
    })?;
    let request: CheckoutRequest = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::unprocessable("invalid_request", e.to_string()))?;
    let print = fingerprint("checkout", &hold_id, &body);
    let now = Timestamp::now();

    let mut tx = state.db.begin().await?;
    if let Some(record) = tx.idempotency_record(user.id(), key.as_str()).await? {
        if record.fingerprint != print {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "This Idempotency-Key was already used for a different request.",
            ));
        }
        return match record.response {
            Some((status, body)) => {
                metrics::counter!("boxoffice_checkout_replays_total").increment(1);
                Ok(replay(status, body))
            }
            None => {
                let mut e = ApiError::conflict(
                    "request_in_progress",
                    "This payment is still being processed.",
                );
                e.retry_after = Some(1);
                Err(e)
            }
        };
    }
    if request.payment.method != state.payments.name() {
        return Err(ApiError::unprocessable(
            "unsupported_payment_method",
            format!("Payment method must be \"{}\".", state.payments.name()),
        ));
    }
    let card = CardNumber::parse(&request.payment.card_number)?;
    let hold = tx
        .hold_by_id(&hold_id)
        .await?
        .filter(|h| h.user_id == user.id())
        .ok_or_else(|| ApiError::not_found("Hold"))?;
    match tx
        .insert_idempotency_record(user.id(), key.as_str(), &print, now)
        .await
    {
        // The same key arrived twice at once and the other request got there first.
        Err(StoreError::Conflict(_)) => {
            let mut e = ApiError::conflict(
                "request_in_progress",
                "This payment is still being processed.",
            );
            e.retry_after = Some(1);
            return Err(e);
        }
        other => other?,
    }
    if !hold.can_be_paid(now) {
        let e = hold_not_active(
            "This hold is no longer active; its seats were released or already paid for.",
            false,
        );
        tx.complete_idempotency_record(
            user.id(),
            key.as_str(),
            e.status.as_u16(),
            &e.body().to_string(),
        )
        .await?;
        tx.commit().await?;
        return Err(e);
    }
    let event = state
        .catalog
        .event(&hold.event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let (total, lines) = total_for(
        hold.seat_ids.iter().map(String::as_str),
        &event.category_of_seat,
        &event.price_of_category,
    )
    .map_err(ApiError::internal)?;
    let payment = PaymentRecord {
        id: new_id(),
        hold_id: hold.id.clone(),
        user_id: user.id().to_owned(),
        idempotency_key: key.as_str().to_owned(),
        amount_cents: total.cents,
        currency: total.currency.clone(),
        provider: state.payments.name().to_owned(),
        card_last4: card.last4().to_owned(),
        created_at: now,
    };
    match tx.insert_payment(&payment).await {
        Err(StoreError::Conflict(_)) => {
            // Another attempt for this hold is in flight or has succeeded. Roll back, keeping the
            // key unused, so that a retry sees the final outcome.
            drop(tx);
            return Err(ApiError::conflict(
                "payment_in_progress",
                "Another payment for this hold is being processed.",
            ));
        }
        other => other?,
    }
    tx.commit().await?;

    // From here on the attempt is recorded: finish it even if the client goes away, so that a
    // dropped connection never leaves a charge without its order (or its refund).
    let attempt = Attempt {
        state,
        user_id: user.id().to_owned(),
        key: key.as_str().to_owned(),
        hold,
        event,
        payment,
        lines,
        card,
        total,
    };
    tokio::spawn(settle(attempt))
        .await
        .map_err(ApiError::internal)?
}

/// What the provider finally said about a charge.
enum ChargeOutcome {
    Succeeded { reference: String },
    Declined { reason: String },
}

/// A recorded payment attempt, owned so that it can be settled on its own task.
struct Attempt {
    state: AppState,
    user_id: String,
    key: String,
    hold: Hold,
    event: Arc<EventInfo>,
    payment: PaymentRecord,
    lines: Vec<(String, i64)>,
    card: CardNumber,
    total: Money,
}

/// Charges the provider and records the outcome, with the response stored for replays.
async fn settle(attempt: Attempt) -> ApiResult<Response> {
    let Attempt {
        state,
        user_id,
        key,
        hold,
        event,
        payment,
        lines,
        card,
        total,
    } = attempt;
    let intent = IntentRequest {
        idempotency_key: payment.id.clone(),
        amount_cents: total.cents,
        currency: total.currency.clone(),
        description: format!("{} — {} seat(s)", event.record.name, hold.seat_ids.len()),
    };
    let confirmed = match state.payments.create_intent(&intent).await {
        Ok(created) => state
            .payments
            .confirm(&created.id, &card, &format!("{}-confirm", payment.id))
            .await
            .map(|status| (created.id, status)),
        Err(e) => Err(e),
    };
    let outcome = match confirmed {
        Ok((reference, IntentStatus::Succeeded)) => ChargeOutcome::Succeeded { reference },
        Ok((_, IntentStatus::Declined { reason })) => ChargeOutcome::Declined { reason },
        Ok((_, other)) => {
            tracing::warn!(payment_id = %payment.id, status = ?other, "payment not settled yet");
            return Err(ApiError::unavailable(
                "We could not confirm your payment yet; please check your orders shortly.",
                5,
            ));
        }
        Err(e) => {
            // The charge may or may not have happened: the attempt stays pending (and keeps the
            // hold from being charged again) until reconciliation learns the outcome.
            tracing::warn!(payment_id = %payment.id, error = %e, "payment outcome unknown");
            return Err(ApiError::unavailable(
                "We could not confirm your payment yet; please check your orders shortly.",
                5,
            ));
        }
    };
    let completed_at = Timestamp::now();
    let mut tx = state.db.begin().await?;
    let (status, body) = match outcome {
        ChargeOutcome::Declined { reason } => {
            tx.finish_payment(&payment.id, PaymentStatus::Declined, None, completed_at)
                .await?;
            metrics::counter!("boxoffice_payments_declined_total").increment(1);
            let e = ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_declined", reason)
                .with_details(json!({ "hold_expires_at": hold.expires_at.to_rfc3339() }));
            (e.status, e.body())
        }
        ChargeOutcome::Succeeded { reference } => {
            let ledger =
                |kind: LedgerKind, order_id: Option<&str>, provider_ref: &str| LedgerEntry {
                    id: new_id(),
                    payment_id: payment.id.clone(),
                    order_id: order_id.map(str::to_owned),
                    kind,
                    amount_cents: payment.amount_cents,
                    currency: payment.currency.clone(),
                    provider_ref: provider_ref.to_owned(),
                    created_at: completed_at,
                };
            let converted = tx.convert_hold(&hold.id, completed_at).await?
                && tx.sell_held_seats(&hold.event_id, &hold.id).await?
                    == hold.seat_ids.len() as u64;
            if converted {
                let order = new_order(&state, &hold, &payment, &lines, completed_at);
                tx.insert_order(&order).await?;
                for t in &order.tickets {
                    tx.insert_ticket(t).await?;
                }
                tx.finish_payment(
                    &payment.id,
                    PaymentStatus::Succeeded,
                    Some(&reference),
                    completed_at,
                )
                .await?;
                if payment.amount_cents > 0 {
                    tx.insert_ledger_entry(&ledger(
                        LedgerKind::Charge,
                        Some(&order.id),
                        &reference,
                    ))
                    .await?;
                }
                let changes = tx.seat_statuses_of(&hold.event_id, &hold.seat_ids).await?;
                let body = json!(OrderResponse {
                    order: OrderView::of(&order, Some(&event))
                });
                tx.complete_idempotency_record(&user_id, &key, 201, &body.to_string())
                    .await?;
                tx.commit().await?;
                state.publish(&hold.event_id, changes);
                metrics::counter!("boxoffice_orders_paid_total").increment(1);
                return Ok(replay(201, body.to_string()));
            }
            // The hold expired or was released while the provider answered: the seats may be
            // someone else's now, so the money goes back.
            drop(tx);
            let refund_ref = state
                .payments
                .refund(
                    &reference,
                    payment.amount_cents,
                    &format!("{}-refund", payment.id),
                )
                .await
                .map_err(ApiError::internal)?;
            tx = state.db.begin().await?;
            tx.finish_payment(
                &payment.id,
                PaymentStatus::Refunded,
                Some(&reference),
                completed_at,
            )
            .await?;
            if payment.amount_cents > 0 {
                tx.insert_ledger_entry(&ledger(LedgerKind::Charge, None, &reference))
                    .await?;
                tx.insert_ledger_entry(&ledger(LedgerKind::Refund, None, &refund_ref))
                    .await?;
            }
            metrics::counter!("boxoffice_payments_refunded_late_total").increment(1);
            let e = hold_not_active(
                "Your hold expired before the payment completed. The charge was refunded in full; the seats are back on sale.",
                true,
            );
            (e.status, e.body())
        }
    };
    tx.complete_idempotency_record(&user_id, &key, status.as_u16(), &body.to_string())
        .await?;
    tx.commit().await?;
    Ok(replay(status.as_u16(), body.to_string()))
}

fn hold_not_active(message: &str, refunded: bool) -> ApiError {
    ApiError::conflict("hold_not_active", message).with_details(json!({ "refunded": refunded }))
}

fn new_order(
    state: &AppState,
    hold: &Hold,
    payment: &PaymentRecord,
    lines: &[(String, i64)],
    now: Timestamp,
) -> OrderRecord {
    let order_id = new_id();
    let tickets = lines
        .iter()
        .map(|(seat_id, price)| {
            let id = new_id();
            TicketRecord {
                code: issue_code(&state.secret, &id, &hold.event_id, seat_id),
                id,
                order_id: order_id.clone(),
                event_id: hold.event_id.clone(),
                seat_id: seat_id.clone(),
                price_cents: *price,
                valid: true,
                checked_in_at: None,
                created_at: now,
            }
        })
        .collect();
    OrderRecord {
        id: order_id,
        user_id: hold.user_id.clone(),
        hold_id: hold.id.clone(),
        event_id: hold.event_id.clone(),
        payment_id: payment.id.clone(),
        status: OrderStatus::Paid,
        total_cents: payment.amount_cents,
        currency: payment.currency.clone(),
        created_at: now,
        tickets,
    }
}

/// A stored response, sent byte for byte as the first time.
fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}
