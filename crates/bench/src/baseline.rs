//! The `baseline` phase: the raw database ceiling for the writes `buy` makes, tasks in a tight
//! loop over sqlx on a scratch `seats` table, one pool per backend.

use std::{
    collections::BTreeMap,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use rand::{SeedableRng, rngs::SmallRng};
use serde_json::{Value, json};
use sqlx::Executor;

use crate::{
    Result,
    buy::seats_per_hold,
    cpu::CpuMeter,
    databases::{Backend, ScratchDb},
    options::Options,
    stats::{count, latency, ms, round2},
};

/// The event id of every seat in the baseline's scratch table.
const BASELINE_EVENT: &str = "bench";
/// Rows per INSERT when filling the scratch table.
const BASELINE_INSERT_BATCH: usize = 1000;

/// The scratch table and the two statements, in one dialect: the hold's conditional UPDATE and
/// checkout's sale, as `src/storage/{sqlite,postgres,mysql}.rs` write them.
struct BaselineSql {
    create: String,
    /// Indexed by seats per hold − 1 (MySQL needs one placeholder per seat).
    hold: [String; 2],
    sell: String,
}

/// `seats` as the migrations create it, without `category_id` and the foreign keys, which the
/// UPDATEs do not touch.
const SEATS_TABLE_SQLITE_PG: &str = "\
CREATE TABLE seats (
    event_id   TEXT NOT NULL,
    id         TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'held', 'sold')),
    hold_id    TEXT,
    version    BIGINT NOT NULL DEFAULT 1,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, id),
    CHECK ((state = 'available') = (hold_id IS NULL))
);
CREATE INDEX seats_by_hold ON seats (hold_id);
CREATE INDEX seats_by_change ON seats (event_id, updated_at);";

