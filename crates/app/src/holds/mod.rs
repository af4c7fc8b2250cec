//! Holds: reserving seats, all or nothing, while the buyer pays; letting them go when the buyer
//! releases the hold or its payment window closes; forgetting ended holds after a while.

mod best_available;
mod caps;

pub use caps::rate_limited;

use std::future::Future;

use serde_json::json;

use crate::{
    App, AppError, AppResult, ErrorCode,
    catalog::{EventInfo, EventStatus},
    realtime::LiveEvent,
    reconcile,
};
use boxoffice_domain::{
    hold::{Hold, HoldChoice, HoldRequest, HoldStatus},
    ids::{EventId, HoldId, UserId},
    seat::SeatStatus,
    time::Timestamp,
};
use boxoffice_store::{Repository, StoreResult};

/// A wider allowance a hold's seats are counted against before the hold is written (the client
/// address's, which the HTTP layer keeps), and given back to when the hold is refused.
pub trait SeatAllowance {
    /// Counts `seats` against the allowance, or refuses (a 429 with its wait).
    fn reserve(&mut self, seats: usize) -> impl Future<Output = AppResult<()>> + Send;
    /// Gives back what [`SeatAllowance::reserve`] counted: the hold was not granted.
    fn give_back(&mut self) -> impl Future<Output = ()> + Send;
}

/// What a buyer asks to hold.
pub struct HoldCommand<'a> {
    /// The buyer.
    pub user_id: &'a UserId,
    /// The event, from the catalogue.
    pub event: &'a EventInfo,
    /// This instance's live map of the event, for the cheap refusal and the best-available pick.
    pub live: &'a LiveEvent,
    /// The seats picked, or how many of the best.
    pub choice: &'a HoldChoice,
}

/// Holds every seat asked for, or none, for the payment window, and tells every open map. The
/// seats are the buyer's pick or the best block free now; either way the same caps and the same
/// all-or-nothing write decide.
pub async fn place_hold(
    app: &App,
    command: HoldCommand<'_>,
    allowance: &mut impl SeatAllowance,
) -> AppResult<Hold> {
    match command.choice {
        HoldChoice::Pick(request) => hold_picked_seats(app, &command, request, allowance).await,
        HoldChoice::BestAvailable(ask) => {
            best_available::hold_best_available(app, &command, ask, allowance).await
        }
    }
}

async fn hold_picked_seats(
    app: &App,
    command: &HoldCommand<'_>,
    request: &HoldRequest,
    allowance: &mut impl SeatAllowance,
) -> AppResult<Hold> {
    let HoldCommand {
        user_id,
        event,
        live,
        ..
    } = *command;
    let event_id = &event.id;
    let unknown: Vec<&String> = request
        .seat_ids()
        .iter()
        .filter(|s| !live.contains(s))
        .collect();
    if !unknown.is_empty() {
        return Err(
            AppError::refused(ErrorCode::UnknownSeats).details(json!({ "seat_ids": unknown }))
        );
    }
    check_on_sale(event)?;
    // Cheap refusal: when this instance's live map says a seat is taken, confirm it with one read
    // (which never waits for the writers) and answer 409 without a write transaction. A crowd
    // clicking the same few seats is mostly refusals, and they must not queue behind the sales.
    // The database still decides every hold it is asked for: a stale map only costs a read.
    if !live.seen_taken(request.seat_ids()).is_empty() {
        let mut tx = app.db.refusal_read().await?;
        let unavailable = tx
            .unavailable_seats(event_id, request.seat_ids(), None)
            .await?;
        tx.commit().await?;
        if !unavailable.is_empty() {
            metrics::counter!("boxoffice_holds_refused_total").increment(1);
            return Err(seat_unavailable(unavailable));
        }
    }
    match grant(app, user_id, event_id, request, allowance).await? {
        Granted::Held(hold) => Ok(hold),
        Granted::Taken(unavailable) => Err(seat_unavailable(unavailable)),
    }
}

