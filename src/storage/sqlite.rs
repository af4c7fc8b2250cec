//! The SQLite dialect: the zero-setup default. Writes go through a single connection (SQLite has
//! one writer anyway) with `BEGIN IMMEDIATE`, so a read-then-write transaction never fails to
//! upgrade its lock; reads use a pool of WAL readers that never block on the writer.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Row, Sqlite, SqlitePool, Transaction,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
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

/// The database's clock in milliseconds (julianday works on every SQLite version).
const DB_NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_purchase_indexes.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_free_orders.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_ended_holds.sql"),
    ),
];

pub struct SqliteDatabase {
    writer: SqlitePool,
    readers: SqlitePool,
    refusals: SqlitePool,
}

impl SqliteDatabase {
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let options = options.create_if_missing(false);
        let readers = SqlitePoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let refusals = SqlitePoolOptions::new()
            .max_connections(REFUSAL_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options);
        Ok(SqliteDatabase {
            writer,
            readers,
            refusals,
        })
    }
}

#[async_trait]
impl Database for SqliteDatabase {
    fn dialect(&self) -> &'static str {
        "sqlite"
    }

    async fn session_user(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>> {
        waiting("readers", session_user(&self.readers, token_hash, now)).await
    }

    async fn begin(&self) -> StoreResult<Box<dyn Repository>> {
        Ok(Box::new(SqliteTx(
            waiting("writer", self.writer.begin_with("BEGIN IMMEDIATE")).await?,
        )))
    }

    async fn read(&self) -> StoreResult<Box<dyn Repository>> {
        Ok(Box::new(SqliteTx(
            waiting("readers", self.readers.begin()).await?,
        )))
    }

    async fn refusal_read(&self) -> StoreResult<Box<dyn Repository>> {
        Ok(Box::new(SqliteTx(
            waiting("refusals", self.refusals.begin()).await?,
        )))
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .execute(&mut *tx)
            .await?;
        for (version, sql) in MIGRATIONS {
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
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
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        vec![
            PoolStats::of("writer", &self.writer),
            PoolStats::of("readers", &self.readers),
            PoolStats::of("refusals", &self.refusals),
        ]
    }
}

const PAYMENT_COLUMNS: &str = "id, hold_id, user_id, idem_key, amount_cents, currency, status, provider_ref, created_at, updated_at FROM payments";

fn payment_from(row: &SqliteRow) -> StoreResult<StoredPayment> {
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

/// The signed-in user of a session token's digest. A single statement: asked on every
/// signed-in request, it runs on a pooled connection without a transaction around it.
async fn session_user<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    token_hash: &str,
    now: Timestamp,
) -> StoreResult<Option<UserRecord>> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.name, u.role, u.password_hash, u.created_at FROM sessions s \
         JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
    )
    .bind(token_hash)
    .bind(now.millis())
    .fetch_optional(executor)
    .await?;
    row.as_ref().map(user_from).transpose()
}

