//! The waiting room over HTTP: joining the line and reading one's place, the admin's settings,
//! and the door that holds and checkouts pass through.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use boxoffice_app::error::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    extract::{AdminUser, ApiJson, ApiPath, CurrentUser, MaybeUser},
};
use boxoffice_app::waiting_room::{Door, Place, RoomError};
use boxoffice_domain::{
    time::Timestamp,
    waiting_room::{AdmissionRefused, RoomSettings},
};

/// The header a buyer shows at the door; the page may keep the token in a cookie instead.
pub(crate) const ADMISSION_HEADER: &str = "admission-token";
const ADMISSION_COOKIE_PREFIX: &str = "boxoffice_admission_";
const PASS_COOKIE: &str = "boxoffice_queue_pass";
/// The rate a room starts with when an admin turns it on without naming one.
const DEFAULT_ADMIT_PER_MINUTE: u32 = 600;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{event_id}/queue", post(join_queue).get(read_place))
        .route(
            "/admin/events/{event_id}/waiting-room",
            get(get_room).put(put_room),
        )
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlaceResponse {
    pub place: Place,
}

/// Join the event's waiting room (or find one's place in it again).
#[utoipa::path(post, path = "/api/v1/events/{event_id}/queue", tag = "waiting room",
    params(("event_id" = String, Path)),
    responses((status = 200, body = PlaceResponse), (status = 401), (status = 404),
        (status = 503, description = "the shared queue does not answer and this buyer has no number yet")))]
pub(crate) async fn join_queue(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: CurrentUser,
    headers: HeaderMap,
) -> ApiResult<Response> {
    super::events::published_event(&state, &event_id).await?;
    let place = state
        .app
        .waiting_room
        .join(&event_id, user.id().as_str())
        .await
        .map_err(room_error)?;
    let pass = state
        .app
        .waiting_room
        .pass_for(&event_id, user.id().as_str());
    let secure = if super::auth::is_https(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{PASS_COOKIE}={pass}; HttpOnly; SameSite=Lax; Path=/api/v1/events/{event_id}/queue; Max-Age=86400{secure}"
    );
    let mut response = admission_cookie(&event_id, &place, &headers);
    let mut response_headers = std::mem::take(response.headers_mut());
    let mut response = Json(PlaceResponse { place }).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response_headers.append(header::SET_COOKIE, value);
    }
    response.headers_mut().extend(response_headers);
    Ok(response)
}

/// Once admitted, the page keeps the token in a cookie that holds and checkouts carry by
/// themselves (an API client sends the `Admission-Token` header instead).
fn admission_cookie(event_id: &str, place: &Place, headers: &HeaderMap) -> Response {
    let mut response = ().into_response();
    let (Some(token), Some(expires)) = (&place.admission_token, &place.admission_expires_at) else {
        return response;
    };
    let max_age = Timestamp::parse_rfc3339(expires).map_or(0, |e| {
        (e.millis() - Timestamp::now().millis()).max(0) / 1_000
    });
    let secure = if super::auth::is_https(headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{ADMISSION_COOKIE_PREFIX}{event_id}={token}; HttpOnly; SameSite=Lax; Path=/api/v1; Max-Age={max_age}{secure}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// One's place in the line, answered from memory: the pass cookie set on joining names the buyer
/// without a session lookup (a client without cookies is looked up by its session instead).
#[utoipa::path(get, path = "/api/v1/events/{event_id}/queue", tag = "waiting room",
    params(("event_id" = String, Path)),
    responses((status = 200, body = PlaceResponse), (status = 401),
        (status = 404, description = "not_in_queue: join first"),
        (status = 503, description = "the shared queue does not answer")))]
pub(crate) async fn read_place(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let from_pass = cookie(&headers, PASS_COOKIE)
        .and_then(|pass| state.app.waiting_room.user_of_pass(&event_id, pass));
    let user_id = match from_pass {
        Some(user) => user,
        None => {
            let (mut parts, ()) = axum::http::Request::new(()).into_parts();
            parts.headers = headers.clone();
            let MaybeUser(user) =
                <MaybeUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                    &mut parts, &state,
                )
                .await?;
            user.ok_or_else(|| ApiError::of(ErrorCode::Unauthorized))?
                .id
                .into()
        }
    };
    match state
        .app
        .waiting_room
        .place(&event_id, &user_id)
        .await
        .map_err(room_error)?
    {
        Some(place) => {
            let mut response = admission_cookie(&event_id, &place, &headers);
            let cookies = std::mem::take(response.headers_mut());
            let mut response = Json(PlaceResponse { place }).into_response();
            response.headers_mut().extend(cookies);
            Ok(response)
        }
        None => Err(ApiError::of(ErrorCode::NotInQueue)),
    }
}

