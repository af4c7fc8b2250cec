//! The MySQL 8 / MariaDB 10.11+ dialect: one pool of connections, each set to READ COMMITTED
//! (never read-then-write under REPEATABLE READ, where MySQL and MariaDB lose updates). Every
//! statement that locks several seats locks them in id order first, so concurrent holds, sales and
//! releases wait for each other instead of deadlocking.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Executor, MySql, MySqlConnection, MySqlPool, Row, Transaction,
    mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow},
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

/// The database's clock in milliseconds (`NOW(3)` keeps the milliseconds; the session's time
/// zone is UTC, so the conversion back to epoch time is exact).
const DB_NOW: &str = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/mysql/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/mysql/0002_purchase_indexes.sql"),
    ),
    (
        3,
        include_str!("../../migrations/mysql/0003_free_orders.sql"),
    ),
    (
        4,
        include_str!("../../migrations/mysql/0004_ended_holds.sql"),
    ),
];

pub struct MySqlDatabase {
    pool: MySqlPool,
    refusals: MySqlPool,
}

fn pool_options(connections: u32) -> MySqlPoolOptions {
    MySqlPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // The server default is REPEATABLE READ. Strict mode, whatever the server's
                // configuration, so that a value too long for its column is refused rather
                // than silently cut (a truncated key could collide with another).
                conn.execute(
                    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
                     SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')",
                )
                .await?;
                Ok(())
            })
        })
}

impl MySqlDatabase {
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options = MySqlConnectOptions::from_str(url)?
            .charset("utf8mb4")
            .timezone(Some("+00:00".to_owned()));
        let pool = pool_options(pool_size.max(1))
            .connect_with(options.clone())
            .await?;
        let refusals = pool_options(REFUSAL_CONNECTIONS).connect_lazy_with(options);
        Ok(MySqlDatabase { pool, refusals })
    }
}

#[async_trait]
impl Database for MySqlDatabase {
    fn dialect(&self) -> &'static str {
        "mysql"
    }

    async fn session_user(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>> {
        waiting("main", session_user(&self.pool, token_hash, now)).await
    }

    async fn begin(&self) -> StoreResult<Box<dyn Repository>> {
        Ok(Box::new(MySqlTx(waiting("main", self.pool.begin()).await?)))
    }

    async fn read(&self) -> StoreResult<Box<dyn Repository>> {
        // One snapshot for the whole transaction, as SQLite's readers have: the audit, for one,
        // describes a single moment. REPEATABLE READ is safe here because the transaction never
        // writes; `SET TRANSACTION` without SESSION applies to this transaction only.
        Ok(Box::new(MySqlTx(
            waiting(
                "main",
                self.pool.begin_with(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
                     START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                ),
            )
            .await?,
        )))
    }

    async fn refusal_read(&self) -> StoreResult<Box<dyn Repository>> {
        Ok(Box::new(MySqlTx(
            waiting("refusals", self.refusals.begin()).await?,
        )))
    }

    async fn migrate(&self) -> StoreResult<()> {
        // MySQL commits DDL as it goes, so no transaction can make the migration atomic; a named
        // lock at least keeps two instances starting together from both applying it. Named locks
        // are server-wide, so the name carries the database's (hashed, as names are limited to 64
        // characters): two databases on one server migrate independently.
        let mut conn = self.pool.acquire().await?;
        let locked: Option<i64> = sqlx::query_scalar(
            "SELECT GET_LOCK(CONCAT('boxoffice_migrate_', MD5(DATABASE())), 30)",
        )
        .fetch_one(&mut *conn)
        .await?;
        if locked != Some(1) {
            return Err(StoreError::Retryable(
                "another instance held the migration lock for 30 s".to_owned(),
            ));
        }
        let applied = apply_migrations(&mut conn).await;
        let released =
            sqlx::query("DO RELEASE_LOCK(CONCAT('boxoffice_migrate_', MD5(DATABASE())))")
                .execute(&mut *conn)
                .await;
        if released.is_err() {
            // Closing the session is the other way to release a named lock.
            conn.close_on_drop();
        }
        applied?;
        released?;
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

/// Applies each migration not yet recorded, then records it. Runs under the migration lock.
async fn apply_migrations(conn: &mut MySqlConnection) -> StoreResult<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL) ENGINE = InnoDB")
        .execute(&mut *conn)
        .await?;
    let collation = exact_collation(conn).await?;
    for (version, sql) in MIGRATIONS {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *conn)
                .await?;
        if done.is_none() {
            let sql = sql.replace("COLLATE = utf8mb4_bin", &format!("COLLATE = {collation}"));
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
                .bind(version)
                .bind(Timestamp::now().millis())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The server's binary collation that compares strings exactly as SQLite and PostgreSQL do,
/// trailing spaces included (NO PAD); MySQL and MariaDB name it differently. The fallback,
/// `utf8mb4_bin`, ignores trailing spaces.
async fn exact_collation(conn: &mut MySqlConnection) -> StoreResult<&'static str> {
    for name in ["utf8mb4_0900_bin", "utf8mb4_nopad_bin"] {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ?",
        )
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
        if n > 0 {
            return Ok(name);
        }
    }
    Ok("utf8mb4_bin")
}

