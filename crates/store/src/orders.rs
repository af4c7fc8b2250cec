//! Orders: what a successful checkout records (the order, its tickets, the ledger's charge) and
//! how buyers and the door read it back.

use super::{
    LedgerEntry, OrderRecord, OrderSearch, OrderStatus, PaymentStatus, SaleRecord, StoreError,
    StoreResult, TicketRecord,
    outbox::mail_insert,
    payments::{idempotency_completion, payment_finish},
    sql::{Dialect, Sql, Tx},
};
use boxoffice_domain::{
    ids::{EventId, HoldId, OrderId, PaymentId, UserId},
    time::Timestamp,
};

#[derive(sqlx::FromRow)]
pub(super) struct OrderRow {
    id: String,
    user_id: String,
    hold_id: String,
    event_id: String,
    payment_id: String,
    status: String,
    total_cents: i64,
    currency: String,
    created_at: i64,
}

impl TryFrom<OrderRow> for OrderRecord {
    type Error = StoreError;

    fn try_from(r: OrderRow) -> StoreResult<Self> {
        Ok(OrderRecord {
            status: OrderStatus::parse(&r.status)
                .ok_or_else(|| super::corrupt("order status", &r.status))?,
            id: super::stored_id(OrderId::parse, r.id)?,
            user_id: super::stored_id(UserId::parse, r.user_id)?,
            hold_id: super::stored_id(HoldId::parse, r.hold_id)?,
            event_id: super::stored_id(EventId::parse, r.event_id)?,
            payment_id: super::stored_id(PaymentId::parse, r.payment_id)?,
            total_cents: r.total_cents,
            currency: r.currency,
            created_at: Timestamp(r.created_at),
            tickets: Vec::new(),
        })
    }
}

/// A ticket is valid while `valid_seat` names its seat: a unique key on it makes selling one seat
/// twice impossible, and voiding the ticket frees the key.
#[derive(sqlx::FromRow)]
pub(super) struct TicketRow {
    id: String,
    order_id: String,
    event_id: String,
    seat_id: String,
    price_cents: i64,
    code: String,
    valid_seat: Option<String>,
    checked_in_at: Option<i64>,
    gate: Option<String>,
    created_at: i64,
}

impl TryFrom<TicketRow> for TicketRecord {
    type Error = StoreError;

    fn try_from(r: TicketRow) -> StoreResult<Self> {
        Ok(TicketRecord {
            id: r.id,
            order_id: super::stored_id(OrderId::parse, r.order_id)?,
            event_id: super::stored_id(EventId::parse, r.event_id)?,
            seat_id: r.seat_id,
            price_cents: r.price_cents,
            code: r.code,
            valid: r.valid_seat.is_some(),
            checked_in_at: r.checked_in_at.map(Timestamp),
            checked_in_gate: r.gate,
            created_at: Timestamp(r.created_at),
        })
    }
}

const ORDER_COLUMNS: &str = "id, user_id, hold_id, event_id, payment_id, status, total_cents, \
                             currency, created_at FROM orders";
const TICKET_COLUMNS: &str = "id, order_id, event_id, seat_id, price_cents, code, valid_seat, \
                              checked_in_at, gate, created_at FROM tickets";

impl<D: Dialect> Tx<D> {
    pub(crate) async fn insert_order(&mut self, o: &OrderRecord) -> StoreResult<()> {
        self.execute(order_insert(Sql::new(""), o)).await?;
        Ok(())
    }

    pub(crate) async fn insert_tickets(&mut self, tickets: &[TicketRecord]) -> StoreResult<()> {
        if tickets.is_empty() {
            return Ok(());
        }
        self.execute(tickets_insert(Sql::new(""), tickets)).await?;
        Ok(())
    }

    pub(crate) async fn insert_ledger_entry(&mut self, e: &LedgerEntry) -> StoreResult<()> {
        self.execute(ledger_insert(Sql::new(""), e)).await?;
        Ok(())
    }