fn room_error(e: RoomError) -> ApiError {
    match e {
        RoomError::Unavailable => ApiError::of(ErrorCode::Unavailable)
            .message(
                "The waiting room cannot give out places right now; please try again in a moment.",
            )
            .retry_after(2),
        RoomError::Store(e) => e.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AutoRequest {
    pub target_hold_p99_ms: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RoomRequest {
    pub enabled: bool,
    pub admit_per_minute: i64,
    #[serde(default)]
    pub max_active: Option<i64>,
    #[serde(default)]
    pub auto: Option<AutoRequest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AutoView {
    pub target_hold_p99_ms: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoomView {
    pub enabled: bool,
    pub admit_per_minute: u32,
    pub max_active: Option<u32>,
    pub auto: Option<AutoView>,
    pub queue_length: u64,
    pub admitted_total: u64,
    /// Buyers let in whose admission is still running.
    pub active: u64,
    /// The rate admissions go at now: `admit_per_minute`, or the automatic one.
    pub current_admit_per_minute: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoomResponse {
    pub waiting_room: RoomView,
}

fn room_view(state: &AppState, event_id: &str) -> RoomView {
    let settings = state.app.waiting_room.settings(event_id);
    let figures = state.app.waiting_room.figures(event_id);
    let configured = settings
        .as_ref()
        .map_or(DEFAULT_ADMIT_PER_MINUTE, |s| s.admit_per_minute);
    RoomView {
        enabled: settings.as_ref().is_some_and(|s| s.enabled),
        admit_per_minute: configured,
        max_active: settings.as_ref().and_then(|s| s.max_active),
        auto: settings.as_ref().and_then(|s| s.auto).map(|a| AutoView {
            target_hold_p99_ms: a.target_hold_p99_ms,
        }),
        queue_length: figures.waiting,
        admitted_total: figures.frontier,
        active: figures.active,
        current_admit_per_minute: state
            .app
            .waiting_room
            .current_rate(event_id)
            .filter(|&r| r > 0)
            .unwrap_or(configured),
    }
}

/// The event's waiting-room settings and figures.
#[utoipa::path(get, path = "/api/v1/admin/events/{event_id}/waiting-room", tag = "waiting room",
    params(("event_id" = String, Path)),
    responses((status = 200, body = RoomResponse), (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn get_room(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    _admin: AdminUser,
) -> ApiResult<Json<RoomResponse>> {
    state
        .app
        .catalog
        .event(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    Ok(Json(RoomResponse {
        waiting_room: room_view(&state, &event_id),
    }))
}

/// Turn the event's waiting room on or off, or change its pace; every instance applies it
/// within a second.
#[utoipa::path(put, path = "/api/v1/admin/events/{event_id}/waiting-room", tag = "waiting room",
    params(("event_id" = String, Path)), request_body = RoomRequest,
    responses((status = 200, body = RoomResponse), (status = 400), (status = 401), (status = 403),
        (status = 404), (status = 415), (status = 422)))]
pub(crate) async fn put_room(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    _admin: AdminUser,
    ApiJson(body): ApiJson<RoomRequest>,
) -> ApiResult<Json<RoomResponse>> {
    state
        .app
        .catalog
        .event(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let settings = RoomSettings::parse(
        body.enabled,
        body.admit_per_minute,
        body.max_active,
        body.auto.map(|a| a.target_hold_p99_ms),
        Timestamp::now().millis(),
    )?;
    state
        .app
        .waiting_room
        .configure(&event_id, settings)
        .await?;
    Ok(Json(RoomResponse {
        waiting_room: room_view(&state, &event_id),
    }))
}

/// Lets a hold or checkout on `event_id` through the waiting room's door, or turns it away.
pub(crate) fn admit(
    state: &AppState,
    event_id: &str,
    user_id: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let token = headers
        .get(ADMISSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or_else(|| cookie(headers, &format!("{ADMISSION_COOKIE_PREFIX}{event_id}")));
    state
        .app
        .waiting_room
        .check(event_id, user_id, token)
        .map_err(|door| match door {
            Door::TokenRequired => ApiError::of(ErrorCode::AdmissionRequired)
                .details(json!({ "queue_url": format!("/api/v1/events/{event_id}/queue") })),
            Door::Refused(why) => ApiError::of(ErrorCode::InvalidAdmission)
                .message(match why {
                    AdmissionRefused::Expired => "Your admission has expired; join the line again.",
                    _ => "This admission token is not valid for you and this event.",
                })
                .details(json!({ "reason": match why {
                AdmissionRefused::Forged => "forged",
                AdmissionRefused::Expired => "expired",
                AdmissionRefused::OtherEvent => "other_event",
                AdmissionRefused::OtherUser => "other_user",
            }, "queue_url": format!("/api/v1/events/{event_id}/queue") })),
        })
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v)
}
