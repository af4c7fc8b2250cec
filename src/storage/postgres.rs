//! The PostgreSQL dialect (14+): one pool of connections at the default READ COMMITTED level.
//! Every statement that locks several seats locks them in key order first, so concurrent holds,
//! sales and releases wait for each other instead of deadlocking. Statements about particular
//! seats find them by `seat_key` alone (see [`seat_keys`] and migration 0002), so that no plan can
//! read the whole event to find a hold's seats.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    PgPool, Postgres, Row, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
};

use super::{
    CategoryRecord, Database, EventRecord, IdempotencyRecord, LedgerEntry, NewEvent, OrderRecord,
    OrderStatus, PaymentRecord, PaymentStatus, PoolStats, REFUSAL_CONNECTIONS, Repository,
    StoreError, StoreResult, StoredPayment, TicketRecord, UserRecord, VenueRecord, waiting,
};
use crate::domain::{
    account::Role,
    hold::{Hold, HoldStatus},
    seat::{SeatState, SeatStatus},
    time::Timestamp,
};

/// The database's clock in milliseconds. `clock_timestamp()` is the time of the statement, not of
/// the start of its transaction as `now()` would be.
const DB_NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_purchase_indexes.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_free_orders.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_ended_holds.sql"),
    ),
];

/// The advisory lock that lets only one instance migrate at a time (any constant both agree on).
const MIGRATION_LOCK: i64 = 0x626f_786f_6666_6963; // "boxoffic"

pub struct PostgresDatabase {
    pool: PgPool,
    refusals: PgPool,
}

impl PostgresDatabase {
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("boxoffice");
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let refusals = PgPoolOptions::new()
            .max_connections(REFUSAL_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options);
        Ok(PostgresDatabase { pool, refusals })
    }
}

#[async_trait]
impl Database for PostgresDatabase {
    fn dialect(&self) -> &'static str {
        "postgres"
    }

    async fn session_user(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>> {
        waiting("main", session_user(&self.pool, token_hash, now)).await
    }

    async fn begin(&self) -> StoreResult<Box<dyn Repository>> {
        Ok(Box::new(PgTx(waiting("main", self.pool.begin()).await?)))
    }

    async fn read(&self) -> StoreResult<Box<dyn Repository>> {
        // One snapshot for the whole transaction, as SQLite's readers have: the audit, for one,
        // describes a single moment. Safe at REPEATABLE READ because it never writes.
        Ok(Box::new(PgTx(
            waiting(
                "main",
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
            )
            .await?,
        )))
    }

    async fn refusal_read(&self) -> StoreResult<Box<dyn Repository>> {
        Ok(Box::new(PgTx(
            waiting(
                "refusals",
                self.refusals
                    .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED, READ ONLY"),
            )
            .await?,
        )))
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Two instances starting together on an empty database: the second waits here, then finds
        // the migrations applied. The lock is released when this transaction ends, however it ends.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(Timestamp::now().millis())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        vec![
            PoolStats::of("main", &self.pool),
            PoolStats::of("refusals", &self.refusals),
        ]
    }
}

/// The signed-in user of a session token's digest. A single statement: asked on every
/// signed-in request, it runs on a pooled connection without a transaction around it.
async fn session_user<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    token_hash: &str,
    now: Timestamp,
) -> StoreResult<Option<UserRecord>> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.name, u.role, u.password_hash, u.created_at FROM sessions s \
         JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now.millis())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(user_from).transpose()
}

struct PgTx(Transaction<'static, Postgres>);

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn user_from(row: &PgRow) -> StoreResult<UserRecord> {
    let role: String = row.try_get("role")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        password_hash: row.try_get("password_hash")?,
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn seat_status_from(row: &PgRow) -> StoreResult<SeatStatus> {
    let state: String = row.try_get("state")?;
    Ok(SeatStatus {
        seat_id: row.try_get("id")?,
        state: SeatState::parse(&state).ok_or_else(|| corrupt("seat state", &state))?,
        version: row.try_get("version")?,
        holder: row.try_get("holder")?,
    })
}

fn event_from(row: &PgRow) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        venue_id: row.try_get("venue_id")?,
        venue_name: row.try_get("venue_name")?,
        venue_layout: row.try_get("layout")?,
        starts_at: Timestamp(row.try_get("starts_at")?),
        sale_opens_at: Timestamp(row.try_get("sale_opens_at")?),
        currency: row.try_get("currency")?,
    })
}

