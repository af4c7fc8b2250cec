//! The e-mail outbox: messages queued in the transaction of the sale or refund they tell of,
//! claimed with a lease by whichever instance's sender gets there first, and marked once sent.
//! Every time a lease depends on is the database's clock, the one all instances share.

use super::{
    StoreError, StoreResult,
    sql::{Dialect, Sql, Tx},
};
use boxoffice_domain::time::Timestamp;

/// What a message tells the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// The order is paid: here are the tickets.
    OrderConfirmation,
    /// Some or all of the order's tickets were refunded.
    RefundNotice,
    /// A payment that went through after its seats were taken was given back: no order.
    PaymentRefunded,
}

impl MailKind {
    /// The name stored in the database (and used as a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::OrderConfirmation => "order_confirmation",
            MailKind::RefundNotice => "refund_notice",
            MailKind::PaymentRefunded => "payment_refunded",
        }
    }

    /// The kind stored under `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "order_confirmation" => Some(MailKind::OrderConfirmation),
            "refund_notice" => Some(MailKind::RefundNotice),
            "payment_refunded" => Some(MailKind::PaymentRefunded),
            _ => None,
        }
    }
}

/// A message to queue. The recipient is the account `user_id`: its address and name are read by
/// the INSERT itself, so queueing costs the sale no extra read.
#[derive(Debug, Clone)]
pub struct NewMail {
    /// Its id, which the message's `Message-ID` is made from.
    pub id: String,
    /// What it tells.
    pub kind: MailKind,
    /// The order it is about.
    pub order_id: Option<String>,
    /// The account it goes to.
    pub user_id: String,
    /// The facts it is written from (JSON), as they are when the transaction commits.
    pub payload: String,
    /// When it was queued.
    pub created_at: Timestamp,
}

/// A message claimed for sending, under `lease` until the lease runs out.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    /// Its id.
    pub id: String,
    /// What it tells.
    pub kind: MailKind,
    /// The order it is about.
    pub order_id: Option<String>,
    /// The address it goes to, as the account had it when the message was queued.
    pub recipient: String,
    /// The account holder's name then.
    pub recipient_name: String,
    /// The facts it is written from.
    pub payload: String,
    /// Attempts that failed before this one.
    pub attempts: u32,
    /// When it was queued.
    pub created_at: Timestamp,
}

/// What became of one attempt to send a claimed message.
#[derive(Debug, Clone)]
pub enum MailOutcome {
    /// The mail server accepted it.
    Sent {
        /// When.
        at: Timestamp,
    },
    /// Try again after `after_ms` (the database's clock); `counted` says whether the wait that
    /// follows grows with it (it does not for a message handed back only because its round ran
    /// out of lease).
    Retry {
        /// How long to wait.
        after_ms: i64,
        /// Why, for the operator.
        error: String,
        /// Whether it counts as a failed attempt.
        counted: bool,
    },
    /// The mail server refused it for good (an address that does not exist): never retried.
    Failed {
        /// Why.
        error: String,
    },
}

#[derive(sqlx::FromRow)]
pub(super) struct MailRow {
    id: String,
    kind: String,
    order_id: Option<String>,
    recipient: String,
    recipient_name: String,
    payload: String,
    attempts: i64,
    created_at: i64,
}

impl TryFrom<MailRow> for ClaimedMail {
    type Error = StoreError;

    fn try_from(r: MailRow) -> StoreResult<Self> {
        Ok(ClaimedMail {
            kind: MailKind::parse(&r.kind).ok_or_else(|| super::corrupt("mail kind", &r.kind))?,
            id: r.id,
            order_id: r.order_id,
            recipient: r.recipient,
            recipient_name: r.recipient_name,
            payload: r.payload,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            created_at: Timestamp(r.created_at),
        })
    }
}

const MAIL_COLUMNS: &str =
    "id, kind, order_id, recipient, recipient_name, payload, attempts, created_at";

/// The longest error text kept on a row: enough to say what the server answered.
const MAX_ERROR_CHARS: usize = 500;

impl<D: Dialect> Tx<D> {
    pub(crate) async fn queue_mail(&mut self, mail: &NewMail) -> StoreResult<()> {
        self.execute(mail_insert(Sql::new(""), mail)).await?;
        Ok(())
    }

