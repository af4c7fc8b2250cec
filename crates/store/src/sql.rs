//! The generic layer under every query: a [`Dialect`] says what really differs between SQLite,
//! PostgreSQL and MySQL, and [`Sql`] builds one statement from a template written once for all.
//!
//! Fully generic sqlx code drowns in `Encode`/`Decode`/`Executor` bounds, which Rust would make
//! every function repeat. Here each such bound becomes a supertrait of [`Dialect`] ([`Bind`],
//! [`Maps`], [`Run`]) with a blanket implementation: it is checked once per dialect, and the
//! generic code only ever asks for `D: Dialect`.

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::{
    Database as SqlxDatabase, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Row,
    Transaction, Type, pool::PoolOptions,
};

use super::{
    CategoryRecord, Database, EventRecord, GateCheckins, PoolStats, Repository, StoreResult,
    UserRecord, VenueRecord, VenueSummary,
    accounts::UserRow,
    catalogue::SeatRow,
    holds::{HoldCountsRow, HoldRow, LockedSeat},
    orders::{OrderRow, TicketRow},
    outbox::MailRow,
    params::Param,
    payments::{IdempotencyRow, PaymentRow},
    waiting,
};
use boxoffice_domain::{
    ids::{EventId, HoldId},
    time::Timestamp,
};

/// The numbered migrations of `migrations/<dialect>/`, each dialect's own SQL.
macro_rules! migrations {
    ($dialect:literal) => {
        [
            (1, migration!($dialect, "0001_init.sql")),
            (2, migration!($dialect, "0002_purchase_indexes.sql")),
            (3, migration!($dialect, "0003_free_orders.sql")),
            (4, migration!($dialect, "0004_ended_holds.sql")),
            (5, migration!($dialect, "0005_hold_caps.sql")),
            (6, migration!($dialect, "0006_hold_caps_by_time.sql")),
            (7, migration!($dialect, "0007_outbox.sql")),
            (8, migration!($dialect, "0008_door.sql")),
            (9, migration!($dialect, "0009_admin.sql")),
        ]
    };
}

macro_rules! migration {
    ($dialect:literal, $file:literal) => {
        include_str!(concat!("../migrations/", $dialect, "/", $file))
    };
}

/// A value that can be bound as a parameter.
pub(super) trait Bind<T>: SqlxDatabase {
    fn bind(q: &mut QueryBuilder<Self>, value: T);
}

impl<D: SqlxDatabase, T> Bind<T> for D
where
    T: for<'t> Encode<'t, D> + Type<D>,
{
    fn bind(q: &mut QueryBuilder<Self>, value: T) {
        q.push_bind(value);
    }
}

/// A row type that can be read from this database's rows.
pub(super) trait Maps<T>: SqlxDatabase {
    fn map(row: &Self::Row) -> Result<T, sqlx::Error>;
}

impl<D: SqlxDatabase, T> Maps<T> for D
where
    T: for<'r> FromRow<'r, D::Row>,
{
    fn map(row: &Self::Row) -> Result<T, sqlx::Error> {
        T::from_row(row)
    }
}

/// Running statements on one connection.
pub(super) trait Run: SqlxDatabase {
    fn execute(
        conn: &mut Self::Connection,
        q: QueryBuilder<Self>,
    ) -> BoxFuture<'_, Result<Self::QueryResult, sqlx::Error>>;
    fn fetch_all(
        conn: &mut Self::Connection,
        q: QueryBuilder<Self>,
    ) -> BoxFuture<'_, Result<Vec<Self::Row>, sqlx::Error>>;
    /// A script of several statements without parameters (a migration).
    fn execute_script(
        conn: &mut Self::Connection,
        sql: String,
    ) -> BoxFuture<'_, Result<(), sqlx::Error>>;
    /// Every column of the row as text.
    fn texts(row: &Self::Row) -> Result<Vec<String>, sqlx::Error>;
}