fn ticket_from(row: &PgRow) -> StoreResult<TicketRecord> {
    let valid_seat: Option<String> = row.try_get("valid_seat")?;
    Ok(TicketRecord {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        event_id: row.try_get("event_id")?,
        seat_id: row.try_get("seat_id")?,
        price_cents: row.try_get("price_cents")?,
        code: row.try_get("code")?,
        valid: valid_seat.is_some(),
        checked_in_at: row
            .try_get::<Option<i64>, _>("checked_in_at")?
            .map(Timestamp),
        created_at: Timestamp(row.try_get("created_at")?),
    })
}

fn order_from(row: &PgRow) -> StoreResult<OrderRecord> {
    let status: String = row.try_get("status")?;
    Ok(OrderRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        hold_id: row.try_get("hold_id")?,
        event_id: row.try_get("event_id")?,
        payment_id: row.try_get("payment_id")?,
        status: OrderStatus::parse(&status).ok_or_else(|| corrupt("order status", &status))?,
        total_cents: row.try_get("total_cents")?,
        currency: row.try_get("currency")?,
        created_at: Timestamp(row.try_get("created_at")?),
        tickets: Vec::new(),
    })
}

/// The seats' unique keys (`event_id/seat_id`, as the generated column `seat_key` spells them),
/// sorted: the order in which every statement locks several seats.
fn seat_keys(event_id: &str, seat_ids: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = seat_ids
        .iter()
        .map(|id| format!("{event_id}/{id}"))
        .collect();
    keys.sort_unstable();
    keys
}

/// A seat's status with its holder. The holder is a scalar subquery, not a join, so that it is
/// always one primary-key lookup per seat read: a join leaves the planner free to hash the whole
/// `holds` table (every hold of every sale) to answer for a handful of seats.
const SEAT_STATUS_COLUMNS: &str = "s.id, s.state, s.version, (SELECT h.user_id FROM holds h WHERE h.id = s.hold_id) AS holder FROM seats s";
const EVENT_COLUMNS: &str = "e.id, e.name, e.venue_id, v.name AS venue_name, v.layout, e.starts_at, e.sale_opens_at, e.currency \
     FROM events e JOIN venues v ON v.id = e.venue_id";
const PAYMENT_COLUMNS: &str = "id, hold_id, user_id, idem_key, amount_cents, currency, status, provider_ref, created_at, updated_at FROM payments";

fn payment_from(row: &PgRow) -> StoreResult<StoredPayment> {
    let status: String = row.try_get("status")?;
    Ok(StoredPayment {
        id: row.try_get("id")?,
        hold_id: row.try_get("hold_id")?,
        user_id: row.try_get("user_id")?,
        idempotency_key: row.try_get("idem_key")?,
        amount_cents: row.try_get("amount_cents")?,
        currency: row.try_get("currency")?,
        status: PaymentStatus::parse(&status).ok_or_else(|| corrupt("payment status", &status))?,
        provider_ref: row.try_get("provider_ref")?,
        created_at: Timestamp(row.try_get("created_at")?),
        updated_at: Timestamp(row.try_get("updated_at")?),
    })
}

const TICKET_COLUMNS: &str = "id, order_id, event_id, seat_id, price_cents, code, valid_seat, checked_in_at, created_at FROM tickets";