    /// Claims up to `limit` due messages for `lease_ms` under `lease`. The candidates are read
    /// from the index of due rows and, where the dialect locks rows, locked with SKIP LOCKED, so
    /// that two instances claiming at once take different messages instead of waiting on each
    /// other. The UPDATE repeats the condition: whatever the isolation, a row another claim took
    /// meanwhile (its `due_at` now in the future) is not taken twice.
    pub(crate) async fn claim_due_mail(
        &mut self,
        lease: &str,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedMail>> {
        // The clock is read first and bound: PostgreSQL cannot walk an index up to a volatile
        // expression such as its clock_timestamp(), and would read every row instead.
        let now = self.db_now().await?.millis();
        let skip_locked = if D::FOR_UPDATE.is_empty() {
            ""
        } else {
            " SKIP LOCKED"
        };
        let q = Sql::new(format!(
            "SELECT id FROM outbox WHERE due_at <= ? ORDER BY due_at LIMIT ?{}{skip_locked}",
            D::FOR_UPDATE,
        ));
        let ids: Vec<String> = self.column(q.bind(now).bind(i64::from(limit))).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let claim = Sql::new("UPDATE outbox SET due_at = ?, lease = ? WHERE due_at <= ? AND ")
            .bind(now + lease_ms)
            .bind(lease)
            .bind(now)
            .list("id", &ids);
        let rows: Vec<MailRow> = if D::RETURNING {
            self.all(claim.then(format!(" RETURNING {MAIL_COLUMNS}")))
                .await?
        } else {
            self.execute(claim).await?;
            let q = Sql::new(format!(
                "SELECT {MAIL_COLUMNS} FROM outbox WHERE lease = ? AND "
            ))
            .bind(lease)
            .list("id", &ids);
            self.all(q).await?
        };
        rows.into_iter().map(ClaimedMail::try_from).collect()
    }

    /// Records what became of an attempt, if `lease` still holds the message; false when it does
    /// not (the lease ran out and another claim took the message).
    pub(crate) async fn settle_mail(
        &mut self,
        id: &str,
        lease: &str,
        outcome: &MailOutcome,
    ) -> StoreResult<bool> {
        let q = match outcome {
            MailOutcome::Sent { at } => Sql::new(
                "UPDATE outbox SET status = 'sent', due_at = NULL, lease = NULL, sent_at = ?, \
                 attempts = attempts + 1 WHERE id = ? AND lease = ?",
            )
            .bind(at.millis()),
            MailOutcome::Retry {
                after_ms,
                error,
                counted,
            } => Sql::new(format!(
                "UPDATE outbox SET due_at = {} + ?, lease = NULL, attempts = attempts + ?, \
                 last_error = ? WHERE id = ? AND lease = ?",
                D::NOW
            ))
            .bind(*after_ms)
            .bind(i64::from(*counted))
            .bind(clip(error)),
            MailOutcome::Failed { error } => Sql::new(
                "UPDATE outbox SET status = 'failed', due_at = NULL, lease = NULL, \
                 attempts = attempts + 1, last_error = ? WHERE id = ? AND lease = ?",
            )
            .bind(clip(error)),
        };
        Ok(self.execute(q.bind(id).bind(lease)).await? == 1)
    }

    /// Messages not yet sent nor given up on: queued, waiting to be retried, or being sent.
    pub(crate) async fn unsent_mail(&mut self) -> StoreResult<i64> {
        self.scalar(Sql::new(
            "SELECT COUNT(*) FROM outbox WHERE due_at IS NOT NULL",
        ))
        .await
    }
}

fn clip(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// `q` followed by the INSERT of a message, its recipient read from the account in the same
/// statement; due at once by the database's clock.
pub(super) fn mail_insert<D: Dialect>(q: Sql<D>, m: &NewMail) -> Sql<D> {
    let q = q.then(format!(
        "INSERT INTO outbox (id, kind, order_id, recipient, recipient_name, payload, status, \
         due_at, attempts, created_at) SELECT ?, ?, ?, email, name, ?, 'pending', {}, 0, ? \
         FROM users WHERE id = ?",
        D::NOW
    ));
    let q = q.bind(&m.id).bind(m.kind.as_str()).bind(&m.order_id);
    q.bind(&m.payload)
        .bind(m.created_at.millis())
        .bind(&m.user_id)
}