    /// Writes what a succeeded payment leaves: the order with its tickets, the payment's end,
    /// its charge in the ledger, the answer its key replays and its confirmation e-mail (when
    /// there is one). Where the dialect chains writes (PostgreSQL's data-modifying `WITH`) that
    /// is one statement; elsewhere five, or six with the e-mail.
    pub(crate) async fn record_sale(&mut self, sale: &SaleRecord<'_>) -> StoreResult<()> {
        let order = sale.order;
        let succeeded = PaymentStatus::Succeeded;
        if D::CHAINS_WRITES {
            let q = order_insert(Sql::new("WITH new_order AS ("), order);
            let q = tickets_insert(q.then("), new_tickets AS ("), &order.tickets);
            let q = payment_finish(
                q.then("), paid AS ("),
                &order.payment_id,
                succeeded,
                sale.provider_ref,
                sale.now,
            );
            let mut q = ledger_insert(q.then("), charged AS ("), sale.charge);
            if let Some(mail) = sale.mail {
                q = mail_insert(q.then("), mailed AS ("), mail);
            }
            let q = q.then(") ");
            let q = idempotency_completion(q, &order.user_id, sale.idempotency_key, sale.answer);
            self.execute(q).await?;
            return Ok(());
        }
        self.insert_order(order).await?;
        self.insert_tickets(&order.tickets).await?;
        let q = payment_finish(
            Sql::new(""),
            &order.payment_id,
            succeeded,
            sale.provider_ref,
            sale.now,
        );
        self.execute(q).await?;
        self.insert_ledger_entry(sale.charge).await?;
        if let Some(mail) = sale.mail {
            self.queue_mail(mail).await?;
        }
        let q = idempotency_completion(
            Sql::new(""),
            &order.user_id,
            sale.idempotency_key,
            sale.answer,
        );
        self.execute(q).await?;
        Ok(())
    }

