//! Holds: reserving seats while the payment window is open, reading and releasing them.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        Ref, RefOr,
        schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type},
    },
};

use super::{
    ApiError, ApiResult, AppState,
    address_seats::AddressAllowance,
    checkout,
    events::live_event,
    extract::{ApiJson, ApiPath, ClientAddress, CurrentUser},
    limits, queue,
};
use boxoffice_app::{
    AppError,
    holds::{self, HoldCommand},
};
use boxoffice_domain::{
    hold::{Hold, HoldChoice, HoldStatus},
    ids::HoldId,
    time::Timestamp,
};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{event_id}/holds", post(create_hold))
        .route("/holds/{hold_id}", get(get_hold).delete(release_hold))
        .route("/holds/{hold_id}/checkout", post(checkout::checkout))
}

/// `{seat_ids}` or `{best_available}`, exactly one of them (see [`HoldChoice::parse`]).
#[derive(Debug, Deserialize)]
pub(crate) struct CreateHoldRequest {
    pub seat_ids: Option<Vec<String>>,
    pub best_available: Option<BestAvailableRequest>,
}

/// The best adjacent seats in one row, nearest the stage's centre, leaving no single seat alone.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct BestAvailableRequest {
    /// How many seats, side by side: 1 to the per-hold maximum.
    #[schema(minimum = 1)]
    pub count: u64,
    /// Only seats of this category: the id of one of the event's `categories`.
    pub category_id: Option<String>,
}

// Written out rather than derived: the body is one of two shapes, which serde reads as one
// struct of two optional fields so that both or neither can be refused with a clear message.
impl utoipa::PartialSchema for CreateHoldRequest {
    fn schema() -> RefOr<Schema> {
        let pick = ObjectBuilder::new()
            .description(Some("The seats the buyer picked: all of them, or none."))
            .property(
                "seat_ids",
                ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)),
            )
            .required("seat_ids");
        let best = ObjectBuilder::new()
            .description(Some(
                "The best block of `count` adjacent free seats in one row, chosen by the server.",
            ))
            .property(
                "best_available",
                Ref::from_schema_name(BestAvailableRequest::name()),
            )
            .required("best_available");
        OneOfBuilder::new().item(pick).item(best).into()
    }
}

impl ToSchema for CreateHoldRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            BestAvailableRequest::name().into_owned(),
            BestAvailableRequest::schema(),
        ));
        <BestAvailableRequest as ToSchema>::schemas(schemas);
    }
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
            id: hold.id.to_string(),
            event_id: hold.event_id.to_string(),
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

/// Hold seats, all or nothing, for the payment window: the seats picked, or the best block of so
/// many adjacent seats free now.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/holds", tag = "holds", request_body = CreateHoldRequest,
    params(("event_id" = String, Path)),
    responses((status = 201, body = HoldResponse), (status = 401),
        (status = 403, description = "admission_required or invalid_admission: the event's waiting room comes first"),
        (status = 404),
        (status = 409, description = "seat_unavailable (details.seat_ids), seat_cooling_down (details.seat_ids, Retry-After), no_seats_together (best_available: no block of that many adjacent free seats; details.count, details.category_id), sale_not_open or event_ended"),
        (status = 422, description = "invalid_request (both seat_ids and best_available, or neither), no_seats, duplicate_seats, unknown_seats, unknown_category (best_available), too_many_seats (per event) or too_many_seats_held (across events)")))]
pub(crate) async fn create_hold(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: CurrentUser,
    client: ClientAddress,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateHoldRequest>,
) -> ApiResult<(StatusCode, Json<HoldResponse>)> {
    limits::check(state.limits.holds_per_account.as_ref(), user.id().as_str()).await?;
    let started = std::time::Instant::now();
    let (info, live) = live_event(&state, &event_id).await?;
    queue::admit(&state, &event_id, user.id().as_str(), &headers)?;
    let choice = HoldChoice::parse(
        body.seat_ids.as_deref(),
        body.best_available.map(|b| (b.count, b.category_id)),
        state.app.rules.max_seats_per_hold,
    )
    .map_err(AppError::from)?;
    let command = HoldCommand {
        user_id: user.id(),
        event: &info,
        live: &live,
        choice: &choice,
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