impl<D: SqlxDatabase> Run for D
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    String: for<'r> sqlx::Decode<'r, D> + Type<D>,
    usize: sqlx::ColumnIndex<D::Row>,
{
    fn execute(
        conn: &mut D::Connection,
        mut q: QueryBuilder<D>,
    ) -> BoxFuture<'_, Result<D::QueryResult, sqlx::Error>> {
        Box::pin(async move { q.build().execute(conn).await })
    }

    fn fetch_all(
        conn: &mut D::Connection,
        mut q: QueryBuilder<D>,
    ) -> BoxFuture<'_, Result<Vec<D::Row>, sqlx::Error>> {
        Box::pin(async move { q.build().fetch_all(conn).await })
    }

    fn execute_script(
        conn: &mut D::Connection,
        sql: String,
    ) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    fn texts(row: &D::Row) -> Result<Vec<String>, sqlx::Error> {
        (0..row.len())
            .map(|i| row.try_get::<String, _>(i))
            .collect()
    }
}

/// The seat changes, for [`Dialect::locks_first`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SeatMove {
    Take,
    Sell,
    Release,
    Refund,
}

/// What differs between the SQL of the three databases; everything else is written once.
pub(super) trait Dialect:
    SqlxDatabase
    + Run
    + Bind<i64>
    + Bind<bool>
    + Bind<String>
    + Bind<Option<String>>
    + Maps<(i64,)>
    + Maps<(String,)>
    + Maps<(String, String)>
    + Maps<(String, i64)>
    + Maps<LockedSeat>
    + Maps<UserRow>
    + Maps<VenueRecord>
    + Maps<VenueSummary>
    + Maps<EventRecord>
    + Maps<CategoryRecord>
    + Maps<SeatRow>
    + Maps<HoldRow>
    + Maps<HoldCountsRow>
    + Maps<IdempotencyRow>
    + Maps<PaymentRow>
    + Maps<OrderRow>
    + Maps<TicketRow>
    + Maps<MailRow>
    + Maps<GateCheckins>
{
    /// As `Database::dialect` names it.
    const LABEL: &'static str;
    /// The database's clock in milliseconds, as an SQL expression.
    const NOW: &'static str;
    /// The type `CAST` turns a sum into a 64-bit integer with.
    const BIGINT: &'static str = "BIGINT";
    /// What locks a selected row until the transaction ends; empty where the transaction holds
    /// the only write lock already (SQLite's `BEGIN IMMEDIATE`).
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// The lock that serialises one buyer's holds on the user's row (empty as above).
    const USER_LOCK: &'static str = Self::FOR_UPDATE;
    /// Whether an UPDATE can return the rows it changed.
    const RETURNING: bool = true;
    /// Whether a seat UPDATE can lock its seats in order in its own subquery (one statement, not two).
    const LOCKS_IN_UPDATE: bool = false;
    /// Whether one statement can chain writes to several tables (a data-modifying `WITH`).
    const CHAINS_WRITES: bool = false;
    /// A seat's status with its holder: the columns and the FROM clause, aliasing seats `s`.
    const SEAT_STATUS: &'static str = "s.id, s.state, s.version, h.user_id AS holder \
        FROM seats s LEFT JOIN holds h ON h.id = s.hold_id";
    /// The same for reading the seats changed lately (see `seat_statuses_changed_since`).
    const CHANGED_SEAT_STATUS: &'static str = Self::SEAT_STATUS;
    /// The column seats are locked in the order of.
    const SEAT_ORDER: &'static str = "id";
    /// The aggregate that joins a group's `seat_id`s into one text in their `ORDER BY` order,
    /// separated by commas (which a well-formed seat id never holds).
    const SEAT_ID_LIST: &'static str = "group_concat(seat_id, ',' ORDER BY seat_id)";

    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// A column name as this dialect must spell it where it is a keyword.
    fn quote(column: &str) -> Cow<'_, str> {
        Cow::Borrowed(column)
    }

    /// The clause that makes an INSERT on `key` update `value` instead, or do nothing without one.
    fn upsert(key: &str, value: Option<&str>) -> String {
        match value {
            Some(v) => format!(" ON CONFLICT ({key}) DO UPDATE SET {v} = excluded.{v}"),
            None => format!(" ON CONFLICT ({key}) DO NOTHING"),
        }
    }

    /// How an INSERT skips a row whose `key` (a unique key's columns) is taken: the verb, and the
    /// clause after the values. Any other constraint still refuses the row, except on MariaDB,
    /// which cannot name the key to skip on and skips a row any unique key refuses (the caller
    /// must not read a skipped row as a taken `key` alone).
    fn insert_unless_duplicate(key: &str) -> (&'static str, String) {
        ("INSERT INTO", format!(" ON CONFLICT ({key}) DO NOTHING"))
    }

    /// `column` is one of `ids` (texts or typed ids), in one placeholder per id; an empty list
    /// matches nothing.
    fn push_in<T: AsRef<str>>(q: &mut QueryBuilder<Self>, column: &str, ids: &[T]) {
        q.push(format_args!("{column} IN ("));
        if ids.is_empty() {
            q.push("NULL");
        }
        for (i, id) in ids.iter().enumerate() {
            q.push(if i == 0 { "" } else { ", " });
            <Self as Bind<String>>::bind(q, id.as_ref().to_owned());
        }
        q.push(")");
    }

    /// The event's seats `seat_ids`, columns prefixed with `alias`.
    fn push_seats(
        q: &mut QueryBuilder<Self>,
        alias: &str,
        event_id: &EventId,
        seat_ids: &[String],
    ) {
        q.push(format_args!("{alias}event_id = "));
        <Self as Bind<String>>::bind(q, event_id.as_str().to_owned());
        q.push(" AND ");
        Self::push_in(q, &format!("{alias}id"), seat_ids);
    }

    /// The rows `(id, category_id)` of a new event's seats, as `SELECT` columns and their FROM.
    fn push_seat_rows(q: &mut QueryBuilder<Self>, seats: &[(String, String)]);

    /// The rows of `hold_seats` for a new hold, from `VALUES` onwards or as a `SELECT`.
    fn push_hold_seats(
        q: &mut QueryBuilder<Self>,
        hold_id: &HoldId,
        event_id: &EventId,
        seats: &[String],
    ) {
        q.push("VALUES ");
        for (i, seat_id) in seats.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" });
            <Self as Bind<String>>::bind(q, hold_id.as_str().to_owned());
            q.push(", ");
            <Self as Bind<String>>::bind(q, event_id.as_str().to_owned());
            q.push(", ");
            <Self as Bind<String>>::bind(q, seat_id.clone());
            q.push(")");
        }
    }

    /// Changes of the seat status since `since`, on `s.updated_at`.
    fn push_change_window(q: &mut QueryBuilder<Self>, since: Timestamp) {
        q.push("s.updated_at >= ");
        <Self as Bind<i64>>::bind(q, since.millis());
    }

    /// Whether this change locks its seats in [`Self::SEAT_ORDER`] before it updates them.
    fn locks_first(_change: SeatMove) -> bool {
        !Self::FOR_UPDATE.is_empty()
    }

    fn migrate(db: &Pools<Self>) -> BoxFuture<'_, StoreResult<()>>;
}

