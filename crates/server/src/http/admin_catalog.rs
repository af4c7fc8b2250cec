//! Administration of the catalogue over HTTP (role `admin`): creating and reading venues, and
//! creating the events sold in them. The rules are [`boxoffice_app::catalog_admin`]'s.

use std::collections::HashMap;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiResult, AppState,
    events::{EventResponse, any_live_event, detail},
    extract::{AdminUser, ApiJson, ApiPath},
};
use boxoffice_app::{
    catalog_admin::{self, NewEventRequest},
    catalog_edit,
};
use boxoffice_domain::{event_plan::CategoryInput, venue::Layout};

/// Request bodies of these routes may carry a 50,000-seat layout (about 4 MB of JSON, twice that
/// with long labels and pretty-printing): they get their own limit, the rest of the API keeps the
/// general one. The admin is checked before the body is read.
pub(crate) const CATALOG_BODY_LIMIT: usize = 32 * 1024 * 1024;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/venues", post(create_venue).get(list_venues))
        .route("/admin/venues/{venue_id}", get(get_venue))
        .route(
            "/admin/events",
            post(create_event).get(super::admin_events::list_events),
        )
        .layer(DefaultBodyLimit::max(CATALOG_BODY_LIMIT))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateVenueRequest {
    pub name: String,
    /// Seats need ids unique in the venue (letters, digits, `-`, `_`, `.`; at most 64), labels,
    /// and coordinates inside `0 0 width height`; at most 50,000 seats. Prices come per event.
    pub layout: Layout,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VenueView {
    pub id: String,
    pub name: String,
    pub layout: Layout,
    /// RFC 3339 UTC.
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VenueResponse {
    pub venue: VenueView,
}

/// Create a venue: a name and its seat layout, to sell events in.
#[utoipa::path(post, path = "/api/v1/admin/venues", tag = "admin", request_body = CreateVenueRequest,
    responses((status = 201, body = VenueResponse), (status = 401), (status = 403),
        (status = 413, description = "larger than the catalogue's body limit"),
        (status = 422, description = "invalid_venue_name, invalid_layout, empty_layout, too_many_seats, \
            invalid_seat_ids, duplicate_seat_ids, invalid_seat_labels or seats_outside_layout; \
            details name the offending seats")))]
pub(crate) async fn create_venue(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<CreateVenueRequest>,
) -> ApiResult<(StatusCode, Json<VenueResponse>)> {
    let (record, layout) =
        catalog_admin::create_venue(&state.app, &body.name, body.layout, admin.id().as_str())
            .await?;
    Ok((
        StatusCode::CREATED,
        Json(VenueResponse {
            venue: VenueView {
                id: record.id,
                name: record.name,
                layout,
                created_at: record.created_at.to_rfc3339(),
            },
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateEventRequest {
    pub venue_id: String,
    pub name: String,
    /// RFC 3339; in the future.
    pub starts_at: String,
    /// RFC 3339; before `starts_at`. Holds are refused until then.
    pub sale_opens_at: String,
    /// Unique names (ignoring case), `price_cents` ≥ 0, one currency for all.
    pub categories: Vec<CategoryInput>,
    /// Seat id → category name, for every seat of the venue and nothing else.
    pub seat_categories: HashMap<String, String>,
    /// `false` makes a draft that only admins see until it is published; listed and sold at
    /// once when left out.
    #[serde(default)]
    pub published: Option<bool>,
}

/// Create an event in a venue, with its price categories and a category for every seat. It is
/// listed, shown and sold at once, on every instance, unless it is made as a draft
/// (`published: false`).
#[utoipa::path(post, path = "/api/v1/admin/events", tag = "admin", request_body = CreateEventRequest,
    responses((status = 201, body = EventResponse, description = "the event as GET /api/v1/events/{event_id} shows it",
            headers(("Location" = String, description = "/api/v1/events/{event_id}"))),
        (status = 401), (status = 403), (status = 413, description = "larger than the catalogue's body limit"),
        (status = 422, description = "unknown_venue, invalid_event_name, invalid_time (details.field), event_in_past, \
            sale_opens_after_start, no_categories, too_many_categories, invalid_category_names, \
            duplicate_categories, invalid_prices, invalid_currency, mixed_currencies, unknown_seats, \
            unknown_categories or unpriced_seats; details name the offending seats or categories")))]
pub(crate) async fn create_event(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<CreateEventRequest>,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, String); 1],
    Json<EventResponse>,
)> {
    let new_event = NewEventRequest {
        venue_id: &body.venue_id,
        name: &body.name,
        starts_at: &body.starts_at,
        sale_opens_at: &body.sale_opens_at,
        categories: &body.categories,
        seat_categories: &body.seat_categories,
        published: body.published.unwrap_or(true),
    };
    let event_id = catalog_admin::create_event(&state.app, new_event, admin.id().as_str()).await?;
    // Read back through the catalogue and the seat hub, as every later request will: the answer
    // is exactly what GET /events/{event_id} shows, and this instance has the event warm.
    let (info, live) = any_live_event(&state, event_id.as_str()).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/events/{event_id}"))],
        Json(EventResponse {
            event: detail(&info, &live, false),
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VenueSummaryView {
    pub id: String,
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// How many events are sold in it.
    pub events: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VenueList {
    pub venues: Vec<VenueSummaryView>,
}

/// Every venue, newest first, without layouts (`GET /api/v1/admin/venues/{venue_id}` has it).
#[utoipa::path(get, path = "/api/v1/admin/venues", tag = "admin",
    responses((status = 200, body = VenueList), (status = 401), (status = 403)))]
pub(crate) async fn list_venues(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<VenueList>> {
    let venues = catalog_edit::venues(&state.app).await?;
    Ok(Json(VenueList {
        venues: venues
            .into_iter()
            .map(|v| VenueSummaryView {
                id: v.id,
                name: v.name,
                created_at: v.created_at.to_rfc3339(),
                events: v.events.max(0) as u64,
            })
            .collect(),
    }))
}

/// One venue with its layout.
#[utoipa::path(get, path = "/api/v1/admin/venues/{venue_id}", tag = "admin",
    params(("venue_id" = String, Path)),
    responses((status = 200, body = VenueResponse), (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn get_venue(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(venue_id): ApiPath<String>,
) -> ApiResult<Json<VenueResponse>> {
    let (record, layout) = catalog_edit::venue(&state.app, &venue_id).await?;
    Ok(Json(VenueResponse {
        venue: VenueView {
            id: record.id,
            name: record.name,
            layout,
            created_at: record.created_at.to_rfc3339(),
        },
    }))
}
