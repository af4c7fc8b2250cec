//! Administration and the door: refunds, check-in and revenue; the settings the instances share;
//! the database's clock; and the audit's queries.

use super::{
    GateCheckins, OrderRecord, OrderStatus, StoreResult,
    sql::{Dialect, Sql, Tx},
};
use boxoffice_domain::{
    ids::{EventId, OrderId, PaymentId},
    time::Timestamp,
};

impl<D: Dialect> Tx<D> {
    pub(crate) async fn db_now(&mut self) -> StoreResult<Timestamp> {
        Ok(Timestamp(
            self.scalar(Sql::new(format!("SELECT {}", D::NOW))).await?,
        ))
    }

    pub(crate) async fn setting(&mut self, key: &str) -> StoreResult<Option<String>> {
        let q = Sql::new(format!(
            "SELECT {} FROM settings WHERE {} = ?",
            D::quote("value"),
            D::quote("key")
        ));
        let row: Option<(String,)> = self.optional(q.bind(key)).await?;
        Ok(row.map(|(v,)| v))
    }

    /// Inserts the setting, or on a duplicate key sets its value (`replace`) or leaves it.
    async fn upsert_setting(&mut self, key: &str, value: &str, replace: bool) -> StoreResult<()> {
        let (k, v) = (D::quote("key"), D::quote("value"));
        let upsert = D::upsert(&k, replace.then_some(&*v));
        let q = Sql::new(format!(
            "INSERT INTO settings ({k}, {v}) VALUES (?, ?){upsert}"
        ));
        self.execute(q.bind(key).bind(value)).await?;
        Ok(())
    }

    pub(crate) async fn put_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        self.upsert_setting(key, value, true).await
    }

    pub(crate) async fn setting_or_insert(
        &mut self,
        key: &str,
        value: &str,
    ) -> StoreResult<String> {
        self.upsert_setting(key, value, false).await?;
        let stored = self.setting(key).await?;
        stored.ok_or_else(|| sqlx::Error::RowNotFound.into())
    }

    pub(crate) async fn settings_with_prefix(
        &mut self,
        prefix: &str,
    ) -> StoreResult<Vec<(String, String)>> {
        let (k, v) = (D::quote("key"), D::quote("value"));
        let q = Sql::new(format!(
            "SELECT {k}, {v} FROM settings WHERE {k} LIKE ? ORDER BY {k}"
        ));
        self.all(q.bind(format!("{prefix}%"))).await
    }

    pub(crate) async fn lock_order(
        &mut self,
        order_id: &OrderId,
    ) -> StoreResult<Option<OrderRecord>> {
        // Where `FOR UPDATE` is empty, the writer's transaction is already the only writer.
        if !D::FOR_UPDATE.is_empty() {
            let q = Sql::new(format!(
                "SELECT id FROM orders WHERE id = ?{}",
                D::FOR_UPDATE
            ));
            self.execute(q.bind(order_id)).await?;
        }
        self.order_by_id(order_id).await
    }

    pub(crate) async fn charge_of_order(
        &mut self,
        order_id: &OrderId,
    ) -> StoreResult<Option<(PaymentId, String)>> {
        let q = Sql::new(
            "SELECT payment_id, provider_ref FROM ledger WHERE order_id = ? AND kind = 'charge'",
        );
        let row: Option<(String, String)> = self.optional(q.bind(order_id)).await?;
        row.map(|(payment, reference)| {
            Ok((super::stored_id(PaymentId::parse, payment)?, reference))
        })
        .transpose()
    }

    pub(crate) async fn void_tickets(
        &mut self,
        order_id: &OrderId,
        ticket_ids: &[String],
    ) -> StoreResult<u64> {
        let q = Sql::new("UPDATE tickets SET valid_seat = NULL WHERE order_id = ? AND ");
        let q = q.bind(order_id).list("id", ticket_ids);
        self.execute(q.then(" AND valid_seat IS NOT NULL")).await
    }

    pub(crate) async fn set_order_status(
        &mut self,
        order_id: &OrderId,
        status: OrderStatus,
    ) -> StoreResult<()> {
        let q = Sql::new("UPDATE orders SET status = ? WHERE id = ?");
        self.execute(q.bind(status.as_str()).bind(order_id)).await?;
        Ok(())
    }

    pub(crate) async fn check_in_ticket(
        &mut self,
        ticket_id: &str,
        gate: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let q = Sql::new(
            "UPDATE tickets SET checked_in_at = ?, gate = ? \
             WHERE id = ? AND checked_in_at IS NULL AND valid_seat IS NOT NULL",
        );
        let q = q.bind(now.millis()).bind(gate).bind(ticket_id);
        Ok(self.execute(q).await? == 1)
    }

    /// One conditional update, so that scans settled at once by several requests, in any
    /// order, leave the earliest; at the same millisecond the scan recorded first stays.
    pub(crate) async fn record_earlier_scan(
        &mut self,
        ticket_id: &str,
        gate: &str,
        scanned_at: Timestamp,
    ) -> StoreResult<bool> {
        let q = Sql::new(
            "UPDATE tickets SET checked_in_at = ?, gate = ? \
             WHERE id = ? AND valid_seat IS NOT NULL \
             AND (checked_in_at IS NULL OR checked_in_at > ?)",
        );
        let at = scanned_at.millis();
        let q = q.bind(at).bind(gate).bind(ticket_id).bind(at);
        Ok(self.execute(q).await? == 1)
    }

    pub(crate) async fn checkins_by_gate(
        &mut self,
        event_id: &EventId,
    ) -> StoreResult<Vec<GateCheckins>> {
        let q = Sql::new(
            "SELECT gate, COUNT(*) AS tickets, COUNT(checked_in_at) AS checked_in FROM tickets \
             WHERE event_id = ? AND valid_seat IS NOT NULL GROUP BY gate",
        );
        self.all(q.bind(event_id)).await
    }

    pub(crate) async fn revenue_of_event(&mut self, event_id: &EventId) -> StoreResult<i64> {
        let q = Sql::new(format!(
            "SELECT CAST(COALESCE(SUM(price_cents), 0) AS {}) FROM tickets \
             WHERE event_id = ? AND valid_seat IS NOT NULL",
            D::BIGINT
        ));
        self.scalar(q.bind(event_id)).await
    }
}
