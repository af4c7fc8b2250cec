//! Settling a payment once the provider has said what happened to it. The checkout request, a
//! webhook and the payment reconciler all come here, in any order and any number of times: the
//! payment row is locked while it is settled and only a pending payment changes, so the first
//! word wins and every later one is a no-op (no second order, no second refund).
//!
//! A succeeded payment becomes an order with the hold's seats. If the hold expired or was
//! released meanwhile, the seats are taken back when they are still free; when any is not, the
//! money goes back to the buyer and the buyer is told so.

use serde_json::{Value, json};

use crate::{
    App, AppError, AppResult, ErrorCode,
    refunds::refund_until_settled,
    views::{Answer, OrderResponse, OrderView, REFUNDED_MESSAGE},
};
use boxoffice_domain::{
    hold::Hold,
    ids::{EventId, OrderId, PaymentId},
    money::{Money, total_for},
    new_id,
    ticket::issue_code,
    time::Timestamp,
};
use boxoffice_payments::IntentStatus;
use boxoffice_store::{
    LedgerEntry, LedgerKind, OrderRecord, OrderStatus, PaymentStatus, Repository, SaleRecord,
    StoredPayment, TicketRecord,
};

/// Applies what the provider says about `payment_id`. Returns the final answer when this call
/// (or an earlier one) settled the payment, `None` while it is still pending.
///
/// `intent_id` is the provider's intent when the caller knows it: checkout records it here,
/// in the transaction that settles the payment, rather than in one of its own before confirming
/// (a write fewer on every purchase). A payment that stays pending without it is found again by
/// the reconciler, which asks the provider for the intent under the payment's own key.
pub async fn settle(
    app: &App,
    payment_id: &PaymentId,
    intent_id: Option<&str>,
    outcome: &IntentStatus,
) -> AppResult<Option<Answer>> {
    settle_payment(app, payment_id, intent_id, outcome, None).await
}

/// [`settle`], for a caller that has just read the payment's hold (checkout): a hold's seats,
/// event and buyer never change, so it is not read again. Its status may have; the conditional
/// update that claims it for the order decides.
pub async fn settle_for_hold(
    app: &App,
    payment_id: &PaymentId,
    intent_id: Option<&str>,
    outcome: &IntentStatus,
    hold: &Hold,
) -> AppResult<Option<Answer>> {
    settle_payment(app, payment_id, intent_id, outcome, Some(hold)).await
}

async fn settle_payment(
    app: &App,
    payment_id: &PaymentId,
    intent_id: Option<&str>,
    outcome: &IntentStatus,
    known: Option<&Hold>,
) -> AppResult<Option<Answer>> {
    let now = Timestamp::now();
    let mut tx = app.db.begin().await?;
    let Some(mut payment) = tx.lock_payment(payment_id).await? else {
        return Ok(None);
    };
    if payment.status != PaymentStatus::Pending {
        // Settled before (a duplicate webhook, a reconciler racing the request): say what it was.
        let answer = stored_answer(tx.as_mut(), &payment).await?;
        tx.commit().await?;
        return Ok(answer);
    }
    if payment.provider_ref.is_none()
        && let Some(intent_id) = intent_id
    {
        payment.provider_ref = Some(intent_id.to_owned());
        if !outcome.is_final() {
            // Still pending: record the intent now, so that webhooks about it find the payment.
            tx.set_payment_reference(&payment.id, intent_id).await?;
        }
    }
    let reference = payment.provider_ref.as_deref();
    // A declined browser payment is not over: the intent waits for another card, which the
    // buyer's page confirms on the same intent. It ends when it succeeds, or when its hold
    // expires and the intent is cancelled.
    let retryable_decline = matches!(outcome, IntentStatus::Declined { .. })
        && app.payments.browser_checkout().is_some();
    let answer = match outcome {
        IntentStatus::RequiresConfirmation | IntentStatus::Processing => {
            tx.commit().await?;
            return Ok(None);
        }
        IntentStatus::Declined { .. } if retryable_decline => {
            tx.commit().await?;
            return Ok(None);
        }
        IntentStatus::Declined { reason } => {
            tx.finish_payment(&payment.id, PaymentStatus::Declined, reference, now)
                .await?;
            metrics::counter!("boxoffice_payments_declined_total").increment(1);
            let hold = hold_of(tx.as_mut(), &payment, known).await?;
            let expires = hold.map(|h| h.expires_at.to_rfc3339());
            let e = AppError::refused(ErrorCode::PaymentDeclined)
                .message(reason.clone())
                .details(json!({ "hold_expires_at": expires }));
            Answer {
                status: 402,
                body: e.body(),
            }
        }
        IntentStatus::Canceled => {
            tx.finish_payment(&payment.id, PaymentStatus::Failed, reference, now)
                .await?;
            let hold = hold_of(tx.as_mut(), &payment, known).await?;
            let expires = hold.map(|h| h.expires_at.to_rfc3339());
            let e = AppError::refused(ErrorCode::PaymentFailed)
                .details(json!({ "hold_expires_at": expires }));
            Answer {
                status: 402,
                body: e.body(),
            }
        }
        IntentStatus::Succeeded => {
            match fulfil(app, tx.as_mut(), &payment, known, now).await? {
                Some((answer, event_id, changes)) => {
                    tx.commit().await?;
                    app.publish(event_id.as_str(), changes);
                    app.mail_queued();
                    // The buyer is done: their place under the room's cap goes to the next.
                    app.waiting_room
                        .finish(event_id.as_str(), payment.user_id.as_str())
                        .await;
                    metrics::counter!("boxoffice_orders_paid_total").increment(1);
                    return Ok(Some(answer));
                }
                None => {
                    // Some seat is someone else's now: undo everything and give the money back.
                    drop(tx);
                    return refund_late(app, payment_id, reference).await;
                }
            }
        }
    };
    store_answer(tx.as_mut(), &payment, &answer).await?;
    tx.commit().await?;
    Ok(Some(answer))
}

