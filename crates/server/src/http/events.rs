//! Events and seats: the list, one event with its seat layout and prices, the layout alone at a
//! content-addressed URL, and the live seat states in full or compact form.

use boxoffice_app::error::ErrorCode;
use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, Uri},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    extract::{ApiPath, CurrentUser, MaybeUser, query_param},
    precompressed,
};
use boxoffice_app::{
    catalog::{EventInfo, EventStatus, LayoutJson},
    realtime::LiveEvent,
};
use boxoffice_domain::{seat::SeatView, time::Timestamp, venue::Layout};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(list_events))
        .route("/events/{event_id}", get(get_event))
        .route("/events/{event_id}/seats", get(get_seats))
        .route("/events/{event_id}/seats/mine", get(get_my_seats))
        .route("/events/{event_id}/layout/{hash}", get(get_layout))
}

/// `?format=` of the seat views and streams: `full` (the default, API.md's form) or `compact`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeatFormat {
    Full,
    Compact,
}

impl SeatFormat {
    pub(crate) fn of(uri: &Uri) -> ApiResult<SeatFormat> {
        match query_param(uri, "format") {
            None | Some("full") => Ok(SeatFormat::Full),
            Some("compact") => Ok(SeatFormat::Compact),
            Some(_) => Err(ApiError::of(ErrorCode::UnknownFormat)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VenueRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventSummary {
    pub id: String,
    pub name: String,
    pub venue: VenueRef,
    /// RFC 3339 UTC.
    pub starts_at: String,
    pub sale_opens_at: String,
    pub status: EventStatus,
    pub currency: String,
    pub seats_total: u64,
    pub seats_available: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CategoryView {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub categories: Vec<CategoryView>,
    /// Inline unless the request asked for `?layout=url`.
    #[schema(value_type = Option<Layout>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutJson>,
    /// The immutable layout and categories at a content-addressed URL
    /// (`/api/v1/events/{event_id}/layout/{hash}`), cacheable for ever.
    pub layout_url: String,
    pub waiting_room: WaitingRoomFlag,
}

/// Whether buyers must pass the event's waiting room before holding seats.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WaitingRoomFlag {
    pub enabled: bool,
}

/// What `GET /api/v1/events/{event_id}/layout/{hash}` answers: everything about the event that
/// never changes, seats in the order the compact seat map follows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LayoutResponse {
    pub event_id: String,
    pub categories: Vec<CategoryView>,
    pub layout: Layout,
}

/// `GET …/seats?format=compact`: one character per seat in layout order. `A`–`Z`: available,
/// `a`–`z`: held, `0`–`9`: sold; the character's place in its range is the seat's version minus
/// `version_base`. Seats whose offset does not fit are listed in `versions` (seat index →
/// version) and written with their state's first character. The caller's own seats are not
/// marked: `GET …/seats/mine` lists them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CompactSeatsResponse {
    pub event_id: String,
    /// Always `compact`.
    pub format: String,
    /// The hash of the layout whose seat order `states` follows (the end of `layout_url`).
    pub layout_hash: String,
    pub version_base: i64,
    pub states: String,
    pub versions: std::collections::BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventList {
    pub events: Vec<EventSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventResponse {
    pub event: EventDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SeatsResponse {
    pub event_id: String,
    pub seats: Vec<SeatView>,
}

pub(crate) fn summary(info: &EventInfo, live: &LiveEvent) -> EventSummary {
    let counts = live.counts();
    let r = &info.record;
    EventSummary {
        id: r.id.clone(),
        name: r.name.clone(),
        venue: VenueRef {
            id: r.venue_id.clone(),
            name: r.venue_name.clone(),
        },
        starts_at: r.starts_at.to_rfc3339(),
        sale_opens_at: r.sale_opens_at.to_rfc3339(),
        status: info.status(Timestamp::now(), counts.available),
        currency: r.currency.clone(),
        seats_total: counts.total,
        seats_available: counts.available,
    }
}

/// The event as buyers may see it: 404 for a draft, as for an event that does not exist.
pub(crate) async fn published_event(state: &AppState, event_id: &str) -> ApiResult<Arc<EventInfo>> {
    state
        .app
        .catalog
        .event(event_id)
        .await?
        .filter(|info| info.record.is_published())
        .ok_or_else(|| ApiError::not_found("Event"))
}

/// The published event and its live seat states, or 404.
pub(crate) async fn live_event(
    state: &AppState,
    event_id: &str,
) -> ApiResult<(Arc<EventInfo>, Arc<LiveEvent>)> {
    published_event(state, event_id).await?;
    any_live_event(state, event_id).await
}

/// The event, published or not, and its live seat states, or 404: for admins.
pub(crate) async fn any_live_event(
    state: &AppState,
    event_id: &str,
) -> ApiResult<(Arc<EventInfo>, Arc<LiveEvent>)> {
    let info = state
        .app
        .catalog
        .event(event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let live = state
        .app
        .hub
        .live(event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    Ok((info, live))
}

/// All published events, soonest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", responses((status = 200, body = EventList)))]
pub(crate) async fn list_events(State(state): State<AppState>) -> ApiResult<Json<EventList>> {
    let mut events = Vec::new();
    for info in state.app.catalog.all().await? {
        if !info.record.is_published() {
            continue;
        }
        if let Some(live) = state.app.hub.live(&info.record.id).await? {
            events.push(summary(&info, &live));
        }
    }
    Ok(Json(EventList { events }))
}

/// One event with its categories and seat layout.
/// With `?layout=url` the layout is left out: the page fetches it once from `layout_url`.
#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = "events",
    params(("event_id" = String, Path),
        ("layout" = Option<String>, Query, description = "`inline` (the default) or `url`: leave the layout out and fetch it from `layout_url`")),
    responses((status = 200, body = EventResponse), (status = 404), (status = 422)))]
pub(crate) async fn get_event(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    uri: Uri,
) -> ApiResult<Json<EventResponse>> {
    let inline = match query_param(&uri, "layout") {
        None | Some("inline") => true,
        Some("url") => false,
        Some(_) => {
            return Err(ApiError::of(ErrorCode::UnknownLayoutOption));
        }
    };
    let (info, live) = live_event(&state, &event_id).await?;
    let mut event = detail(&info, &live, state.app.waiting_room.is_enabled(&event_id));
    if !inline {
        event.layout = None;
    }
    Ok(Json(EventResponse { event }))
}

/// The event's layout and priced categories at the URL named by `layout_url`: immutable (cached
/// for a year by browsers and CDNs), a strong ETag, 304 on `If-None-Match`, and gzip or brotli
/// by `Accept-Encoding`, compressed once. Any other hash is 404: the layout it named is not this
/// event's, and the page gets the current URL from the event.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/layout/{hash}", tag = "events",
    params(("event_id" = String, Path), ("hash" = String, Path)),
    responses((status = 200, body = LayoutResponse, headers(
        ("Cache-Control" = String, description = "public, max-age=31536000, immutable"),
        ("ETag" = String, description = "the hash, quoted"),
        ("Content-Encoding" = String, description = "br, gzip or none, by Accept-Encoding"))),
        (status = 304), (status = 404)))]
pub(crate) async fn get_layout(
    State(state): State<AppState>,
    ApiPath((event_id, hash)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let info = published_event(&state, &event_id).await?;
    if hash != info.layout_document.hash {
        return Err(ApiError::not_found("Layout"));
    }
    let body = info.layout_document.compressed().await;
    Ok(precompressed::respond(
        &body,
        &headers,
        precompressed::IMMUTABLE,
        "application/json",
    ))
}

/// The event as `GET /events/{event_id}` shows it (and as creating it answers).
pub(crate) fn detail(info: &EventInfo, live: &LiveEvent, room_enabled: bool) -> EventDetail {
    let categories = info
        .categories
        .iter()
        .map(|c| CategoryView {
            id: c.id.clone(),
            name: c.name.clone(),
            price_cents: c.price_cents,
            currency: c.currency.clone(),
        })
        .collect();
    EventDetail {
        summary: summary(info, live),
        categories,
        layout: Some(info.layout_json.clone()),
        layout_url: info.layout_url(),
        waiting_room: WaitingRoomFlag {
            enabled: room_enabled,
        },
    }
}

/// Every seat's state and version; seats held by (or sold to) the caller carry `mine: true`.
/// Served from memory, so a crowd reading the map does not touch the database.
///
/// With `?format=compact`: the compact map (`CompactSeatsResponse`), the same bytes for every
/// caller, made and compressed once per change of the map, gzip or brotli by `Accept-Encoding`,
/// with an ETag. The caller's own seats come from `…/seats/mine`.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/seats", tag = "events",
    params(("event_id" = String, Path),
        ("format" = Option<String>, Query, description = "`full` (the default) or `compact`")),
    responses((status = 200, body = SeatsResponse, description = "full; with format=compact, CompactSeatsResponse"),
        (status = 304, description = "compact, and If-None-Match names the current tag"), (status = 404), (status = 422)))]
pub(crate) async fn get_seats(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: MaybeUser,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if SeatFormat::of(&uri)? == SeatFormat::Compact {
        let (info, live) = live_event(&state, &event_id).await?;
        let snapshot = live.compact(&info.seat_order);
        return Ok(precompressed::respond(
            &snapshot.body,
            &headers,
            precompressed::REVALIDATE,
            "application/json",
        ));
    }
    published_event(&state, &event_id).await?;
    let live = state
        .app
        .hub
        .live(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let caller = user.0.as_ref().map(|u| u.id.as_str());
    Ok(Json(SeatsResponse {
        event_id,
        seats: live.snapshot(caller),
    })
    .into_response())
}

/// The seats of this event held by or sold to the caller (`mine: true`), sent apart from the
/// compact map that every caller shares.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/seats/mine", tag = "events",
    params(("event_id" = String, Path)), responses((status = 200, body = SeatsResponse), (status = 401), (status = 404)))]
pub(crate) async fn get_my_seats(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<Json<SeatsResponse>> {
    published_event(&state, &event_id).await?;
    let live = state
        .app
        .hub
        .live(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    Ok(Json(SeatsResponse {
        seats: live.mine(user.id().as_str()),
        event_id,
    }))
}
