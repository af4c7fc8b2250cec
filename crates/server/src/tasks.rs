//! Background work that stops on shutdown: releasing expired holds, healing the in-memory seat
//! maps from the database, settling payments whose outcome was not known at checkout, and
//! purging old sessions and idempotency records.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::http::AppState;
use boxoffice_domain::{
    money::Money,
    {hold::HoldStatus, time::Timestamp},
};
use boxoffice_payments::IntentStatus;
use boxoffice_store::{StoreResult, StoredPayment};

/// Changes stamped this recently are re-read on every reconciliation: wide enough to cover any
/// transaction still in flight when the previous pass ran.
const RECONCILE_WINDOW: Duration = Duration::from_secs(5);
/// Every so often the whole seat map is re-read, whatever the timestamps say.
const FULL_RECONCILE_EVERY: Duration = Duration::from_secs(60);
const PURGE_EVERY: Duration = Duration::from_secs(300);
/// Idempotency records are kept at least this long (Stripe keeps them 24 h).
const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(25 * 3600);
const SWEEP_BATCH: u32 = 200;
/// A checkout settles its own payment when the provider answers; the reconciler leaves a payment
/// alone for this long, so the two rarely race (and when they do, the payment lock decides).
const PAYMENT_GRACE: Duration = Duration::from_secs(1);
/// A payment still pending after this long without a confirmed intent was never confirmed (its
/// request died or the provider refused it): nothing was charged, so it is marked failed. Longer
/// than any provider call may take (the Stripe provider gives up after 10 s by default).
const PAYMENT_ABANDONED_AFTER: Duration = Duration::from_secs(20);
const PAYMENT_BATCH: u32 = 100;

pub fn spawn_all(state: AppState) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(sweeper(state.clone())),
        tokio::spawn(reconciler(state.clone())),
        tokio::spawn(payment_reconciler(state.clone())),
        tokio::spawn(waiting_rooms(state)),
    ]
}

/// Steps every waiting room four times a second, and reloads their settings (which an admin on
/// another instance may have changed) every second.
async fn waiting_rooms(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        n += 1;
        if n.is_multiple_of(4)
            && let Err(e) = state.waiting_room.refresh().await
        {
            tracing::warn!(error = %e, "reloading waiting-room settings failed; will retry");
        }
        state.waiting_room.step_all().await;
    }
}

async fn sweeper(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_purge = tokio::time::Instant::now();
    let mut last_prune = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = release_expired_holds(&state).await {
            tracing::warn!(error = %e, "releasing expired holds failed; will retry");
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = tokio::time::Instant::now();
            if let Err(e) = purge(&state).await {
                tracing::warn!(error = %e, "purging old records failed; will retry");
            }
            for limiter in state.limits.all() {
                limiter.forget_idle();
            }
            state.limits.seats_per_address.forget_idle();
        }
        // Often enough that nothing outlives its retention by much more than a quarter of it.
        let prune_every = (state.settings.limits.ended_hold_retention / 4)
            .clamp(state.settings.sweep_interval, PURGE_EVERY);
        if last_prune.elapsed() >= prune_every {
            last_prune = tokio::time::Instant::now();
            if let Err(e) = prune_ended_holds(&state).await {
                tracing::warn!(error = %e, "pruning ended holds failed; will retry");
            }
        }
    }
}

/// Expires every active hold past its `expires_at`, returns its seats to sale, and broadcasts
/// the change. Each hold is its own transaction with the same conditional updates as a release,
/// so a hold converted or released concurrently is left alone.
pub async fn release_expired_holds(state: &AppState) -> StoreResult<usize> {
    let mut released = 0;
    loop {
        let mut tx = state.db.read().await?;
        let expired = tx.expired_holds(Timestamp::now(), SWEEP_BATCH).await?;
        tx.commit().await?;
        if expired.is_empty() {
            return Ok(released);
        }
        let batch = expired.len();
        let unconfirmed = unconfirmed_payments(state).await?;
        for (hold_id, event_id) in expired {
            if let Some(payment) = unconfirmed.iter().find(|p| p.hold_id == hold_id)
                && !cancel_before_release(state, payment).await
            {
                // The payment went through first: its order, not a release, ends the hold.
                continue;
            }
            let mut tx = state.db.begin().await?;
            let Some(hold) = tx.hold_by_id(&hold_id).await? else {
                continue;
            };
            if !tx
                .end_hold(&hold_id, HoldStatus::Expired, Timestamp::now())
                .await?
            {
                continue;
            }
            tx.free_held_seats(&event_id, &hold_id, &hold.seat_ids)
                .await?;
            let changes = tx.seat_statuses_of(&event_id, &hold.seat_ids).await?;
            tx.commit().await?;
            state.publish(&event_id, changes);
            released += 1;
            metrics::counter!("boxoffice_holds_expired_total").increment(1);
        }
        if batch < SWEEP_BATCH as usize {
            return Ok(released);
        }
    }
}

/// Pending payments whose intent exists: what an expiring hold may still be paid by.
async fn unconfirmed_payments(state: &AppState) -> StoreResult<Vec<StoredPayment>> {
    let mut tx = state.db.read().await?;
    let pending = tx.pending_payments(Timestamp::now(), PAYMENT_BATCH).await?;
    tx.commit().await?;
    Ok(pending
        .into_iter()
        .filter(|p| p.provider_ref.is_some())
        .collect())
}