/// One statement: a template whose `?` take the bound values in order, extended with `then`,
/// and lists or seats in the dialect's own form.
pub(super) struct Sql<D: SqlxDatabase> {
    built: QueryBuilder<D>,
    rest: String,
}

impl<D: Dialect> Sql<D> {
    pub(crate) fn new(template: impl Into<String>) -> Self {
        Sql {
            built: QueryBuilder::new(""),
            rest: template.into(),
        }
    }

    pub(crate) fn then(mut self, more: impl AsRef<str>) -> Self {
        self.rest.push_str(more.as_ref());
        self
    }

    pub(crate) fn bind<T: Param>(mut self, value: T) -> Self
    where
        D: Bind<T::Owned>,
    {
        let at = self.rest.find('?').expect("a `?` for every value");
        self.built.push(&self.rest[..at]);
        <D as Bind<T::Owned>>::bind(&mut self.built, value.owned());
        self.rest.drain(..=at);
        self
    }

    fn flush(&mut self) {
        debug_assert!(!self.rest.contains('?'), "unbound: {}", self.rest);
        self.built.push(std::mem::take(&mut self.rest));
    }

    /// `column` is one of `ids`.
    pub(crate) fn list<T: AsRef<str>>(mut self, column: &str, ids: &[T]) -> Self {
        self.flush();
        D::push_in(&mut self.built, column, ids);
        self
    }

