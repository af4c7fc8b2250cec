//! Holds: reserving seats while the payment window is open, reading and releasing them.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    address_seats::AddressAllowance,
    checkout,
    events::live_event,
    extract::{ApiJson, ApiPath, ClientAddress, CurrentUser},
    limits, queue,
};
use boxoffice_app::holds::{self, HoldCommand};
use boxoffice_domain::{
    hold::{Hold, HoldStatus},
    ids::HoldId,
    time::Timestamp,
};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{event_id}/holds", post(create_hold))
        .route("/holds/{hold_id}", get(get_hold).delete(release_hold))
        .route("/holds/{hold_id}/checkout", post(checkout::checkout))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateHoldRequest {
    pub seat_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HoldView {
    pub id: String,
    pub event_id: String,
    pub seat_ids: Vec<String>,
    pub status: HoldStatus,
    pub created_at: String,
    pub expires_at: String,
}

impl HoldView {
    pub(crate) fn of(hold: &Hold, now: Timestamp) -> Self {
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
pub(crate) struct HoldResponse {
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
pub(crate) async fn create_hold(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: CurrentUser,
    client: ClientAddress,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateHoldRequest>,
) -> ApiResult<(StatusCode, Json<HoldResponse>)> {
    limits::check(state.limits.holds_per_account.as_ref(), user.id()).await?;
    let started = std::time::Instant::now();
    let (info, live) = live_event(&state, &event_id).await?;
    queue::admit(&state, &event_id, user.id(), &headers)?;
    let command = HoldCommand {
        user_id: user.id(),
        event: &info,
        live: &live,
        seat_ids: &body.seat_ids,
    };
    let mut allowance = AddressAllowance::new(&state, client);
    let result = holds::place_hold(&state.app, command, &mut allowance).await;
    state
        .app
        .waiting_room
        .record_hold_latency(&event_id, started.elapsed());
    let hold = result?;
    let view = HoldView::of(&hold, Timestamp::now());
    Ok((StatusCode::CREATED, Json(HoldResponse { hold: view })))
}

/// The caller's hold; 404 for anyone else's.
#[utoipa::path(get, path = "/api/v1/holds/{hold_id}", tag = "holds", params(("hold_id" = String, Path)),
    responses((status = 200, body = HoldResponse), (status = 401), (status = 404)))]
pub(crate) async fn get_hold(
    State(state): State<AppState>,
    ApiPath(hold_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<Json<HoldResponse>> {
    let hold_id = HoldId::parse(&hold_id).ok_or_else(|| ApiError::not_found("Hold"))?;
    let hold = holds::hold_of(&state.app, user.id(), &hold_id).await?;
    Ok(Json(HoldResponse {
        hold: HoldView::of(&hold, Timestamp::now()),
    }))
}

/// Release a hold's seats at once. Idempotent: releasing an ended hold changes nothing.
#[utoipa::path(delete, path = "/api/v1/holds/{hold_id}", tag = "holds", params(("hold_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 404)))]
pub(crate) async fn release_hold(
    State(state): State<AppState>,
    ApiPath(hold_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<StatusCode> {
    let hold_id = HoldId::parse(&hold_id).ok_or_else(|| ApiError::not_found("Hold"))?;
    holds::release_hold(&state.app, user.id(), &hold_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
