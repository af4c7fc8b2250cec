//! Holds: reserving seats while the payment window is open, reading and releasing them.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState, checkout,
    events::live_event,
    extract::{ApiJson, ApiPath, ClientAddress, CurrentUser},
    hold_limits, queue,
};
use boxoffice_app::{
    catalog::{EventInfo, EventStatus},
    realtime::LiveEvent,
};
use boxoffice_domain::{
    hold::{Hold, HoldRequest, HoldStatus},
    new_id,
    seat::SeatStatus,
    time::Timestamp,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{event_id}/holds", post(create_hold))
        .route("/holds/{hold_id}", get(get_hold).delete(release_hold))
        .route("/holds/{hold_id}/checkout", post(checkout::checkout))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateHoldRequest {
    pub seat_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    pub event_id: String,
    pub seat_ids: Vec<String>,
    pub status: HoldStatus,
    pub created_at: String,
    pub expires_at: String,
}

impl HoldView {
    pub fn of(hold: &Hold, now: Timestamp) -> Self {
        HoldView {
            id: hold.id.clone(),
            event_id: hold.event_id.clone(),
            seat_ids: hold.seat_ids.clone(),
            status: hold.effective_status(now),
            created_at: hold.created_at.to_rfc3339(),
            expires_at: hold.expires_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldResponse {
    pub hold: HoldView,
}

/// Hold seats, all or nothing, for the payment window.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/holds", tag = "holds", request_body = CreateHoldRequest,
    params(("event_id" = String, Path)),
    responses((status = 201, body = HoldResponse), (status = 401),
        (status = 403, description = "admission_required or invalid_admission: the event's waiting room comes first"),
        (status = 404),
        (status = 409, description = "seat_unavailable (details.seat_ids), seat_cooling_down (details.seat_ids, Retry-After), sale_not_open or event_ended"),
        (status = 422, description = "no_seats, duplicate_seats, unknown_seats, too_many_seats (per event) or too_many_seats_held (across events)")))]
pub async fn create_hold(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: CurrentUser,
    client: ClientAddress,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateHoldRequest>,
) -> ApiResult<(StatusCode, Json<HoldResponse>)> {
    hold_limits::check_rate(&state, user.id()).await?;
    let started = std::time::Instant::now();
    let (info, live) = live_event(&state, &event_id).await?;
    queue::admit(&state, &event_id, user.id(), &headers)?;
    let result = hold_seats(&state, &info, &live, &event_id, &user, client, body).await;
    state
        .waiting_room
        .record_hold_latency(&event_id, started.elapsed());
    result
}

async fn hold_seats(
    state: &AppState,
    info: &EventInfo,
    live: &LiveEvent,
    event_id: &str,
    user: &CurrentUser,
    client: ClientAddress,
    body: CreateHoldRequest,
) -> ApiResult<(StatusCode, Json<HoldResponse>)> {
    let event_id = event_id.to_owned();
    let max = state.settings.max_seats_per_hold;
    let request = HoldRequest::parse(&body.seat_ids, max)?;
    let unknown: Vec<&String> = request
        .seat_ids()
        .iter()
        .filter(|s| !live.contains(s))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::unprocessable(
            "unknown_seats",
            "Some seats do not exist in this event.",
        )
        .with_details(json!({ "seat_ids": unknown })));
    }
    let now = Timestamp::now();
    match info.status(now, 1) {
        EventStatus::Scheduled => {
            return Err(ApiError::conflict(
                "sale_not_open",
                "The sale has not opened yet.",
            ));
        }
        EventStatus::Ended => {
            return Err(ApiError::conflict(
                "event_ended",
                "This event has already taken place.",
            ));
        }
        EventStatus::OnSale | EventStatus::SoldOut => {}
    }
    // Cheap refusal: when this instance's live map says a seat is taken, confirm it with one read
    // (which never waits for the writers) and answer 409 without a write transaction. A crowd
    // clicking the same few seats is mostly refusals, and they must not queue behind the sales.
    // The database still decides every hold it is asked for: a stale map only costs a read.
    if !live.seen_taken(request.seat_ids()).is_empty() {
        let mut tx = state.db.refusal_read().await?;
        let unavailable = tx
            .unavailable_seats(&event_id, request.seat_ids(), "")
            .await?;
        tx.commit().await?;
        if !unavailable.is_empty() {
            metrics::counter!("boxoffice_holds_refused_total").increment(1);
            return Err(seat_unavailable(unavailable));
        }
    }
    let hold = Hold {
        id: new_id(),
        event_id: event_id.clone(),
        user_id: user.id().to_owned(),
        seat_ids: request.seat_ids().to_vec(),
        status: HoldStatus::Active,
        created_at: now,
        expires_at: now.plus(state.settings.hold_ttl),
    };
    let reservation = hold_limits::reserve_for_address(state, client, hold.seat_ids.len()).await?;
    let written = write_hold(state, &request, &hold, now).await;
    if written.is_err()
        && let Some(r) = reservation
    {
        state.limits.seats_per_address.cancel(r).await;
    }
    state.publish(&event_id, written?);
    metrics::counter!("boxoffice_holds_created_total").increment(1);
    Ok((
        StatusCode::CREATED,
        Json(HoldResponse {
            hold: HoldView::of(&hold, now),
        }),
    ))
}