const SEATS_TABLE_MYSQL: &str = "\
CREATE TABLE seats (
    event_id   VARCHAR(32) NOT NULL,
    id         VARCHAR(64) NOT NULL,
    state      VARCHAR(16) NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'held', 'sold')),
    hold_id    VARCHAR(32),
    version    BIGINT NOT NULL DEFAULT 1,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, id),
    CHECK ((state = 'available') = (hold_id IS NULL)),
    INDEX seats_by_hold (hold_id),
    INDEX seats_by_change (event_id, updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin";

impl BaselineSql {
    fn of(backend: Backend) -> BaselineSql {
        match backend {
            Backend::Sqlite => {
                let now = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
                let hold = format!(
                    "UPDATE seats SET state = 'held', hold_id = ?, version = version + 1, updated_at = {now} \
                     WHERE event_id = ? AND id IN (SELECT value FROM json_each(?)) AND state = 'available'"
                );
                BaselineSql {
                    create: SEATS_TABLE_SQLITE_PG.into(),
                    hold: [hold.clone(), hold],
                    sell: format!(
                        "UPDATE seats SET state = 'sold', version = version + 1, updated_at = {now} \
                         WHERE event_id = ? AND hold_id = ? AND state = 'held'"
                    ),
                }
            }
            Backend::Postgres => {
                let now = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
                let hold = format!(
                    "UPDATE seats SET state = 'held', hold_id = $1, version = version + 1, updated_at = {now} \
                     WHERE event_id = $2 AND id = ANY($3) AND state = 'available'"
                );
                BaselineSql {
                    create: SEATS_TABLE_SQLITE_PG.into(),
                    hold: [hold.clone(), hold],
                    sell: format!(
                        "UPDATE seats SET state = 'sold', version = version + 1, updated_at = {now} \
                         WHERE event_id = $1 AND hold_id = $2 AND state = 'held'"
                    ),
                }
            }
            Backend::MySql => {
                let now = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";
                let hold = |placeholders: &str| {
                    format!(
                        "UPDATE seats SET state = 'held', hold_id = ?, version = version + 1, updated_at = {now} \
                         WHERE event_id = ? AND id IN ({placeholders}) AND state = 'available'"
                    )
                };
                BaselineSql {
                    create: SEATS_TABLE_MYSQL.into(),
                    hold: [hold("?"), hold("?, ?")],
                    sell: format!(
                        "UPDATE seats SET state = 'sold', version = version + 1, updated_at = {now} \
                         WHERE event_id = ? AND hold_id = ? AND state = 'held'"
                    ),
                }
            }
        }
    }
}

/// A connection pool of one of the three dialects, set up as the server sets up its own.
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

impl Pool {
    async fn connect(backend: Backend, url: &str, size: u32) -> Result<Pool> {
        let acquire = Duration::from_secs(30);
        Ok(match backend {
            // The server's writer: one connection (SQLite has a single writer), WAL, NORMAL sync.
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10));
                Pool::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(1)
                        .acquire_timeout(acquire)
                        .connect_with(options)
                        .await?,
                )
            }
            Backend::Postgres => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(acquire)
                    .connect(url)
                    .await?,
            ),
            // READ COMMITTED, as the server's connections are.
            Backend::MySql => Pool::MySql(
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(acquire)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?,
            ),
        })
    }

    async fn execute_script(&self, sql: String) -> Result<()> {
        let script = sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        match self {
            Pool::Sqlite(p) => script.execute(p).await.map(drop)?,
            Pool::Postgres(p) => script.execute(p).await.map(drop)?,
            Pool::MySql(p) => script.execute(p).await.map(drop)?,
        }
        Ok(())
    }

    /// Creates the scratch table with `per_task` available seats for each of `tasks` tasks;
    /// returns each task's seat ids.
    async fn fill(
        &self,
        sql: &BaselineSql,
        tasks: usize,
        per_task: usize,
    ) -> Result<Vec<Vec<String>>> {
        self.execute_script(sql.create.clone()).await?;
        let seats: Vec<Vec<String>> = (0..tasks)
            .map(|t| (0..per_task).map(|i| format!("t{t:03}s{i:07}")).collect())
            .collect();
        let all: Vec<&String> = seats.iter().flatten().collect();
        for chunk in all.chunks(BASELINE_INSERT_BATCH) {
            let values: Vec<String> = chunk
                .iter()
                .map(|id| format!("('{BASELINE_EVENT}', '{id}', 0)"))
                .collect();
            self.execute_script(format!(
                "INSERT INTO seats (event_id, id, updated_at) VALUES {}",
                values.join(", ")
            ))
            .await?;
        }
        let analyze = match self {
            Pool::MySql(_) => "ANALYZE TABLE seats",
            _ => "ANALYZE seats",
        };
        self.execute_script(analyze.into()).await?;
        Ok(seats)
    }

    /// The hold: one transaction, one conditional UPDATE; commits only if it took every seat.
    async fn hold(&self, sql: &BaselineSql, hold_id: &str, seats: &[String]) -> Result<u64> {
        let statement = sql.hold[seats.len() - 1].as_str();
        let (taken, tx) = match self {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let n = sqlx::query(sqlx::AssertSqlSafe(statement))
                    .bind(hold_id)
                    .bind(BASELINE_EVENT)
                    .bind(serde_json::to_string(seats)?)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                (n, AnyTx::Sqlite(tx))
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                let n = sqlx::query(sqlx::AssertSqlSafe(statement))
                    .bind(hold_id)
                    .bind(BASELINE_EVENT)
                    .bind(seats)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                (n, AnyTx::Postgres(tx))
            }
            Pool::MySql(p) => {
                let mut tx = p.begin().await?;
                let mut query = sqlx::query(sqlx::AssertSqlSafe(statement))
                    .bind(hold_id)
                    .bind(BASELINE_EVENT);
                for seat in seats {
                    query = query.bind(seat);
                }
                let n = query.execute(&mut *tx).await?.rows_affected();
                (n, AnyTx::MySql(tx))
            }
        };
        if taken == seats.len() as u64 {
            tx.commit().await?;
        } // else dropped: rolled back, all or nothing
        Ok(taken)
    }

    /// The sale: one transaction, held → sold for the hold's seats.
    async fn sell(&self, sql: &BaselineSql, hold_id: &str) -> Result<u64> {
        let statement = sqlx::AssertSqlSafe(sql.sell.as_str());
        let (sold, tx) = match self {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let r = sqlx::query(statement)
                    .bind(BASELINE_EVENT)
                    .bind(hold_id)
                    .execute(&mut *tx)
                    .await?;
                (r.rows_affected(), AnyTx::Sqlite(tx))
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                let r = sqlx::query(statement)
                    .bind(BASELINE_EVENT)
                    .bind(hold_id)
                    .execute(&mut *tx)
                    .await?;
                (r.rows_affected(), AnyTx::Postgres(tx))
            }
            Pool::MySql(p) => {
                let mut tx = p.begin().await?;
                let r = sqlx::query(statement)
                    .bind(BASELINE_EVENT)
                    .bind(hold_id)
                    .execute(&mut *tx)
                    .await?;
                (r.rows_affected(), AnyTx::MySql(tx))
            }
        };
        tx.commit().await?;
        Ok(sold)
    }

    async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }
}

enum AnyTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    MySql(sqlx::Transaction<'static, sqlx::MySql>),
}

