//! Settling what the provider knows and this server does not yet: payments still pending after
//! their checkout, intents to cancel before a hold lets its seats go, and the purge of expired
//! sessions and idempotency records.

use std::time::Duration;

use crate::{App, checkout, settlement};
use boxoffice_domain::{ids::HoldId, money::Money, time::Timestamp};
use boxoffice_payments::IntentStatus;
use boxoffice_store::{StoreResult, StoredPayment};

/// A checkout settles its own payment when the provider answers; the reconciler leaves a payment
/// alone for this long, so the two rarely race (and when they do, the payment lock decides).
const PAYMENT_GRACE: Duration = Duration::from_secs(1);
/// A payment still pending after this long without a confirmed intent was never confirmed (its
/// request died or the provider refused it): nothing was charged, so it is marked failed. Longer
/// than any provider call may take (the Stripe provider gives up after 10 s by default).
const PAYMENT_ABANDONED_AFTER: Duration = Duration::from_secs(20);
const PAYMENT_BATCH: u32 = 100;
/// Idempotency records are kept at least this long (Stripe keeps them 24 h).
const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(25 * 3600);

/// Pending payments whose intent exists: what an expiring hold may still be paid by.
pub(crate) async fn unconfirmed_payments(app: &App) -> StoreResult<Vec<StoredPayment>> {
    let mut tx = app.db.read().await?;
    let pending = tx.pending_payments(Timestamp::now(), PAYMENT_BATCH).await?;
    tx.commit().await?;
    Ok(pending
        .into_iter()
        .filter(|p| p.provider_ref.is_some())
        .collect())
}

/// Cancels the unconfirmed intent of a hold about to be released by its buyer. Returns whether
/// the hold may be released (see `cancel_before_release`).
pub async fn cancel_unconfirmed_payment_of(app: &App, hold_id: &HoldId) -> StoreResult<bool> {
    let pending = unconfirmed_payments(app).await?;
    Ok(match pending.iter().find(|p| &p.hold_id == hold_id) {
        Some(payment) => cancel_before_release(app, payment).await,
        None => true,
    })
}

/// Before an expired hold with an unconfirmed payment is released, the intent is cancelled at
/// the provider, so that it can never be charged without an order. Returns whether the hold may
/// be released: not when the cancel found the payment succeeded (it is settled into an order
/// instead). When the provider cannot say, the hold is released as before, and a success that
/// lands later is settled as a late payment: seats retaken if free, otherwise refunded.
pub(crate) async fn cancel_before_release(app: &App, payment: &StoredPayment) -> bool {
    let Some(intent) = &payment.provider_ref else {
        return true;
    };
    let status = match app.payments.cancel(intent).await {
        Ok(status) => status,
        Err(e) => {
            tracing::warn!(payment_id = %payment.id, error = %e, "could not cancel the intent of an expiring hold");
            return true;
        }
    };
    if !status.is_final() {
        return true;
    }
    metrics::counter!("boxoffice_intents_cancelled_on_expiry_total").increment(1);
    let succeeded = status == IntentStatus::Succeeded;
    if let Err(e) = settlement::settle(app, &payment.id, Some(intent), &status).await {
        tracing::warn!(payment_id = %payment.id, error = ?e, "settling a cancelled payment failed; the reconciler will retry");
    }
    !succeeded
}

/// Asks the provider about every payment still pending after the grace period and settles
/// those it has an answer for. Never retries a charge: it only asks.
pub async fn reconcile_payments(app: &App) -> anyhow::Result<usize> {
    let now = Timestamp::now();
    let mut tx = app.db.read().await?;
    let pending = tx
        .pending_payments(now.minus(PAYMENT_GRACE), PAYMENT_BATCH)
        .await?;
    tx.commit().await?;
    let mut settled = 0;
    for payment in pending {
        let abandoned = payment.created_at < now.minus(PAYMENT_ABANDONED_AFTER);
        let intent = match &payment.provider_ref {
            Some(intent) => intent.clone(),
            // Checkout stores the intent id when it settles, so a payment whose request died
            // before that has none: ask the provider for the intent under the payment's own key.
            // Creating an intent never charges, and the same key finds the same intent.
            None => match intent_of(app, &payment).await {
                Ok(intent) => intent,
                Err(e) => {
                    tracing::warn!(payment_id = %payment.id, error = %e, "could not find the payment's intent; will ask again");
                    continue;
                }
            },
        };
        let status = match app.payments.retrieve(&intent).await {
            // Never confirmed, and too old for its checkout to still be confirming it: cancel it
            // at the provider (never only here), and settle what the cancel says — a slow
            // confirmation may have landed first. A browser's payment may take as long as its
            // hold lasts; the sweep cancels it when the hold expires.
            Ok(IntentStatus::RequiresConfirmation)
                if abandoned && app.payments.browser_checkout().is_none() =>
            {
                match app.payments.cancel(&intent).await {
                    Ok(status) if status.is_final() => status,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!(payment_id = %payment.id, error = %e, "could not cancel an abandoned intent; will ask again");
                        continue;
                    }
                }
            }
            Ok(status) if status.is_final() => status,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(payment_id = %payment.id, error = %e, "provider did not answer; will ask again");
                continue;
            }
        };
        match settlement::settle(app, &payment.id, Some(&intent), &status).await {
            Ok(Some(_)) => {
                settled += 1;
                metrics::counter!("boxoffice_payments_reconciled_total").increment(1);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(payment_id = %payment.id, error = ?e, "settling a payment failed; will retry")
            }
        }
    }
    Ok(settled)
}

/// The provider's intent for a payment whose intent id was never stored, asked for with the same
/// request checkout made (see [`checkout::intent_request`]).
async fn intent_of(app: &App, payment: &StoredPayment) -> anyhow::Result<String> {
    let mut tx = app.db.read().await?;
    let hold = tx.hold_by_id(&payment.hold_id).await?;
    tx.commit().await?;
    let hold = hold.ok_or_else(|| anyhow::anyhow!("payment {} has no hold", payment.id))?;
    let event = app
        .catalog
        .event(&hold.event_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("hold {} has no event", hold.id))?;
    let total = Money {
        cents: payment.amount_cents,
        currency: payment.currency.clone(),
    };
    // The same key checkout used: a retried attempt's differs from the first one's.
    let retried_at = (payment.updated_at != payment.created_at).then_some(payment.updated_at);
    let key = checkout::attempt_key(&payment.id, retried_at);
    let request = checkout::intent_request(&key, &total, &event, &hold);
    Ok(app.payments.create_intent(&request).await?.id)
}

/// Deletes expired sessions and idempotency records past their retention.
pub async fn purge(app: &App) -> StoreResult<()> {
    let now = Timestamp::now();
    let mut tx = app.db.begin().await?;
    let sessions = tx.purge_sessions(now).await?;
    let keys = tx
        .purge_idempotency_records(now.minus(IDEMPOTENCY_RETENTION))
        .await?;
    tx.commit().await?;
    tracing::debug!(
        sessions,
        keys,
        "purged expired sessions and idempotency records"
    );
    Ok(())
}