/// The hold's one transaction: the account's caps, then all the seats or none. Returns the seat
/// changes to publish.
async fn write_hold(
    state: &AppState,
    request: &HoldRequest,
    hold: &Hold,
    now: Timestamp,
) -> ApiResult<Vec<SeatStatus>> {
    let (event_id, user_id) = (&hold.event_id, &hold.user_id);
    let mut tx = state.db.begin().await?;
    tx.lock_user(user_id).await?;
    let already = tx.seats_held_by(event_id, user_id, now).await?;
    request.check_limit(already, state.settings.max_seats_per_hold)?;
    hold_limits::check_in_transaction(
        tx.as_mut(),
        &state.settings.limits,
        user_id,
        event_id,
        &hold.seat_ids,
        now,
    )
    .await?;
    tx.insert_hold(hold).await?;
    let changes = tx
        .take_available_seats(event_id, &hold.id, user_id, &hold.seat_ids)
        .await?;
    if changes.len() != hold.seat_ids.len() {
        let unavailable = tx
            .unavailable_seats(event_id, &hold.seat_ids, &hold.id)
            .await?;
        drop(tx); // rolls back: all or nothing
        metrics::counter!("boxoffice_holds_refused_total").increment(1);
        return Err(seat_unavailable(unavailable));
    }
    tx.commit().await?;
    Ok(changes)
}

fn seat_unavailable(seat_ids: Vec<String>) -> ApiError {
    ApiError::conflict(
        "seat_unavailable",
        "Some of these seats were just taken by someone else.",
    )
    .with_details(json!({ "seat_ids": seat_ids }))
}

/// The caller's hold; 404 for anyone else's.
#[utoipa::path(get, path = "/api/v1/holds/{hold_id}", tag = "holds", params(("hold_id" = String, Path)),
    responses((status = 200, body = HoldResponse), (status = 401), (status = 404)))]
pub async fn get_hold(
    State(state): State<AppState>,
    ApiPath(hold_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<Json<HoldResponse>> {
    let mut tx = state.db.read().await?;
    let hold = tx.hold_by_id(&hold_id).await?;
    tx.commit().await?;
    let hold = hold
        .filter(|h| h.user_id == user.id())
        .ok_or_else(|| ApiError::not_found("Hold"))?;
    Ok(Json(HoldResponse {
        hold: HoldView::of(&hold, Timestamp::now()),
    }))
}

/// Release a hold's seats at once. Idempotent: releasing an ended hold changes nothing.
#[utoipa::path(delete, path = "/api/v1/holds/{hold_id}", tag = "holds", params(("hold_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 404)))]
pub async fn release_hold(
    State(state): State<AppState>,
    ApiPath(hold_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<StatusCode> {
    // A buyer who leaves after a declined card leaves an intent their browser could still
    // confirm: cancel it at the provider first, so that no charge can come without an order.
    if state.payments.browser_checkout().is_some() {
        let mut tx = state.db.read().await?;
        let owned = tx
            .hold_by_id(&hold_id)
            .await?
            .is_some_and(|h| h.user_id == user.id());
        tx.commit().await?;
        if !owned {
            return Err(ApiError::not_found("Hold"));
        }
    }
    if state.payments.browser_checkout().is_some()
        && !crate::tasks::cancel_unconfirmed_payment_of(&state, &hold_id)
            .await
            .map_err(ApiError::internal)?
    {
        return Err(ApiError::conflict(
            "hold_not_active",
            "This hold has just been paid for; its tickets are in My tickets.",
        ));
    }
    let now = Timestamp::now();
    let mut tx = state.db.begin().await?;
    let hold = tx.hold_by_id(&hold_id).await?;
    let hold = hold
        .filter(|h| h.user_id == user.id())
        .ok_or_else(|| ApiError::not_found("Hold"))?;
    if !tx.end_hold(&hold.id, HoldStatus::Released, now).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    tx.free_held_seats(&hold.event_id, &hold.id, &hold.seat_ids)
        .await?;
    let changes = tx.seat_statuses_of(&hold.event_id, &hold.seat_ids).await?;
    tx.commit().await?;
    state.publish(&hold.event_id, changes);
    metrics::counter!("boxoffice_holds_released_total").increment(1);
    Ok(StatusCode::NO_CONTENT)
}