    /// The event's seats `seat_ids` (see [`Dialect::push_seats`]).
    pub(crate) fn seats(mut self, alias: &str, event_id: &EventId, seat_ids: &[String]) -> Self {
        self.flush();
        D::push_seats(&mut self.built, alias, event_id, seat_ids);
        self
    }

    /// Hands the builder to the dialect for what only it can write.
    pub(crate) fn with(mut self, push: impl FnOnce(&mut QueryBuilder<D>)) -> Self {
        self.flush();
        push(&mut self.built);
        self
    }

    fn finish(mut self) -> QueryBuilder<D> {
        self.flush();
        self.built
    }
}

pub(super) async fn execute<D: Dialect>(conn: &mut D::Connection, q: Sql<D>) -> StoreResult<u64> {
    Ok(D::rows_affected(&D::execute(conn, q.finish()).await?))
}

pub(super) async fn fetch_all<D: Dialect + Maps<T>, T>(
    conn: &mut D::Connection,
    q: Sql<D>,
) -> StoreResult<Vec<T>> {
    let rows = D::fetch_all(conn, q.finish()).await?;
    Ok(rows
        .iter()
        .map(<D as Maps<T>>::map)
        .collect::<Result<_, _>>()?)
}

pub(super) async fn fetch_optional<D: Dialect + Maps<T>, T>(
    conn: &mut D::Connection,
    q: Sql<D>,
) -> StoreResult<Option<T>> {
    Ok(fetch_all(conn, q).await?.into_iter().next())
}

