//! Administration (role `admin`): refunds, the sales report, and giving accounts a role. Every
//! amount here is computed from the stored tickets; an admin never types one in.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post, put},
};
use boxoffice_app::error::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    auth::UserView,
    extract::{AdminUser, ApiJson, ApiPath, OptionalJson},
    orders::view,
};
use boxoffice_app::{refunds, views::OrderResponse};
use boxoffice_domain::{
    account::{Email, Role},
    ids::{EventId, OrderId},
    seat::SeatState,
};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/orders/{order_id}/refund", post(refund_order))
        .route("/admin/events/{event_id}/sales", get(sales_report))
        .route("/admin/users/role", put(set_role))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct RefundRequest {
    /// The tickets to refund; every ticket still valid when absent.
    #[serde(default)]
    pub ticket_ids: Option<Vec<String>>,
}

/// Refund an order, whole or some of its tickets: the money goes back through the payment provider,
/// the seats return to sale, and the refunded tickets stop verifying at the door.
#[utoipa::path(post, path = "/api/v1/admin/orders/{order_id}/refund", tag = "admin",
    params(("order_id" = String, Path)), request_body = RefundRequest,
    responses((status = 200, body = OrderResponse), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "already refunded"), (status = 422, description = "tickets not in the order"),
        (status = 503, description = "the payment provider did not answer; nothing changed")))]
pub(crate) async fn refund_order(
    State(state): State<AppState>,
    ApiPath(order_id): ApiPath<String>,
    AdminUser(user): AdminUser,
    OptionalJson(request): OptionalJson<RefundRequest>,
) -> ApiResult<Json<OrderResponse>> {
    let order_id = OrderId::parse(&order_id).ok_or_else(|| ApiError::not_found("Order"))?;
    let order = refunds::refund_order(
        &state.app,
        &order_id,
        request.ticket_ids.as_deref(),
        user.id().as_str(),
    )
    .await?;
    Ok(Json(OrderResponse {
        order: view(&state, &order).await?,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SalesReport {
    pub event_id: String,
    pub seats_total: u64,
    pub available: u64,
    pub held: u64,
    pub sold: u64,
    /// The prices of the valid tickets: what was charged minus what was refunded.
    pub revenue_cents: i64,
    pub currency: String,
}

/// Seats by state and revenue net of refunds, straight from the database.
#[utoipa::path(get, path = "/api/v1/admin/events/{event_id}/sales", tag = "admin",
    params(("event_id" = String, Path)),
    responses((status = 200, body = SalesReport), (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn sales_report(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    _admin: AdminUser,
) -> ApiResult<Json<SalesReport>> {
    let event_id = EventId::parse(&event_id).ok_or_else(|| ApiError::not_found("Event"))?;
    let mut tx = state.app.db.read().await?;
    let event = tx
        .event_by_id(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let seats = tx.seat_statuses(&event_id).await?;
    let revenue_cents = tx.revenue_of_event(&event_id).await?;
    tx.commit().await?;
    let count = |state: SeatState| seats.iter().filter(|s| s.state == state).count() as u64;
    Ok(Json(SalesReport {
        event_id: event_id.into(),
        seats_total: seats.len() as u64,
        available: count(SeatState::Available),
        held: count(SeatState::Held),
        sold: count(SeatState::Sold),
        revenue_cents,
        currency: event.currency,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SetRoleRequest {
    pub email: String,
    /// `buyer`, `staff` (may check tickets in at the door) or `admin`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserResponse {
    pub user: UserView,
}

/// Give an existing account a role, for example `staff` for the people scanning tickets.
#[utoipa::path(put, path = "/api/v1/admin/users/role", tag = "admin", request_body = SetRoleRequest,
    responses((status = 200, body = UserResponse), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub(crate) async fn set_role(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiJson(body): ApiJson<SetRoleRequest>,
) -> ApiResult<Json<UserResponse>> {
    let email = Email::parse(&body.email).map_err(ApiError::from)?;
    let role = Role::parse(&body.role).ok_or_else(|| ApiError::of(ErrorCode::InvalidRole))?;
    let mut tx = state.app.db.begin().await?;
    let updated = tx
        .set_user_role(email.as_str(), role)
        .await?
        .ok_or_else(|| ApiError::not_found("Account"))?;
    tx.commit().await?;
    state.sessions.forget_user(&updated.id);
    tracing::info!(user_id = %updated.id, role = role.as_str(), by = %user.id(), "role changed");
    Ok(Json(UserResponse {
        user: UserView::from(&updated),
    }))
}