/// Cancels the unconfirmed intent of a hold about to be released by its buyer. Returns whether
/// the hold may be released (see [`cancel_before_release`]).
pub async fn cancel_unconfirmed_payment_of(state: &AppState, hold_id: &str) -> StoreResult<bool> {
    let pending = unconfirmed_payments(state).await?;
    Ok(match pending.iter().find(|p| p.hold_id == hold_id) {
        Some(payment) => cancel_before_release(state, payment).await,
        None => true,
    })
}

/// Before an expired hold with an unconfirmed payment is released, the intent is cancelled at
/// the provider, so that it can never be charged without an order. Returns whether the hold may
/// be released: not when the cancel found the payment succeeded (it is settled into an order
/// instead). When the provider cannot say, the hold is released as before, and a success that
/// lands later is settled as a late payment: seats retaken if free, otherwise refunded.
async fn cancel_before_release(state: &AppState, payment: &StoredPayment) -> bool {
    let Some(intent) = &payment.provider_ref else {
        return true;
    };
    let status = match state.payments.cancel(intent).await {
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
    if let Err(e) = crate::http::settlement::settle(state, &payment.id, Some(intent), &status).await
    {
        tracing::warn!(payment_id = %payment.id, error = ?e, "settling a cancelled payment failed; the reconciler will retry");
    }
    !succeeded
}

async fn reconciler(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.reconcile_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_full = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let full = last_full.elapsed() >= FULL_RECONCILE_EVERY;
        if full {
            last_full = tokio::time::Instant::now();
        }
        match state
            .hub
            .reconcile((!full).then_some(RECONCILE_WINDOW))
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("boxoffice_reconciled_seats_total").increment(n as u64);
                tracing::debug!(seats = n, full, "reconciliation corrected seats");
            }
            Err(e) => tracing::warn!(error = %e, "reconciliation failed; will retry"),
        }
    }
}

async fn payment_reconciler(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.payment_reconcile_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match reconcile_payments(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(payments = n, "reconciliation settled payments"),
            Err(e) => tracing::warn!(error = %e, "payment reconciliation failed; will retry"),
        }
    }
}

/// Asks the provider about every payment still pending after the grace period and settles
/// those it has an answer for. Never retries a charge: it only asks.
pub async fn reconcile_payments(state: &AppState) -> anyhow::Result<usize> {
    let now = Timestamp::now();
    let mut tx = state.db.read().await?;
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
            None => match intent_of(state, &payment).await {
                Ok(intent) => intent,
                Err(e) => {
                    tracing::warn!(payment_id = %payment.id, error = %e, "could not find the payment's intent; will ask again");
                    continue;
                }
            },
        };
        let status = match state.payments.retrieve(&intent).await {
            // Never confirmed, and too old for its checkout to still be confirming it: cancel it
            // at the provider (never only here), and settle what the cancel says — a slow
            // confirmation may have landed first. A browser's payment may take as long as its
            // hold lasts; the sweep cancels it when the hold expires.
            Ok(IntentStatus::RequiresConfirmation)
                if abandoned && state.payments.browser_checkout().is_none() =>
            {
                match state.payments.cancel(&intent).await {
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
        match crate::http::settlement::settle(state, &payment.id, Some(&intent), &status).await {
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
/// request checkout made (see [`crate::http::checkout::intent_request`]).
async fn intent_of(state: &AppState, payment: &StoredPayment) -> anyhow::Result<String> {
    let mut tx = state.db.read().await?;
    let hold = tx.hold_by_id(&payment.hold_id).await?;
    tx.commit().await?;
    let hold = hold.ok_or_else(|| anyhow::anyhow!("payment {} has no hold", payment.id))?;
    let event = state
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
    let key = crate::http::checkout::attempt_key(&payment.id, retried_at);
    let request = crate::http::checkout::intent_request(&key, &total, &event, &hold);
    Ok(state.payments.create_intent(&request).await?.id)
}

async fn purge(state: &AppState) -> StoreResult<()> {
    let now = Timestamp::now();
    let mut tx = state.db.begin().await?;
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

/// How many ended holds one pruning transaction deletes: short transactions, whatever the backlog.
const PRUNE_BATCH: u32 = 500;

/// Deletes released and expired holds older than the retention setting, and their seat rows, so
/// that a script cycling holds cannot grow the tables without bound. Holds a payment refers to
/// stay: the payment's history needs them. Returns how many holds went.
pub async fn prune_ended_holds(state: &AppState) -> StoreResult<u64> {
    let before = Timestamp::now().minus(state.settings.limits.ended_hold_retention);
    let mut pruned = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let ids = tx.prunable_holds(before, PRUNE_BATCH).await?;
        let deleted = tx.delete_ended_holds(&ids).await?;
        tx.commit().await?;
        pruned += deleted;
        if ids.len() < PRUNE_BATCH as usize {
            if pruned > 0 {
                tracing::info!(pruned, "pruned ended holds past their retention");
            }
            return Ok(pruned);
        }
    }
}