impl PgTx {
    /// Locks the seats with these keys (from [`seat_keys`]) in key order: the one order every
    /// multi-seat lock follows. The sort is over at most a hold's rows, found by primary key.
    async fn lock_seats(&mut self, keys: &[String]) -> StoreResult<()> {
        sqlx::query("SELECT 1 FROM seats WHERE seat_key = ANY($1) ORDER BY seat_key FOR UPDATE")
            .bind(keys)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Makes the hold's seats that are still in `from` available again (a release, an expiry or
    /// a refund), locking them in key order first.
    async fn return_to_sale(
        &mut self,
        event_id: &str,
        hold_id: &str,
        seat_ids: &[String],
        from: SeatState,
    ) -> StoreResult<u64> {
        let keys = seat_keys(event_id, seat_ids);
        self.lock_seats(&keys).await?;
        let sql = format!(
            "UPDATE seats SET state = 'available', hold_id = NULL, version = version + 1, updated_at = {DB_NOW} \
             WHERE seat_key = ANY($1) AND hold_id = $2 AND state = $3"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&keys)
            .bind(hold_id)
            .bind(from.as_str())
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected())
    }

    async fn tickets_of(&mut self, order_ids: &[String]) -> StoreResult<Vec<TicketRecord>> {
        let sql =
            format!("SELECT {TICKET_COLUMNS} WHERE order_id = ANY($1) ORDER BY order_id, seat_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(order_ids)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(ticket_from).collect()
    }

    async fn with_tickets(
        &mut self,
        mut orders: Vec<OrderRecord>,
    ) -> StoreResult<Vec<OrderRecord>> {
        let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
        for ticket in self.tickets_of(&ids).await? {
            if let Some(order) = orders.iter_mut().find(|o| o.id == ticket.order_id) {
                order.tickets.push(ticket);
            }
        }
        Ok(orders)
    }
}

#[async_trait]
impl Repository for PgTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.0.commit().await?;
        Ok(())
    }

    async fn db_now(&mut self) -> StoreResult<Timestamp> {
        let sql = format!("SELECT {DB_NOW}");
        Ok(Timestamp(
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *self.0)
                .await?,
        ))
    }

    async fn setting(&mut self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *self.0)
                .await?,
        )
    }

    async fn put_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn settings_with_prefix(&mut self, prefix: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT key, value FROM settings WHERE key LIKE $1 ORDER BY key")
                .bind(format!("{prefix}%"))
                .fetch_all(&mut *self.0)
                .await?,
        )
    }

    async fn setting_or_insert(&mut self, key: &str, value: &str) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *self.0)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_one(&mut *self.0)
                .await?,
        )
    }

    async fn insert_user(&mut self, u: &UserRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (id, email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&u.id)
            .bind(&u.email)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(u.role.as_str())
            .bind(u.created_at.millis())
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn user_by_email(&mut self, email: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT id, email, name, role, password_hash, created_at FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&mut *self.0)
        .await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn update_user_credentials(&mut self, u: &UserRecord) -> StoreResult<()> {
        sqlx::query("UPDATE users SET name = $1, password_hash = $2, role = $3 WHERE id = $4")
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(u.role.as_str())
            .bind(&u.id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn insert_session(
        &mut self,
        token_hash: &str,
        user_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now.millis())
            .bind(expires_at.millis())
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn user_for_session(
        &mut self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>> {
        session_user(&mut *self.0, token_hash, now).await
    }

    async fn delete_session(&mut self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn purge_sessions(&mut self, now: Timestamp) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.millis())
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected())
    }

    async fn insert_venue(&mut self, v: &VenueRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO venues (id, name, layout, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&v.id)
            .bind(&v.name)
            .bind(&v.layout)
            .bind(v.created_at.millis())
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn venue_by_id(&mut self, venue_id: &str) -> StoreResult<Option<VenueRecord>> {
        let row = sqlx::query("SELECT id, name, layout, created_at FROM venues WHERE id = $1")
            .bind(venue_id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(|r| -> StoreResult<VenueRecord> {
            Ok(VenueRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                layout: r.try_get("layout")?,
                created_at: Timestamp(r.try_get("created_at")?),
            })
        })
        .transpose()
    }

    async fn insert_event(&mut self, e: &NewEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO events (id, venue_id, name, starts_at, sale_opens_at, currency, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.id)
        .bind(&e.venue_id)
        .bind(&e.name)
        .bind(e.starts_at.millis())
        .bind(e.sale_opens_at.millis())
        .bind(&e.currency)
        .bind(e.created_at.millis())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn insert_category(&mut self, c: &CategoryRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO categories (id, event_id, name, price_cents, currency, position) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&c.id)
            .bind(&c.event_id)
            .bind(&c.name)
            .bind(c.price_cents)
            .bind(&c.currency)
            .bind(c.position)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn insert_seats(
        &mut self,
        event_id: &str,
        seats: &[(String, String)],
        now: Timestamp,
    ) -> StoreResult<()> {
        // One statement for the whole event (tens of thousands of seats in a large venue) instead
        // of a round trip per seat: the two columns go as arrays and `unnest` zips them into rows.
        let (seat_ids, category_ids): (Vec<&str>, Vec<&str>) =
            seats.iter().map(|(s, c)| (s.as_str(), c.as_str())).unzip();
        sqlx::query(
            "INSERT INTO seats (event_id, id, category_id, state, version, updated_at) \
             SELECT $1, s.id, s.category_id, 'available', 1, $2 FROM unnest($3::text[], $4::text[]) AS s (id, category_id)",
        )
        .bind(event_id)
        .bind(now.millis())
        .bind(seat_ids)
        .bind(category_ids)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn count_events(&mut self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&mut *self.0)
            .await?;
        Ok(n as u64)
    }

    async fn event_ids(&mut self) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM events ORDER BY starts_at, id")
                .fetch_all(&mut *self.0)
                .await?,
        )
    }

    async fn event_by_id(&mut self, event_id: &str) -> StoreResult<Option<EventRecord>> {
        let sql = format!("SELECT {EVENT_COLUMNS} WHERE e.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(event_from).transpose()
    }

    async fn categories_of(&mut self, event_id: &str) -> StoreResult<Vec<CategoryRecord>> {
        let rows = sqlx::query(
            "SELECT id, event_id, name, price_cents, currency, position FROM categories WHERE event_id = $1 ORDER BY position",
        )
        .bind(event_id)
        .fetch_all(&mut *self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CategoryRecord {
                    id: r.try_get("id")?,
                    event_id: r.try_get("event_id")?,
                    name: r.try_get("name")?,
                    price_cents: r.try_get("price_cents")?,
                    currency: r.try_get("currency")?,
                    position: r.try_get("position")?,
                })
            })
            .collect()
    }

    async fn seat_categories(&mut self, event_id: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT id, category_id FROM seats WHERE event_id = $1")
                .bind(event_id)
                .fetch_all(&mut *self.0)
                .await?,
        )
    }

    async fn seat_statuses(&mut self, event_id: &str) -> StoreResult<Vec<SeatStatus>> {
        let sql = format!("SELECT {SEAT_STATUS_COLUMNS} WHERE s.event_id = $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn seat_statuses_of(
        &mut self,
        event_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let sql = format!("SELECT {SEAT_STATUS_COLUMNS} WHERE s.seat_key = ANY($1)");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seat_keys(event_id, seat_ids))
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn seat_statuses_changed_since(
        &mut self,
        event_id: &str,
        since: Timestamp,
    ) -> StoreResult<Vec<SeatStatus>> {
        // Bounded on both sides (the upper bound an hour ahead, which no change passes): a generic
        // plan then estimates a narrow range of the change index, where `>= $2` alone would be a
        // third of the event and invite a scan of it every second.
        let sql = format!(
            "SELECT {SEAT_STATUS_COLUMNS} WHERE s.event_id = $1 AND s.updated_at >= $2 AND s.updated_at < $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(since.millis())
            .bind(since.plus(std::time::Duration::from_secs(3_600)).millis())
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn lock_user(&mut self, user_id: &str) -> StoreResult<()> {
        // NO KEY UPDATE serialises the buyer's holds just as well as FOR UPDATE, but does not
        // block the key-share locks that foreign keys take on the user's row (a session or an
        // order being inserted for the same buyer meanwhile).
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .bind(user_id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn seats_held_by(
        &mut self,
        event_id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id \
             WHERE h.user_id = $1 AND h.event_id = $2 AND h.ended_at IS NULL AND h.expires_at > $3",
        )
        .bind(user_id)
        .bind(event_id)
        .bind(now.millis())
        .fetch_one(&mut *self.0)
        .await?;
        Ok(n as u32)
    }

    async fn seats_held_by_user(&mut self, user_id: &str, now: Timestamp) -> StoreResult<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id WHERE h.user_id = $1 AND h.ended_at IS NULL AND h.expires_at > $2",
        )
        .bind(user_id)
        .bind(now.millis())
        .fetch_one(&mut *self.0)
        .await?;
        Ok(n as u32)
    }

    async fn seats_recently_let_go(
        &mut self,
        event_id: &str,
        user_id: &str,
        seat_ids: &[String],
        since: Timestamp,
    ) -> StoreResult<Vec<(String, Timestamp)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT hs.seat_id, MAX(h.ended_at) FROM holds h JOIN hold_seats hs ON hs.hold_id = h.id \
             WHERE h.user_id = $1 AND h.event_id = $2 AND h.status IN ('released', 'expired') \
             AND h.ended_at >= $3 AND hs.seat_id = ANY($4) GROUP BY hs.seat_id ORDER BY hs.seat_id",
        )
        .bind(user_id)
        .bind(event_id)
        .bind(since.millis())
        .bind(seat_ids)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seat, ended)| (seat, Timestamp(ended)))
            .collect())
    }

    async fn holds_created_since(
        &mut self,
        event_id: &str,
        user_id: &str,
        since: Timestamp,
    ) -> StoreResult<(u32, Option<Timestamp>)> {
        let (n, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM holds WHERE user_id = $1 AND event_id = $2 AND created_at >= $3",
        )
        .bind(user_id)
        .bind(event_id)
        .bind(since.millis())
        .fetch_one(&mut *self.0)
        .await?;
        Ok((n as u32, oldest.map(Timestamp)))
    }

    async fn prunable_holds(&mut self, before: Timestamp, limit: u32) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT h.id FROM holds h WHERE h.status IN ('released', 'expired') AND h.ended_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.hold_id = h.id) ORDER BY h.ended_at LIMIT $2",
        )
        .bind(before.millis())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.0)
        .await?)
    }

    async fn delete_ended_holds(&mut self, hold_ids: &[String]) -> StoreResult<u64> {
        if hold_ids.is_empty() {
            return Ok(0);
        }
        sqlx::query("DELETE FROM hold_seats WHERE hold_id = ANY($1)")
            .bind(hold_ids)
            .execute(&mut *self.0)
            .await?;
        let done = sqlx::query(
            "DELETE FROM holds WHERE id = ANY($1) AND status IN ('released', 'expired')",
        )
        .bind(hold_ids)
        .execute(&mut *self.0)
        .await?;
        Ok(done.rows_affected())
    }

    async fn insert_hold(&mut self, h: &Hold) -> StoreResult<()> {
        sqlx::query("INSERT INTO holds (id, event_id, user_id, status, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&h.id)
            .bind(&h.event_id)
            .bind(&h.user_id)
            .bind(h.status.as_str())
            .bind(h.created_at.millis())
            .bind(h.expires_at.millis())
            .execute(&mut *self.0)
            .await?;
        // One statement for all the seats: a hold is on every buyer's path.
        sqlx::query(
            "INSERT INTO hold_seats (hold_id, event_id, seat_id) SELECT $1, $2, unnest($3::text[])",
        )
        .bind(&h.id)
        .bind(&h.event_id)
        .bind(&h.seat_ids)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn take_available_seats(
        &mut self,
        event_id: &str,
        hold_id: &str,
        holder: &str,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let keys = seat_keys(event_id, seat_ids);
        self.lock_seats(&keys).await?;
        let sql = format!(
            "UPDATE seats SET state = 'held', hold_id = $1, version = version + 1, updated_at = {DB_NOW} \
             WHERE seat_key = ANY($2) AND state = 'available' \
             RETURNING id, state, version, $3::text AS holder"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hold_id)
            .bind(&keys)
            .bind(holder)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn unavailable_seats(
        &mut self,
        event_id: &str,
        seat_ids: &[String],
        hold_id: &str,
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM seats WHERE seat_key = ANY($1) \
             AND state <> 'available' AND hold_id <> $2 ORDER BY id",
        )
        .bind(seat_keys(event_id, seat_ids))
        .bind(hold_id)
        .fetch_all(&mut *self.0)
        .await?)
    }

    async fn count_existing_seats(
        &mut self,
        event_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM seats WHERE seat_key = ANY($1)")
            .bind(seat_keys(event_id, seat_ids))
            .fetch_one(&mut *self.0)
            .await?;
        Ok(n as u64)
    }

    async fn hold_by_id(&mut self, hold_id: &str) -> StoreResult<Option<Hold>> {
        let Some(row) = sqlx::query(
            "SELECT id, event_id, user_id, status, created_at, expires_at FROM holds WHERE id = $1",
        )
        .bind(hold_id)
        .fetch_optional(&mut *self.0)
        .await?
        else {
            return Ok(None);
        };
        let status: String = row.try_get("status")?;
        let seat_ids: Vec<String> = sqlx::query_scalar(
            "SELECT seat_id FROM hold_seats WHERE hold_id = $1 ORDER BY seat_id",
        )
        .bind(hold_id)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(Some(Hold {
            id: row.try_get("id")?,
            event_id: row.try_get("event_id")?,
            user_id: row.try_get("user_id")?,
            seat_ids,
            status: HoldStatus::parse(&status).ok_or_else(|| corrupt("hold status", &status))?,
            created_at: Timestamp(row.try_get("created_at")?),
            expires_at: Timestamp(row.try_get("expires_at")?),
        }))
    }

    async fn end_hold(
        &mut self,
        hold_id: &str,
        to: HoldStatus,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE holds SET status = $1, ended_at = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(to.as_str())
        .bind(now.millis())
        .bind(hold_id)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn free_held_seats(
        &mut self,
        event_id: &str,
        hold_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<u64> {
        self.return_to_sale(event_id, hold_id, seat_ids, SeatState::Held)
            .await
    }

    async fn sell_held_seats(
        &mut self,
        event_id: &str,
        hold_id: &str,
        holder: &str,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let keys = seat_keys(event_id, seat_ids);
        self.lock_seats(&keys).await?;
        let sql = format!(
            "UPDATE seats SET state = 'sold', version = version + 1, updated_at = {DB_NOW} \
             WHERE seat_key = ANY($1) AND hold_id = $2 AND state = 'held' \
             RETURNING id, state, version, $3::text AS holder"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&keys)
            .bind(hold_id)
            .bind(holder)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn expired_holds(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, event_id FROM holds WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(now.millis())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.0)
        .await?)
    }

    async fn idempotency_record(
        &mut self,
        user_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let row = sqlx::query("SELECT fingerprint, status_code, response FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2")
            .bind(user_id)
            .bind(key)
            .fetch_optional(&mut *self.0)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let status: Option<i64> = row.try_get("status_code")?;
        let response: Option<String> = row.try_get("response")?;
        Ok(Some(IdempotencyRecord {
            fingerprint: row.try_get("fingerprint")?,
            response: status.zip(response).map(|(s, r)| (s as u16, r)),
        }))
    }

    async fn insert_idempotency_record(
        &mut self,
        user_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id)
            .bind(key)
            .bind(fingerprint)
            .bind(now.millis())
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn complete_idempotency_record(
        &mut self,
        user_id: &str,
        key: &str,
        status: u16,
        response: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE idempotency_keys SET status_code = $1, response = $2 WHERE user_id = $3 AND idem_key = $4")
            .bind(i64::from(status))
            .bind(response)
            .bind(user_id)
            .bind(key)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn purge_idempotency_records(&mut self, before: Timestamp) -> StoreResult<u64> {
        let r = sqlx::query(
            "DELETE FROM idempotency_keys WHERE created_at < $1 AND status_code IS NOT NULL",
        )
        .bind(before.millis())
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected())
    }

    async fn insert_payment(&mut self, p: &PaymentRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO payments (id, hold_id, user_id, idem_key, amount_cents, currency, status, provider, card_last4, \
             in_flight_hold_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10, $11)",
        )
        .bind(&p.id)
        .bind(&p.hold_id)
        .bind(&p.user_id)
        .bind(&p.idempotency_key)
        .bind(p.amount_cents)
        .bind(&p.currency)
        .bind(&p.provider)
        .bind(&p.card_last4)
        .bind(&p.hold_id)
        .bind(p.created_at.millis())
        .bind(p.created_at.millis())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn finish_payment(
        &mut self,
        payment_id: &str,
        status: PaymentStatus,
        provider_ref: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE payments SET status = $1, provider_ref = COALESCE($2, provider_ref), \
             in_flight_hold_id = CASE WHEN $3 THEN hold_id ELSE NULL END, updated_at = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(provider_ref)
        .bind(status.blocks_hold())
        .bind(now.millis())
        .bind(payment_id)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn insert_order(&mut self, o: &OrderRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO orders (id, user_id, hold_id, event_id, payment_id, status, total_cents, currency, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&o.id)
        .bind(&o.user_id)
        .bind(&o.hold_id)
        .bind(&o.event_id)
        .bind(&o.payment_id)
        .bind(o.status.as_str())
        .bind(o.total_cents)
        .bind(&o.currency)
        .bind(o.created_at.millis())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn insert_ticket(&mut self, t: &TicketRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tickets (id, order_id, event_id, seat_id, price_cents, code, valid_seat, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.id)
        .bind(&t.order_id)
        .bind(&t.event_id)
        .bind(&t.seat_id)
        .bind(t.price_cents)
        .bind(&t.code)
        .bind(t.valid.then(|| format!("{}/{}", t.event_id, t.seat_id)))
        .bind(t.created_at.millis())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn insert_ledger_entry(&mut self, e: &LedgerEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ledger (id, payment_id, order_id, kind, amount_cents, currency, provider_ref, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(&e.payment_id)
        .bind(&e.order_id)
        .bind(e.kind.as_str())
        .bind(e.amount_cents)
        .bind(&e.currency)
        .bind(&e.provider_ref)
        .bind(e.created_at.millis())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn orders_of(&mut self, user_id: &str) -> StoreResult<Vec<OrderRecord>> {
        let rows = sqlx::query(
            "SELECT id, user_id, hold_id, event_id, payment_id, status, total_cents, currency, created_at FROM orders \
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .fetch_all(&mut *self.0)
        .await?;
        let orders = rows
            .iter()
            .map(order_from)
            .collect::<StoreResult<Vec<_>>>()?;
        self.with_tickets(orders).await
    }

    async fn order_by_id(&mut self, order_id: &str) -> StoreResult<Option<OrderRecord>> {
        let row = sqlx::query(
            "SELECT id, user_id, hold_id, event_id, payment_id, status, total_cents, currency, created_at FROM orders WHERE id = $1",
        )
        .bind(order_id)
        .fetch_optional(&mut *self.0)
        .await?;
        let Some(order) = row.as_ref().map(order_from).transpose()? else {
            return Ok(None);
        };
        Ok(self.with_tickets(vec![order]).await?.pop())
    }

    async fn ticket_by_id(&mut self, ticket_id: &str) -> StoreResult<Option<TicketRecord>> {
        let sql = format!("SELECT {TICKET_COLUMNS} WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ticket_id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(ticket_from).transpose()
    }

    async fn payment_by_id(&mut self, payment_id: &str) -> StoreResult<Option<StoredPayment>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(payment_id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(payment_from).transpose()
    }

    async fn lock_payment(&mut self, payment_id: &str) -> StoreResult<Option<StoredPayment>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE id = $1 FOR UPDATE");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(payment_id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(payment_from).transpose()
    }

    async fn payment_by_reference(
        &mut self,
        provider_ref: &str,
    ) -> StoreResult<Option<StoredPayment>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE provider_ref = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(provider_ref)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(payment_from).transpose()
    }

    async fn payment_by_key(
        &mut self,
        user_id: &str,
        key: &str,
    ) -> StoreResult<Option<StoredPayment>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE user_id = $1 AND idem_key = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(key)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(payment_from).transpose()
    }

    async fn set_payment_reference(
        &mut self,
        payment_id: &str,
        provider_ref: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE payments SET provider_ref = $1 WHERE id = $2")
            .bind(provider_ref)
            .bind(payment_id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn pending_payments(
        &mut self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<StoredPayment>> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} WHERE status = 'pending' AND created_at < $1 ORDER BY created_at LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before.millis())
            .bind(i64::from(limit))
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(payment_from).collect()
    }

    async fn order_id_for_payment(&mut self, payment_id: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM orders WHERE payment_id = $1")
                .bind(payment_id)
                .fetch_optional(&mut *self.0)
                .await?,
        )
    }

    async fn claim_hold_for_order(&mut self, hold_id: &str, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE holds SET status = 'converted', ended_at = $1 WHERE id = $2 AND status <> 'converted'",
        )
        .bind(now.millis())
        .bind(hold_id)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn retry_failed_payment(
        &mut self,
        payment_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE payments SET status = 'pending', in_flight_hold_id = hold_id, updated_at = $1 \
             WHERE id = $2 AND status = 'failed'",
        )
        .bind(now.millis())
        .bind(payment_id)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_idempotency_record(&mut self, user_id: &str, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2")
            .bind(user_id)
            .bind(key)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn lock_order(&mut self, order_id: &str) -> StoreResult<Option<OrderRecord>> {
        sqlx::query("SELECT id FROM orders WHERE id = $1 FOR UPDATE")
            .bind(order_id)
            .execute(&mut *self.0)
            .await?;
        self.order_by_id(order_id).await
    }

    async fn charge_of_order(&mut self, order_id: &str) -> StoreResult<Option<(String, String)>> {
        let row = sqlx::query_as::<_, (String, String)>(
            "SELECT payment_id, provider_ref FROM ledger WHERE order_id = $1 AND kind = 'charge'",
        )
        .bind(order_id)
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(row)
    }

    async fn void_tickets(&mut self, order_id: &str, ticket_ids: &[String]) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE tickets SET valid_seat = NULL WHERE order_id = $1 AND id = ANY($2) AND valid_seat IS NOT NULL",
        )
        .bind(order_id)
        .bind(ticket_ids)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected())
    }

    async fn free_sold_seats(
        &mut self,
        event_id: &str,
        hold_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<u64> {
        self.return_to_sale(event_id, hold_id, seat_ids, SeatState::Sold)
            .await
    }

    async fn set_order_status(&mut self, order_id: &str, status: OrderStatus) -> StoreResult<()> {
        sqlx::query("UPDATE orders SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(order_id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn check_in_ticket(&mut self, ticket_id: &str, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE tickets SET checked_in_at = $1 WHERE id = $2 AND checked_in_at IS NULL AND valid_seat IS NOT NULL",
        )
        .bind(now.millis())
        .bind(ticket_id)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn revenue_of_event(&mut self, event_id: &str) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(price_cents), 0)::bigint FROM tickets WHERE event_id = $1 AND valid_seat IS NOT NULL",
        )
        .bind(event_id)
        .fetch_one(&mut *self.0)
        .await?;
        Ok(n)
    }

    async fn set_user_role(&mut self, email: &str, role: Role) -> StoreResult<Option<UserRecord>> {
        sqlx::query("UPDATE users SET role = $1 WHERE email = $2")
            .bind(role.as_str())
            .bind(email)
            .execute(&mut *self.0)
            .await?;
        self.user_by_email(email).await
    }

    async fn audit_query(&mut self, sql: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter()
            .map(|r| {
                let parts = (0..r.len())
                    .map(|i| r.try_get::<String, _>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(parts.join("/"))
            })
            .collect()
    }
}