/// Holds are taken only while the sale is open.
fn check_on_sale(event: &EventInfo) -> AppResult<()> {
    match event.status(Timestamp::now(), 1) {
        EventStatus::Scheduled => Err(ErrorCode::SaleNotOpen.into()),
        EventStatus::Ended => Err(ErrorCode::EventEnded.into()),
        EventStatus::OnSale | EventStatus::SoldOut => Ok(()),
    }
}

/// How a hold's one write came out, when nothing unexpected failed.
enum Granted {
    /// Written and published.
    Held(Hold),
    /// Refused, nothing changed: these seats were no longer available.
    Taken(Vec<String>),
}

/// Counts the seats against the allowance, writes the hold (caps, then all the seats or none) and
/// publishes its seats; the allowance is given back when the hold is not granted.
async fn grant(
    app: &App,
    user_id: &UserId,
    event_id: &EventId,
    request: &HoldRequest,
    allowance: &mut impl SeatAllowance,
) -> AppResult<Granted> {
    let now = Timestamp::now();
    let hold = Hold {
        id: HoldId::generate(),
        event_id: event_id.clone(),
        user_id: user_id.clone(),
        seat_ids: request.seat_ids().to_vec(),
        status: HoldStatus::Active,
        created_at: now,
        expires_at: now.plus(app.rules.hold_ttl),
    };
    allowance.reserve(hold.seat_ids.len()).await?;
    match write_hold(app, request, &hold, now).await {
        Ok(Ok(changes)) => {
            app.publish(event_id.as_str(), changes);
            metrics::counter!("boxoffice_holds_created_total").increment(1);
            Ok(Granted::Held(hold))
        }
        Ok(Err(unavailable)) => {
            allowance.give_back().await;
            Ok(Granted::Taken(unavailable))
        }
        Err(e) => {
            allowance.give_back().await;
            Err(e)
        }
    }
}

/// The hold's one transaction: the account's caps, then all the seats or none. Returns the seat
/// changes to publish, or the seats that were not available (and then nothing was written).
async fn write_hold(
    app: &App,
    request: &HoldRequest,
    hold: &Hold,
    now: Timestamp,
) -> AppResult<Result<Vec<SeatStatus>, Vec<String>>> {
    let (event_id, user_id) = (&hold.event_id, &hold.user_id);
    let mut tx = app.db.begin().await?;
    tx.lock_user(user_id).await?;
    caps::check_in_transaction(tx.as_mut(), &app.rules, request, user_id, event_id, now).await?;
    tx.insert_hold(hold).await?;
    let changes = tx
        .take_available_seats(event_id, &hold.id, user_id, &hold.seat_ids)
        .await?;
    if changes.len() != hold.seat_ids.len() {
        let unavailable = tx
            .unavailable_seats(event_id, &hold.seat_ids, Some(&hold.id))
            .await?;
        drop(tx); // rolls back: all or nothing
        metrics::counter!("boxoffice_holds_refused_total").increment(1);
        return Ok(Err(unavailable));
    }
    tx.commit().await?;
    Ok(Ok(changes))
}

fn seat_unavailable(seat_ids: Vec<String>) -> AppError {
    AppError::refused(ErrorCode::SeatUnavailable).details(json!({ "seat_ids": seat_ids }))
}

/// The buyer's own hold; not found for anyone else's.
pub async fn hold_of(app: &App, user_id: &UserId, hold_id: &HoldId) -> AppResult<Hold> {
    let mut tx = app.db.read().await?;
    let hold = tx.hold_by_id(hold_id).await?;
    tx.commit().await?;
    hold.filter(|h| &h.user_id == user_id)
        .ok_or_else(|| AppError::not_found("Hold"))
}