impl AnyTx {
    async fn commit(self) -> Result<()> {
        match self {
            AnyTx::Sqlite(tx) => tx.commit().await?,
            AnyTx::Postgres(tx) => tx.commit().await?,
            AnyTx::MySql(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

#[derive(Default)]
struct BaselineTally {
    holds: usize,
    sells: usize,
    seats_sold: usize,
    hold_ms: Vec<f64>,
    sell_ms: Vec<f64>,
    errors: BTreeMap<String, usize>,
}

/// One task of the baseline: hold 1–2 of its own seats, sell them, repeat until the deadline, or
/// until a task runs out of seats (then every task stops, so the rate is over a full house).
async fn baseline_task(
    pool: Arc<Pool>,
    sql: Arc<BaselineSql>,
    mut seats: Vec<String>,
    deadline: Instant,
    ran_out: Arc<AtomicBool>,
) -> BaselineTally {
    let mut t = BaselineTally::default();
    let mut rng = SmallRng::from_os_rng();
    while Instant::now() < deadline && !ran_out.load(Ordering::Relaxed) {
        if seats.is_empty() {
            ran_out.store(true, Ordering::Relaxed);
            break;
        }
        let k = seats_per_hold(&mut rng, seats.len());
        let chosen: Vec<String> = seats.drain(..k).collect();
        let hold_id = uuid::Uuid::new_v4().simple().to_string();
        let started = Instant::now();
        match pool.hold(&sql, &hold_id, &chosen).await {
            Ok(n) if n == k as u64 => {
                t.holds += 1;
                t.hold_ms.push(ms(started.elapsed()));
            }
            Ok(n) => {
                count(&mut t.errors, format!("hold took {n} of {k} seats"));
                continue;
            }
            Err(e) => {
                count(&mut t.errors, format!("hold: {e}"));
                continue;
            }
        }
        let started = Instant::now();
        match pool.sell(&sql, &hold_id).await {
            Ok(n) if n == k as u64 => {
                t.sells += 1;
                t.seats_sold += k;
                t.sell_ms.push(ms(started.elapsed()));
            }
            Ok(n) => count(&mut t.errors, format!("sell sold {n} of {k} seats")),
            Err(e) => count(&mut t.errors, format!("sell: {e}")),
        }
    }
    t
}

pub(crate) async fn baseline_backend(opts: &Options, backend: Backend) -> Result<Value> {
    let db = ScratchDb::create(backend, opts).await?;
    let outcome = baseline_on(opts, backend, &db.url).await;
    db.remove().await;
    outcome
}

async fn baseline_on(opts: &Options, backend: Backend, url: &str) -> Result<Value> {
    let tasks = opts.buyers;
    let per_task = opts.baseline_seats / tasks;
    let pool = Arc::new(Pool::connect(backend, url, opts.baseline_pool).await?);
    let sql = Arc::new(BaselineSql::of(backend));
    eprintln!(
        "baseline {}: filling a scratch table with {} seats",
        backend.name(),
        tasks * per_task
    );
    let filled = Instant::now();
    let seats = match pool.fill(&sql, tasks, per_task).await {
        Ok(s) => s,
        Err(e) => {
            pool.close().await;
            return Err(e);
        }
    };
    let fill_seconds = filled.elapsed().as_secs_f64();
    eprintln!(
        "baseline {}: {tasks} tasks, {} s",
        backend.name(),
        opts.baseline_secs
    );
    let ran_out = Arc::new(AtomicBool::new(false));
    let meter = CpuMeter::start(&[]);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.baseline_secs);
    let handles: Vec<_> = seats
        .into_iter()
        .map(|mine| {
            tokio::spawn(baseline_task(
                pool.clone(),
                sql.clone(),
                mine,
                deadline,
                ran_out.clone(),
            ))
        })
        .collect();
    let mut t = BaselineTally::default();
    for h in handles {
        let r = h.await?;
        t.holds += r.holds;
        t.sells += r.sells;
        t.seats_sold += r.seats_sold;
        t.hold_ms.extend(r.hold_ms);
        t.sell_ms.extend(r.sell_ms);
        for (k, v) in r.errors {
            *t.errors.entry(k).or_default() += v;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = meter.stop();
    pool.close().await;
    Ok(json!({
        "cpu": cpu,
        "backend": backend.name(),
        "tasks": tasks,
        "connections": if backend == Backend::Sqlite { 1 } else { opts.baseline_pool },
        "seats_in_table": tasks * per_task,
        "fill_seconds": round2(fill_seconds),
        "seconds": round2(seconds),
        "ended_by": if ran_out.load(Ordering::Relaxed) { "a task ran out of seats" } else { "time" },
        "holds": t.holds,
        "sells": t.sells,
        "seats_sold": t.seats_sold,
        "transactions_per_sec": round2((t.holds + t.sells) as f64 / seconds),
        "hold_latency": latency(&t.hold_ms),
        "sell_latency": latency(&t.sell_ms),
        "errors_total": t.errors.values().sum::<usize>(),
        "errors": t.errors,
    }))
}
