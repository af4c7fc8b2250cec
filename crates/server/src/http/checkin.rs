//! The door over HTTP: staff scan a ticket's code; the rule is [`boxoffice_app::checkin`].

use axum::{Json, Router, extract::State, routing::post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiResult, AppState,
    extract::{ApiJson, StaffUser},
    orders::TicketView,
};
use boxoffice_app::checkin::{self, CheckedIn};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/checkin", post(check_in))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CheckInRequest {
    /// The code the ticket's QR image encodes.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckInResponse {
    pub ticket: TicketView,
    pub first_scan: bool,
}

/// Check a ticket in at the door (roles `staff` and `admin`).
#[utoipa::path(post, path = "/api/v1/checkin", tag = "orders", request_body = CheckInRequest,
    responses((status = 200, body = CheckInResponse), (status = 401), (status = 403),
        (status = 404, description = "invalid_ticket: forged, refunded or unknown"),
        (status = 409, description = "already_checked_in")))]
pub(crate) async fn check_in(
    State(state): State<AppState>,
    StaffUser(user): StaffUser,
    ApiJson(body): ApiJson<CheckInRequest>,
) -> ApiResult<Json<CheckInResponse>> {
    let CheckedIn { ticket, seat_label } =
        checkin::check_in(&state.app, &body.code, user.id()).await?;
    Ok(Json(CheckInResponse {
        ticket: TicketView {
            id: ticket.id,
            order_id: ticket.order_id,
            event_id: ticket.event_id,
            seat_id: ticket.seat_id,
            seat_label,
            code: ticket.code,
            status: "checked_in".to_owned(),
        },
        first_scan: true,
    }))
}
