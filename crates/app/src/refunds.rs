//! Refunds: an admin gives back a whole order or some of its tickets through the payment
//! provider; the seats return to sale and the refunded tickets stop verifying at the door.

use serde_json::json;

use crate::{App, AppError, AppResult, ErrorCode};
use boxoffice_domain::{
    ids::OrderId,
    money::Money,
    new_id,
    refund::{RefundRefused, RefundableTicket, plan_refund},
    time::Timestamp,
};
use boxoffice_payments::{ProviderError, RefundStatus};
use boxoffice_store::{LedgerEntry, LedgerKind, OrderRecord, OrderStatus};

/// Refunds the tickets named (all of the order's when `ticket_ids` is `None`) and returns the
/// order as it now stands. `by` names the admin, for the log.
pub async fn refund_order(
    app: &App,
    order_id: &OrderId,
    ticket_ids: Option<&[String]>,
    by: &str,
) -> AppResult<OrderRecord> {
    let mut tx = app.db.begin().await?;
    // The order stays locked until the refund commits: two admins refunding the same tickets
    // at once cannot both send money back.
    let order = tx
        .lock_order(order_id)
        .await?
        .ok_or_else(|| AppError::not_found("Order"))?;
    let tickets: Vec<RefundableTicket> = order
        .tickets
        .iter()
        .map(|t| RefundableTicket {
            id: t.id.clone(),
            seat_id: t.seat_id.clone(),
            price_cents: t.price_cents,
            valid: t.valid,
        })
        .collect();
    let plan = plan_refund(&tickets, ticket_ids).map_err(refused)?;
    let now = Timestamp::now();

    if plan.amount_cents > 0 {
        let (payment_id, charge_ref) = tx.charge_of_order(&order.id).await?.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("paid order {order_id} has no charge"))
        })?;
        // The key names exactly these tickets: a retry after a lost answer refunds once.
        let amount = Money {
            cents: plan.amount_cents,
            currency: order.currency.clone(),
        };
        let refund_ref = refund_until_settled(
            app,
            &charge_ref,
            &amount,
            &plan.idempotency_key(order.id.as_str()),
        )
        .await
        .map_err(|e| refund_not_settled(order_id.as_str(), e))?;
        tx.insert_ledger_entry(&LedgerEntry {
            id: new_id(),
            payment_id,
            order_id: Some(order.id.clone()),
            kind: LedgerKind::Refund,
            amount_cents: plan.amount_cents,
            currency: order.currency.clone(),
            provider_ref: refund_ref,
            created_at: now,
        })
        .await?;
    }

    let voided = tx.void_tickets(&order.id, &plan.ticket_ids).await?;
    let freed = tx
        .free_sold_seats(&order.event_id, &order.hold_id, &plan.seat_ids)
        .await?;
    if voided != plan.ticket_ids.len() as u64 || freed != plan.seat_ids.len() as u64 {
        // The order lock makes this impossible unless the data is already inconsistent.
        return Err(AppError::internal(anyhow::anyhow!(
            "refund of order {order_id}: voided {voided} tickets and freed {freed} seats of {}",
            plan.ticket_ids.len()
        )));
    }
    let status = if plan.whole_order {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    };
    tx.set_order_status(&order.id, status).await?;
    let changes = tx.seat_statuses_of(&order.event_id, &plan.seat_ids).await?;
    let order = tx
        .order_by_id(&order.id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("order {order_id} vanished")))?;
    if app.mail.is_some() {
        // The notice commits with the refund or not at all.
        let event = app
            .catalog
            .event(&order.event_id)
            .await?
            .ok_or_else(|| AppError::not_found("Event"))?;
        let notice =
            crate::mail::facts::refund_notice(&order, &event, &plan.ticket_ids, plan.amount_cents);
        tx.queue_mail(&notice).await?;
    }
    tx.commit().await?;
    app.publish(order.event_id.as_str(), changes);
    app.mail_queued();
    metrics::counter!("boxoffice_refunds_total").increment(1);
    tracing::info!(
        %order_id,
        tickets = plan.ticket_ids.len(),
        amount_cents = plan.amount_cents,
        by = by,
        "order refunded"
    );
    Ok(order)
}

