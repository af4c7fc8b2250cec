//! The caps on holds beyond the per-event seat cap, checked inside the hold's transaction: seats
//! held across all events, holds per event per hour, and the cool-down on a seat just let go.

use std::time::Duration;

use serde_json::json;

use crate::{AppError, AppResult, ErrorCode, SaleRules};
use boxoffice_domain::{hoarding, rate::retry_after_secs, time::Timestamp};
use boxoffice_store::Repository;

/// Inside the hold's transaction, after the account is locked, so that two holds at once cannot
/// both slip under a cap.
pub async fn check_in_transaction(
    tx: &mut dyn Repository,
    rules: &SaleRules,
    user_id: &str,
    event_id: &str,
    seat_ids: &[String],
    now: Timestamp,
) -> AppResult<()> {
    let held = tx.seats_held_by_user(user_id, now).await?;
    hoarding::check_total(held, seat_ids.len(), rules.max_seats_held_total)?;
    let (count, oldest) = tx
        .holds_created_since(event_id, user_id, now.minus(hoarding::HOUR))
        .await?;
    if let Some(wait) =
        hoarding::hourly_wait(count, oldest, rules.max_holds_per_event_per_hour, now)
    {
        metrics::counter!("boxoffice_rate_limited_total", "limit" => "holds_event_hour")
            .increment(1);
        return Err(rate_limited(wait));
    }
    if !rules.hold_cooldown.is_zero() {
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
