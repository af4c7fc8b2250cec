//! Events and seats: the list, one event with its seat layout and prices, and the live seat states.

use std::sync::Arc;

use axum::{Json, Router, extract::State, routing::get};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    extract::{ApiPath, MaybeUser},
};
use crate::{
    catalog::{EventInfo, EventStatus, LayoutJson},
    domain::{seat::SeatView, time::Timestamp, venue::Layout},
    realtime::LiveEvent,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(list_events))
        .route("/events/{event_id}", get(get_event))
        .route("/events/{event_id}/seats", get(get_seats))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VenueRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventSummary {
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
pub struct CategoryView {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub categories: Vec<CategoryView>,
    #[schema(value_type = Layout)]
    pub layout: LayoutJson,
    pub waiting_room: WaitingRoomFlag,
}

/// Whether buyers must pass the event's waiting room before holding seats.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingRoomFlag {
    pub enabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    pub event: EventDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatsResponse {
    pub event_id: String,
    pub seats: Vec<SeatView>,
}

fn summary(info: &EventInfo, live: &LiveEvent) -> EventSummary {
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

/// The event and its live seat states, or 404.
pub async fn live_event(
    state: &AppState,
    event_id: &str,
) -> ApiResult<(Arc<EventInfo>, Arc<LiveEvent>)> {
    let info = state
        .catalog
        .event(event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let live = state
        .hub
        .live(event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    Ok((info, live))
}

/// All events, soonest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", responses((status = 200, body = EventList)))]
pub async fn list_events(State(state): State<AppState>) -> ApiResult<Json<EventList>> {
    let mut events = Vec::new();
    for info in state.catalog.all().await? {
        if let Some(live) = state.hub.live(&info.record.id).await? {
            events.push(summary(&info, &live));
        }
    }
    Ok(Json(EventList { events }))
}

/// One event with its categories and seat layout.
#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = "events",
    params(("event_id" = String, Path)), responses((status = 200, body = EventResponse), (status = 404)))]
pub async fn get_event(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
) -> ApiResult<Json<EventResponse>> {
    let (info, live) = live_event(&state, &event_id).await?;
    Ok(Json(EventResponse {
        event: detail(&info, &live, state.waiting_room.is_enabled(&event_id)),
    }))
}

/// The event as `GET /events/{event_id}` shows it (and as creating it answers).
pub fn detail(info: &EventInfo, live: &LiveEvent, room_enabled: bool) -> EventDetail {
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
        layout: info.layout_json.clone(),
        waiting_room: WaitingRoomFlag {
            enabled: room_enabled,
        },
    }
}

/// Every seat's state and version; seats held by (or sold to) the caller carry `mine: true`.
/// Served from memory, so a crowd reading the map does not touch the database.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/seats", tag = "events",
    params(("event_id" = String, Path)), responses((status = 200, body = SeatsResponse), (status = 404)))]
pub async fn get_seats(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: MaybeUser,
) -> ApiResult<Json<SeatsResponse>> {
    let live = state
        .hub
        .live(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let caller = user.0.as_ref().map(|u| u.id.as_str());
    Ok(Json(SeatsResponse {
        event_id,
        seats: live.snapshot(caller),
    }))
}
