//! The organiser's events over HTTP (role `admin`): every event, drafts included, one with its
//! seats' categories, editing one, and publishing it. The rules are
//! [`boxoffice_app::catalog_edit`]'s.

use std::collections::HashMap;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    routing::{get, put},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    admin_catalog::CATALOG_BODY_LIMIT,
    events::{EventDetail, EventSummary, any_live_event, detail, summary},
    extract::{AdminUser, ApiJson, ApiPath},
};
use boxoffice_app::catalog_edit::{self, EventEdit};
use boxoffice_domain::{event_plan::CategoryInput, ids::EventId};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/events/{event_id}", get(get_event).put(update_event))
        .route("/admin/events/{event_id}/published", put(set_published))
        .layer(DefaultBodyLimit::max(CATALOG_BODY_LIMIT))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminEventSummary {
    #[serde(flatten)]
    pub summary: EventSummary,
    /// Whether buyers see it; a draft is listed here only.
    pub published: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminEventList {
    pub events: Vec<AdminEventSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminEventDetail {
    #[serde(flatten)]
    pub event: EventDetail,
    pub published: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminEventResponse {
    pub event: AdminEventDetail,
}

/// Every event, drafts included, soonest first.
#[utoipa::path(get, path = "/api/v1/admin/events", tag = "admin",
    responses((status = 200, body = AdminEventList), (status = 401), (status = 403)))]
pub(crate) async fn list_events(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<AdminEventList>> {
    let mut events = Vec::new();
    for info in state.app.catalog.all().await? {
        if let Some(live) = state.app.hub.live(&info.record.id).await? {
            events.push(AdminEventSummary {
                summary: summary(&info, &live),
                published: info.record.is_published(),
            });
        }
    }
    Ok(Json(AdminEventList { events }))
}

async fn admin_detail(state: &AppState, event_id: &str) -> ApiResult<AdminEventResponse> {
    let (info, live) = any_live_event(state, event_id).await?;
    Ok(AdminEventResponse {
        event: AdminEventDetail {
            event: detail(&info, &live, state.app.waiting_room.is_enabled(event_id)),
            published: info.record.is_published(),
        },
    })
}

/// One event, draft or not, as buyers would see it (each seat's `category_id` in its layout),
/// with whether it is published.
#[utoipa::path(get, path = "/api/v1/admin/events/{event_id}", tag = "admin",
    params(("event_id" = String, Path)),
    responses((status = 200, body = AdminEventResponse), (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn get_event(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(event_id): ApiPath<String>,
) -> ApiResult<Json<AdminEventResponse>> {
    Ok(Json(admin_detail(&state, &event_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UpdateEventRequest {
    pub name: String,
    /// RFC 3339; in the future.
    pub starts_at: String,
    /// RFC 3339; before `starts_at`.
    pub sale_opens_at: String,
    /// As when creating; a category keeps its id when its name (ignoring case) stays.
    pub categories: Vec<CategoryInput>,
    /// Seat id → category name, for every seat of the venue and nothing else.
    pub seat_categories: HashMap<String, String>,
}

/// Change an event's name, times, categories, prices and seats' categories, all of it or
/// nothing. A held or sold seat keeps its category and price: an edit that would move it or
/// change its price is refused with 409 `seats_taken` (details.seat_ids).
#[utoipa::path(put, path = "/api/v1/admin/events/{event_id}", tag = "admin",
    params(("event_id" = String, Path)), request_body = UpdateEventRequest,
    responses((status = 200, body = AdminEventResponse), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "seats_taken: the edit would reprice or move held or sold seats (details.seat_ids); nothing changed"),
        (status = 413, description = "larger than the catalogue's body limit"),
        (status = 422, description = "as when creating an event: invalid_event_name, invalid_time, event_in_past, \
            sale_opens_after_start, no_categories, invalid_prices, mixed_currencies, unknown_seats, \
            unknown_categories, unpriced_seats and the others")))]
pub(crate) async fn update_event(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(event_id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateEventRequest>,
) -> ApiResult<Json<AdminEventResponse>> {
    let edit = EventEdit {
        name: &body.name,
        starts_at: &body.starts_at,
        sale_opens_at: &body.sale_opens_at,
        categories: &body.categories,
        seat_categories: &body.seat_categories,
    };
    let event_id = EventId::parse(&event_id).ok_or_else(|| ApiError::not_found("Event"))?;
    catalog_edit::update_event(&state.app, &event_id, edit, admin.id().as_str()).await?;
    Ok(Json(admin_detail(&state, event_id.as_str()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PublishRequest {
    /// `true`: listed, shown and sold; `false`: a draft, 404 to buyers (their orders stay).
    pub published: bool,
}

/// Publish an event or make it a draft again.
#[utoipa::path(put, path = "/api/v1/admin/events/{event_id}/published", tag = "admin",
    params(("event_id" = String, Path)), request_body = PublishRequest,
    responses((status = 200, body = AdminEventResponse), (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn set_published(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(event_id): ApiPath<String>,
    ApiJson(body): ApiJson<PublishRequest>,
) -> ApiResult<Json<AdminEventResponse>> {
    let event_id = EventId::parse(&event_id).ok_or_else(|| ApiError::not_found("Event"))?;
    catalog_edit::set_published(&state.app, &event_id, body.published, admin.id().as_str()).await?;
    Ok(Json(admin_detail(&state, event_id.as_str()).await?))
}
