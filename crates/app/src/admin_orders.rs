//! What the organiser reads of the sale: orders found by e-mail, order id or seat, one order with
//! its buyer, an event's orders for export, and the people who run the sale (staff and admins).

use std::{collections::HashMap, sync::Arc};

use crate::{App, AppError, AppResult, catalog::EventInfo};
use boxoffice_domain::{
    account::Role,
    ids::{OrderId, UserId},
    venue_rules::is_well_formed_id,
};
use boxoffice_store::{OrderRecord, OrderSearch, UserRecord};

/// How many orders a search answers at most: enough to scan by eye; the export has them all.
pub const SEARCH_LIMIT: u32 = 100;
/// The longest search text worth sending to the database (an e-mail is at most 254).
const MAX_QUERY_CHARS: usize = 254;

/// An order with the account that bought it.
pub struct BuyerOrder {
    /// The order and its tickets.
    pub order: OrderRecord,
    /// Who bought it; `None` only if the account was removed.
    pub buyer: Option<UserRecord>,
}

async fn with_buyers(app: &App, orders: Vec<OrderRecord>) -> AppResult<Vec<BuyerOrder>> {
    let mut ids: Vec<UserId> = orders.iter().map(|o| o.user_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut tx = app.db.read().await?;
    let users: HashMap<UserId, UserRecord> = tx
        .users_by_ids(&ids)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    tx.commit().await?;
    Ok(orders
        .into_iter()
        .map(|order| BuyerOrder {
            buyer: users.get(&order.user_id).cloned(),
            order,
        })
        .collect())
}

/// Orders matching `text` (an order id, the start of a buyer's e-mail, or a seat id; trimmed,
/// case-insensitive for e-mails), of one event if `event_id` names one; the newest
/// [`SEARCH_LIMIT`]. Empty text: the newest orders.
pub async fn search(app: &App, text: &str, event_id: Option<&str>) -> AppResult<Vec<BuyerOrder>> {
    let text = text.trim();
    let text: String = text.chars().take(MAX_QUERY_CHARS).collect();
    let event_id = event_id.map(str::trim).filter(|e| !e.is_empty());
    if event_id.is_some_and(|e| !is_well_formed_id(e)) {
        return Ok(Vec::new());
    }
    let search = OrderSearch {
        text: (!text.is_empty()).then_some(text),
        event_id: event_id.map(str::to_owned),
        limit: Some(SEARCH_LIMIT),
    };
    let mut tx = app.db.read().await?;
    let orders = tx.search_orders(&search).await?;
    tx.commit().await?;
    with_buyers(app, orders).await
}

/// One order with its buyer; 404 when there is none.
pub async fn order(app: &App, order_id: &str) -> AppResult<BuyerOrder> {
    let order = if let Some(order_id) = OrderId::parse(order_id) {
        let mut tx = app.db.read().await?;
        let order = tx.order_by_id(&order_id).await?;
        tx.commit().await?;
        order
    } else {
        None
    };
    let order = order.ok_or_else(|| AppError::not_found("Order"))?;
    Ok(with_buyers(app, vec![order]).await?.remove(0))
}

/// Every order of the event, newest first, with its buyer and tickets: what the exports list.
/// 404 for an unknown event.
pub async fn event_orders(
    app: &App,
    event_id: &str,
) -> AppResult<(Arc<EventInfo>, Vec<BuyerOrder>)> {
    let event = app
        .catalog
        .event(event_id)
        .await?
        .ok_or_else(|| AppError::not_found("Event"))?;
    let mut tx = app.db.read().await?;
    let orders = tx
        .search_orders(&OrderSearch {
            event_id: Some(event_id.to_owned()),
            ..OrderSearch::default()
        })
        .await?;
    tx.commit().await?;
    Ok((event, with_buyers(app, orders).await?))
}

/// The accounts that run the sale: door staff and admins.
pub async fn people(app: &App) -> AppResult<Vec<UserRecord>> {
    let roles = [Role::Staff, Role::Admin].map(|r| r.as_str().to_owned());
    let mut tx = app.db.read().await?;
    let users = tx.users_with_roles(&roles).await?;
    tx.commit().await?;
    Ok(users)
}
