//! The organiser's view of the sale over HTTP (role `admin`): finding orders, one order with
//! its buyer, an event's orders and attendees as CSV, and the people who run the sale. The
//! reads are [`boxoffice_app::admin_orders`]'.

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use boxoffice_app::{
    admin_orders::{self, BuyerOrder},
    error::ErrorCode,
    views::OrderView,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiError, ApiResult, AppState,
    auth::UserView,
    extract::{AdminUser, ApiPath},
};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/orders", get(search_orders))
        .route("/admin/orders/{order_id}", get(get_order))
        .route("/admin/events/{event_id}/orders.csv", get(orders_csv))
        .route("/admin/events/{event_id}/attendees.csv", get(attendees_csv))
        .route("/admin/users", get(list_people))
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct OrderQuery {
    /// An order id, the start of a buyer's e-mail, or a seat id; the newest orders when empty.
    #[serde(default)]
    pub q: Option<String>,
    /// Only this event's orders.
    #[serde(default)]
    pub event_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminOrderView {
    #[serde(flatten)]
    pub order: OrderView,
    /// Who bought it (absent only if the account is gone).
    pub buyer: Option<UserView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminOrderList {
    pub orders: Vec<AdminOrderView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdminOrderResponse {
    pub order: AdminOrderView,
}

async fn view(state: &AppState, found: &BuyerOrder) -> ApiResult<AdminOrderView> {
    Ok(AdminOrderView {
        order: super::orders::view(state, &found.order).await?,
        buyer: found.buyer.as_ref().map(UserView::from),
    })
}

/// Find orders by order id, the start of the buyer's e-mail, or seat id, newest first (at most
/// 100); of one event with `event_id`.
#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "admin", params(OrderQuery),
    responses((status = 200, body = AdminOrderList), (status = 400, description = "invalid_query"), (status = 401), (status = 403)))]
pub(crate) async fn search_orders(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<OrderQuery>, QueryRejection>,
) -> ApiResult<Json<AdminOrderList>> {
    let Query(query) = query.map_err(|_| ApiError::of(ErrorCode::InvalidQuery))?;
    let found = admin_orders::search(
        &state.app,
        query.q.as_deref().unwrap_or_default(),
        query.event_id.as_deref(),
    )
    .await?;
    let mut orders = Vec::with_capacity(found.len());
    for f in &found {
        orders.push(view(&state, f).await?);
    }
    Ok(Json(AdminOrderList { orders }))
}

/// Any order, with its buyer and tickets.
#[utoipa::path(get, path = "/api/v1/admin/orders/{order_id}", tag = "admin",
    params(("order_id" = String, Path)),
    responses((status = 200, body = AdminOrderResponse), (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(order_id): ApiPath<String>,
) -> ApiResult<Json<AdminOrderResponse>> {
    let found = admin_orders::order(&state.app, &order_id).await?;
    Ok(Json(AdminOrderResponse {
        order: view(&state, &found).await?,
    }))
}

fn csv_response(file: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

fn finish(writer: csv::Writer<Vec<u8>>) -> ApiResult<Vec<u8>> {
    writer
        .into_inner()
        .map_err(|e| ApiError::from(boxoffice_app::AppError::internal(anyhow::anyhow!("{e}"))))
}

fn csv_error(e: csv::Error) -> ApiError {
    ApiError::from(boxoffice_app::AppError::internal(e))
}

/// Every order of the event as CSV, newest first: one line an order.
#[utoipa::path(get, path = "/api/v1/admin/events/{event_id}/orders.csv", tag = "admin",
    params(("event_id" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "order_id, created_at, status, buyer_email, buyer_name, seats, tickets, valid_tickets, total_cents, refunded_cents, currency"),
        (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn orders_csv(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(event_id): ApiPath<String>,
) -> ApiResult<Response> {
    let (event, orders) = admin_orders::event_orders(&state.app, &event_id).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "order_id",
        "created_at",
        "status",
        "buyer_email",
        "buyer_name",
        "seats",
        "tickets",
        "valid_tickets",
        "total_cents",
        "refunded_cents",
        "currency",
    ])
    .map_err(csv_error)?;
    for BuyerOrder { order, buyer } in &orders {
        let seats: Vec<String> = order
            .tickets
            .iter()
            .map(|t| event.seat_label(&t.seat_id))
            .collect();
        let refunded: i64 = order
            .tickets
            .iter()
            .filter(|t| !t.valid)
            .map(|t| t.price_cents)
            .sum();
        let valid = order.tickets.iter().filter(|t| t.valid).count();
        out.write_record([
            order.id.to_string(),
            order.created_at.to_rfc3339(),
            order.status.as_str().to_owned(),
            buyer.as_ref().map(|b| b.email.clone()).unwrap_or_default(),
            buyer.as_ref().map(|b| b.name.clone()).unwrap_or_default(),
            seats.join("; "),
            order.tickets.len().to_string(),
            valid.to_string(),
            order.total_cents.to_string(),
            refunded.to_string(),
            order.currency.clone(),
        ])
        .map_err(csv_error)?;
    }
    Ok(csv_response(format!("orders-{event_id}.csv"), finish(out)?))
}

/// Every ticket of the event as CSV, for the door or the organiser's records: one line a
/// ticket, refunded ones included and marked.
#[utoipa::path(get, path = "/api/v1/admin/events/{event_id}/attendees.csv", tag = "admin",
    params(("event_id" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "ticket_id, order_id, seat_id, seat, name, email, status (valid or refunded), price_cents, currency, checked_in_at"),
        (status = 401), (status = 403), (status = 404)))]
pub(crate) async fn attendees_csv(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(event_id): ApiPath<String>,
) -> ApiResult<Response> {
    let (event, orders) = admin_orders::event_orders(&state.app, &event_id).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "ticket_id",
        "order_id",
        "seat_id",
        "seat",
        "name",
        "email",
        "status",
        "price_cents",
        "currency",
        "checked_in_at",
    ])
    .map_err(csv_error)?;
    for BuyerOrder { order, buyer } in &orders {
        for t in &order.tickets {
            out.write_record([
                t.id.clone(),
                order.id.to_string(),
                t.seat_id.clone(),
                event.seat_label(&t.seat_id),
                buyer.as_ref().map(|b| b.name.clone()).unwrap_or_default(),
                buyer.as_ref().map(|b| b.email.clone()).unwrap_or_default(),
                if t.valid { "valid" } else { "refunded" }.to_owned(),
                t.price_cents.to_string(),
                order.currency.clone(),
                t.checked_in_at.map(|c| c.to_rfc3339()).unwrap_or_default(),
            ])
            .map_err(csv_error)?;
        }
    }
    Ok(csv_response(
        format!("attendees-{event_id}.csv"),
        finish(out)?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeopleList {
    /// Door staff and admins, by role then e-mail.
    pub users: Vec<UserView>,
}

/// The accounts that run the sale: door staff and admins. Roles change with
/// `PUT /api/v1/admin/users/role`.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    responses((status = 200, body = PeopleList), (status = 401), (status = 403)))]
pub(crate) async fn list_people(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<PeopleList>> {
    let users = admin_orders::people(&state.app).await?;
    Ok(Json(PeopleList {
        users: users.iter().map(UserView::from).collect(),
    }))
}
