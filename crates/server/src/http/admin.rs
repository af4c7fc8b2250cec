//! Administration (role `admin`): refunds, the sales report, and giving accounts a role. Every
//! amount here is computed from the stored tickets; an admin never types one in.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post, put},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    auth::UserView,
    extract::{AdminUser, ApiJson, ApiPath, OptionalJson},
    orders::{OrderResponse, view},
    settlement::{self, RefundError},
};
use boxoffice_domain::{
    account::{Email, Role},
    new_id,
    refund::{RefundRefused, RefundableTicket, plan_refund},
    seat::SeatState,
    time::Timestamp,
};
use boxoffice_store::{LedgerEntry, LedgerKind, OrderStatus};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/orders/{order_id}/refund", post(refund_order))
        .route("/admin/events/{event_id}/sales", get(sales_report))
        .route("/admin/users/role", put(set_role))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RefundRequest {
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
pub async fn refund_order(
    State(state): State<AppState>,
    ApiPath(order_id): ApiPath<String>,
    AdminUser(user): AdminUser,
    OptionalJson(request): OptionalJson<RefundRequest>,
) -> ApiResult<Json<OrderResponse>> {
    let mut tx = state.db.begin().await?;
    // The order stays locked until the refund commits: two admins refunding the same tickets
    // at once cannot both send money back.
    let order = tx
        .lock_order(&order_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Order"))?;
    let tickets: Vec<RefundableTicket> = order
        .tickets
        .iter()
        .map(|t| RefundableTicket {
            id: t.id.clone(),
            seat_id: t.seat_id.clone(),
            price_cents: t.price_cents,
            valid: t.valid,
        })
        .collect();
    let plan = plan_refund(&tickets, request.ticket_ids.as_deref()).map_err(refused)?;
    let now = Timestamp::now();

    if plan.amount_cents > 0 {
        let (payment_id, charge_ref) = tx.charge_of_order(&order.id).await?.ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("paid order {order_id} has no charge"))
        })?;
        // The key names exactly these tickets: a retry after a lost answer refunds once.
        let amount = boxoffice_domain::money::Money {
            cents: plan.amount_cents,
            currency: order.currency.clone(),
        };
        let refund_ref = settlement::refund_until_settled(
            &state,
            &charge_ref,
            &amount,
            &plan.idempotency_key(&order.id),
        )
        .await
        .map_err(|e| refund_not_settled(&order_id, e))?;
        tx.insert_ledger_entry(&LedgerEntry {
            id: new_id(),
            payment_id,
            order_id: Some(order.id.clone()),
            kind: LedgerKind::Refund,
            amount_cents: plan.amount_cents,
            currency: order.currency.clone(),
            provider_ref: refund_ref,
            created_at: now,
        })
        .await?;
    }

    let voided = tx.void_tickets(&order.id, &plan.ticket_ids).await?;
    let freed = tx
        .free_sold_seats(&order.event_id, &order.hold_id, &plan.seat_ids)
        .await?;
    if voided != plan.ticket_ids.len() as u64 || freed != plan.seat_ids.len() as u64 {
        // The order lock makes this impossible unless the data is already inconsistent.
        return Err(ApiError::internal(anyhow::anyhow!(
            "refund of order {order_id}: voided {voided} tickets and freed {freed} seats of {}",
            plan.ticket_ids.len()
        )));
    }
    let status = if plan.whole_order {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    };
    tx.set_order_status(&order.id, status).await?;
    let changes = tx.seat_statuses_of(&order.event_id, &plan.seat_ids).await?;
    let order = tx
        .order_by_id(&order.id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order {order_id} vanished")))?;
    tx.commit().await?;
    state.publish(&order.event_id, changes);
    metrics::counter!("boxoffice_refunds_total").increment(1);
    tracing::info!(
        order_id,
        tickets = plan.ticket_ids.len(),
        amount_cents = plan.amount_cents,
        by = user.id(),
        "order refunded"
    );
    Ok(Json(OrderResponse {
        order: view(&state, &order).await?,
    }))
}