fn refused(reason: RefundRefused) -> AppError {
    match reason {
        RefundRefused::EmptySelection => AppError::refused(ErrorCode::InvalidTicketIds),
        RefundRefused::NotInOrder(ids) => {
            AppError::refused(ErrorCode::TicketNotInOrder).details(json!({ "ticket_ids": ids }))
        }
        RefundRefused::AlreadyRefunded(ids) => AppError::refused(ErrorCode::TicketAlreadyRefunded)
            .details(json!({ "ticket_ids": ids })),
        RefundRefused::NothingLeft => AppError::refused(ErrorCode::OrderAlreadyRefunded),
    }
}

/// A refund the provider has not (yet) settled: nothing is changed here. Pending: the admin
/// retries the same refund (same key, so the provider refunds once) to record it once it has
/// succeeded. Failed: flagged for the admin to resolve with the provider.
fn refund_not_settled(order_id: &str, e: RefundError) -> AppError {
    match e {
        RefundError::Provider(e) => {
            tracing::warn!(error = %e, order_id, "refund not confirmed by the provider");
            AppError::refused(ErrorCode::PaymentProviderUnavailable).message("The payment provider did not confirm the refund; nothing was changed. Try again.").retry_after(5)
        }
        RefundError::Pending(refund_id) => {
            tracing::info!(order_id, refund_id, "refund pending at the provider");
            AppError::refused(ErrorCode::RefundPending).message("The payment provider accepted the refund but has not finished it. Nothing is recorded yet: try the same refund again shortly.")
            .details(json!({ "refund_id": refund_id }))
            .retry_after(5)
        }
        RefundError::Failed { id, reason } => {
            tracing::error!(order_id, refund_id = %id, reason, "refund failed at the provider");
            AppError::refused(ErrorCode::RefundFailed).message(format!("The payment provider could not refund this order ({reason}). Nothing was changed; resolve it in the provider's dashboard."))
            .details(json!({ "refund_id": id, "reason": reason }))
        }
    }
}

/// Why a refund has not (yet) sent the money back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefundError {
    /// The provider did not answer, or refused the request.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Accepted by the provider, not finished: asking again (same key) later finds it.
    #[error("refund {0} is still pending at the provider")]
    Pending(String),
    /// The provider failed or cancelled the refund: the money did not go back.
    #[error("refund {id} failed at the provider: {reason}")]
    Failed { id: String, reason: String },
}

/// How often, and how far apart, a pending refund is asked about before giving up for now.
const REFUND_CHECKS: u32 = 3;
const REFUND_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Refunds `amount` under `key` and waits briefly for the refund to succeed: the ledger records
/// a refund only once the provider says the money went back. Returns the refund's id.
pub(crate) async fn refund_until_settled(
    app: &App,
    intent_id: &str,
    amount: &Money,
    key: &str,
) -> Result<String, RefundError> {
    let refund = app.payments.refund(intent_id, amount, key).await?;
    let mut status = refund.status;
    for _ in 0..REFUND_CHECKS {
        if status != RefundStatus::Pending {
            break;
        }
        tokio::time::sleep(REFUND_CHECK_EVERY).await;
        status = app.payments.refund_status(&refund.id).await?;
    }
    match status {
        RefundStatus::Succeeded => Ok(refund.id),
        RefundStatus::Pending => Err(RefundError::Pending(refund.id)),
        RefundStatus::Failed { reason } => Err(RefundError::Failed {
            id: refund.id,
            reason,
        }),
        RefundStatus::Canceled => Err(RefundError::Failed {
            id: refund.id,
            reason: "canceled".into(),
        }),
    }
}