/// The signed-in user of a session token's digest. A single statement: asked on every
/// signed-in request, it runs on a pooled connection without a transaction around it.
async fn session_user<'e>(
    executor: impl sqlx::MySqlExecutor<'e>,
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

struct MySqlTx(Transaction<'static, MySql>);

/// `?, ?, …`: one placeholder per id, each bound on its own (MySQL has no array parameters). An
/// empty list becomes `NULL`, which matches nothing, so that `IN (…)` stays valid SQL.
fn placeholders(n: usize) -> String {
    if n == 0 {
        return "NULL".to_owned();
    }
    vec!["?"; n].join(", ")
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn user_from(row: &MySqlRow) -> StoreResult<UserRecord> {
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

/// The seats an UPDATE moved from `from` to `to`, computed from the rows it locked just before
/// (MySQL has no UPDATE … RETURNING): each such seat's version went up by one.
/// A seat as its row lock found it: id, state, hold and version.
type LockedSeat = (String, String, Option<String>, i64);

/// The locked seats an UPDATE conditioned on `from` and `hold_id` changes, as they are after it.
fn changed_from_lock(
    locked: Vec<LockedSeat>,
    from: &str,
    hold_id: Option<&str>,
    to: SeatState,
    holder: &str,
) -> Vec<SeatStatus> {
    locked
        .into_iter()
        .filter(|(_, state, held_by, _)| state == from && held_by.as_deref() == hold_id)
        .map(|(seat_id, _, _, version)| SeatStatus {
            seat_id,
            state: to,
            version: version + 1,
            holder: Some(holder.to_owned()),
        })
        .collect()
}

fn seat_status_from(row: &MySqlRow) -> StoreResult<SeatStatus> {
    let state: String = row.try_get("state")?;
    Ok(SeatStatus {
        seat_id: row.try_get("id")?,
        state: SeatState::parse(&state).ok_or_else(|| corrupt("seat state", &state))?,
        version: row.try_get("version")?,
        holder: row.try_get("holder")?,
    })
}

fn event_from(row: &MySqlRow) -> StoreResult<EventRecord> {
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

fn ticket_from(row: &MySqlRow) -> StoreResult<TicketRecord> {
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

fn order_from(row: &MySqlRow) -> StoreResult<OrderRecord> {
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
const PAYMENT_COLUMNS: &str = "id, hold_id, user_id, idem_key, amount_cents, currency, status, provider_ref, created_at, updated_at FROM payments";

fn payment_from(row: &MySqlRow) -> StoreResult<StoredPayment> {
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

impl MySqlTx {
    /// Locks the given seats in id order: the one order every multi-seat lock follows.
    async fn lock_seats(&mut self, event_id: &str, seat_ids: &[String]) -> StoreResult<()> {
        self.locked_seats(event_id, seat_ids).await.map(|_| ())
    }

    /// Locks the seats in id order, as [`Self::lock_seats`] does, and returns each one's state,
    /// hold and version as of the lock: nothing else can change them until this transaction
    /// ends, so an UPDATE that follows changes exactly the ones in the state it asks for. The
    /// seats are found by primary key (a range of at most a hold's seats), whatever the size of
    /// the event.
    async fn locked_seats(
        &mut self,
        event_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<Vec<LockedSeat>> {
        let sql = format!(
            "SELECT id, state, hold_id, version FROM seats WHERE event_id = ? AND id IN ({}) ORDER BY id FOR UPDATE",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(event_id);
        for id in seat_ids {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&mut *self.0).await?)
    }

    async fn tickets_of(&mut self, order_ids: &[String]) -> StoreResult<Vec<TicketRecord>> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} WHERE order_id IN ({}) ORDER BY order_id, seat_id",
            placeholders(order_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in order_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&mut *self.0).await?;
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
impl Repository for MySqlTx {
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
            sqlx::query_scalar("SELECT `value` FROM settings WHERE `key` = ?")
                .bind(key)
                .fetch_optional(&mut *self.0)
                .await?,
        )
    }

    async fn put_setting(&mut self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO settings (`key`, `value`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `value` = VALUES(`value`)")
            .bind(key)
            .bind(value)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn settings_with_prefix(&mut self, prefix: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT `key`, `value` FROM settings WHERE `key` LIKE ? ORDER BY `key`")
                .bind(format!("{prefix}%"))
                .fetch_all(&mut *self.0)
                .await?,
        )
    }

    async fn setting_or_insert(&mut self, key: &str, value: &str) -> StoreResult<String> {
        // Not INSERT IGNORE, which would also turn errors other than the duplicate into warnings.
        sqlx::query("INSERT INTO settings (`key`, `value`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `key` = `key`")
            .bind(key)
            .bind(value)
            .execute(&mut *self.0)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT `value` FROM settings WHERE `key` = ?")
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
        // One statement for the whole event: the pairs go as one JSON array that `JSON_TABLE`
        // (MySQL 8, MariaDB 10.6+) unrolls into rows, as PostgreSQL's `unnest` does. 20,000 seats
        // take about 0.3 s this way against 2 s in statements of 500 rows; a 50,000-seat event's
        // array is about 5 MB, well inside the default `max_allowed_packet` (16 MB and up).
        let pairs = serde_json::to_string(seats).expect("pairs of strings always serialise");
        sqlx::query(
            "INSERT INTO seats (event_id, id, category_id, state, version, updated_at) \
             SELECT ?, s.id, s.category_id, 'available', 1, ? FROM JSON_TABLE(?, '$[*]' COLUMNS (\
             id VARCHAR(64) PATH '$[0]', category_id VARCHAR(32) PATH '$[1]')) AS s",
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
            "SELECT {SEAT_STATUS_COLUMNS} WHERE s.event_id = ? AND s.id IN ({})",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(event_id);
        for id in seat_ids {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&mut *self.0).await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn seat_statuses_changed_since(
        &mut self,
        event_id: &str,
        since: Timestamp,
    ) -> StoreResult<Vec<SeatStatus>> {
        // The index named, because InnoDB estimates the range from index entries that include
        // versions not yet purged: right after a burst of changes the estimate can reach the size
        // of the event, and the optimizer then reads the whole event by primary key instead.
        let sql = "SELECT s.id, s.state, s.version, h.user_id AS holder FROM seats s FORCE INDEX (seats_by_change) \
             LEFT JOIN holds h ON h.id = s.hold_id WHERE s.event_id = ? AND s.updated_at >= ?";
        let rows = sqlx::query(sql)
            .bind(event_id)
            .bind(since.millis())
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter().map(seat_status_from).collect()
    }

    async fn lock_user(&mut self, user_id: &str) -> StoreResult<()> {
        sqlx::query("SELECT id FROM users WHERE id = ? FOR UPDATE")
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
        let sql = format!(
            "SELECT hs.seat_id, MAX(h.ended_at) FROM holds h JOIN hold_seats hs ON hs.hold_id = h.id \
             WHERE h.user_id = ? AND h.event_id = ? AND h.status IN ('released', 'expired') \
             AND h.ended_at >= ? AND hs.seat_id IN ({}) GROUP BY hs.seat_id ORDER BY hs.seat_id",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(event_id)
            .bind(since.millis());
        for id in seat_ids {
            query = query.bind(id);
        }
        let rows: Vec<(String, i64)> = query.fetch_all(&mut *self.0).await?;
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
        let sql = format!(
            "DELETE FROM hold_seats WHERE hold_id IN ({})",
            placeholders(hold_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in hold_ids {
            query = query.bind(id);
        }
        query.execute(&mut *self.0).await?;
        let sql = format!(
            "DELETE FROM holds WHERE id IN ({}) AND status IN ('released', 'expired')",
            placeholders(hold_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in hold_ids {
            query = query.bind(id);
        }
        Ok(query.execute(&mut *self.0).await?.rows_affected())
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
        let sql = format!(
            "INSERT INTO hold_seats (hold_id, event_id, seat_id) VALUES {}",
            vec!["(?, ?, ?)"; h.seat_ids.len()].join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for seat_id in &h.seat_ids {
            query = query.bind(&h.id).bind(&h.event_id).bind(seat_id);
        }
        query.execute(&mut *self.0).await?;
        Ok(())
    }

    async fn take_available_seats(
        &mut self,
        event_id: &str,
        hold_id: &str,
        holder: &str,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let locked = self.locked_seats(event_id, seat_ids).await?;
        let sql = format!(
            "UPDATE seats SET state = 'held', hold_id = ?, version = version + 1, updated_at = {DB_NOW} \
             WHERE event_id = ? AND id IN ({}) AND state = 'available'",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hold_id)
            .bind(event_id);
        for id in seat_ids {
            query = query.bind(id);
        }
        let r = query.execute(&mut *self.0).await?;
        let taken = changed_from_lock(locked, "available", None, SeatState::Held, holder);
        // The connection asks for found rows, not changed rows, and `version` changes anyway:
        // this is the number of seats taken, which the lock said it would be.
        if r.rows_affected() != taken.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "took {} seats where the lock promised {}",
                r.rows_affected(),
                taken.len()
            )));
        }
        Ok(taken)
    }

    async fn unavailable_seats(
        &mut self,
        event_id: &str,
        seat_ids: &[String],
        hold_id: &str,
    ) -> StoreResult<Vec<String>> {
        let sql = format!(
            "SELECT id FROM seats WHERE event_id = ? AND id IN ({}) \
             AND state <> 'available' AND hold_id <> ? ORDER BY id",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(event_id);
        for id in seat_ids {
            query = query.bind(id);
        }
        Ok(query.bind(hold_id).fetch_all(&mut *self.0).await?)
    }

    async fn count_existing_seats(
        &mut self,
        event_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<u64> {
        let sql = format!(
            "SELECT COUNT(*) FROM seats WHERE event_id = ? AND id IN ({})",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(event_id);
        for id in seat_ids {
            query = query.bind(id);
        }
        let n: i64 = query.fetch_one(&mut *self.0).await?;
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
        // A primary-key range over the hold's seats: InnoDB locks them in id order as it goes.
        let sql = format!(
            "UPDATE seats SET state = 'available', hold_id = NULL, version = version + 1, updated_at = {DB_NOW} \
             WHERE event_id = ? AND id IN ({}) AND hold_id = ? AND state = 'held'",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(event_id);
        for id in seat_ids {
            query = query.bind(id);
        }
        Ok(query
            .bind(hold_id)
            .execute(&mut *self.0)
            .await?
            .rows_affected())
    }

    async fn sell_held_seats(
        &mut self,
        event_id: &str,
        hold_id: &str,
        holder: &str,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let locked = self.locked_seats(event_id, seat_ids).await?;
        let sql = format!(
            "UPDATE seats SET state = 'sold', version = version + 1, updated_at = {DB_NOW} \
             WHERE event_id = ? AND id IN ({}) AND hold_id = ? AND state = 'held'",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(event_id);
        for id in seat_ids {
            query = query.bind(id);
        }
        let r = query.bind(hold_id).execute(&mut *self.0).await?;
        let sold = changed_from_lock(locked, "held", Some(hold_id), SeatState::Sold, holder);
        if r.rows_affected() != sold.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "sold {} seats where the lock promised {}",
                r.rows_affected(),
                sold.len()
            )));
        }
        Ok(sold)
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
        let sql = format!("SELECT {PAYMENT_COLUMNS} WHERE id = ? FOR UPDATE");
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
        sqlx::query("SELECT id FROM orders WHERE id = ? FOR UPDATE")
            .bind(order_id)
            .execute(&mut *self.0)
            .await?;
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
        let sql = format!(
            "UPDATE tickets SET valid_seat = NULL WHERE order_id = ? AND id IN ({}) AND valid_seat IS NOT NULL",
            placeholders(ticket_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(order_id);
        for id in ticket_ids {
            query = query.bind(id);
        }
        Ok(query.execute(&mut *self.0).await?.rows_affected())
    }

    async fn free_sold_seats(
        &mut self,
        event_id: &str,
        hold_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<u64> {
        self.lock_seats(event_id, seat_ids).await?;
        let sql = format!(
            "UPDATE seats SET state = 'available', hold_id = NULL, version = version + 1, updated_at = {DB_NOW} \
             WHERE event_id = ? AND hold_id = ? AND state = 'sold' AND id IN ({})",
            placeholders(seat_ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(hold_id);
        for id in seat_ids {
            query = query.bind(id);
        }
        Ok(query.execute(&mut *self.0).await?.rows_affected())
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
            "SELECT CAST(COALESCE(SUM(price_cents), 0) AS SIGNED) FROM tickets WHERE event_id = ? AND valid_seat IS NOT NULL",
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