fn refused(reason: RefundRefused) -> ApiError {
    match reason {
        RefundRefused::EmptySelection => ApiError::unprocessable(
            "invalid_ticket_ids",
            "Name at least one ticket, or leave ticket_ids out to refund the whole order.",
        ),
        RefundRefused::NotInOrder(ids) => ApiError::unprocessable(
            "ticket_not_in_order",
            "Some of these tickets are not part of this order.",
        )
        .with_details(json!({ "ticket_ids": ids })),
        RefundRefused::AlreadyRefunded(ids) => ApiError::conflict(
            "ticket_already_refunded",
            "Some of these tickets were already refunded.",
        )
        .with_details(json!({ "ticket_ids": ids })),
        RefundRefused::NothingLeft => ApiError::conflict(
            "order_already_refunded",
            "Every ticket of this order was already refunded.",
        ),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SalesReport {
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
pub async fn sales_report(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    _admin: AdminUser,
) -> ApiResult<Json<SalesReport>> {
    let mut tx = state.db.read().await?;
    let event = tx
        .event_by_id(&event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let seats = tx.seat_statuses(&event_id).await?;
    let revenue_cents = tx.revenue_of_event(&event_id).await?;
    tx.commit().await?;
    let count = |state: SeatState| seats.iter().filter(|s| s.state == state).count() as u64;
    Ok(Json(SalesReport {
        event_id,
        seats_total: seats.len() as u64,
        available: count(SeatState::Available),
        held: count(SeatState::Held),
        sold: count(SeatState::Sold),
        revenue_cents,
        currency: event.currency,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetRoleRequest {
    pub email: String,
    /// `buyer`, `staff` (may check tickets in at the door) or `admin`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: UserView,
}

/// Give an existing account a role, for example `staff` for the people scanning tickets.
#[utoipa::path(put, path = "/api/v1/admin/users/role", tag = "admin", request_body = SetRoleRequest,
    responses((status = 200, body = UserResponse), (status = 401), (status = 403), (status = 404), (status = 422)))]
pub async fn set_role(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiJson(body): ApiJson<SetRoleRequest>,
) -> ApiResult<Json<UserResponse>> {
    let email =
        Email::parse(&body.email).map_err(|e| ApiError::unprocessable(e.code, e.message))?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::unprocessable("invalid_role", "The role must be buyer, staff or admin.")
    })?;
    let mut tx = state.db.begin().await?;
    let updated = tx
        .set_user_role(email.as_str(), role)
        .await?
        .ok_or_else(|| ApiError::not_found("Account"))?;
    tx.commit().await?;
    state.sessions.forget_user(&updated.id);
    tracing::info!(user_id = %updated.id, role = role.as_str(), by = user.id(), "role changed");
    Ok(Json(UserResponse {
        user: UserView::from(&updated),
    }))
}

/// A refund the provider has not (yet) settled: nothing is changed here. Pending: the admin
/// retries the same refund (same key, so the provider refunds once) to record it once it has
/// succeeded. Failed: flagged for the admin to resolve with the provider.
fn refund_not_settled(order_id: &str, e: RefundError) -> ApiError {
    match e {
        RefundError::Provider(e) => {
            tracing::warn!(error = %e, order_id, "refund not confirmed by the provider");
            ApiError::provider_unavailable(
                "The payment provider did not confirm the refund; nothing was changed. Try again.",
                5,
            )
        }
        RefundError::Pending(refund_id) => {
            tracing::info!(order_id, refund_id, "refund pending at the provider");
            let mut e = ApiError::conflict(
                "refund_pending",
                "The payment provider accepted the refund but has not finished it. Nothing is recorded yet: try the same refund again shortly.",
            )
            .with_details(json!({ "refund_id": refund_id }));
            e.retry_after = Some(5);
            e
        }
        RefundError::Failed { id, reason } => {
            tracing::error!(order_id, refund_id = %id, reason, "refund failed at the provider");
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "refund_failed",
                format!("The payment provider could not refund this order ({reason}). Nothing was changed; resolve it in the provider's dashboard."),
            )
            .with_details(json!({ "refund_id": id, "reason": reason }))
        }
    }
}
