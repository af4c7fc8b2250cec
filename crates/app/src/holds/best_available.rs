//! Best available: the hold of the best block of N adjacent seats free now, chosen from this
//! instance's live map and written through the same caps and all-or-nothing update as a pick.

use std::{collections::HashSet, time::Duration};

use serde_json::json;

use super::{Granted, HoldCommand, SeatAllowance, check_on_sale, grant};
use crate::{App, AppError, AppResult, ErrorCode};
use boxoffice_domain::{
    best_available::{BestAvailable, best_block},
    hold::{Hold, HoldRequest},
};

/// How many blocks one request tries before it gives up. A try fails when another buyer took one
/// of its seats between the pick and the write, which this instance's map had not yet shown (a
/// buyer on another instance, or a pick here that won the same seats); each new try leaves out
/// the seats the failed ones found taken.
const ATTEMPTS: usize = 5;

/// How long a pick that found every good block claimed by picks in flight waits for them.
const CLAIMS_SETTLE: Duration = Duration::from_millis(20);

/// Holds the best block for `ask`, or answers 409 `no_seats_together` when there is none (or
/// other buyers kept taking the chosen seats first).
pub(super) async fn hold_best_available(
    app: &App,
    command: &HoldCommand<'_>,
    ask: &BestAvailable,
    allowance: &mut impl SeatAllowance,
) -> AppResult<Hold> {
    let HoldCommand {
        user_id,
        event,
        live,
        ..
    } = *command;
    check_on_sale(event)?;
    if let Some(category) = ask.category_id()
        && !event.categories.iter().any(|c| c.id == category)
    {
        return Err(AppError::refused(ErrorCode::UnknownCategory));
    }
    // Seats this request found taken, which the live map may not show yet.
    let mut passed_over: HashSet<String> = HashSet::new();
    // Seats the buyer let go a moment ago may not be theirs again yet (the cool-down); anyone
    // else's are still a good block for them. Kept to answer with if nothing else is left.
    let mut cooling_down: Option<AppError> = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            metrics::counter!("boxoffice_best_available_retries_total").increment(1);
        }
        // The map is read under the claims' lock: a pick that drops its claim has published its
        // hold first, so its seats are either claimed or already shown taken, never neither.
        let claim = live.claims().claim(|claimed| {
            let available = live.availability();
            best_block(&event.layout, ask.wanted(), |id| {
                available.is_free(id) && !claimed.contains(id) && !passed_over.contains(id)
            })
        });
        let Some(claim) = claim else {
            // Other picks may be about to give seats back: a refused one does.
            if live.claims().any() && attempt + 1 < ATTEMPTS {
                tokio::time::sleep(CLAIMS_SETTLE).await;
                continue;
            }
            return Err(cooling_down.unwrap_or_else(|| no_seats_together(ask)));
        };
        let request = HoldRequest::parse(claim.seats(), app.rules.max_seats_per_hold)?;
        match grant(app, user_id, &event.id, &request, allowance).await {
            Ok(Granted::Held(hold)) => return Ok(hold),
            Ok(Granted::Taken(taken)) => passed_over.extend(taken),
            Err(e) if e.is(ErrorCode::SeatCoolingDown) => {
                let seats = e.detail_strings("seat_ids");
                if seats.is_empty() {
                    return Err(e);
                }
                passed_over.extend(seats);
                cooling_down = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(no_seats_together(ask))
}

fn no_seats_together(ask: &BestAvailable) -> AppError {
    metrics::counter!("boxoffice_holds_refused_total").increment(1);
    AppError::refused(ErrorCode::NoSeatsTogether).details(json!({
        "count": ask.count(),
        "category_id": ask.category_id(),
    }))
}
