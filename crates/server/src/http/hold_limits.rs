//! The limits on holds beyond the per-event seat cap: holds per account per minute and per event
//! per hour, seats held across all events, and the cool-down on a seat just let go. Kept out of
//! the hold handler so that its own logic stays readable.

use serde_json::json;

use super::{
    ApiError, ApiResult, AppState, address_seats::Reservation, extract::ClientAddress, limits,
};
use crate::config::LimitSettings;
use boxoffice_domain::{hoarding, rate::retry_after_secs, time::Timestamp};
use boxoffice_store::Repository;

/// Before any database work: the account's hold rate.
pub async fn check_rate(state: &AppState, user_id: &str) -> ApiResult<()> {
    limits::check(state.limits.holds_per_account.as_ref(), user_id).await
}

/// Before the hold's transaction: counts its seats against the cap of its client address (the
/// account farm's limit). The reservation is to be cancelled if the hold is not granted.
pub async fn reserve_for_address(
    state: &AppState,
    client: ClientAddress,
    seats: usize,
) -> ApiResult<Option<Reservation>> {
    let Some(addr) = client.0 else {
        return Ok(None);
    };
    let seats = u32::try_from(seats).unwrap_or(u32::MAX);
    let key = limits::address_key(addr);
    state
        .limits
        .seats_per_address
        .reserve(&key, seats)
        .await
        .map_err(|wait| {
            metrics::counter!("boxoffice_rate_limited_total", "limit" => "seats_per_address")
                .increment(1);
            limits::rate_limited(wait)
        })
}

/// Inside the hold's transaction, after the account is locked, so that two holds at once cannot
/// both slip under a cap.
pub async fn check_in_transaction(
    tx: &mut dyn Repository,
    settings: &LimitSettings,
    user_id: &str,
    event_id: &str,
    seat_ids: &[String],
    now: Timestamp,
) -> ApiResult<()> {
    let held = tx.seats_held_by_user(user_id, now).await?;
    hoarding::check_total(held, seat_ids.len(), settings.max_seats_held_total)?;
    let (count, oldest) = tx
        .holds_created_since(event_id, user_id, now.minus(hoarding::HOUR))
        .await?;
    if let Some(wait) =
        hoarding::hourly_wait(count, oldest, settings.max_holds_per_event_per_hour, now)
    {
        metrics::counter!("boxoffice_rate_limited_total", "limit" => "holds_event_hour")
            .increment(1);
        return Err(limits::rate_limited(wait));
    }
    if !settings.hold_cooldown.is_zero() {
        let let_go = tx
            .seats_recently_let_go(
                event_id,
                user_id,
                seat_ids,
                now.minus(settings.hold_cooldown),
            )
            .await?;
        if let Some((seats, wait)) = hoarding::cooling_down(&let_go, settings.hold_cooldown, now) {
            let secs = retry_after_secs(wait);
            let mut e = ApiError::conflict(
                "seat_cooling_down",
                format!("You just let these seats go; you may hold them again in {secs} s."),
            )
            .with_details(json!({ "seat_ids": seats, "retry_after_seconds": secs }));
            e.retry_after = Some(secs);
            return Err(e);
        }
    }
    Ok(())
}
