//! The door over HTTP: staff scan a ticket's code at a gate, send the scans a device made
//! offline in one batch, fetch an event's public key to check codes without the network, and
//! count who is in; the rules are [`boxoffice_app::checkin`].

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiResult, AppState,
    extract::{ApiJson, ApiPath, StaffUser},
    orders::TicketView,
};
use boxoffice_app::checkin::{self, CheckedIn, Settled, SettledScan};
use boxoffice_domain::{
    door::{Gate, OfflineScan, check_batch_size},
    time::Timestamp,
};
use boxoffice_store::TicketRecord;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/checkin", post(check_in))
        .route("/checkin/batch", post(check_in_batch))
        .route("/events/{event_id}/door-key", get(door_key))
        .route("/events/{event_id}/checkins", get(checkin_counts))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CheckInRequest {
    /// The code the ticket's QR image encodes.
    pub code: String,
    /// Where it is scanned: 1 to 40 letters, digits, spaces or `- _ . #`; `main` when absent.
    #[serde(default)]
    pub gate: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckInResponse {
    pub ticket: TicketView,
    pub first_scan: bool,
}

fn checked_in_view(ticket: TicketRecord, seat_label: String) -> TicketView {
    TicketView {
        id: ticket.id,
        order_id: ticket.order_id.into(),
        event_id: ticket.event_id.into(),
        seat_id: ticket.seat_id,
        seat_label,
        code: ticket.code,
        status: "checked_in".to_owned(),
    }
}

/// Check a ticket in at the door (roles `staff` and `admin`).
#[utoipa::path(post, path = "/api/v1/checkin", tag = "door", request_body = CheckInRequest,
    responses((status = 200, body = CheckInResponse), (status = 401), (status = 403),
        (status = 404, description = "invalid_ticket: forged, refunded or unknown"),
        (status = 409, description = "already_checked_in (`details.checked_in_at`, `details.gate`)"),
        (status = 422, description = "invalid_gate")))]
pub(crate) async fn check_in(
    State(state): State<AppState>,
    StaffUser(user): StaffUser,
    ApiJson(body): ApiJson<CheckInRequest>,
) -> ApiResult<Json<CheckInResponse>> {
    let gate = Gate::parse(body.gate.as_deref())?;
    let CheckedIn { ticket, seat_label } =
        checkin::check_in(&state.app, &body.code, &gate, user.id().as_str()).await?;
    Ok(Json(CheckInResponse {
        ticket: checked_in_view(ticket, seat_label),
        first_scan: true,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct BatchRequest {
    /// 1 to 500 scans, in any order.
    pub scans: Vec<ScanRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ScanRequest {
    pub code: String,
    /// `main` when absent.
    #[serde(default)]
    pub gate: Option<String>,
    /// When the device scanned it (RFC 3339). A time more than five minutes ahead of the
    /// server's clock counts as now.
    pub scanned_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchResponse {
    /// One per scan sent, in the order sent.
    pub results: Vec<ScanResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScanResult {
    /// The scan's place in the batch.
    pub index: usize,
    pub code: String,
    /// `checked_in` (this scan is the ticket's first), `already_checked_in` or `invalid_ticket`.
    pub result: String,
    pub first_scan: bool,
    /// The ticket's first scan, wherever it was made: for `checked_in` and `already_checked_in`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketView>,
}

/// Settle scans a device made offline: the earliest scan of a ticket is its first, and a scan
/// recorded earlier (online or by another batch) stays first. Sending a batch again is harmless.
#[utoipa::path(post, path = "/api/v1/checkin/batch", tag = "door", request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 401), (status = 403),
        (status = 422, description = "invalid_scans (none, or over 500) or invalid_scan (`details.index`)")))]
pub(crate) async fn check_in_batch(
    State(state): State<AppState>,
    StaffUser(user): StaffUser,
    ApiJson(body): ApiJson<BatchRequest>,
) -> ApiResult<Json<BatchResponse>> {
    check_batch_size(body.scans.len())?;
    let now = Timestamp::now();
    let scans = body
        .scans
        .iter()
        .enumerate()
        .map(|(i, s)| OfflineScan::parse(i, &s.code, s.gate.as_deref(), &s.scanned_at, now))
        .collect::<Result<Vec<_>, _>>()?;
    let settled = checkin::settle_offline_scans(&state.app, &scans, user.id().as_str()).await?;
    let results = settled
        .into_iter()
        .map(|s| scan_result(&scans, s))
        .collect();
    Ok(Json(BatchResponse { results }))
}

fn scan_result(scans: &[OfflineScan], settled: SettledScan) -> ScanResult {
    let SettledScan {
        index,
        outcome,
        ticket,
    } = settled;
    let scan = &scans[index];
    let (result, first_scan, first) = match outcome {
        Settled::CheckedIn => (
            "checked_in",
            true,
            Some((scan.scanned_at.to_rfc3339(), scan.gate.as_str().to_owned())),
        ),
        Settled::AlreadyCheckedIn { gate, at } => (
            "already_checked_in",
            false,
            Some((at.to_rfc3339(), gate.as_str().to_owned())),
        ),
        Settled::InvalidTicket => ("invalid_ticket", false, None),
    };
    let (checked_in_at, gate) = first.unzip();
    ScanResult {
        index,
        code: scan.code.clone(),
        result: result.to_owned(),
        first_scan,
        checked_in_at,
        gate,
        ticket: ticket.map(|(t, label)| checked_in_view(t, label)),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DoorKeyResponse {
    pub event_id: String,
    /// `Ed25519`.
    pub algorithm: String,
    /// The raw 32-byte public key, base64url without padding (WebCrypto `importKey("raw", …)`).
    pub public_key: String,
    /// What the codes it verifies start with: `BO2.<ticket>.<event>.<seat>.<signature>`, the
    /// signature over everything before its dot. Older `BO1` codes verify on the server only.
    pub code_prefix: String,
}

/// The event's public key, for door devices that check codes offline (roles `staff` and `admin`).
#[utoipa::path(get, path = "/api/v1/events/{event_id}/door-key", tag = "door",
    params(("event_id" = String, Path)),
    responses((status = 200, body = DoorKeyResponse), (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn door_key(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    _staff: StaffUser,
) -> ApiResult<Json<DoorKeyResponse>> {
    let key = checkin::door_key(&state.app, &event_id).await?;
    Ok(Json(DoorKeyResponse {
        event_id,
        algorithm: key.algorithm.to_owned(),
        public_key: key.public_key,
        code_prefix: "BO2".to_owned(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckinCountsResponse {
    pub event_id: String,
    /// Each gate that let someone in, by name.
    pub gates: Vec<GateCount>,
    /// Tickets checked in, all gates together.
    pub total: u64,
    /// The event's valid tickets.
    pub tickets: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GateCount {
    pub gate: String,
    pub checked_in: u64,
}

/// Who is in: the event's check-ins by gate (roles `staff` and `admin`).
#[utoipa::path(get, path = "/api/v1/events/{event_id}/checkins", tag = "door",
    params(("event_id" = String, Path)),
    responses((status = 200, body = CheckinCountsResponse), (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn checkin_counts(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    _staff: StaffUser,
) -> ApiResult<Json<CheckinCountsResponse>> {
    let counts = checkin::checkin_counts(&state.app, &event_id).await?;
    Ok(Json(CheckinCountsResponse {
        event_id,
        gates: counts
            .gates
            .into_iter()
            .map(|(gate, checked_in)| GateCount {
                gate: gate.as_str().to_owned(),
                checked_in,
            })
            .collect(),
        total: counts.total,
        tickets: counts.tickets,
    }))
}
