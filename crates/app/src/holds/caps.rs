//! The caps on holds, checked inside the hold's transaction once the buyer is locked: seats held
//! for the event and across all events, holds per event per hour, and the cool-down on a seat
//! just let go.

use std::time::Duration;

use serde_json::json;

use crate::{AppError, AppResult, ErrorCode, SaleRules};
use boxoffice_domain::{
    hoarding,
    hold::HoldRequest,
    ids::{EventId, UserId},
    rate::retry_after_secs,
    time::Timestamp,
};
use boxoffice_store::Repository;

/// Inside the hold's transaction, after the account is locked, so that two holds at once cannot
/// both slip under a cap.
pub(super) async fn check_in_transaction(
    tx: &mut dyn Repository,
    rules: &SaleRules,
    request: &HoldRequest,
    user_id: &UserId,
    event_id: &EventId,
    now: Timestamp,
) -> AppResult<()> {
    let seat_ids = request.seat_ids();
    let counts = tx
        .hold_counts(
            event_id,
            user_id,
            now,
            (
                now.minus(hoarding::HOUR),
                rules.max_holds_per_event_per_hour,
            ),
            now.minus(rules.hold_cooldown),
        )
        .await?;
    request.check_limit(counts.held_in_event, rules.max_seats_per_hold)?;
    hoarding::check_total(
        counts.held_in_all,
        seat_ids.len(),
        rules.max_seats_held_total,
    )?;
    if let Some(wait) = hoarding::hourly_wait(
        counts.holds_since,
        counts.oldest_since,
        rules.max_holds_per_event_per_hour,
        now,
    ) {
        metrics::counter!("boxoffice_rate_limited_total", "limit" => "holds_event_hour")
            .increment(1);
        return Err(rate_limited(wait));
    }
    // Which seats are cooling down is only asked when the buyer let a hold go lately.
    if !rules.hold_cooldown.is_zero() && counts.last_let_go.is_some() {
        let let_go = tx
            .seats_recently_let_go(event_id, user_id, seat_ids, now.minus(rules.hold_cooldown))
            .await?;
        if let Some((seats, wait)) = hoarding::cooling_down(&let_go, rules.hold_cooldown, now) {
            let secs = retry_after_secs(wait);
            let e = AppError::refused(ErrorCode::SeatCoolingDown)
                .message(format!(
                    "You just let these seats go; you may hold them again in {secs} s."
                ))
                .details(json!({ "seat_ids": seats, "retry_after_seconds": secs }))
                .retry_after(secs);
            return Err(e);
        }
    }
    Ok(())
}

/// The 429 for a hold over a rate that may come back after `wait`.
pub fn rate_limited(wait: Duration) -> AppError {
    let secs = retry_after_secs(wait);
    AppError::refused(ErrorCode::RateLimited)
        .message(format!("Too many requests; try again in {secs} s."))
        .details(json!({ "retry_after_seconds": secs }))
        .retry_after(secs)
}
