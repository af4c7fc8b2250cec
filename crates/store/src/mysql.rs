//! The MySQL 8 / MariaDB 10.11+ dialect: one pool of connections, each set to READ COMMITTED
//! (never read-then-write under REPEATABLE READ, where MySQL and MariaDB lose updates). Neither
//! has UPDATE … RETURNING: seat changes read the rows they lock first instead.

use std::{borrow::Cow, str::FromStr};

use futures_util::future::BoxFuture;
use sqlx::{
    Executor, MySql, MySqlConnection, QueryBuilder,
    mysql::{MySqlConnectOptions, MySqlQueryResult},
    pool::PoolOptions,
};

use super::{
    REFUSAL_CONNECTIONS, StoreError, StoreResult,
    sql::{self, Dialect, Pools, SeatMove, apply_migrations},
};

const MIGRATIONS: &[(i64, &str)] = &migrations!("mysql");

fn pool_options(connections: u32) -> PoolOptions<MySql> {
    sql::pool_options::<MySql>(connections).after_connect(|conn, _| {
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

pub(super) async fn connect(url: &str, pool_size: u32) -> StoreResult<Pools<MySql>> {
    let options = MySqlConnectOptions::from_str(url)?
        .charset("utf8mb4")
        .timezone(Some("+00:00".to_owned()));
    let pool = pool_options(pool_size.max(1))
        .connect_with(options.clone())
        .await?;
    let refusals = pool_options(REFUSAL_CONNECTIONS).connect_lazy_with(options);
    // Reads see one snapshot for the whole transaction, as SQLite's readers do: the audit, for
    // one, describes a single moment. REPEATABLE READ is safe here because they never write;
    // `SET TRANSACTION` without SESSION applies to the one transaction only.
    let read = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
                START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
    Ok(Pools::new(
        [pool.clone(), pool, refusals],
        [None, Some(read), None],
        ["main", "main", "refusals"],
    ))
}

/// MySQL commits DDL as it goes, so no transaction can make the migration atomic; a named lock
/// at least keeps two instances starting together from both applying it. Named locks are
/// server-wide, so the name carries the database's (hashed, as names are limited to 64
/// characters): two databases on one server migrate independently.
async fn migrate(db: &Pools<MySql>) -> StoreResult<()> {
    let mut conn = db.writer().acquire().await?;
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('boxoffice_migrate_', MD5(DATABASE())), 30)")
            .fetch_one(&mut *conn)
            .await?;
    if locked != Some(1) {
        return Err(StoreError::Retryable(
            "another instance held the migration lock for 30 s".to_owned(),
        ));
    }
    let applied = apply_all(&mut conn).await;
    let released = sqlx::query("DO RELEASE_LOCK(CONCAT('boxoffice_migrate_', MD5(DATABASE())))")
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

async fn apply_all(conn: &mut MySqlConnection) -> StoreResult<()> {
    let collation = exact_collation(conn).await?;
    let table = "CREATE TABLE IF NOT EXISTS schema_migrations \
                 (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL) ENGINE = InnoDB";
    let adapt = |sql: &str| sql.replace("COLLATE = utf8mb4_bin", &format!("COLLATE = {collation}"));
    apply_migrations::<MySql>(conn, table, MIGRATIONS, &adapt).await
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

impl Dialect for MySql {
    const LABEL: &'static str = "mysql";
    /// `NOW(3)` keeps the milliseconds; the session's time zone is UTC, so the conversion back to
    /// epoch time is exact.
    const NOW: &'static str = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";
    const BIGINT: &'static str = "SIGNED";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const USER_LOCK: &'static str = " FOR UPDATE";
    const RETURNING: bool = false;
    const SEAT_ID_LIST: &'static str = "GROUP_CONCAT(seat_id ORDER BY seat_id SEPARATOR ',')";
    const SEAT_STATUS: &'static str = "s.id, s.state, s.version, h.user_id AS holder FROM seats s LEFT JOIN holds h ON h.id = s.hold_id";
    /// The index named, because InnoDB estimates the range from index entries that include
    /// versions not yet purged: right after a burst of changes the estimate can reach the size of
    /// the event, and the optimizer then reads the whole event by primary key instead.
    const CHANGED_SEAT_STATUS: &'static str = "s.id, s.state, s.version, h.user_id AS holder \
        FROM seats s FORCE INDEX (seats_by_change) LEFT JOIN holds h ON h.id = s.hold_id";

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }

    fn quote(column: &str) -> Cow<'_, str> {
        Cow::Owned(format!("`{column}`"))
    }

    /// Not INSERT IGNORE, which would also turn errors other than the duplicate into warnings.
    /// `ON DUPLICATE KEY UPDATE` cannot tell a skipped row from an inserted one here: with the
    /// found-rows flag that sqlx sets, both count one.
    fn insert_unless_duplicate(_key: &str) -> (&'static str, String) {
        ("INSERT IGNORE INTO", String::new())
    }

    fn upsert(key: &str, value: Option<&str>) -> String {
        match value {
            Some(v) => format!(" ON DUPLICATE KEY UPDATE {v} = VALUES({v})"),
            None => format!(" ON DUPLICATE KEY UPDATE {key} = {key}"),
        }
    }

    /// The pairs go as one JSON array that `JSON_TABLE` (MySQL 8, MariaDB 10.6+) unrolls into
    /// rows. 20,000 seats take about 0.3 s this way against 2 s in statements of 500 rows; a
    /// 50,000-seat event's array is about 5 MB, well inside the default `max_allowed_packet`
    /// (16 MB and up).
    fn push_seat_rows(q: &mut QueryBuilder<Self>, seats: &[(String, String)]) {
        let pairs = serde_json::to_string(seats).expect("pairs of strings always serialise");
        q.push("s.id, s.category_id FROM JSON_TABLE(");
        q.push_bind(pairs);
        q.push(
            ", '$[*]' COLUMNS (id VARCHAR(64) PATH '$[0]', category_id VARCHAR(32) PATH '$[1]')) AS s",
        );
    }

    /// A release's UPDATE is a primary-key range over the hold's seats, which InnoDB locks in id
    /// order as it goes.
    fn locks_first(change: SeatMove) -> bool {
        change != SeatMove::Release
    }

    fn migrate(db: &Pools<Self>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(migrate(db))
    }
}