/// An open transaction: the [`Repository`] of every dialect.
pub(super) struct Tx<D: SqlxDatabase>(pub Transaction<'static, D>);

impl<D: Dialect> Tx<D> {
    pub(crate) async fn execute(&mut self, q: Sql<D>) -> StoreResult<u64> {
        execute(&mut *self.0, q).await
    }

    pub(crate) async fn all<T>(&mut self, q: Sql<D>) -> StoreResult<Vec<T>>
    where
        D: Maps<T>,
    {
        fetch_all(&mut *self.0, q).await
    }

    pub(crate) async fn optional<T>(&mut self, q: Sql<D>) -> StoreResult<Option<T>>
    where
        D: Maps<T>,
    {
        fetch_optional(&mut *self.0, q).await
    }

    pub(crate) async fn one<T>(&mut self, q: Sql<D>) -> StoreResult<T>
    where
        D: Maps<T>,
    {
        Ok(self.optional(q).await?.ok_or(sqlx::Error::RowNotFound)?)
    }

    /// The first column of the one row.
    pub(crate) async fn scalar<T>(&mut self, q: Sql<D>) -> StoreResult<T>
    where
        D: Maps<(T,)>,
    {
        Ok(self.one::<(T,)>(q).await?.0)
    }

    /// The first column of every row.
    pub(crate) async fn column<T>(&mut self, q: Sql<D>) -> StoreResult<Vec<T>>
    where
        D: Maps<(T,)>,
    {
        Ok(self
            .all::<(T,)>(q)
            .await?
            .into_iter()
            .map(|(t,)| t)
            .collect())
    }

    /// A statement given whole (the audit's), each row as its columns joined by `/`.
    pub(crate) async fn audit_query(&mut self, sql: &str) -> StoreResult<Vec<String>> {
        let rows = D::fetch_all(&mut *self.0, QueryBuilder::new(sql)).await?;
        rows.iter().map(|r| Ok(D::texts(r)?.join("/"))).collect()
    }
}

/// A dialect's pools: the writer's, the readers' (the same pool where one serves both) and the
/// refusal reads', each with the statement it begins its transactions with (`None`: the default)
/// and its name in `/metrics` (one pool serving two roles has one name).
pub(super) struct Pools<D: SqlxDatabase> {
    writer: Pool<D>,
    readers: Pool<D>,
    refusals: Pool<D>,
    begins: [Option<&'static str>; 3],
    names: [&'static str; 3],
}

impl<D: SqlxDatabase> Pools<D> {
    pub(crate) fn new(
        pools: [Pool<D>; 3],
        begins: [Option<&'static str>; 3],
        names: [&'static str; 3],
    ) -> Self {
        let [writer, readers, refusals] = pools;
        Pools {
            writer,
            readers,
            refusals,
            begins,
            names,
        }
    }

    pub(crate) fn writer(&self) -> &Pool<D> {
        &self.writer
    }
}

/// A pooled connection idle for longer than this is pinged before it is handed out.
const PING_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// The options every pool starts from: `connections` at most, and a generous wait for one.
///
/// sqlx pings every connection it hands out by default: a round trip of its own before each
/// transaction, three per purchase. Only a connection that sat idle is pinged here. One in use
/// within the last second is all but certainly alive, and if the database went away in that
/// second, its first statement fails as the ping would have, and the connection is dropped.
pub(super) fn pool_options<D: SqlxDatabase>(connections: u32) -> PoolOptions<D> {
    PoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

async fn transaction<D: Dialect>(
    pool: &Pool<D>,
    statement: Option<&'static str>,
) -> StoreResult<Transaction<'static, D>> {
    Ok(match statement {
        Some(s) => pool.begin_with(s).await?,
        None => pool.begin().await?,
    })
}

#[async_trait::async_trait]
impl<D: Dialect> Database for Pools<D> {
    fn dialect(&self) -> &'static str {
        D::LABEL
    }

    async fn begin(&self) -> StoreResult<Box<dyn Repository>> {
        let tx = waiting(self.names[0], transaction(&self.writer, self.begins[0])).await?;
        Ok(Box::new(Tx(tx)))
    }

    async fn read(&self) -> StoreResult<Box<dyn Repository>> {
        let tx = waiting(self.names[1], transaction(&self.readers, self.begins[1])).await?;
        Ok(Box::new(Tx(tx)))
    }

    async fn refusal_read(&self) -> StoreResult<Box<dyn Repository>> {
        let tx = waiting(self.names[2], transaction(&self.refusals, self.begins[2])).await?;
        Ok(Box::new(Tx(tx)))
    }

    async fn session_user(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>> {
        waiting(self.names[1], async {
            let mut conn = self.readers.acquire().await?;
            super::accounts::session_user::<D>(&mut *conn, token_hash, now).await
        })
        .await
    }

    async fn migrate(&self) -> StoreResult<()> {
        D::migrate(self).await
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.readers.acquire().await?;
        execute(&mut *conn, Sql::<D>::new("SELECT 1")).await?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        let mut stats: Vec<PoolStats> = Vec::new();
        for (name, pool) in self
            .names
            .iter()
            .zip([&self.writer, &self.readers, &self.refusals])
        {
            if !stats.iter().any(|s| s.pool == *name) {
                stats.push(PoolStats::of(name, pool));
            }
        }
        stats
    }
}

/// Applies each migration not yet recorded in `schema_migrations` (which `table` creates), then
/// records it; `adapt` rewrites a migration's text for this server first.
pub(super) async fn apply_migrations<D: Dialect>(
    conn: &mut D::Connection,
    table: &str,
    migrations: &[(i64, &str)],
    adapt: &(dyn Fn(&str) -> String + Sync),
) -> StoreResult<()> {
    D::execute_script(conn, table.to_owned()).await?;
    for (version, sql) in migrations {
        let done: Option<(i64,)> = fetch_optional(
            conn,
            Sql::<D>::new("SELECT version FROM schema_migrations WHERE version = ?").bind(*version),
        )
        .await?;
        if done.is_none() {
            D::execute_script(conn, adapt(sql)).await?;
            let record =
                Sql::<D>::new("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
            execute(conn, record.bind(*version).bind(Timestamp::now().millis())).await?;
        }
    }
    Ok(())
}

/// Migrates in one transaction of the writer's, after `lock` (a statement that keeps other
/// instances out until the transaction ends, however it ends).
pub(super) async fn migrate_atomically<D: Dialect>(
    db: &Pools<D>,
    lock: Option<Sql<D>>,
    table: &str,
    migrations: &[(i64, &str)],
) -> StoreResult<()> {
    let mut tx = transaction(&db.writer, db.begins[0]).await?;
    if let Some(lock) = lock {
        execute(&mut *tx, lock).await?;
    }
    apply_migrations::<D>(&mut tx, table, migrations, &str::to_owned).await?;
    tx.commit().await?;
    Ok(())
}
