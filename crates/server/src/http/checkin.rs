//! The door: staff scan a ticket's code; the first scan lets the holder in, any later scan of the
//! same code is refused, and a forged, refunded or unknown code never verifies.

use axum::{Json, Router, extract::State, routing::post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    extract::{ApiJson, StaffUser},
    orders::TicketView,
};
use boxoffice_domain::{
    ticket::{claimed_ticket_id, verify_code},
    time::Timestamp,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/checkin", post(check_in))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckInRequest {
    /// The code the ticket's QR image encodes.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInResponse {
    pub ticket: TicketView,
    pub first_scan: bool,
}

fn invalid_ticket() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "invalid_ticket",
        "This code is not a valid ticket.",
    )
}

/// Check a ticket in at the door (roles `staff` and `admin`).
#[utoipa::path(post, path = "/api/v1/checkin", tag = "orders", request_body = CheckInRequest,
    responses((status = 200, body = CheckInResponse), (status = 401), (status = 403),
        (status = 404, description = "invalid_ticket: forged, refunded or unknown"),
        (status = 409, description = "already_checked_in")))]
pub async fn check_in(
    State(state): State<AppState>,
    StaffUser(user): StaffUser,
    ApiJson(body): ApiJson<CheckInRequest>,
) -> ApiResult<Json<CheckInResponse>> {
    let code = body.code.trim();
    let ticket_id = claimed_ticket_id(code).ok_or_else(invalid_ticket)?;
    let mut tx = state.db.begin().await?;
    let ticket = tx
        .ticket_by_id(ticket_id)
        .await?
        .filter(|t| verify_code(&state.secret, code, &t.id, &t.event_id, &t.seat_id))
        .ok_or_else(invalid_ticket)?;
    if !ticket.valid {
        return Err(invalid_ticket());
    }
    let now = Timestamp::now();
    if !tx.check_in_ticket(&ticket.id, now).await? {
        let scanned = ticket.checked_in_at.map(|t| t.to_rfc3339());
        return Err(
            ApiError::conflict("already_checked_in", "This ticket was already scanned.")
                .with_details(json!({ "checked_in_at": scanned })),
        );
    }
    tx.commit().await?;
    let event = state.catalog.event(&ticket.event_id).await?;
    let seat_label = event
        .as_deref()
        .map(|e| e.seat_label(&ticket.seat_id))
        .unwrap_or_else(|| ticket.seat_id.clone());
    tracing::info!(ticket_id = %ticket.id, by = user.id(), "ticket checked in");
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