/// Releases the buyer's hold at once. Idempotent: releasing an ended hold changes nothing.
pub async fn release_hold(app: &App, user_id: &UserId, hold_id: &HoldId) -> AppResult<()> {
    // A buyer who leaves after a declined card leaves an intent their browser could still
    // confirm: cancel it at the provider first, so that no charge can come without an order.
    if app.payments.browser_checkout().is_some() {
        hold_of(app, user_id, hold_id).await?;
        if !reconcile::cancel_unconfirmed_payment_of(app, hold_id).await? {
            return Err(AppError::refused(ErrorCode::HoldNotActive)
                .message("This hold has just been paid for; its tickets are in My tickets."));
        }
    }
    let mut tx = app.db.begin().await?;
    let hold = tx
        .hold_by_id(hold_id)
        .await?
        .filter(|h| &h.user_id == user_id)
        .ok_or_else(|| AppError::not_found("Hold"))?;
    if let Some(changes) = end_hold(tx.as_mut(), &hold, HoldStatus::Released).await? {
        tx.commit().await?;
        app.publish(hold.event_id.as_str(), changes);
        metrics::counter!("boxoffice_holds_released_total").increment(1);
    }
    Ok(())
}

/// Ends an active hold as `status` and frees its seats, inside the caller's transaction. Returns
/// the seat changes to publish once committed, or `None` when the hold had already ended
/// (converted, released or expired by someone else first): then nothing changed.
async fn end_hold(
    tx: &mut dyn Repository,
    hold: &Hold,
    status: HoldStatus,
) -> StoreResult<Option<Vec<SeatStatus>>> {
    if !tx.end_hold(&hold.id, status, Timestamp::now()).await? {
        return Ok(None);
    }
    tx.free_held_seats(&hold.event_id, &hold.id, &hold.seat_ids)
        .await?;
    Ok(Some(
        tx.seat_statuses_of(&hold.event_id, &hold.seat_ids).await?,
    ))
}

const SWEEP_BATCH: u32 = 200;

/// Expires every active hold past its `expires_at`, returns its seats to sale, and broadcasts
/// the change. Each hold is its own transaction with the same conditional updates as a release,
/// so a hold converted or released concurrently is left alone.
pub async fn release_expired_holds(app: &App) -> StoreResult<usize> {
    let mut released = 0;
    loop {
        let mut tx = app.db.read().await?;
        let expired = tx.expired_holds(Timestamp::now(), SWEEP_BATCH).await?;
        tx.commit().await?;
        if expired.is_empty() {
            return Ok(released);
        }
        let batch = expired.len();
        let unconfirmed = reconcile::unconfirmed_payments(app).await?;
        for (hold_id, event_id) in expired {
            if let Some(payment) = unconfirmed.iter().find(|p| p.hold_id == hold_id)
                && !reconcile::cancel_before_release(app, payment).await
            {
                // The payment went through first: its order, not a release, ends the hold.
                continue;
            }
            let mut tx = app.db.begin().await?;
            let Some(hold) = tx.hold_by_id(&hold_id).await? else {
                continue;
            };
            let Some(changes) = end_hold(tx.as_mut(), &hold, HoldStatus::Expired).await? else {
                continue;
            };
            tx.commit().await?;
            app.publish(event_id.as_str(), changes);
            released += 1;
            metrics::counter!("boxoffice_holds_expired_total").increment(1);
        }
        if batch < SWEEP_BATCH as usize {
            return Ok(released);
        }
    }
}

/// How many ended holds one pruning transaction deletes: short transactions, whatever the backlog.
const PRUNE_BATCH: u32 = 500;

/// Deletes released and expired holds older than the retention setting, and their seat rows, so
/// that a script cycling holds cannot grow the tables without bound. Holds a payment refers to
/// stay: the payment's history needs them. Returns how many holds went.
pub async fn prune_ended_holds(app: &App) -> StoreResult<u64> {
    let before = Timestamp::now().minus(app.rules.ended_hold_retention);
    let mut pruned = 0;
    loop {
        let mut tx = app.db.begin().await?;
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