    /// The orders with their tickets, read in one statement for all of them.
    async fn with_tickets(&mut self, rows: Vec<OrderRow>) -> StoreResult<Vec<OrderRecord>> {
        let mut orders = rows
            .into_iter()
            .map(OrderRecord::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        let ids: Vec<&OrderId> = orders.iter().map(|o| &o.id).collect();
        let q = Sql::new(format!("SELECT {TICKET_COLUMNS} WHERE ")).list("order_id", &ids);
        let tickets: Vec<TicketRow> = self.all(q.then(" ORDER BY order_id, seat_id")).await?;
        for ticket in tickets {
            if let Some(order) = orders.iter_mut().find(|o| o.id.as_str() == ticket.order_id) {
                order.tickets.push(ticket.try_into()?);
            }
        }
        Ok(orders)
    }

    pub(crate) async fn orders_of(&mut self, user_id: &UserId) -> StoreResult<Vec<OrderRecord>> {
        let q = Sql::new(format!(
            "SELECT {ORDER_COLUMNS} WHERE user_id = ? ORDER BY created_at DESC, id DESC"
        ));
        let rows = self.all(q.bind(user_id)).await?;
        self.with_tickets(rows).await
    }

    /// Newest first. The text matches an order id exactly, a buyer's e-mail by its start
    /// (ignoring case), or a seat id exactly; without text, every order (of the event, when one is named).
    pub(crate) async fn search_orders(&mut self, s: &OrderSearch) -> StoreResult<Vec<OrderRecord>> {
        let mut q = Sql::new(format!("SELECT {ORDER_COLUMNS} WHERE 1 = 1"));
        if let Some(event_id) = &s.event_id {
            q = q.then(" AND event_id = ?").bind(event_id);
        }
        if let Some(text) = &s.text {
            // `%` and the escape character are dropped: the e-mail is matched by its start only.
            // E-mails are stored in lower case.
            let prefix: String = text
                .to_lowercase()
                .chars()
                .filter(|c| !matches!(c, '%' | '\\'))
                .collect();
            q = q.then(" AND (id = ? OR id IN (SELECT order_id FROM tickets WHERE seat_id = ?)");
            q = q.bind(text).bind(text);
            if !prefix.is_empty() {
                q = q.then(" OR user_id IN (SELECT id FROM users WHERE email LIKE ?)");
                q = q.bind(format!("{prefix}%"));
            }
            q = q.then(")");
        }
        q = q.then(" ORDER BY created_at DESC, id DESC");
        if let Some(limit) = s.limit {
            q = q.then(format!(" LIMIT {limit}"));
        }
        let rows = self.all(q).await?;
        self.with_tickets(rows).await
    }

    pub(crate) async fn order_by_id(
        &mut self,
        order_id: &OrderId,
    ) -> StoreResult<Option<OrderRecord>> {
        let q = Sql::new(format!("SELECT {ORDER_COLUMNS} WHERE id = ?"));
        let Some(row) = self.optional(q.bind(order_id)).await? else {
            return Ok(None);
        };
        Ok(self.with_tickets(vec![row]).await?.pop())
    }

    pub(crate) async fn ticket_by_id(
        &mut self,
        ticket_id: &str,
    ) -> StoreResult<Option<TicketRecord>> {
        let q = Sql::new(format!("SELECT {TICKET_COLUMNS} WHERE id = ?"));
        let row: Option<TicketRow> = self.optional(q.bind(ticket_id)).await?;
        row.map(TicketRecord::try_from).transpose()
    }

    pub(crate) async fn order_id_for_payment(
        &mut self,
        payment_id: &PaymentId,
    ) -> StoreResult<Option<OrderId>> {
        let q = Sql::new("SELECT id FROM orders WHERE payment_id = ?");
        let row: Option<(String,)> = self.optional(q.bind(payment_id)).await?;
        row.map(|(id,)| super::stored_id(OrderId::parse, id))
            .transpose()
    }
}

/// `q` followed by the INSERT of an order (without its tickets).
fn order_insert<D: Dialect>(q: Sql<D>, o: &OrderRecord) -> Sql<D> {
    let q = q.then(
        "INSERT INTO orders (id, user_id, hold_id, event_id, payment_id, status, total_cents, \
         currency, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    let q = q
        .bind(&o.id)
        .bind(&o.user_id)
        .bind(&o.hold_id)
        .bind(&o.event_id);
    let q = q
        .bind(&o.payment_id)
        .bind(o.status.as_str())
        .bind(o.total_cents);
    q.bind(&o.currency).bind(o.created_at.millis())
}

/// `q` followed by the one INSERT of `tickets` (at least one).
fn tickets_insert<D: Dialect>(q: Sql<D>, tickets: &[TicketRecord]) -> Sql<D> {
    let mut q = q.then(
        "INSERT INTO tickets (id, order_id, event_id, seat_id, price_cents, code, valid_seat, \
         created_at) VALUES ",
    );
    for (i, t) in tickets.iter().enumerate() {
        q = q.then(if i == 0 {
            "(?, ?, ?, ?, ?, ?, ?, ?)"
        } else {
            ", (?, ?, ?, ?, ?, ?, ?, ?)"
        });
        q = q
            .bind(&t.id)
            .bind(&t.order_id)
            .bind(&t.event_id)
            .bind(&t.seat_id);
        let valid_seat = t.valid.then(|| format!("{}/{}", t.event_id, t.seat_id));
        q = q.bind(t.price_cents).bind(&t.code).bind(valid_seat);
        q = q.bind(t.created_at.millis());
    }
    q
}

/// `q` followed by the INSERT of a ledger entry.
fn ledger_insert<D: Dialect>(q: Sql<D>, e: &LedgerEntry) -> Sql<D> {
    let q = q.then(
        "INSERT INTO ledger (id, payment_id, order_id, kind, amount_cents, currency, \
         provider_ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    let q = q.bind(&e.id).bind(&e.payment_id).bind(&e.order_id);
    let q = q
        .bind(e.kind.as_str())
        .bind(e.amount_cents)
        .bind(&e.currency);
    q.bind(&e.provider_ref).bind(e.created_at.millis())
}