type Fulfilled = (Answer, EventId, Vec<boxoffice_domain::seat::SeatStatus>);

/// The payment's hold: the one the caller knows, or read.
async fn hold_of(
    tx: &mut dyn Repository,
    payment: &StoredPayment,
    known: Option<&Hold>,
) -> AppResult<Option<Hold>> {
    match known {
        Some(hold) if hold.id == payment.hold_id => Ok(Some(hold.clone())),
        _ => Ok(tx.hold_by_id(&payment.hold_id).await?),
    }
}

/// Turns a succeeded payment into an order with its seats sold. `None` when the seats cannot
/// all be had (the caller rolls back).
async fn fulfil(
    app: &App,
    tx: &mut dyn Repository,
    payment: &StoredPayment,
    known: Option<&Hold>,
    now: Timestamp,
) -> AppResult<Option<Fulfilled>> {
    let Some(hold) = hold_of(tx, payment, known).await? else {
        return Ok(None);
    };
    let event = app
        .catalog
        .event(&hold.event_id)
        .await?
        .ok_or_else(|| AppError::not_found("Event"))?;
    let (total, lines) = total_for(
        hold.seat_ids.iter().map(String::as_str),
        &event.category_of_seat,
        &event.price_of_category,
    )
    .map_err(AppError::internal)?;
    if total.cents != payment.amount_cents {
        // The price list changed after the buyer was charged: never sell at another price.
        return Ok(None);
    }
    if !tx.claim_hold_for_order(&hold.id, now).await? {
        return Ok(None);
    }
    let seats = hold.seat_ids.len();
    let mut changes = tx
        .sell_held_seats(&hold.event_id, &hold.id, &hold.user_id, &hold.seat_ids)
        .await?;
    if changes.len() < seats {
        // The hold ended before the payment landed: take back the seats nobody took since.
        let retaken = tx
            .take_available_seats(&hold.event_id, &hold.id, &hold.user_id, &hold.seat_ids)
            .await?;
        if changes.len() + retaken.len() < seats {
            return Ok(None);
        }
        changes.extend(
            tx.sell_held_seats(&hold.event_id, &hold.id, &hold.user_id, &hold.seat_ids)
                .await?,
        );
        if changes.len() < seats {
            return Ok(None);
        }
        metrics::counter!("boxoffice_payments_late_kept_total").increment(1);
    }
    let reference = payment.provider_ref.clone().unwrap_or_default();
    let order = new_order(app, &hold, payment, &lines, now);
    let body = json!(OrderResponse {
        order: OrderView::of(&order, Some(&event))
    });
    // A free order has its charge too, of zero: every paid order has exactly one.
    let charge = ledger(
        payment,
        LedgerKind::Charge,
        Some(&order.id),
        &reference,
        now,
    );
    let answer = body.to_string();
    // The confirmation commits with the sale or not at all.
    let mail = app
        .mail
        .is_some()
        .then(|| crate::mail::facts::confirmation(&order, &event));
    tx.record_sale(&SaleRecord {
        order: &order,
        provider_ref: payment.provider_ref.as_deref(),
        charge: &charge,
        idempotency_key: &payment.idempotency_key,
        answer: (201, &answer),
        now,
        mail: mail.as_ref(),
    })
    .await?;
    Ok(Some((
        Answer { status: 201, body },
        hold.event_id.clone(),
        changes,
    )))
}

