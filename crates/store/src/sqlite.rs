//! The SQLite dialect: the zero-setup default. Writes go through a single connection (SQLite has
//! one writer anyway) with `BEGIN IMMEDIATE`, so a read-then-write transaction never fails to
//! upgrade its lock, and needs no row locks; reads use a pool of WAL readers that never block on
//! the writer.

use std::{str::FromStr, time::Duration};

use futures_util::future::BoxFuture;
use sqlx::{
    QueryBuilder, Sqlite,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteQueryResult, SqliteSynchronous},
};

use super::{
    REFUSAL_CONNECTIONS, StoreError, StoreResult,
    sql::{Dialect, Pools, migrate_atomically, pool_options},
};

const MIGRATIONS: &[(i64, &str)] = &migrations!("sqlite");

pub(super) async fn connect(url: &str, pool_size: u32) -> StoreResult<Pools<Sqlite>> {
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
    let writer = pool_options(1).connect_with(options.clone()).await?;
    let options = options.create_if_missing(false);
    let readers = pool_options(pool_size.max(1))
        .connect_with(options.clone())
        .await?;
    let refusals = pool_options(REFUSAL_CONNECTIONS).connect_lazy_with(options);
    let begins = [Some("BEGIN IMMEDIATE"), None, None];
    Ok(Pools::new(
        [writer, readers, refusals],
        begins,
        ["writer", "readers", "refusals"],
    ))
}

/// A list as one JSON parameter, which `json_each` expands in the query: one statement text
/// whatever the length.
fn json<T: serde::Serialize + ?Sized>(list: &T) -> String {
    serde_json::to_string(list).expect("lists of strings always serialise")
}

impl Dialect for Sqlite {
    const LABEL: &'static str = "sqlite";
    /// julianday works on every SQLite version.
    const NOW: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
    const FOR_UPDATE: &'static str = "";
    const USER_LOCK: &'static str = "";
    const RETURNING: bool = true;
    const SEAT_STATUS: &'static str = "s.id, s.state, s.version, h.user_id AS holder FROM seats s LEFT JOIN holds h ON h.id = s.hold_id";
    const SEAT_ORDER: &'static str = "id";

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn push_in<T: AsRef<str>>(q: &mut QueryBuilder<Self>, column: &str, ids: &[T]) {
        q.push(format_args!("{column} IN (SELECT value FROM json_each("));
        q.push_bind(json(&ids.iter().map(AsRef::as_ref).collect::<Vec<&str>>()));
        q.push("))");
    }

    /// The pairs go as one JSON array that `json_each` unrolls into rows.
    fn push_seat_rows(q: &mut QueryBuilder<Self>, seats: &[(String, String)]) {
        q.push("json_extract(s.value, '$[0]'), json_extract(s.value, '$[1]') FROM json_each(");
        q.push_bind(json(seats));
        q.push(") AS s");
    }

    fn migrate(db: &Pools<Self>) -> BoxFuture<'_, StoreResult<()>> {
        let table = "CREATE TABLE IF NOT EXISTS schema_migrations \
                     (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";
        Box::pin(migrate_atomically(db, None, table, MIGRATIONS))
    }
}