struct SqliteTx(Transaction<'static, Sqlite>);

/// A list of ids as one JSON parameter, expanded by `json_each` in the query: no dynamic SQL.
fn json_list(ids: &[String]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned())
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn user_from(row: &SqliteRow) -> StoreResult<UserRecord> {
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

/// A seat row an UPDATE … RETURNING gave back, with the holder the caller knows.
fn changed_seat(row: &SqliteRow, holder: &str) -> StoreResult<SeatStatus> {
    let state: String = row.try_get("state")?;
    Ok(SeatStatus {
        seat_id: row.try_get("id")?,
        state: SeatState::parse(&state).ok_or_else(|| corrupt("seat state", &state))?,
        version: row.try_get("version")?,
        holder: Some(holder.to_owned()),
    })
}

fn seat_status_from(row: &SqliteRow) -> StoreResult<SeatStatus> {
    let state: String = row.try_get("state")?;
    Ok(SeatStatus {
        seat_id: row.try_get("id")?,
        state: SeatState::parse(&state).ok_or_else(|| corrupt("seat state", &state))?,
        version: row.try_get("version")?,
        holder: row.try_get("holder")?,
    })
}

fn event_from(row: &SqliteRow) -> StoreResult<EventRecord> {
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

fn ticket_from(row: &SqliteRow) -> StoreResult<TicketRecord> {
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

fn order_from(row: &SqliteRow) -> StoreResult<OrderRecord> {
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

const SEAT_STATUS_COLUMNS: &str = "s.id, s.state, s.version, h.user_id AS holder FROM seats s LEFT JOIN holds h ON h.id = s.hold_id";
const EVENT_COLUMNS: &str = "e.id, e.name, e.venue_id, v.name AS venue_name, v.layout, e.starts_at, e.sale_opens_at, e.currency \
     FROM events e JOIN venues v ON v.id = e.venue_id";
const TICKET_COLUMNS: &str = "id, order_id, event_id, seat_id, price_cents, code, valid_seat, checked_in_at, created_at FROM tickets";

impl SqliteTx {
    async fn tickets_of(&mut self, order_ids: &[String]) -> StoreResult<Vec<TicketRecord>> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} WHERE order_id IN (SELECT value FROM json_each(?)) ORDER BY order_id, seat_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(json_list(order_ids))
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
impl Repository for SqliteTx {
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
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(&mut *self.0)
                .await?,
        )
    }

    async fn put_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn settings_with_prefix(&mut self, prefix: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT key, value FROM settings WHERE key LIKE ? ORDER BY key")
                .bind(format!("{prefix}%"))
                .fetch_all(&mut *self.0)
                .await?,
        )
    }

    async fn setting_or_insert(&mut self, key: &str, value: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *self.0)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_one(&mut *self.0)
                .await?,
        )
    }

    async fn insert_user(&mut self, u: &UserRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (id, email, name, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?)")
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
            "SELECT id, email, name, role, password_hash, created_at FROM users WHERE email = ?",
        )
        .bind(email)
        .fetch_optional(&mut *self.0)
        .await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn update_user_credentials(&mut self, u: &UserRecord) -> StoreResult<()> {
        sqlx::query("UPDATE users SET name = ?, password_hash = ?, role = ? WHERE id = ?")
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
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
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
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn purge_sessions(&mut self, now: Timestamp) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now.millis())
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected())
    }

    async fn insert_venue(&mut self, v: &VenueRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO venues (id, name, layout, created_at) VALUES (?, ?, ?, ?)")
            .bind(&v.id)
            .bind(&v.name)
            .bind(&v.layout)
            .bind(v.created_at.millis())
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn venue_by_id(&mut self, venue_id: &str) -> StoreResult<Option<VenueRecord>> {
        let row = sqlx::query("SELECT id, name, layout, created_at FROM venues WHERE id = ?")
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
            "INSERT INTO events (id, venue_id, name, starts_at, sale_opens_at, currency, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        sqlx::query("INSERT INTO categories (id, event_id, name, price_cents, currency, position) VALUES (?, ?, ?, ?, ?, ?)")
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
        // One statement for the whole event: the pairs go as one JSON array that `json_each`
        // unrolls into rows, as PostgreSQL's `unnest` does, instead of a statement per seat.
        let pairs = serde_json::to_string(seats).expect("pairs of strings always serialise");
        sqlx::query(
            "INSERT INTO seats (event_id, id, category_id, state, version, updated_at) \
             SELECT ?, json_extract(s.value, '$[0]'), json_extract(s.value, '$[1]'), 'available', 1, ? FROM json_each(?) AS s",
        )
        .bind(event_id)
        .bind(now.millis())
        .bind(pairs)
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
        let sql = format!("SELECT {EVENT_COLUMNS} WHERE e.id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(event_from).transpose()
    }

    async fn categories_of(&mut self, event_id: &str) -> StoreResult<Vec<CategoryRecord>> {
        let rows = sqlx::query(
            "SELECT id, event_id, name, price_cents, currency, position FROM categories WHERE event_id = ? ORDER BY position",
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
            sqlx::query_as("SELECT id, category_id FROM seats WHERE event_id = ?")
                .bind(event_id)
                .fetch_all(&mut *self.0)
                .await?,
        )
    }

    async fn seat_statuses(&mut self, event_id: &str) -> StoreResult<Vec<SeatStatus>> {
        let sql = format!("SELECT {SEAT_STATUS_COLUMNS} WHERE s.event_id = ?");
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
        let sql = format!(
            "SELECT {SEAT_STATUS_COLUMNS} WHERE s.event_id = ? AND s.id IN (SELECT value FROM json_each(?))"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(json_list(seat_ids))
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn seat_statuses_changed_since(
        &mut self,
        event_id: &str,
        since: Timestamp,
    ) -> StoreResult<Vec<SeatStatus>> {
        let sql =
            format!("SELECT {SEAT_STATUS_COLUMNS} WHERE s.event_id = ? AND s.updated_at >= ?");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(since.millis())
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn lock_user(&mut self, _user_id: &str) -> StoreResult<()> {
        // BEGIN IMMEDIATE already holds the database's single write lock.
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
             WHERE h.user_id = ? AND h.event_id = ? AND h.ended_at IS NULL AND h.expires_at > ?",
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
            "SELECT COUNT(*) FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id WHERE h.user_id = ? AND h.ended_at IS NULL AND h.expires_at > ?",
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
             WHERE h.user_id = ? AND h.event_id = ? AND h.status IN ('released', 'expired') \
             AND h.ended_at >= ? AND hs.seat_id IN (SELECT value FROM json_each(?)) \
             GROUP BY hs.seat_id ORDER BY hs.seat_id",
        )
        .bind(user_id)
        .bind(event_id)
        .bind(since.millis())
        .bind(json_list(seat_ids))
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
            "SELECT COUNT(*), MIN(created_at) FROM holds WHERE user_id = ? AND event_id = ? AND created_at >= ?",
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
            "SELECT h.id FROM holds h WHERE h.status IN ('released', 'expired') AND h.ended_at < ? \
             AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.hold_id = h.id) ORDER BY h.ended_at LIMIT ?",
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
        let ids = json_list(hold_ids);
        sqlx::query("DELETE FROM hold_seats WHERE hold_id IN (SELECT value FROM json_each(?))")
            .bind(&ids)
            .execute(&mut *self.0)
            .await?;
        let done = sqlx::query(
            "DELETE FROM holds WHERE id IN (SELECT value FROM json_each(?)) \
             AND status IN ('released', 'expired')",
        )
        .bind(&ids)
        .execute(&mut *self.0)
        .await?;
        Ok(done.rows_affected())
    }

    async fn insert_hold(&mut self, h: &Hold) -> StoreResult<()> {
        sqlx::query("INSERT INTO holds (id, event_id, user_id, status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
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
            "INSERT INTO hold_seats (hold_id, event_id, seat_id) SELECT ?, ?, value FROM json_each(?)",
        )
        .bind(&h.id)
        .bind(&h.event_id)
        .bind(json_list(&h.seat_ids))
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
        let sql = format!(
            "UPDATE seats SET state = 'held', hold_id = ?, version = version + 1, updated_at = {DB_NOW} \
             WHERE event_id = ? AND id IN (SELECT value FROM json_each(?)) AND state = 'available' \
             RETURNING id, state, version"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hold_id)
            .bind(event_id)
            .bind(json_list(seat_ids))
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(|r| changed_seat(r, holder)).collect()
    }

    async fn unavailable_seats(
        &mut self,
        event_id: &str,
        seat_ids: &[String],
        hold_id: &str,
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM seats WHERE event_id = ? AND id IN (SELECT value FROM json_each(?)) \
             AND state <> 'available' AND hold_id <> ? ORDER BY id",
        )
        .bind(event_id)
        .bind(json_list(seat_ids))
        .bind(hold_id)
        .fetch_all(&mut *self.0)
        .await?)
    }

    async fn count_existing_seats(
        &mut self,
        event_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM seats WHERE event_id = ? AND id IN (SELECT value FROM json_each(?))")
                .bind(event_id)
                .bind(json_list(seat_ids))
                .fetch_one(&mut *self.0)
                .await?;
        Ok(n as u64)
    }

    async fn hold_by_id(&mut self, hold_id: &str) -> StoreResult<Option<Hold>> {
        let Some(row) = sqlx::query(
            "SELECT id, event_id, user_id, status, created_at, expires_at FROM holds WHERE id = ?",
        )
        .bind(hold_id)
        .fetch_optional(&mut *self.0)
        .await?
        else {
            return Ok(None);
        };
        let status: String = row.try_get("status")?;
        let seat_ids: Vec<String> =
            sqlx::query_scalar("SELECT seat_id FROM hold_seats WHERE hold_id = ? ORDER BY seat_id")
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
            "UPDATE holds SET status = ?, ended_at = ? WHERE id = ? AND ended_at IS NULL",
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
        let sql = format!(
            "UPDATE seats SET state = 'available', hold_id = NULL, version = version + 1, updated_at = {DB_NOW} \
             WHERE event_id = ? AND id IN (SELECT value FROM json_each(?)) AND hold_id = ? AND state = 'held'"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(json_list(seat_ids))
            .bind(hold_id)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected())
    }

    async fn sell_held_seats(
        &mut self,
        event_id: &str,
        hold_id: &str,
        holder: &str,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let sql = format!(
            "UPDATE seats SET state = 'sold', version = version + 1, updated_at = {DB_NOW} \
             WHERE event_id = ? AND id IN (SELECT value FROM json_each(?)) AND hold_id = ? AND state = 'held' \
             RETURNING id, state, version"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(json_list(seat_ids))
            .bind(hold_id)
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(|r| changed_seat(r, holder)).collect()
    }

    async fn expired_holds(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, event_id FROM holds WHERE status = 'active' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
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
        let row = sqlx::query("SELECT fingerprint, status_code, response FROM idempotency_keys WHERE user_id = ? AND idem_key = ?")
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
        sqlx::query("INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, created_at) VALUES (?, ?, ?, ?)")
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
        sqlx::query("UPDATE idempotency_keys SET status_code = ?, response = ? WHERE user_id = ? AND idem_key = ?")
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
            "DELETE FROM idempotency_keys WHERE created_at < ? AND status_code IS NOT NULL",
        )
        .bind(before.millis())
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected())
    }

    async fn insert_payment(&mut self, p: &PaymentRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO payments (id, hold_id, user_id, idem_key, amount_cents, currency, status, provider, card_last4, \
             in_flight_hold_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
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
            "UPDATE payments SET status = ?, provider_ref = COALESCE(?, provider_ref), \
             in_flight_hold_id = CASE WHEN ? THEN hold_id ELSE NULL END, updated_at = ? WHERE id = ?",
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
             WHERE user_id = ? ORDER BY created_at DESC, id DESC",
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
            "SELECT id, user_id, hold_id, event_id, payment_id, status, total_cents, currency, created_at FROM orders WHERE id = ?",
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
        let sql = format!("SELECT {TICKET_COLUMNS} WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ticket_id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(ticket_from).transpose()
    }

    async fn payment_by_id(&mut self, payment_id: &str) -> StoreResult<Option<StoredPayment>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(payment_id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.as_ref().map(payment_from).transpose()
    }

    async fn lock_payment(&mut self, payment_id: &str) -> StoreResult<Option<StoredPayment>> {
        // The writer transaction began IMMEDIATE: it is the only writer already.
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE id = ?");
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
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE provider_ref = ?");
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
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE user_id = ? AND idem_key = ?");
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
        sqlx::query("UPDATE payments SET provider_ref = ? WHERE id = ?")
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
            "SELECT {PAYMENT_COLUMNS} WHERE status = 'pending' AND created_at < ? ORDER BY created_at LIMIT ?"
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
            sqlx::query_scalar("SELECT id FROM orders WHERE payment_id = ?")
                .bind(payment_id)
                .fetch_optional(&mut *self.0)
                .await?,
        )
    }

    async fn claim_hold_for_order(&mut self, hold_id: &str, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE holds SET status = 'converted', ended_at = ? WHERE id = ? AND status <> 'converted'",
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
            "UPDATE payments SET status = 'pending', in_flight_hold_id = hold_id, updated_at = ? \
             WHERE id = ? AND status = 'failed'",
        )
        .bind(now.millis())
        .bind(payment_id)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_idempotency_record(&mut self, user_id: &str, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ?")
            .bind(user_id)
            .bind(key)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn lock_order(&mut self, order_id: &str) -> StoreResult<Option<OrderRecord>> {
        // The writer's transaction began IMMEDIATE: it is already the only writer.
        self.order_by_id(order_id).await
    }

    async fn charge_of_order(&mut self, order_id: &str) -> StoreResult<Option<(String, String)>> {
        let row = sqlx::query_as::<_, (String, String)>(
            "SELECT payment_id, provider_ref FROM ledger WHERE order_id = ? AND kind = 'charge'",
        )
        .bind(order_id)
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(row)
    }

    async fn void_tickets(&mut self, order_id: &str, ticket_ids: &[String]) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE tickets SET valid_seat = NULL WHERE order_id = ? \
             AND id IN (SELECT value FROM json_each(?)) AND valid_seat IS NOT NULL",
        )
        .bind(order_id)
        .bind(json_list(ticket_ids))
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
        let sql = format!(
            "UPDATE seats SET state = 'available', hold_id = NULL, version = version + 1, updated_at = {DB_NOW} \
             WHERE event_id = ? AND hold_id = ? AND state = 'sold' AND id IN (SELECT value FROM json_each(?))"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(hold_id)
            .bind(json_list(seat_ids))
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected())
    }

    async fn set_order_status(&mut self, order_id: &str, status: OrderStatus) -> StoreResult<()> {
        sqlx::query("UPDATE orders SET status = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(order_id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn check_in_ticket(&mut self, ticket_id: &str, now: Timestamp) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE tickets SET checked_in_at = ? WHERE id = ? AND checked_in_at IS NULL AND valid_seat IS NOT NULL",
        )
        .bind(now.millis())
        .bind(ticket_id)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn revenue_of_event(&mut self, event_id: &str) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(price_cents), 0) FROM tickets WHERE event_id = ? AND valid_seat IS NOT NULL",
        )
        .bind(event_id)
        .fetch_one(&mut *self.0)
        .await?;
        Ok(n)
    }

    async fn set_user_role(&mut self, email: &str, role: Role) -> StoreResult<Option<UserRecord>> {
        sqlx::query("UPDATE users SET role = ? WHERE email = ?")
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