/// The payment succeeded but its seats are gone: refund it in full, once, and say so.
/// `intent_id` is the succeeded intent, which the caller knows even when it is not stored yet.
async fn refund_late(
    app: &App,
    payment_id: &PaymentId,
    intent_id: Option<&str>,
) -> AppResult<Option<Answer>> {
    let mut tx = app.db.read().await?;
    let payment = tx
        .payment_by_id(payment_id)
        .await?
        .ok_or_else(|| AppError::not_found("Payment"))?;
    tx.commit().await?;
    let reference = intent_id
        .map(str::to_owned)
        .or_else(|| payment.provider_ref.clone())
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "succeeded payment {payment_id} has no intent"
            ))
        })?;
    // The key is the payment's: however many times this runs, the provider refunds once, and a
    // refund still pending leaves the payment pending for the reconciler to come back to.
    let amount = Money {
        cents: payment.amount_cents,
        currency: payment.currency.clone(),
    };
    let refund_ref = refund_until_settled(app, &reference, &amount, &format!("{}-refund", payment.id))
        .await
        .map_err(|e| {
            tracing::warn!(payment_id = %payment_id, error = %e, "late refund not settled; the reconciler will retry");
            AppError::refused(ErrorCode::PaymentProviderUnavailable).message("We could not finish your payment yet; please check again shortly.").retry_after(5)
        })?;
    let now = Timestamp::now();
    let mut tx = app.db.begin().await?;
    let Some(payment) = tx.lock_payment(payment_id).await? else {
        return Ok(None);
    };
    if payment.status != PaymentStatus::Pending {
        let answer = stored_answer(tx.as_mut(), &payment).await?;
        tx.commit().await?;
        return Ok(answer);
    }
    tx.finish_payment(&payment.id, PaymentStatus::Refunded, Some(&reference), now)
        .await?;
    if payment.amount_cents > 0 {
        tx.insert_ledger_entry(&ledger(&payment, LedgerKind::Charge, None, &reference, now))
            .await?;
        tx.insert_ledger_entry(&ledger(
            &payment,
            LedgerKind::Refund,
            None,
            &refund_ref,
            now,
        ))
        .await?;
    }
    let e = AppError::refused(ErrorCode::HoldNotActive)
        .message(REFUNDED_MESSAGE)
        .details(json!({ "refunded": true, "payment_id": payment.id }));
    let answer = Answer {
        status: 409,
        body: e.body(),
    };
    store_answer(tx.as_mut(), &payment, &answer).await?;
    if app.mail.is_some()
        && let Some(hold) = tx.hold_by_id(&payment.hold_id).await?
        && let Some(event) = app.catalog.event(&hold.event_id).await?
    {
        // The buyer may have closed the page long ago: the notice commits with the refund.
        let notice = crate::mail::facts::payment_refunded(&payment, &hold, &event);
        tx.queue_mail(&notice).await?;
    }
    tx.commit().await?;
    app.mail_queued();
    metrics::counter!("boxoffice_payments_refunded_late_total").increment(1);
    tracing::info!(payment_id = %payment_id, "late payment refunded: its seats were taken");
    Ok(Some(answer))
}

/// Stores the answer the payment's idempotency key replays from now on.
async fn store_answer(
    tx: &mut dyn Repository,
    payment: &StoredPayment,
    answer: &Answer,
) -> AppResult<()> {
    let body = answer.body.to_string();
    tx.complete_idempotency_record(
        &payment.user_id,
        &payment.idempotency_key,
        answer.status,
        &body,
    )
    .await?;
    Ok(())
}

/// The final answer stored for a settled payment's idempotency key.
async fn stored_answer(
    tx: &mut dyn Repository,
    payment: &StoredPayment,
) -> AppResult<Option<Answer>> {
    let record = tx
        .idempotency_record(&payment.user_id, &payment.idempotency_key)
        .await?;
    Ok(record
        .and_then(|r| r.response)
        .map(|(status, body)| Answer {
            status,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
        }))
}

fn ledger(
    payment: &StoredPayment,
    kind: LedgerKind,
    order_id: Option<&OrderId>,
    provider_ref: &str,
    now: Timestamp,
) -> LedgerEntry {
    LedgerEntry {
        id: new_id(),
        payment_id: payment.id.clone(),
        order_id: order_id.cloned(),
        kind,
        amount_cents: payment.amount_cents,
        currency: payment.currency.clone(),
        provider_ref: provider_ref.to_owned(),
        created_at: now,
    }
}

fn new_order(
    app: &App,
    hold: &Hold,
    payment: &StoredPayment,
    lines: &[(String, i64)],
    now: Timestamp,
) -> OrderRecord {
    let order_id = OrderId::generate();
    let tickets = lines
        .iter()
        .map(|(seat_id, price)| {
            let id = new_id();
            TicketRecord {
                code: issue_code(&app.secret, &id, hold.event_id.as_str(), seat_id),
                id,
                order_id: order_id.clone(),
                event_id: hold.event_id.clone(),
                seat_id: seat_id.clone(),
                price_cents: *price,
                valid: true,
                checked_in_at: None,
                checked_in_gate: None,
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
