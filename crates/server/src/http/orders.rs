//! Orders and tickets: the caller's own (anyone else's are 404), and each ticket's QR code.

use axum::{
    Json, Router,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use qrcode::{QrCode, render::svg};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    extract::{ApiPath, CurrentUser},
};
use boxoffice_app::views::{OrderResponse, OrderView};
use boxoffice_domain::ids::OrderId;
use boxoffice_store::OrderRecord;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", get(list_orders))
        .route("/orders/{order_id}", get(get_order))
        .route("/tickets/{ticket_id}", get(get_ticket))
        .route("/tickets/{ticket_id}/qr.svg", get(ticket_qr))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderList {
    pub orders: Vec<OrderView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketView {
    pub id: String,
    pub order_id: String,
    pub event_id: String,
    pub seat_id: String,
    pub seat_label: String,
    pub code: String,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketResponse {
    pub ticket: TicketView,
}

pub(crate) async fn view(state: &AppState, order: &OrderRecord) -> ApiResult<OrderView> {
    let event = state.app.catalog.event(&order.event_id).await?;
    Ok(OrderView::of(order, event.as_deref()))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", responses((status = 200, body = OrderList), (status = 401)))]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<OrderList>> {
    let mut tx = state.app.db.read().await?;
    let records = tx.orders_of(user.id()).await?;
    tx.commit().await?;
    let mut orders = Vec::with_capacity(records.len());
    for r in &records {
        orders.push(view(&state, r).await?);
    }
    Ok(Json(OrderList { orders }))
}

/// One of the caller's orders.
#[utoipa::path(get, path = "/api/v1/orders/{order_id}", tag = "orders", params(("order_id" = String, Path)),
    responses((status = 200, body = OrderResponse), (status = 401), (status = 404)))]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    ApiPath(order_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<Json<OrderResponse>> {
    let order = match OrderId::parse(&order_id) {
        Some(order_id) => {
            let mut tx = state.app.db.read().await?;
            let order = tx.order_by_id(&order_id).await?;
            tx.commit().await?;
            order
        }
        None => None,
    };
    let order = order
        .filter(|o| &o.user_id == user.id())
        .ok_or_else(|| ApiError::not_found("Order"))?;
    Ok(Json(OrderResponse {
        order: view(&state, &order).await?,
    }))
}

async fn own_ticket(
    state: &AppState,
    ticket_id: &str,
    user: &CurrentUser,
) -> ApiResult<TicketView> {
    let mut tx = state.app.db.read().await?;
    let ticket = tx.ticket_by_id(ticket_id).await?;
    let order = match &ticket {
        Some(t) => tx.order_by_id(&t.order_id).await?,
        None => None,
    };
    tx.commit().await?;
    let (Some(ticket), Some(_)) = (ticket, order.filter(|o| &o.user_id == user.id())) else {
        return Err(ApiError::not_found("Ticket"));
    };
    let event = state.app.catalog.event(&ticket.event_id).await?;
    Ok(TicketView {
        seat_label: event
            .map(|e| e.seat_label(&ticket.seat_id))
            .unwrap_or_else(|| ticket.seat_id.clone()),
        id: ticket.id,
        order_id: ticket.order_id.into(),
        event_id: ticket.event_id.into(),
        seat_id: ticket.seat_id,
        code: ticket.code,
        status: if ticket.valid { "valid" } else { "refunded" }.to_owned(),
    })
}

/// One of the caller's tickets.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}", tag = "orders", params(("ticket_id" = String, Path)),
    responses((status = 200, body = TicketResponse), (status = 401), (status = 404)))]
pub(crate) async fn get_ticket(
    State(state): State<AppState>,
    ApiPath(ticket_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<Json<TicketResponse>> {
    Ok(Json(TicketResponse {
        ticket: own_ticket(&state, &ticket_id, &user).await?,
    }))
}

/// The ticket's code as a QR image (SVG).
#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}/qr.svg", tag = "orders", params(("ticket_id" = String, Path)),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 401), (status = 404)))]
pub(crate) async fn ticket_qr(
    State(state): State<AppState>,
    ApiPath(ticket_id): ApiPath<String>,
    user: CurrentUser,
) -> ApiResult<Response> {
    let ticket = own_ticket(&state, &ticket_id, &user).await?;
    let code = QrCode::new(ticket.code.as_bytes()).map_err(ApiError::internal)?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#111111"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        image,
    )
        .into_response())
}
