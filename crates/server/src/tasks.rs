//! When the background work runs, and that it stops on shutdown: releasing expired holds, healing
//! the in-memory seat maps from the database, settling payments whose outcome was not known at
//! checkout, and purging old records. The work itself is the application's use cases, the same
//! ones the requests call.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::http::AppState;
use boxoffice_app::{holds, reconcile};

/// Changes stamped this recently are re-read on every reconciliation: wide enough to cover any
/// transaction still in flight when the previous pass ran.
const RECONCILE_WINDOW: Duration = Duration::from_secs(5);
/// Every so often the whole seat map is re-read, whatever the timestamps say.
const FULL_RECONCILE_EVERY: Duration = Duration::from_secs(60);
const PURGE_EVERY: Duration = Duration::from_secs(300);

pub(crate) fn spawn_all(state: AppState) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(sweeper(state.clone())),
        tokio::spawn(reconciler(state.clone())),
        tokio::spawn(payment_reconciler(state.clone())),
        tokio::spawn(waiting_rooms(state.clone())),
        tokio::spawn(catalogue(state)),
    ]
}

/// How soon an admin's edit of an event, made on another instance, shows here.
const CATALOGUE_REFRESH: Duration = Duration::from_secs(2);

/// Forgets every event an admin edited on another instance since it was read here.
async fn catalogue(state: AppState) {
    let mut tick = tokio::time::interval(CATALOGUE_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match state.app.catalog.refresh().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(events = n, "edited events will be read again"),
            Err(e) => tracing::warn!(error = %e, "refreshing the catalogue failed; will retry"),
        }
    }
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
            && let Err(e) = state.app.waiting_room.refresh().await
        {
            tracing::warn!(error = %e, "reloading waiting-room settings failed; will retry");
        }
        state.app.waiting_room.step_all().await;
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
        if let Err(e) = holds::release_expired_holds(&state.app).await {
            tracing::warn!(error = %e, "releasing expired holds failed; will retry");
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = tokio::time::Instant::now();
            if let Err(e) = reconcile::purge(&state.app).await {
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
            if let Err(e) = holds::prune_ended_holds(&state.app).await {
                tracing::warn!(error = %e, "pruning ended holds failed; will retry");
            }
        }
    }
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
            .app
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
        match reconcile::reconcile_payments(&state.app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(payments = n, "reconciliation settled payments"),
            Err(e) => tracing::warn!(error = %e, "payment reconciliation failed; will retry"),
        }
    }
}
