//! When the background work runs, and that it stops on shutdown: releasing expired holds, healing
//! the in-memory seat maps from the database, settling payments whose outcome was not known at
//! checkout, sending the buyers' e-mail, and purging old records. The work itself is the application's use cases, the same
//! ones the requests call.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::http::AppState;
use boxoffice_app::{holds, mail, reconcile};

/// Changes stamped this recently are re-read on every reconciliation: wide enough to cover any
/// transaction still in flight when the previous pass ran.
const RECONCILE_WINDOW: Duration = Duration::from_secs(5);
/// Every so often the whole seat map is re-read, whatever the timestamps say.
const FULL_RECONCILE_EVERY: Duration = Duration::from_secs(60);
const PURGE_EVERY: Duration = Duration::from_secs(300);
/// How often the outbox is looked at when nothing woke the sender: for messages other instances
/// queued, and for retries whose wait is over.
const MAIL_EVERY: Duration = Duration::from_secs(1);
/// How often the count of unsent messages is refreshed for `/metrics`.
const MAIL_GAUGE_EVERY: Duration = Duration::from_secs(10);
/// How long a send in progress may finish after shutdown begins; past it, it is dropped, and
/// the message goes out again from another instance when its lease runs out.
const MAIL_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub(crate) fn spawn_all(state: AppState) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(sweeper(state.clone())),
        tokio::spawn(reconciler(state.clone())),
        tokio::spawn(payment_reconciler(state.clone())),
        tokio::spawn(mail_sender(state.clone())),
        tokio::spawn(waiting_rooms(state.clone())),
        tokio::spawn(catalogue(state)),
    ]
}

/// Sends the outbox's due messages: woken at once by a sale or refund on this instance, and
/// every second otherwise. A full round goes again straight away.
async fn mail_sender(state: AppState) {
    let Some(mailer) = state.app.mail.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(MAIL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_gauge: Option<tokio::time::Instant> = None;
    let mut again = false;
    loop {
        if !again {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tick.tick() => {}
                _ = mailer.woken() => {}
            }
        }
        let grace = async {
            state.shutdown.cancelled().await;
            tokio::time::sleep(MAIL_SHUTDOWN_GRACE).await;
        };
        let round = tokio::select! {
            round = mail::deliver_due(&state.app) => round,
            _ = grace => return,
        };
        again = match round {
            Ok(round) => round.was_full() && !state.shutdown.is_cancelled(),
            Err(e) => {
                tracing::warn!(error = %e, "sending e-mail failed; will retry");
                false
            }
        };
        if last_gauge.is_none_or(|at| at.elapsed() >= MAIL_GAUGE_EVERY) {
            last_gauge = Some(tokio::time::Instant::now());
            match mail::unsent_mail(&state.app).await {
                Ok(n) => metrics::gauge!("boxoffice_mail_unsent").set(n as f64),
                Err(e) => tracing::warn!(error = %e, "counting unsent e-mail failed"),
            }
        }
    }
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
