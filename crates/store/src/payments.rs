//! Payments: the idempotency keys that make checkout safe to retry, and payment attempts from
//! checkout through webhooks and reconciliation.

use super::{
    IdempotencyRecord, PaymentRecord, PaymentStatus, StoreError, StoreResult, StoredPayment,
    sql::{Dialect, Sql, Tx},
};
use boxoffice_domain::{
    ids::{HoldId, PaymentId, UserId},
    time::Timestamp,
};

#[derive(sqlx::FromRow)]
pub(super) struct IdempotencyRow {
    fingerprint: String,
    status_code: Option<i64>,
    response: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct PaymentRow {
    id: String,
    hold_id: String,
    user_id: String,
    idem_key: String,
    amount_cents: i64,
    currency: String,
    status: String,
    provider_ref: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<PaymentRow> for StoredPayment {
    type Error = StoreError;

    fn try_from(r: PaymentRow) -> StoreResult<Self> {
        Ok(StoredPayment {
            status: PaymentStatus::parse(&r.status)
                .ok_or_else(|| super::corrupt("payment status", &r.status))?,
            id: super::stored_id(PaymentId::parse, r.id)?,
            hold_id: super::stored_id(HoldId::parse, r.hold_id)?,
            user_id: super::stored_id(UserId::parse, r.user_id)?,
            idempotency_key: r.idem_key,
            amount_cents: r.amount_cents,
            currency: r.currency,
            provider_ref: r.provider_ref,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

fn select_payments<D: Dialect>(condition: &str) -> Sql<D> {
    Sql::new(format!(
        "SELECT id, hold_id, user_id, idem_key, amount_cents, currency, status, provider_ref, \
         created_at, updated_at FROM payments WHERE {condition}"
    ))
}

impl<D: Dialect> Tx<D> {
    pub(crate) async fn idempotency_record(
        &mut self,
        user_id: &UserId,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let q = Sql::new(
            "SELECT fingerprint, status_code, response FROM idempotency_keys \
             WHERE user_id = ? AND idem_key = ?",
        );
        let row: Option<IdempotencyRow> = self.optional(q.bind(user_id).bind(key)).await?;
        Ok(row.map(|r| IdempotencyRecord {
            fingerprint: r.fingerprint,
            response: r.status_code.zip(r.response).map(|(s, r)| (s as u16, r)),
        }))
    }

    pub(crate) async fn insert_idempotency_record(
        &mut self,
        user_id: &UserId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, created_at) \
             VALUES (?, ?, ?, ?)",
        );
        let q = q.bind(user_id).bind(key).bind(fingerprint);
        self.execute(q.bind(now.millis())).await?;
        Ok(())
    }

    pub(crate) async fn complete_idempotency_record(
        &mut self,
        user_id: &UserId,
        key: &str,
        status: u16,
        response: &str,
    ) -> StoreResult<()> {
        let q = idempotency_completion(Sql::new(""), user_id, key, (status, response));
        self.execute(q).await?;
        Ok(())
    }

    pub(crate) async fn purge_idempotency_records(
        &mut self,
        before: Timestamp,
    ) -> StoreResult<u64> {
        let q = Sql::new(
            "DELETE FROM idempotency_keys WHERE created_at < ? AND status_code IS NOT NULL",
        );
        self.execute(q.bind(before.millis())).await
    }

    pub(crate) async fn delete_idempotency_record(
        &mut self,
        user_id: &UserId,
        key: &str,
    ) -> StoreResult<()> {
        let q = Sql::new("DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ?");
        self.execute(q.bind(user_id).bind(key)).await?;
        Ok(())
    }

    pub(crate) async fn insert_payment(&mut self, p: &PaymentRecord) -> StoreResult<()> {
        self.execute(payment_insert(p, "INSERT INTO", "")).await?;
        Ok(())
    }

    pub(crate) async fn insert_payment_for_new_key(
        &mut self,
        p: &PaymentRecord,
    ) -> StoreResult<bool> {
        let (insert, tail) = D::insert_unless_duplicate("user_id, idem_key");
        Ok(self.execute(payment_insert(p, insert, &tail)).await? == 1)
    }
}

/// The `insert` (the verb, as [`Dialect::insert_unless_duplicate`] spells it) of a new pending
/// payment, ending in `tail`.
fn payment_insert<D: Dialect>(p: &PaymentRecord, insert: &str, tail: &str) -> Sql<D> {
    {
        let q = Sql::new(format!(
            "{insert} payments (id, hold_id, user_id, idem_key, amount_cents, currency, status, \
             provider, card_last4, in_flight_hold_id, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)"
        ));
        let q = q.bind(&p.id).bind(&p.hold_id).bind(&p.user_id);
        let q = q
            .bind(&p.idempotency_key)
            .bind(p.amount_cents)
            .bind(&p.currency);
        let q = q.bind(&p.provider).bind(&p.card_last4).bind(&p.hold_id);
        q.bind(p.created_at.millis())
            .bind(p.created_at.millis())
            .then(tail)
    }
}

impl<D: Dialect> Tx<D> {
    pub(crate) async fn finish_payment(
        &mut self,
        payment_id: &PaymentId,
        status: PaymentStatus,
        provider_ref: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let q = payment_finish(Sql::new(""), payment_id, status, provider_ref, now);
        self.execute(q).await?;
        Ok(())
    }

    async fn payment(&mut self, q: Sql<D>) -> StoreResult<Option<StoredPayment>> {
        let row: Option<PaymentRow> = self.optional(q).await?;
        row.map(StoredPayment::try_from).transpose()
    }

    pub(crate) async fn payment_by_id(
        &mut self,
        payment_id: &PaymentId,
    ) -> StoreResult<Option<StoredPayment>> {
        self.payment(select_payments("id = ?").bind(payment_id))
            .await
    }

    /// Where `FOR UPDATE` is empty, the writer's transaction is already the only writer.
    pub(crate) async fn lock_payment(
        &mut self,
        payment_id: &PaymentId,
    ) -> StoreResult<Option<StoredPayment>> {
        let q = select_payments(&format!("id = ?{}", D::FOR_UPDATE));
        self.payment(q.bind(payment_id)).await
    }

    pub(crate) async fn payment_by_reference(
        &mut self,
        provider_ref: &str,
    ) -> StoreResult<Option<StoredPayment>> {
        self.payment(select_payments("provider_ref = ?").bind(provider_ref))
            .await
    }

    pub(crate) async fn payment_by_key(
        &mut self,
        user_id: &UserId,
        key: &str,
    ) -> StoreResult<Option<StoredPayment>> {
        let q = select_payments("user_id = ? AND idem_key = ?");
        self.payment(q.bind(user_id).bind(key)).await
    }

    pub(crate) async fn set_payment_reference(
        &mut self,
        payment_id: &PaymentId,
        provider_ref: &str,
    ) -> StoreResult<()> {
        let q = Sql::new("UPDATE payments SET provider_ref = ? WHERE id = ?");
        self.execute(q.bind(provider_ref).bind(payment_id)).await?;
        Ok(())
    }

    pub(crate) async fn pending_payments(
        &mut self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<StoredPayment>> {
        let q =
            select_payments("status = 'pending' AND created_at < ? ORDER BY created_at LIMIT ?");
        let rows: Vec<PaymentRow> = self
            .all(q.bind(before.millis()).bind(i64::from(limit)))
            .await?;
        rows.into_iter().map(StoredPayment::try_from).collect()
    }

    pub(crate) async fn retry_failed_payment(
        &mut self,
        payment_id: &PaymentId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let q = Sql::new(
            "UPDATE payments SET status = 'pending', in_flight_hold_id = hold_id, updated_at = ? \
             WHERE id = ? AND status = 'failed'",
        );
        Ok(self.execute(q.bind(now.millis()).bind(payment_id)).await? == 1)
    }
}

/// `q` followed by the UPDATE that stores the answer an idempotency key replays.
pub(super) fn idempotency_completion<D: Dialect>(
    q: Sql<D>,
    user_id: &UserId,
    key: &str,
    (status, response): (u16, &str),
) -> Sql<D> {
    let q = q.then(
        "UPDATE idempotency_keys SET status_code = ?, response = ? \
         WHERE user_id = ? AND idem_key = ?",
    );
    let q = q.bind(i64::from(status)).bind(response);
    q.bind(user_id).bind(key)
}

/// `q` followed by the UPDATE that ends a payment attempt as `status`.
pub(super) fn payment_finish<D: Dialect>(
    q: Sql<D>,
    payment_id: &PaymentId,
    status: PaymentStatus,
    provider_ref: Option<&str>,
    now: Timestamp,
) -> Sql<D> {
    let q = q.then(
        "UPDATE payments SET status = ?, provider_ref = COALESCE(?, provider_ref), \
         in_flight_hold_id = CASE WHEN ? THEN hold_id ELSE NULL END, updated_at = ? WHERE id = ?",
    );
    let q = q
        .bind(status.as_str())
        .bind(provider_ref.map(str::to_owned));
    q.bind(status.blocks_hold())
        .bind(now.millis())
        .bind(payment_id)
}
