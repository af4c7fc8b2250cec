//! Measures boxoffice over loopback, against fresh servers it starts itself (or one running server,
//! `--target`), and prints a table, then the same figures as JSON. The phases (`--phases`; all of
//! them by default):
//!
//! * `buy`: holds and checkouts per second with N concurrent buyers (one account each) on distinct
//!   seats, with p50/p99 latency of each step, for every backend of `--backends`. The demo event has
//!   only 512 seats, so each backend gets several short rounds, each on a fresh database and a fresh
//!   server: SQLite in a temporary directory; PostgreSQL and MariaDB/MySQL in a database named
//!   `bo_bench_<uuid>`, created through the admin URL and dropped afterwards. `boxoffice audit`
//!   checks every round's database before it goes.
//! * `baseline`: the raw database ceiling for the same writes, per backend, measured right after
//!   that backend's `buy` rounds: N tasks in a tight loop over sqlx on a scratch `seats` table (the
//!   server's columns and indexes, without foreign keys) in a fresh database. Each task takes 1–2 of
//!   its own seats with the hold's conditional UPDATE (available → held, all or nothing) in one
//!   transaction, then sells them (held → sold) in a second, as hold and checkout do, over as many
//!   connections as the server's default pool (one for SQLite, whose writes share one connection in
//!   the server too). `buy` reports its holds + checkouts per second as a ratio of these
//!   transactions per second.
//! * `read`: seat-map snapshot reads (`GET /api/v1/events/{id}/seats`) per second beside the
//!   `/healthz` ceiling (HTTP with no work behind it), with this tool's own client and, when it is
//!   installed, with `wrk`. One server on SQLite.
//! * `fanout`: one server on SQLite; N SSE subscribers, then (on a fresh server) N WebSocket
//!   subscribers; one-seat holds at a fixed spacing, and each hold's arrival at every subscriber.
//! * `scenarios`: the four `boxoffice rehearse` presets at the on-sale rehearsal's target scale
//!   (flash-sale 10,000 buyers for 2,000 seats, hot-seat 1,000 attempts a second, fan-out 10,000
//!   watchers, soak), each on a fresh 2,000-seat event, for every backend of
//!   `--scenario-backends`, beside the same server's `/healthz` ceiling; with the server's memory
//!   per connected watcher (see `scenarios.rs`).
//! * `cross`: two instances on one fresh PostgreSQL (or MariaDB) database, sharing Redis; many
//!   subscribers (half SSE, half WebSocket) on instance 1 and one-seat holds made through instance 2;
//!   the same timings as `fanout`, and how many deliveries never arrived.
//!
//! The commit of a hold cannot be seen from outside, so `fanout` and `cross` bracket it: the seat's
//! `updated_at` (the database's clock, read back afterwards) is set by the hold's UPDATE a few
//! statements before its COMMIT, and the HTTP response comes after the COMMIT. Commit → arrival is
//! therefore at most "from seat update" (give or take the column's millisecond resolution) and at
//! least "from response". "From request" is the latency a buyer's click sees.
//!
//! Every measured window also reports the CPU it used, in cores, from /proc: the boxoffice
//! servers under test, this tool, the PostgreSQL, MariaDB and Redis processes (with whatever
//! else uses them meanwhile), and the whole machine (tick-sampled, so a little rough), whose
//! remainder is everything else running on the machine. That says what limited each figure.
//!
//! ```text
//! scripts/bench [options]      # builds, then runs this with the options
//! cargo run --release -p boxoffice-bench --bin measure -- [options]
//! ```
//! Run with `--help` for the options. Every loop is bounded in count and time, and only loopback
//! addresses are accepted.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    process::Stdio,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use tokio::{
    io::AsyncBufReadExt,
    sync::{OwnedSemaphorePermit, Semaphore, watch},
};

mod long_sale;
mod plot;
mod scenarios;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const PASSWORD: &str = "measure-password-1";
const GOOD_CARD: &str = "4242424242424242";
/// Seats per account in the fan-out phases: below the default per-user limit of 8.
const HOLDS_PER_ACCOUNT: usize = 4;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the fan-out phases wait for the last deliveries after the last hold. The server's
/// reconciler heals a lost message within about a second, so anything later counts as missed.
const DRAIN: Duration = Duration::from_secs(10);
/// Subscribers connecting at once: a thousand simultaneous handshakes would measure the accept
/// queue, not the fan-out.
const CONNECT_CONCURRENCY: usize = 50;

fn fail(msg: impl Into<String>) -> BoxError {
    msg.into().into()
}

// ------------------------------------------------------------------------------------------ options

const USAGE: &str = "\
measure: load and latency figures for boxoffice (loopback only)

USAGE: cargo run --release -p boxoffice-bench --bin measure -- [OPTIONS]

  --target URL            measure this running server (http://127.0.0.1:PORT) in buy, read and
                          fanout; without it, fresh servers are started from --server-bin on fresh
                          databases (cross always needs its own and is skipped with --target)
  --server-bin PATH       server binary to start [target/release/boxoffice]
  --phases LIST           comma list of buy,baseline,read,fanout,cross,scenarios,long-sale [all]
  --backends LIST         databases for buy and baseline: sqlite,postgres,mysql [all three]
  --postgres-admin-url U  where bo_bench_* databases are created [postgres://postgres@127.0.0.1:5432/postgres]
  --mysql-admin-url U     the same for MariaDB/MySQL [mysql://root@127.0.0.1:3306/test]
  --buyers N              concurrent buyers, each with its own account; also the baseline's tasks [50]
  --rounds N              buy rounds per backend, each on a fresh database and server (1 with --target) [5]
  --buy-secs S            time limit of one buy round [30]
  --baseline-secs S       duration of each backend's baseline loop [10]
  --baseline-pool N       database connections of the baseline (the server's default pool) [16]
  --baseline-seats N      rows of the baseline's scratch table; a task that runs out ends the loop [150000]
  --read-concurrency N    concurrent readers [50]
  --read-secs S           duration of each read measurement [10]
  --wrk PATH|none         wrk binary for the read phase, or none [wrk, skipped if not installed]
  --subscribers N         fanout: SSE subscribers, then WebSocket subscribers [100]
  --holds N               fanout: holds per run [200]
  --spacing-ms LIST       fanout: comma list of gaps between holds, one pair of runs each; the
                          server coalesces changes into one batch per 100 ms under load [20,150]
  --cross-backend NAME    cross: postgres or mysql [postgres]
  --redis-url URL         cross: the Redis both instances share [redis://127.0.0.1:6379]
  --cross-subscribers N   cross: subscribers on instance 1, half SSE and half WebSocket [1000]
  --cross-holds N         cross: holds through instance 2 [200]
  --cross-spacing-ms N    cross: gap between holds [20]
  --scenario-backends L   scenarios: databases to rehearse on [sqlite,postgres]
  --scenarios LIST        scenarios: comma list of flash-sale,hot-seat,fan-out,soak [all four]
  --flash-buyers N        scenarios: flash-sale buyers, all at the opening [10000]
  --hot-rate N            scenarios: hot-seat attempts per second [1000]
  --hot-secs S            scenarios: hot-seat duration [5]
  --fanout-watchers N     scenarios: fan-out live maps on the one server [10000]
  --fanout-secs S         scenarios: fan-out duration [30]
  --soak-secs S           scenarios: soak duration [60]
  --long-sale-backends L  long-sale: databases to sell the stadium on, of sqlite, postgres,
                          postgres16 and mysql [all four]
  --postgres16-admin-url U  long-sale: the PostgreSQL 16 server [postgres://postgres@127.0.0.1:5433/postgres]
  --long-sale-buyers LIST long-sale: one sell-out per buyer count, each on a fresh event [16,200]
  --long-sale-soak-secs S long-sale: then rehearse soak on the stadium for this long, 0 for none [0]
  --long-sale-plot-dir D  long-sale: where the SVG plots go [docs/bench]
  --json-out PATH         also write the JSON report to this file
";

const PHASES: [&str; 7] = [
    "buy",
    "baseline",
    "read",
    "fanout",
    "cross",
    "scenarios",
    "long-sale",
];

#[derive(Debug, Clone)]
struct Options {
    target: Option<String>,
    server_bin: PathBuf,
    phases: Vec<String>,
    backends: Vec<Backend>,
    postgres_admin: String,
    mysql_admin: String,
    buyers: usize,
    rounds: usize,
    buy_secs: u64,
    baseline_secs: u64,
    baseline_pool: u32,
    baseline_seats: usize,
    read_concurrency: usize,
    read_secs: u64,
    wrk: Option<String>,
    subscribers: usize,
    holds: usize,
    spacings_ms: Vec<u64>,
    cross_backend: Backend,
    redis_url: String,
    cross_subscribers: usize,
    cross_holds: usize,
    cross_spacing_ms: u64,
    scenario_backends: Vec<Backend>,
    scenarios: Vec<String>,
    scenario_sizes: scenarios::ScenarioSizes,
    long_sale_backends: Vec<String>,
    postgres16_admin: String,
    long_sale: long_sale::LongSaleSizes,
    long_sale_plot_dir: Option<PathBuf>,
    long_sale_targets: Vec<long_sale::Target>,
    json_out: Option<PathBuf>,
}

fn num<T: FromStr>(name: &str, v: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| fail(format!("{name}: not a number: {v}")))
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl Options {
    fn defaults() -> Options {
        Options {
            target: None,
            server_bin: PathBuf::from("target/release/boxoffice"),
            phases: PHASES.iter().map(|p| p.to_string()).collect(),
            backends: vec![Backend::Sqlite, Backend::Postgres, Backend::MySql],
            postgres_admin: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            mysql_admin: "mysql://root@127.0.0.1:3306/test".into(),
            buyers: 50,
            rounds: 5,
            buy_secs: 30,
            baseline_secs: 10,
            baseline_pool: 16,
            baseline_seats: 150_000,
            read_concurrency: 50,
            read_secs: 10,
            wrk: Some("wrk".into()),
            subscribers: 100,
            holds: 200,
            spacings_ms: vec![20, 150],
            cross_backend: Backend::Postgres,
            redis_url: "redis://127.0.0.1:6379".into(),
            cross_subscribers: 1000,
            cross_holds: 200,
            cross_spacing_ms: 20,
            scenario_backends: vec![Backend::Sqlite, Backend::Postgres],
            scenarios: scenarios::SCENARIOS.iter().map(|s| s.to_string()).collect(),
            scenario_sizes: scenarios::ScenarioSizes::default(),
            long_sale_backends: ["sqlite", "postgres", "postgres16", "mysql"]
                .map(str::to_owned)
                .to_vec(),
            postgres16_admin: "postgres://postgres@127.0.0.1:5433/postgres".into(),
            long_sale: long_sale::LongSaleSizes::default(),
            long_sale_plot_dir: Some(PathBuf::from("docs/bench")),
            long_sale_targets: Vec::new(),
            json_out: None,
        }
    }

    fn parse() -> Result<Options> {
        let mut o = Options::defaults();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                print!("{USAGE}");
                std::process::exit(0);
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let v = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(fail(format!("{name} needs a value\n\n{USAGE}"))),
            };
            o.set(&name, &v)?;
        }
        o.clamp();
        o.check_loopback()
    }

    fn set(&mut self, name: &str, v: &str) -> Result<()> {
        match name {
            "--target" => self.target = Some(v.trim_end_matches('/').to_owned()),
            "--server-bin" => self.server_bin = PathBuf::from(v),
            "--phases" => {
                self.phases = list(v).map(str::to_owned).collect();
                if let Some(p) = self.phases.iter().find(|p| !PHASES.contains(&p.as_str())) {
                    return Err(fail(format!("unknown phase {p}")));
                }
            }
            "--backends" => self.backends = list(v).map(Backend::parse).collect::<Result<_>>()?,
            "--postgres-admin-url" => self.postgres_admin = v.to_owned(),
            "--mysql-admin-url" => self.mysql_admin = v.to_owned(),
            "--buyers" => self.buyers = num(name, v)?,
            "--rounds" => self.rounds = num(name, v)?,
            "--buy-secs" => self.buy_secs = num(name, v)?,
            "--baseline-secs" => self.baseline_secs = num(name, v)?,
            "--baseline-pool" => self.baseline_pool = num(name, v)?,
            "--baseline-seats" => self.baseline_seats = num(name, v)?,
            "--read-concurrency" => self.read_concurrency = num(name, v)?,
            "--read-secs" => self.read_secs = num(name, v)?,
            "--wrk" => self.wrk = (v != "none").then(|| v.to_owned()),
            "--subscribers" => self.subscribers = num(name, v)?,
            "--holds" => self.holds = num(name, v)?,
            "--spacing-ms" => {
                self.spacings_ms = list(v).map(|s| num(name, s)).collect::<Result<_>>()?
            }
            "--cross-backend" => {
                self.cross_backend = Backend::parse(v)?;
                if self.cross_backend == Backend::Sqlite {
                    return Err(fail(
                        "--cross-backend: two instances need a shared server database: postgres or mysql",
                    ));
                }
            }
            "--redis-url" => self.redis_url = v.to_owned(),
            "--cross-subscribers" => self.cross_subscribers = num(name, v)?,
            "--cross-holds" => self.cross_holds = num(name, v)?,
            "--cross-spacing-ms" => self.cross_spacing_ms = num(name, v)?,
            "--scenario-backends" => {
                self.scenario_backends = list(v).map(Backend::parse).collect::<Result<_>>()?
            }
            "--scenarios" => {
                self.scenarios = list(v).map(str::to_owned).collect();
                if let Some(s) = self
                    .scenarios
                    .iter()
                    .find(|s| !scenarios::SCENARIOS.contains(&s.as_str()))
                {
                    return Err(fail(format!("unknown scenario {s}")));
                }
            }
            "--flash-buyers" => self.scenario_sizes.flash_buyers = num(name, v)?,
            "--hot-rate" => self.scenario_sizes.hot_rate = num(name, v)?,
            "--hot-secs" => self.scenario_sizes.hot_secs = num(name, v)?,
            "--fanout-watchers" => self.scenario_sizes.fanout_watchers = num(name, v)?,
            "--fanout-secs" => self.scenario_sizes.fanout_secs = num(name, v)?,
            "--soak-secs" => self.scenario_sizes.soak_secs = num(name, v)?,
            "--long-sale-backends" => {
                self.long_sale_backends = list(v).map(str::to_owned).collect();
                if let Some(b) = self
                    .long_sale_backends
                    .iter()
                    .find(|b| !["sqlite", "postgres", "postgres16", "mysql"].contains(&b.as_str()))
                {
                    return Err(fail(format!("unknown long-sale backend {b}")));
                }
            }
            "--postgres16-admin-url" => self.postgres16_admin = v.to_owned(),
            "--long-sale-buyers" => {
                self.long_sale.buyer_counts =
                    list(v).map(|s| num(name, s)).collect::<Result<_>>()?
            }
            "--long-sale-soak-secs" => self.long_sale.soak_secs = num(name, v)?,
            "--long-sale-plot-dir" => {
                self.long_sale_plot_dir = (v != "none").then(|| PathBuf::from(v))
            }
            "--json-out" => self.json_out = Some(PathBuf::from(v)),
            _ => return Err(fail(format!("unknown argument {name}\n\n{USAGE}"))),
        }
        Ok(())
    }

    /// Bounds: this tool is for one machine's loopback, not a load generator for hire.
    fn clamp(&mut self) {
        self.buyers = self.buyers.clamp(1, 1000);
        self.rounds = self.rounds.clamp(1, 50);
        self.buy_secs = self.buy_secs.clamp(1, 300);
        self.baseline_secs = self.baseline_secs.clamp(1, 120);
        self.baseline_pool = self.baseline_pool.clamp(1, 64);
        self.baseline_seats = self.baseline_seats.clamp(self.buyers * 2, 1_000_000);
        self.read_concurrency = self.read_concurrency.clamp(1, 1000);
        self.read_secs = self.read_secs.clamp(1, 120);
        self.subscribers = self.subscribers.clamp(1, 2000);
        self.holds = self.holds.clamp(1, 2000);
        for s in &mut self.spacings_ms {
            *s = (*s).clamp(1, 5000);
        }
        self.cross_subscribers = self.cross_subscribers.clamp(1, 4000);
        self.cross_holds = self.cross_holds.clamp(1, 2000);
        self.cross_spacing_ms = self.cross_spacing_ms.clamp(1, 5000);
        // The rehearsal's own hard bounds (100,000 buyers, 10,000 watchers, an hour) apply too.
        let z = &mut self.scenario_sizes;
        z.flash_buyers = z.flash_buyers.clamp(1, 100_000);
        z.hot_rate = z.hot_rate.clamp(1.0, 10_000.0);
        z.hot_secs = z.hot_secs.clamp(1, 60);
        z.fanout_watchers = z.fanout_watchers.clamp(1, 10_000);
        z.fanout_secs = z.fanout_secs.clamp(1, 600);
        z.soak_secs = z.soak_secs.clamp(1, 3600);
        for b in &mut self.long_sale.buyer_counts {
            *b = (*b).clamp(1, 1000);
        }
        self.long_sale.soak_secs = self.long_sale.soak_secs.min(3600);
        self.long_sale_targets = self
            .long_sale_backends
            .iter()
            .map(|label| {
                let (backend, admin_url) = match label.as_str() {
                    "sqlite" => (Backend::Sqlite, String::new()),
                    "postgres" => (Backend::Postgres, self.postgres_admin.clone()),
                    "postgres16" => (Backend::Postgres, self.postgres16_admin.clone()),
                    _ => (Backend::MySql, self.mysql_admin.clone()),
                };
                long_sale::Target {
                    label: label.clone(),
                    backend,
                    admin_url,
                }
            })
            .collect();
    }

    fn check_loopback(self) -> Result<Options> {
        if let Some(t) = &self.target {
            if !t.starts_with("http://") {
                return Err(fail(
                    "--target must be http://127.x.x.x:PORT or http://localhost:PORT",
                ));
            }
            require_loopback("--target", t)?;
        }
        require_loopback("--postgres-admin-url", &self.postgres_admin)?;
        require_loopback("--mysql-admin-url", &self.mysql_admin)?;
        require_loopback("--postgres16-admin-url", &self.postgres16_admin)?;
        require_loopback("--redis-url", &self.redis_url)?;
        Ok(self)
    }

    fn has(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }
}

/// Accepts only URLs whose host is 127.x.x.x, localhost or [::1].
fn require_loopback(flag: &str, url: &str) -> Result<()> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| fail(format!("{flag}: not a URL: {url}")))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split(']').next().unwrap_or_default().to_owned() + "]"
    } else {
        host_port.split(':').next().unwrap_or_default().to_owned()
    };
    if host.starts_with("127.") || host == "localhost" || host == "[::1]" {
        Ok(())
    } else {
        Err(fail(format!(
            "{flag} must be a loopback address, not {host}"
        )))
    }
}

// ------------------------------------------------------------------------------------------ databases

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    fn parse(s: &str) -> Result<Backend> {
        match s.trim() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Ok(Backend::Postgres),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            other => Err(fail(format!(
                "unknown backend {other}: expected sqlite, postgres or mysql"
            ))),
        }
    }

    fn of_url(url: &str) -> Result<Backend> {
        Backend::parse(url.split(':').next().unwrap_or_default())
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }
}

fn temp_dir(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A fresh, empty database, removed by [`ScratchDb::remove`]: a file in a temporary directory for
/// SQLite, or a database named `bo_bench_<uuid>` on the PostgreSQL or MariaDB server.
struct ScratchDb {
    backend: Backend,
    name: String,
    url: String,
    admin_url: String,
    dir: Option<PathBuf>,
}

impl ScratchDb {
    async fn create(backend: Backend, opts: &Options) -> Result<ScratchDb> {
        let admin = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => &opts.postgres_admin,
            Backend::MySql => &opts.mysql_admin,
        };
        ScratchDb::create_at(backend, admin).await
    }

    /// [`ScratchDb::create`] on the server of this admin URL (ignored for SQLite).
    async fn create_at(backend: Backend, admin: &str) -> Result<ScratchDb> {
        let name = format!("bo_bench_{}", uuid::Uuid::new_v4().simple());
        let (url, admin_url, dir) = match backend {
            Backend::Sqlite => {
                let dir = temp_dir(&name)?;
                (
                    format!("sqlite://{}/bo.db", dir.display()),
                    String::new(),
                    Some(dir),
                )
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(admin)
                    .await
                    .map_err(|e| fail(format!("PostgreSQL at {admin}: {e}")))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await?;
                conn.close().await.ok();
                (
                    boxoffice::storage::replace_database(admin, &name),
                    admin.to_owned(),
                    None,
                )
            }
            Backend::MySql => {
                let mut conn = sqlx::MySqlConnection::connect(admin)
                    .await
                    .map_err(|e| fail(format!("MariaDB/MySQL at {admin}: {e}")))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await.ok();
                (
                    boxoffice::storage::replace_database(admin, &name),
                    admin.to_owned(),
                    None,
                )
            }
        };
        Ok(ScratchDb {
            backend,
            name,
            url,
            admin_url,
            dir,
        })
    }

    /// Drops the database (or deletes the SQLite directory). Reports a failure, never returns one:
    /// it runs on the way out of a phase that may have failed already.
    async fn remove(self) {
        let outcome: Result<()> = async {
            match self.backend {
                Backend::Sqlite => {}
                Backend::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
                    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await.ok();
                }
                Backend::MySql => {
                    let mut conn = sqlx::MySqlConnection::connect(&self.admin_url).await?;
                    let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await.ok();
                }
            }
            if let Some(dir) = &self.dir {
                std::fs::remove_dir_all(dir)?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            eprintln!("measure: could not remove database {}: {e}", self.name);
        }
    }
}

/// The `updated_at` (database clock, ms since the epoch) of every seat of an event.
async fn seat_update_times(url: &str, event: &str) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = match Backend::of_url(url)? {
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.read_only(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            let rows = sqlx::query_as("SELECT id, updated_at FROM seats WHERE event_id = ?")
                .bind(event)
                .fetch_all(&mut conn)
                .await?;
            conn.close().await.ok();
            rows
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let rows = sqlx::query_as("SELECT id, updated_at FROM seats WHERE event_id = $1")
                .bind(event)
                .fetch_all(&mut conn)
                .await?;
            conn.close().await.ok();
            rows
        }
        Backend::MySql => {
            let mut conn = sqlx::MySqlConnection::connect(url).await?;
            let rows = sqlx::query_as("SELECT id, updated_at FROM seats WHERE event_id = ?")
                .bind(event)
                .fetch_all(&mut conn)
                .await?;
            conn.close().await.ok();
            rows
        }
    };
    Ok(rows.into_iter().collect())
}

// ------------------------------------------------------------------------------------------ servers

/// A server process this tool started; its log goes to a temporary directory.
struct Instance {
    base: String,
    child: tokio::process::Child,
    dir: PathBuf,
}

impl Instance {
    /// Starts `bin serve` on a free loopback port and waits for its `listening on` line.
    async fn start(bin: &Path, database_url: &str, redis_url: Option<&str>) -> Result<Instance> {
        Instance::start_with(bin, database_url, redis_url, &[]).await
    }

    /// [`Instance::start`] with more environment (the admin account, say).
    async fn start_with(
        bin: &Path,
        database_url: &str,
        redis_url: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<Instance> {
        if !bin.exists() {
            return Err(fail(format!(
                "{} not found: build it first with `cargo build --release --bins`, or pass --target",
                bin.display()
            )));
        }
        let dir = temp_dir(&format!(
            "boxoffice-measure-{}",
            uuid::Uuid::new_v4().simple()
        ))?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut command = tokio::process::Command::new(bin);
        command
            .env("BOXOFFICE_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("BOXOFFICE_DEMO", "true")
            .envs(boxoffice::config::CROWD_FROM_ONE_ADDRESS.iter().copied())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        match redis_url {
            Some(url) => command.env("REDIS_URL", url),
            None => command.env_remove("REDIS_URL"),
        };
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| fail("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        // The server logs to stdout and prints its address there; keep what came before the
        // address for the error message.
        let mut printed = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some((_, url)) = line.split_once("listening on ") {
                    return Ok::<_, BoxError>(Some(url.trim().trim_end_matches('/').to_owned()));
                }
                printed.push(line);
            }
            Ok(None)
        })
        .await;
        let base = match found {
            Ok(Ok(Some(url))) => url,
            other => {
                let _ = child.kill().await;
                let stderr = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(fail(format!(
                    "the server did not print its address ({other:?}); its stdout:\n{}\nits stderr:\n{stderr}",
                    printed.join("\n")
                )));
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Instance { base, child, dir })
    }

    /// SIGTERM, then SIGKILL after 10 s; removes the log.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `boxoffice audit` on a database: `{ok, exit_code, violations, failed_checks}`.
async fn audit(bin: &Path, database_url: &str) -> Value {
    let started = Instant::now();
    let out = tokio::process::Command::new(bin)
        .arg("audit")
        .env("DATABASE_URL", database_url)
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .output()
        .await;
    match out {
        Ok(out) => {
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let failed: Vec<&str> = report["checks"]
                .as_array()
                .map(|checks| {
                    checks
                        .iter()
                        .filter(|c| c["violations"].as_u64().unwrap_or(0) > 0)
                        .filter_map(|c| c["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            json!({
                "ok": out.status.success(),
                "exit_code": out.status.code(),
                "violations": report["violations"],
                "failed_checks": failed,
                "seconds": round2(started.elapsed().as_secs_f64()),
                "stderr": if out.status.success() || stderr.is_empty() { Value::Null } else { stderr.into() },
            })
        }
        Err(e) => json!({"ok": Value::Null, "error": e.to_string()}),
    }
}

/// What `buy`, `read` and `fanout` measure: a server this tool started on a fresh database, or
/// the `--target`.
struct Deployment {
    base: String,
    own: Option<(Instance, ScratchDb)>,
}

impl Deployment {
    async fn start(opts: &Options, backend: Backend) -> Result<Deployment> {
        if let Some(t) = &opts.target {
            return Ok(Deployment {
                base: t.clone(),
                own: None,
            });
        }
        let db = ScratchDb::create(backend, opts).await?;
        match Instance::start(&opts.server_bin, &db.url, None).await {
            Ok(instance) => Ok(Deployment {
                base: instance.base.clone(),
                own: Some((instance, db)),
            }),
            Err(e) => {
                db.remove().await;
                Err(e)
            }
        }
    }

    fn database_url(&self) -> Option<&str> {
        self.own.as_ref().map(|(_, db)| db.url.as_str())
    }

    /// The server's process id, when this tool started it.
    fn pids(&self) -> Vec<u32> {
        self.own.iter().filter_map(|(i, _)| i.child.id()).collect()
    }

    /// Stops the server, audits its database when asked to, and removes the database.
    async fn finish(self, bin: &Path, with_audit: bool) -> Option<Value> {
        let (instance, db) = self.own?;
        instance.stop().await;
        let verdict = if with_audit {
            Some(audit(bin, &db.url).await)
        } else {
            None
        };
        db.remove().await;
        verdict
    }
}

// ------------------------------------------------------------------------------------------ client

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("a plain HTTP client builds")
}

/// For streams: no overall timeout, which would cut a long-lived response.
fn stream_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("a plain HTTP client builds")
}

fn error_code(body: &Value) -> String {
    body.pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_owned()
}

/// Sends and retries (bounded) on 429/503, honouring `Retry-After`; for set-up requests only.
async fn send_retrying(make: impl Fn() -> reqwest::RequestBuilder, expect: u16) -> Result<Value> {
    for _ in 0..20 {
        let response = make().send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1)
            .min(5);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == expect {
            return Ok(body);
        }
        if status == 429 || status == 503 {
            tokio::time::sleep(Duration::from_secs(retry_after)).await;
            continue;
        }
        return Err(fail(format!("expected {expect}, got {status}: {body}")));
    }
    Err(fail("gave up after 20 retries"))
}

/// Registers a fresh account and signs in; returns its bearer token.
async fn new_account(c: &reqwest::Client, base: &str, tag: &str) -> Result<String> {
    let email = format!(
        "{tag}-{}@measure.example.com",
        uuid::Uuid::new_v4().simple()
    );
    send_retrying(
        || {
            c.post(format!("{base}/api/v1/auth/register")).json(
                &json!({"email": email, "password": PASSWORD, "name": format!("Measure {tag}")}),
            )
        },
        201,
    )
    .await?;
    let body = send_retrying(
        || {
            c.post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": email, "password": PASSWORD}))
        },
        200,
    )
    .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("login returned no token"))
}

async fn new_accounts(c: &reqwest::Client, base: &str, n: usize, tag: &str) -> Result<Vec<String>> {
    futures_util::stream::iter(0..n)
        .map(|i| {
            let tag = format!("{tag}{i}");
            async move { new_account(c, base, &tag).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// The event to measure: the first with seats available (the demo event on a fresh server).
async fn pick_event(c: &reqwest::Client, base: &str) -> Result<String> {
    let body = send_retrying(|| c.get(format!("{base}/api/v1/events")), 200).await?;
    let events = body["events"]
        .as_array()
        .ok_or_else(|| fail("no events array"))?;
    events
        .iter()
        .find(|e| e["seats_available"].as_u64().unwrap_or(0) > 0)
        .or(events.first())
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| fail("the server has no event"))
}

async fn free_seats(c: &reqwest::Client, base: &str, event: &str) -> Result<Vec<String>> {
    let body = send_retrying(|| c.get(format!("{base}/api/v1/events/{event}/seats")), 200).await?;
    Ok(body["seats"]
        .as_array()
        .ok_or_else(|| fail("no seats array"))?
        .iter()
        .filter(|s| s["state"] == "available")
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect())
}

// ------------------------------------------------------------------------------------------ stats

/// A small xorshift generator: enough to shuffle seats, no extra dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let bytes = uuid::Uuid::new_v4().as_u64_pair();
        Rng((bytes.0 ^ bytes.1) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
    /// 1 or 2 seats, each half of the time (as many as are left).
    fn seats_per_hold(&mut self, left: usize) -> usize {
        if left >= 2 && self.next().is_multiple_of(2) {
            2
        } else {
            1
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `a - b` in milliseconds, negative when `a` came first.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    if a >= b { ms(a - b) } else { -ms(b - a) }
}

/// Maps this process's monotonic instants onto the wall clock, to compare them with times the
/// database wrote (same machine, same clock).
struct WallClock {
    instant: Instant,
    unix_ms: f64,
}

impl WallClock {
    fn now() -> WallClock {
        WallClock {
            instant: Instant::now(),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(ms)
                .unwrap_or_default(),
        }
    }
    fn unix_ms(&self, at: Instant) -> f64 {
        self.unix_ms + signed_ms(at, self.instant)
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn latency(values: &[f64]) -> Value {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    json!({
        "n": v.len(),
        "p50_ms": pct(&v, 50.0).map(round2),
        "p99_ms": pct(&v, 99.0).map(round2),
        "max_ms": v.last().copied().map(round2),
        "mean_ms": mean.map(round2),
    })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!(((a / b) * 1000.0).round() / 1000.0),
        _ => Value::Null,
    }
}

fn count(errors: &mut BTreeMap<String, usize>, what: String) {
    *errors.entry(what).or_default() += 1;
}

// ------------------------------------------------------------------------------------------ cpu

/// Processes whose CPU the meter reports by name (the database servers and Redis); their
/// figures include whatever else uses them at the time.
const METERED_NAMES: [&str; 3] = ["postgres", "mariadbd", "redis-server"];

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
fn clock_ticks() -> f64 {
    command_output("getconf", &["CLK_TCK"])
        .and_then(|v| v.parse().ok())
        .unwrap_or(100.0)
}

/// `(comm, utime + stime in ticks)` of a process, from /proc/PID/stat.
fn process_ticks(pid: u32) -> Option<(String, u64)> {
    let stat = read_file(&format!("/proc/{pid}/stat"));
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    // After the command come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((comm, ticks))
}

/// Ticks of every process named in [`METERED_NAMES`], by pid.
fn metered_processes() -> HashMap<u32, (String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (comm, ticks) = process_ticks(pid)?;
            METERED_NAMES
                .contains(&comm.as_str())
                .then_some((pid, (comm, ticks)))
        })
        .collect()
}

/// `(busy, total)` ticks of the whole machine, from the first line of /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = read_file("/proc/stat");
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// CPU used during a measured window, in cores (1.0 = one core busy the whole time): by the
/// boxoffice servers under test, by this tool, by the database servers and Redis, and by the
/// whole machine (the rest is everything else running on it).
struct CpuMeter {
    at: Instant,
    servers: Vec<u32>,
    server_ticks: u64,
    own_ticks: u64,
    named: HashMap<u32, (String, u64)>,
    machine: Option<(u64, u64)>,
}

impl CpuMeter {
    fn start(servers: &[u32]) -> CpuMeter {
        CpuMeter {
            at: Instant::now(),
            servers: servers.to_vec(),
            server_ticks: servers
                .iter()
                .filter_map(|&p| process_ticks(p))
                .map(|t| t.1)
                .sum(),
            own_ticks: process_ticks(std::process::id()).map_or(0, |t| t.1),
            named: metered_processes(),
            machine: machine_ticks(),
        }
    }

    fn stop(self) -> Value {
        let seconds = self.at.elapsed().as_secs_f64();
        let hz = clock_ticks();
        let cores = |ticks: u64| round2(ticks as f64 / hz / seconds);
        let servers: u64 = self
            .servers
            .iter()
            .filter_map(|&p| process_ticks(p))
            .map(|t| t.1)
            .sum();
        let own = process_ticks(std::process::id()).map_or(0, |t| t.1);
        let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
        for (pid, (comm, ticks)) in metered_processes() {
            let before = self.named.get(&pid).map_or(0, |b| b.1);
            *by_name.entry(comm).or_default() += ticks.saturating_sub(before);
        }
        let machine = match (self.machine, machine_ticks()) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                // Ticks of all cores together; as cores, busy share × number of cores.
                let n = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
                json!(round2((b1 - b0) as f64 / (t1 - t0) as f64 * n))
            }
            _ => Value::Null,
        };
        let mut out = json!({
            "seconds": round2(seconds),
            // Unknown (null) for a --target server: its process is not this tool's child.
            "boxoffice_cores": if self.servers.is_empty() {
                Value::Null
            } else {
                cores(servers.saturating_sub(self.server_ticks)).into()
            },
            "measure_cores": cores(own.saturating_sub(self.own_ticks)),
            "machine_busy_cores": machine,
        });
        for name in METERED_NAMES {
            out[format!("{name}_cores")] = cores(by_name.get(name).copied().unwrap_or(0)).into();
        }
        out
    }
}

/// The mean of per-window CPU figures, weighted by each window's length.
fn mean_cpu(windows: &[&Value]) -> Value {
    let total: f64 = windows.iter().filter_map(|w| w["seconds"].as_f64()).sum();
    let mut out = serde_json::Map::new();
    let Some(first) = windows.first().and_then(|w| w.as_object()) else {
        return Value::Null;
    };
    for key in first.keys().filter(|k| k.ends_with("_cores")) {
        let weighted: Vec<f64> = windows
            .iter()
            .filter_map(|w| Some(w[key].as_f64()? * w["seconds"].as_f64()?))
            .collect();
        let mean = (!weighted.is_empty()).then(|| round2(weighted.iter().sum::<f64>() / total));
        out.insert(key.clone(), json!(mean));
    }
    out.insert("seconds".into(), json!(round2(total)));
    Value::Object(out)
}

// ------------------------------------------------------------------------------------------ buy

#[derive(Default)]
struct Tally {
    holds_ok: usize,
    checkouts_ok: usize,
    seats_sold: usize,
    hold_ms: Vec<f64>,
    checkout_ms: Vec<f64>,
    errors: BTreeMap<String, usize>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.holds_ok += o.holds_ok;
        self.checkouts_ok += o.checkouts_ok;
        self.seats_sold += o.seats_sold;
        self.hold_ms.extend(o.hold_ms);
        self.checkout_ms.extend(o.checkout_ms);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

/// POSTs JSON; returns the status and body, or the transport error.
async fn post_json(request: reqwest::RequestBuilder, body: &Value) -> Result<(u16, Value), String> {
    match request.json(body).send().await {
        Ok(r) => Ok((
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// One buyer: hold 1–2 of its own seats, pay with a fresh Idempotency-Key, repeat until its seats
/// run out or the deadline passes.
async fn buyer(
    c: reqwest::Client,
    base: Arc<str>,
    event: Arc<str>,
    token: String,
    mut seats: Vec<String>,
    deadline: Instant,
    mut rng: Rng,
) -> Tally {
    let mut t = Tally::default();
    while !seats.is_empty() && Instant::now() < deadline {
        let k = rng.seats_per_hold(seats.len());
        let chosen: Vec<String> = seats.drain(..k).collect();
        let started = Instant::now();
        let request = c
            .post(format!("{base}/api/v1/events/{event}/holds"))
            .bearer_auth(&token);
        let (status, body) = match post_json(request, &json!({"seat_ids": chosen})).await {
            Ok(answer) => answer,
            Err(e) => {
                count(&mut t.errors, format!("hold transport: {e}"));
                continue;
            }
        };
        let hold_ms = ms(started.elapsed());
        if status != 201 {
            count(
                &mut t.errors,
                format!("hold {status} {}", error_code(&body)),
            );
            continue;
        }
        t.holds_ok += 1;
        t.hold_ms.push(hold_ms);
        let Some(hold_id) = body.pointer("/hold/id").and_then(Value::as_str) else {
            count(&mut t.errors, "hold without id".into());
            continue;
        };
        let started = Instant::now();
        let request = c
            .post(format!("{base}/api/v1/holds/{hold_id}/checkout"))
            .bearer_auth(&token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
        let payment = json!({"payment": {"method": "sandbox", "card_number": GOOD_CARD}});
        let (status, body) = match post_json(request, &payment).await {
            Ok(answer) => answer,
            Err(e) => {
                count(&mut t.errors, format!("checkout transport: {e}"));
                continue;
            }
        };
        let checkout_ms = ms(started.elapsed());
        if status == 201 && body.pointer("/order/status") == Some(&json!("paid")) {
            t.checkouts_ok += 1;
            t.seats_sold += k;
            t.checkout_ms.push(checkout_ms);
        } else {
            count(
                &mut t.errors,
                format!("checkout {status} {}", error_code(&body)),
            );
        }
    }
    t
}

struct BuyRound {
    seconds: f64,
    cpu: Value,
    setup_seconds: f64,
    seats_offered: usize,
    tally: Tally,
    audit: Option<Value>,
}

/// One round: a fresh database and server, N buyers until the seats or the time run out, then
/// the audit.
async fn buy_round(opts: &Options, backend: Backend) -> Result<BuyRound> {
    let setup = Instant::now();
    let deployment = Deployment::start(opts, backend).await?;
    let outcome = buy_on(opts, &deployment.base, &deployment.pids(), setup).await;
    let audit = deployment.finish(&opts.server_bin, true).await;
    let (seconds, setup_seconds, seats_offered, tally, cpu) = outcome?;
    Ok(BuyRound {
        seconds,
        cpu,
        setup_seconds,
        seats_offered,
        tally,
        audit,
    })
}

/// Returns the measured seconds, the set-up seconds, the seats offered, the tally and the CPU
/// used while buying.
async fn buy_on(
    opts: &Options,
    base: &str,
    pids: &[u32],
    setup: Instant,
) -> Result<(f64, f64, usize, Tally, Value)> {
    let base: Arc<str> = base.into();
    let c = client();
    let event: Arc<str> = pick_event(&c, &base).await?.into();
    let tokens = new_accounts(&c, &base, opts.buyers, "buyer").await?;
    let mut seats = free_seats(&c, &base, &event).await?;
    Rng::new().shuffle(&mut seats);
    let seats_offered = seats.len();
    let mut lists = vec![Vec::new(); opts.buyers];
    for (i, s) in seats.into_iter().enumerate() {
        lists[i % opts.buyers].push(s);
    }
    // One warm connection per buyer, so connection set-up is not in the first hold's latency.
    futures_util::future::join_all(
        (0..opts.buyers).map(|_| c.get(format!("{base}/healthz")).send()),
    )
    .await;
    let setup_seconds = setup.elapsed().as_secs_f64();
    let meter = CpuMeter::start(pids);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.buy_secs);
    let tasks: Vec<_> = lists
        .into_iter()
        .zip(tokens)
        .map(|(mine, token)| {
            tokio::spawn(buyer(
                c.clone(),
                base.clone(),
                event.clone(),
                token,
                mine,
                deadline,
                Rng::new(),
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, setup_seconds, seats_offered, tally, meter.stop()))
}

/// Every round of one backend, and their totals.
async fn buy_backend(opts: &Options, backend: Backend) -> Result<Value> {
    let rounds = if opts.target.is_some() {
        1
    } else {
        opts.rounds
    };
    let mut total = Tally::default();
    let mut seconds = 0.0;
    let mut per_round = Vec::new();
    let mut audits_passed = 0;
    let mut cpu = Vec::new();
    for r in 0..rounds {
        eprintln!("buy {}: round {}/{rounds}", backend.name(), r + 1);
        let round = buy_round(opts, backend).await?;
        if round.audit.as_ref().is_some_and(|a| a["ok"] == true) {
            audits_passed += 1;
        }
        per_round.push(json!({
            "seconds": round2(round.seconds),
            "setup_seconds": round2(round.setup_seconds),
            "seats_offered": round.seats_offered,
            "holds_ok": round.tally.holds_ok,
            "checkouts_ok": round.tally.checkouts_ok,
            "seats_sold": round.tally.seats_sold,
            "holds_per_sec": round2(round.tally.holds_ok as f64 / round.seconds),
            "checkouts_per_sec": round2(round.tally.checkouts_ok as f64 / round.seconds),
            "errors": round.tally.errors,
            "audit": round.audit,
            "cpu": round.cpu,
        }));
        cpu.push(round.cpu);
        seconds += round.seconds;
        total.merge(round.tally);
    }
    let errors: usize = total.errors.values().sum();
    Ok(json!({
        "backend": if opts.target.is_some() { "target" } else { backend.name() },
        "buyers": opts.buyers,
        "rounds": rounds,
        "fresh_server_per_round": opts.target.is_none(),
        "measured_seconds": round2(seconds),
        "holds_ok": total.holds_ok,
        "checkouts_ok": total.checkouts_ok,
        "seats_sold": total.seats_sold,
        "holds_per_sec": round2(total.holds_ok as f64 / seconds),
        "checkouts_per_sec": round2(total.checkouts_ok as f64 / seconds),
        "holds_plus_checkouts_per_sec": round2((total.holds_ok + total.checkouts_ok) as f64 / seconds),
        "seats_sold_per_sec": round2(total.seats_sold as f64 / seconds),
        "hold_latency": latency(&total.hold_ms),
        "checkout_latency": latency(&total.checkout_ms),
        "errors_total": errors,
        "errors": total.errors,
        "audits_passed": audits_passed,
        "audits_run": if opts.target.is_some() { 0 } else { rounds },
        "cpu": mean_cpu(&cpu.iter().collect::<Vec<_>>()),
        "rounds_detail": per_round,
    }))
}

// ------------------------------------------------------------------------------------------ baseline

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
    let mut rng = Rng::new();
    while Instant::now() < deadline && !ran_out.load(Ordering::Relaxed) {
        if seats.is_empty() {
            ran_out.store(true, Ordering::Relaxed);
            break;
        }
        let k = rng.seats_per_hold(seats.len());
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

async fn baseline_backend(opts: &Options, backend: Backend) -> Result<Value> {
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

/// `buy` and `baseline` for each backend in turn, so that each pair runs under the same
/// conditions; returns `(buy, baseline)`, each keyed by backend, with the ratio in `buy`. With
/// `--target`, `buy` runs once, against the target, and has no baseline to compare with.
async fn phase_buy_and_baseline(opts: &Options) -> (Value, Value) {
    let mut buy = serde_json::Map::new();
    let mut baseline = serde_json::Map::new();
    let on_error = |what: &str, e: BoxError| {
        eprintln!("measure: {what} failed: {e}");
        json!({"error": e.to_string()})
    };
    if opts.target.is_some() && opts.has("buy") {
        let v = buy_backend(opts, Backend::Sqlite) // the backend is the target's, not this one
            .await
            .unwrap_or_else(|e| on_error("buy on the target", e));
        buy.insert("target".into(), v);
    }
    for &backend in &opts.backends {
        let name = backend.name().to_owned();
        if opts.has("buy") && opts.target.is_none() {
            let v = buy_backend(opts, backend)
                .await
                .unwrap_or_else(|e| on_error(&format!("buy on {name}"), e));
            buy.insert(name.clone(), v);
        }
        if opts.has("baseline") {
            let v = baseline_backend(opts, backend)
                .await
                .unwrap_or_else(|e| on_error(&format!("baseline on {name}"), e));
            baseline.insert(name.clone(), v);
        }
        if let (Some(b), Some(base)) = (buy.get_mut(&name), baseline.get(&name))
            && b.get("error").is_none()
        {
            let rate = base["transactions_per_sec"].as_f64();
            b["baseline_transactions_per_sec"] = rate.into();
            b["ratio_to_baseline"] = ratio(b["holds_plus_checkouts_per_sec"].as_f64(), rate);
        }
    }
    (Value::Object(buy), Value::Object(baseline))
}

// ------------------------------------------------------------------------------------------ read

#[derive(Default)]
struct ReadResult {
    ok: usize,
    not_ok: usize,
    bytes: usize,
    seconds: f64,
    latency_ms: Vec<f64>,
}

/// One reader: GET `url` until the deadline.
async fn reader(c: reqwest::Client, url: String, deadline: Instant) -> ReadResult {
    let mut r = ReadResult::default();
    while Instant::now() < deadline {
        let t = Instant::now();
        match c.get(&url).send().await {
            Ok(resp) => {
                let good = resp.status().is_success();
                match (good, resp.bytes().await.map(|b| b.len())) {
                    (true, Ok(n)) => {
                        r.ok += 1;
                        r.bytes += n;
                        r.latency_ms.push(ms(t.elapsed()));
                    }
                    _ => r.not_ok += 1,
                }
            }
            Err(_) => r.not_ok += 1,
        }
    }
    r
}

/// `concurrency` readers GETting `url` until `duration` has passed.
async fn read_load(
    c: &reqwest::Client,
    url: &str,
    concurrency: usize,
    duration: Duration,
) -> ReadResult {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(reader(c.clone(), url.to_owned(), deadline)))
        .collect();
    let mut total = ReadResult::default();
    for t in tasks {
        if let Ok(r) = t.await {
            total.ok += r.ok;
            total.not_ok += r.not_ok;
            total.bytes += r.bytes;
            total.latency_ms.extend(r.latency_ms);
        }
    }
    total.seconds = started.elapsed().as_secs_f64();
    total
}

fn read_json(r: &ReadResult) -> Value {
    json!({
        "requests_ok": r.ok,
        "requests_failed": r.not_ok,
        "seconds": round2(r.seconds),
        "requests_per_sec": round2(r.ok as f64 / r.seconds),
        "bytes_per_response": r.bytes.checked_div(r.ok).unwrap_or(0),
        "latency": latency(&r.latency_ms),
    })
}

/// "1.23ms" → 1.23; wrk prints us, ms, s and m.
fn wrk_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

/// The figures of wrk's text output.
fn parse_wrk(text: &str) -> Value {
    let mut rps = None;
    let mut requests = None;
    let mut non_2xx = 0u64;
    let mut socket_errors = String::new();
    let mut percentiles = BTreeMap::new();
    let mut in_distribution = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if t.contains(" requests in ") {
            requests = t
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok());
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            socket_errors = v.trim().to_owned();
        } else if t.starts_with("Latency Distribution") {
            in_distribution = true;
        } else if in_distribution {
            let mut parts = t.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(p), Some(v)) if p.ends_with('%') => {
                    if let Some(x) = wrk_duration_ms(v) {
                        percentiles.insert(p.trim_end_matches('%').to_owned(), round2(x));
                    }
                }
                _ => in_distribution = false,
            }
        }
    }
    json!({
        "requests": requests,
        "requests_per_sec": rps,
        "non_2xx": non_2xx,
        "socket_errors": if socket_errors.is_empty() { Value::Null } else { Value::from(socket_errors) },
        "p50_ms": percentiles.get("50"),
        "p99_ms": percentiles.get("99"),
    })
}

async fn run_wrk(wrk: &str, url: &str, concurrency: usize, secs: u64) -> Result<Value> {
    let args = [
        "-t2".to_owned(),
        format!("-c{concurrency}"),
        format!("-d{secs}s"),
        "--latency".to_owned(),
        url.to_owned(),
    ];
    let out = tokio::process::Command::new(wrk)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(fail(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let mut v = parse_wrk(&text);
    v["command"] = format!("{wrk} {}", args.join(" ")).into();
    Ok(v)
}

fn wrk_available(wrk: &str) -> bool {
    std::process::Command::new(wrk)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

async fn phase_read(opts: &Options) -> Result<Value> {
    let deployment = Deployment::start(opts, Backend::Sqlite).await?;
    let result = read_on(opts, &deployment.base, &deployment.pids()).await;
    deployment.finish(&opts.server_bin, false).await;
    result
}

async fn read_on(opts: &Options, base: &str, pids: &[u32]) -> Result<Value> {
    let c = client();
    let event = pick_event(&c, base).await?;
    let healthz = format!("{base}/healthz");
    let seats = format!("{base}/api/v1/events/{event}/seats");
    let duration = Duration::from_secs(opts.read_secs);
    let n = opts.read_concurrency;
    eprintln!("read: warm-up");
    read_load(&c, &seats, n, Duration::from_secs(1)).await;
    eprintln!(
        "read: /healthz with this tool, {n} concurrent, {}s",
        opts.read_secs
    );
    let meter = CpuMeter::start(pids);
    let h = read_load(&c, &healthz, n, duration).await;
    let h_cpu = meter.stop();
    eprintln!(
        "read: /seats with this tool, {n} concurrent, {}s",
        opts.read_secs
    );
    let meter = CpuMeter::start(pids);
    let s = read_load(&c, &seats, n, duration).await;
    let s_cpu = meter.stop();
    let mut out = json!({
        "concurrency": n,
        "seconds_each": opts.read_secs,
        "client": {
            "healthz": read_json(&h),
            "healthz_cpu": h_cpu,
            "seats": read_json(&s),
            "seats_cpu": s_cpu,
            "seats_to_healthz_ratio": ratio(Some(s.ok as f64 / s.seconds), Some(h.ok as f64 / h.seconds)),
        },
    });
    out["wrk"] = match opts.wrk.as_deref() {
        Some(wrk) if wrk_available(wrk) => {
            // wrk is a child process: its CPU is in machine_busy_cores, not in measure_cores.
            eprintln!("read: /healthz with wrk");
            let meter = CpuMeter::start(pids);
            let mut wh = run_wrk(wrk, &healthz, n, opts.read_secs).await?;
            wh["cpu"] = meter.stop();
            eprintln!("read: /seats with wrk");
            let meter = CpuMeter::start(pids);
            let mut ws = run_wrk(wrk, &seats, n, opts.read_secs).await?;
            ws["cpu"] = meter.stop();
            let r = ratio(
                ws["requests_per_sec"].as_f64(),
                wh["requests_per_sec"].as_f64(),
            );
            let wrk_over_client = ratio(
                ws["requests_per_sec"].as_f64(),
                Some(s.ok as f64 / s.seconds),
            );
            json!({
                "healthz": wh,
                "seats": ws,
                "seats_to_healthz_ratio": r,
                "seats_wrk_to_client_ratio": wrk_over_client,
            })
        }
        Some(wrk) => {
            json!({"skipped": format!("{wrk} is not installed (apt-get install -y wrk)")})
        }
        None => json!({"skipped": "--wrk none"}),
    };
    Ok(out)
}

// ------------------------------------------------------------------------------------------ fan-out

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Sse,
    WebSocket,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
        }
    }
}

/// What one subscriber saw: the first time each target seat arrived as held.
struct Subscriber {
    targets: Arc<HashSet<String>>,
    seen: HashMap<String, Instant>,
    snapshot: bool,
    ready: Arc<AtomicUsize>,
    seen_total: Arc<AtomicUsize>,
    /// A place in the connection queue, given back with the first snapshot.
    gate: Option<OwnedSemaphorePermit>,
}

impl Subscriber {
    fn handle(&mut self, data: &str, at: Instant) {
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        let list = if let Some(changes) = v["changes"].as_array() {
            changes
        } else if let Some(seats) = v["seats"].as_array() {
            if !self.snapshot {
                self.snapshot = true;
                self.gate = None;
                self.ready.fetch_add(1, Ordering::SeqCst);
                return;
            }
            seats // a resync snapshot also delivers what changed
        } else {
            return;
        };
        for s in list {
            if s["state"] != "held" {
                continue;
            }
            if let Some(id) = s["id"].as_str()
                && self.targets.contains(id)
                && !self.seen.contains_key(id)
            {
                self.seen.insert(id.to_owned(), at);
                self.seen_total.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// A subscriber's record when it stopped.
struct SubscriberEnd {
    transport: Transport,
    seen: HashMap<String, Instant>,
    error: Option<String>,
}

/// Where the subscribers connect.
struct Feed {
    sse_url: String,
    ws_url: String,
    sse_client: reqwest::Client,
    gate: Arc<Semaphore>,
}

async fn subscribe(
    feed: Arc<Feed>,
    transport: Transport,
    mut sub: Subscriber,
    stop: watch::Receiver<bool>,
) -> SubscriberEnd {
    sub.gate = feed.gate.clone().acquire_owned().await.ok();
    let outcome = match transport {
        Transport::Sse => read_sse(&feed.sse_client, &feed.sse_url, &mut sub, stop).await,
        Transport::WebSocket => read_ws(&feed.ws_url, &mut sub, stop).await,
    };
    SubscriberEnd {
        transport,
        seen: sub.seen,
        error: outcome.err().map(|e| e.to_string()),
    }
}

async fn read_sse(
    c: &reqwest::Client,
    url: &str,
    sub: &mut Subscriber,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let response = c
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(fail(format!("SSE {url}: {}", response.status())));
    }
    let mut body = response.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            chunk = body.next() => {
                let Some(chunk) = chunk else {
                    return Err(fail("the server ended the SSE stream"));
                };
                let chunk = chunk?;
                let at = Instant::now();
                buf.extend_from_slice(&chunk);
                while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                    let block: Vec<u8> = buf.drain(..end + 2).collect();
                    let text = String::from_utf8_lossy(&block);
                    let data: String = text
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(|d| d.strip_prefix(' ').unwrap_or(d))
                        .collect::<Vec<_>>()
                        .join("\n");
                    if !data.is_empty() {
                        sub.handle(&data, at);
                    }
                }
            }
        }
    }
}

async fn read_ws(url: &str, sub: &mut Subscriber, mut stop: watch::Receiver<bool>) -> Result<()> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    let outcome = loop {
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            message = socket.next() => {
                let Some(message) = message else {
                    break Err(fail("the server ended the WebSocket"));
                };
                let message = message?;
                let at = Instant::now();
                if message.is_text() {
                    sub.handle(message.to_text()?, at);
                } else if message.is_close() {
                    break Err(fail(format!("the server closed the WebSocket: {message}")));
                }
            }
        }
    };
    let _ = socket.close(None).await;
    outcome
}

struct HoldSent {
    seat: String,
    sent: Instant,
    answered: Instant,
    status: u16,
}

/// One-seat holds, `spacing_ms` apart, each by the next account in turn.
async fn send_holds(
    c: &reqwest::Client,
    url: &str,
    seats: &[String],
    accounts: &[String],
    spacing_ms: u64,
) -> Result<Vec<HoldSent>> {
    let start = tokio::time::Instant::now();
    let holders: Vec<_> = seats
        .iter()
        .enumerate()
        .map(|(i, seat)| {
            let request = c
                .post(url)
                .bearer_auth(&accounts[i % accounts.len()])
                .json(&json!({"seat_ids": [seat]}));
            let seat = seat.clone();
            let at = start + Duration::from_millis(spacing_ms * i as u64);
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let sent = Instant::now();
                let status = match request.send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                HoldSent {
                    seat,
                    sent,
                    answered: Instant::now(),
                    status,
                }
            })
        })
        .collect();
    let mut sent = Vec::new();
    for h in holders {
        sent.push(h.await?);
    }
    Ok(sent)
}

/// A fan-out measurement: subscribers on `watch_base`, one-seat holds through `hold_base` (the
/// same server, or another instance), and the seats' `updated_at` read from `database_url`.
struct FanoutPlan<'a> {
    watch_base: &'a str,
    hold_base: &'a str,
    transports: Vec<Transport>,
    holds: usize,
    spacing_ms: u64,
    database_url: Option<&'a str>,
    /// The servers' process ids, for the CPU meter.
    server_pids: Vec<u32>,
}

/// Per hold and subscriber: how long after the request, the response and the seat's UPDATE the
/// hold arrived; per hold: when the last subscriber had it; and what never arrived.
fn delivery_stats(
    ok: &[&HoldSent],
    subs: &[&SubscriberEnd],
    updated_at: &HashMap<String, i64>,
    clock: &WallClock,
) -> Value {
    let (mut from_send, mut from_response, mut from_update) = (Vec::new(), Vec::new(), Vec::new());
    let (mut all_send, mut all_response, mut all_update) = (Vec::new(), Vec::new(), Vec::new());
    let mut delivered = 0usize;
    for h in ok {
        let update = updated_at.get(&h.seat).map(|&t| t as f64);
        let mut last: Option<Instant> = None;
        let mut everyone = true;
        for s in subs {
            let Some(&at) = s.seen.get(&h.seat) else {
                everyone = false;
                continue;
            };
            delivered += 1;
            from_send.push(signed_ms(at, h.sent));
            from_response.push(signed_ms(at, h.answered));
            if let Some(u) = update {
                from_update.push(clock.unix_ms(at) - u);
            }
            last = Some(last.map_or(at, |l| l.max(at)));
        }
        if let (Some(last), true) = (last, everyone) {
            all_send.push(signed_ms(last, h.sent));
            all_response.push(signed_ms(last, h.answered));
            if let Some(u) = update {
                all_update.push(clock.unix_ms(last) - u);
            }
        }
    }
    let expected = ok.len() * subs.len();
    json!({
        "subscribers": subs.len(),
        "subscriber_errors": subs.iter().filter(|s| s.error.is_some()).count(),
        "deliveries_expected": expected,
        "deliveries": delivered,
        "missed": expected - delivered,
        "from_request_sent": latency(&from_send),
        "from_response_received": latency(&from_response),
        "from_seat_update": latency(&from_update),
        "all_subscribers_from_request_sent": latency(&all_send),
        "all_subscribers_from_response_received": latency(&all_response),
        "all_subscribers_from_seat_update": latency(&all_update),
    })
}

/// Connects every subscriber and waits for all their snapshots; on failure stops them all and
/// says why.
async fn connect_subscribers(
    plan: &FanoutPlan<'_>,
    event: &str,
    targets: Arc<HashSet<String>>,
    seen_total: Arc<AtomicUsize>,
    stop_rx: watch::Receiver<bool>,
) -> Result<Vec<tokio::task::JoinHandle<SubscriberEnd>>> {
    let ready = Arc::new(AtomicUsize::new(0));
    let ws_base = plan.watch_base.replacen("http://", "ws://", 1);
    let feed = Arc::new(Feed {
        sse_url: format!("{}/api/v1/events/{event}/stream", plan.watch_base),
        ws_url: format!("{ws_base}/api/v1/events/{event}/ws"),
        sse_client: stream_client(),
        gate: Arc::new(Semaphore::new(CONNECT_CONCURRENCY)),
    });
    let handles: Vec<_> = plan
        .transports
        .iter()
        .map(|&transport| {
            let sub = Subscriber {
                targets: targets.clone(),
                seen: HashMap::new(),
                snapshot: false,
                ready: ready.clone(),
                seen_total: seen_total.clone(),
                gate: None,
            };
            tokio::spawn(subscribe(feed.clone(), transport, sub, stop_rx.clone()))
        })
        .collect();
    let n = handles.len();
    let deadline = Instant::now() + Duration::from_secs(30 + n as u64 / 20);
    while ready.load(Ordering::SeqCst) < n {
        if let Some(done) = handles.iter().position(|h| h.is_finished()) {
            let mut handles = handles;
            let why = handles
                .swap_remove(done)
                .await
                .ok()
                .and_then(|end| end.error)
                .unwrap_or_else(|| "it ended".into());
            return Err(fail(format!(
                "a subscriber stopped before the measurement ({} of {n} had their snapshot): {why}",
                ready.load(Ordering::SeqCst)
            )));
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "only {} of {n} subscribers got their snapshot",
                ready.load(Ordering::SeqCst)
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(handles)
}

async fn measure_fanout(plan: &FanoutPlan<'_>) -> Result<Value> {
    let clock = WallClock::now();
    let c = client();
    let hold_base = plan.hold_base;
    let event = pick_event(&c, hold_base).await?;
    let free = free_seats(&c, hold_base, &event).await?;
    let n = plan.holds.min(free.len());
    if n == 0 {
        return Err(fail("no free seat left for the fan-out run"));
    }
    let seats: Vec<String> = free.into_iter().take(n).collect();
    let accounts = new_accounts(&c, hold_base, n.div_ceil(HOLDS_PER_ACCOUNT), "fan").await?;
    let targets: Arc<HashSet<String>> = Arc::new(seats.iter().cloned().collect());
    let seen_total = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Dropping stop_tx on an early return also stops every subscriber.
    let subscribers =
        connect_subscribers(plan, &event, targets, seen_total.clone(), stop_rx).await?;
    // Warm the holder's connections, then let the subscribers settle.
    let _ = c.get(format!("{hold_base}/healthz")).send().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let url = format!("{hold_base}/api/v1/events/{event}/holds");
    let meter = CpuMeter::start(&plan.server_pids);
    let sent = send_holds(&c, &url, &seats, &accounts, plan.spacing_ms).await?;
    let ok: Vec<&HoldSent> = sent.iter().filter(|h| h.status == 201).collect();
    let expected = ok.len() * subscribers.len();
    let drain_deadline = Instant::now() + DRAIN;
    while seen_total.load(Ordering::SeqCst) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cpu = meter.stop();
    let _ = stop_tx.send(true);
    let mut ends = Vec::new();
    for s in subscribers {
        ends.push(s.await?);
    }
    let updated_at = match plan.database_url {
        Some(url) => seat_update_times(url, &event).await?,
        None => HashMap::new(),
    };

    let all: Vec<&SubscriberEnd> = ends.iter().collect();
    let mut out = delivery_stats(&ok, &all, &updated_at, &clock);
    let kinds: Vec<Transport> = [Transport::Sse, Transport::WebSocket]
        .into_iter()
        .filter(|t| plan.transports.contains(t))
        .collect();
    if kinds.len() > 1 {
        for kind in kinds {
            let mine: Vec<&SubscriberEnd> = ends.iter().filter(|e| e.transport == kind).collect();
            out[kind.name()] = delivery_stats(&ok, &mine, &updated_at, &clock);
        }
    }
    let first_error = ends.iter().find_map(|e| e.error.clone());
    let hold_ms: Vec<f64> = ok.iter().map(|h| ms(h.answered - h.sent)).collect();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for h in sent.iter().filter(|h| h.status != 201) {
        count(&mut refused, h.status.to_string());
    }
    out["first_subscriber_error"] = first_error.into();
    out["holds_sent"] = sent.len().into();
    out["holds_ok"] = ok.len().into();
    out["holds_refused"] = json!(refused);
    out["spacing_ms"] = plan.spacing_ms.into();
    out["hold_request_latency"] = latency(&hold_ms);
    out["cpu"] = cpu;
    Ok(out)
}

async fn fanout_run(opts: &Options, transport: Transport, spacing_ms: u64) -> Result<Value> {
    let deployment = Deployment::start(opts, Backend::Sqlite).await?;
    eprintln!(
        "fanout: {} {} subscribers, {} holds {spacing_ms} ms apart",
        opts.subscribers,
        transport.name(),
        opts.holds
    );
    let plan = FanoutPlan {
        watch_base: &deployment.base,
        hold_base: &deployment.base,
        transports: vec![transport; opts.subscribers],
        holds: opts.holds,
        spacing_ms,
        database_url: deployment.database_url(),
        server_pids: deployment.pids(),
    };
    let result = measure_fanout(&plan).await;
    deployment.finish(&opts.server_bin, false).await;
    let mut v = result?;
    v["transport"] = transport.name().into();
    Ok(v)
}

async fn phase_fanout(opts: &Options) -> Result<Value> {
    let mut runs = Vec::new();
    for &spacing in &opts.spacings_ms {
        for transport in [Transport::Sse, Transport::WebSocket] {
            runs.push(fanout_run(opts, transport, spacing).await?);
        }
    }
    Ok(Value::Array(runs))
}

// ------------------------------------------------------------------------------------------ cross

async fn phase_cross(opts: &Options) -> Result<Value> {
    if opts.target.is_some() {
        return Ok(json!({
            "skipped": "cross needs two fresh instances on a fresh database: not run with --target"
        }));
    }
    require_redis(&opts.redis_url).await?;
    let db = ScratchDb::create(opts.cross_backend, opts).await?;
    let outcome = cross_on(opts, &db).await;
    db.remove().await;
    outcome
}

/// Fails fast when nothing listens at the Redis address: the server itself would wait for it
/// without printing anything.
async fn require_redis(url: &str) -> Result<()> {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, r)| r)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let address = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&address),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(fail(format!("Redis at {address} does not answer: {e}"))),
        Err(_) => Err(fail(format!(
            "Redis at {address} does not answer within 3 s"
        ))),
    }
}

async fn cross_on(opts: &Options, db: &ScratchDb) -> Result<Value> {
    let bin = &opts.server_bin;
    let redis = Some(opts.redis_url.as_str());
    // One after the other: the first migrates and creates the demo event.
    let one = Instance::start(bin, &db.url, redis).await?;
    let two = match Instance::start(bin, &db.url, redis).await {
        Ok(two) => two,
        Err(e) => {
            one.stop().await;
            return Err(e);
        }
    };
    let sse = opts.cross_subscribers / 2;
    let mut transports = vec![Transport::Sse; sse];
    transports.extend(vec![Transport::WebSocket; opts.cross_subscribers - sse]);
    eprintln!(
        "cross: {} subscribers ({sse} SSE) on {}, {} holds {} ms apart through {}",
        opts.cross_subscribers, one.base, opts.cross_holds, opts.cross_spacing_ms, two.base
    );
    let plan = FanoutPlan {
        watch_base: &one.base,
        hold_base: &two.base,
        transports,
        holds: opts.cross_holds,
        spacing_ms: opts.cross_spacing_ms,
        database_url: Some(&db.url),
        server_pids: [&one, &two].iter().filter_map(|i| i.child.id()).collect(),
    };
    let result = measure_fanout(&plan).await;
    let instances = json!([one.base, two.base]);
    one.stop().await;
    two.stop().await;
    let verdict = audit(bin, &db.url).await;
    let mut v = result?;
    v["backend"] = opts.cross_backend.name().into();
    v["redis_url"] = opts.redis_url.clone().into();
    v["instances"] = instances;
    v["sse_subscribers"] = sse.into();
    v["websocket_subscribers"] = (opts.cross_subscribers - sse).into();
    v["audit"] = verdict;
    Ok(v)
}

// ------------------------------------------------------------------------------------------ report

fn read_file(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn loadavg() -> String {
    read_file("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine() -> Value {
    let cpuinfo = read_file("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned());
    let mem_kib = read_file("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok());
    let os = read_file("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned());
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": cpu,
        "memory_gib": mem_kib.map(|k| round2(k as f64 / 1024.0 / 1024.0)),
        "os": os,
        "kernel": read_file("/proc/sys/kernel/osrelease").trim(),
        "rustc": command_output("rustc", &["--version"]),
        "loadavg_at_start": loadavg(),
        "git": command_output("git", &["describe", "--always", "--dirty"]),
        "date_utc": command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
    })
}

/// The versions of the database servers (and of the SQLite library sqlx bundles), for the
/// report; null where one does not answer.
async fn database_versions(opts: &Options) -> Value {
    async fn sqlite() -> Result<String> {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
        let v: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut conn)
            .await?;
        Ok(v)
    }
    async fn postgres(url: &str) -> Result<String> {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let v: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await.ok();
        Ok(v)
    }
    async fn mysql(url: &str) -> Result<String> {
        let mut conn = sqlx::MySqlConnection::connect(url).await?;
        let v: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await.ok();
        Ok(v)
    }
    let redis = opts
        .redis_url
        .strip_prefix("redis://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|hp| hp.rsplit_once(':'))
        .and_then(|(host, port)| {
            command_output("redis-cli", &["-h", host, "-p", port, "info", "server"])
        })
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .map(|v| v.trim().to_owned())
        });
    json!({
        "sqlite": sqlite().await.ok(),
        "postgres": postgres(&opts.postgres_admin).await.ok(),
        "mysql": mysql(&opts.mysql_admin).await.ok(),
        "redis": redis,
    })
}

fn fmt_ms(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0} ms"),
        Some(x) => format!("{x:.2} ms"),
        None => "-".into(),
    }
}

fn fmt_rate(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x >= 100.0 => format!("{x:.0}/s"),
        Some(x) => format!("{x:.1}/s"),
        None => "-".into(),
    }
}

/// "boxoffice 1.10, postgres 0.40, this tool 0.30, whole machine 1.95 cores", leaving out the
/// named processes that did nothing.
fn fmt_cpu(v: &Value) -> String {
    let mut parts = Vec::new();
    let mut add = |label: &str, key: &str, always: bool| {
        if let Some(x) = v[key].as_f64().filter(|&x| always || x >= 0.01) {
            parts.push(format!("{label} {x:.2}"));
        }
    };
    add("boxoffice", "boxoffice_cores", true);
    for name in METERED_NAMES {
        add(name, &format!("{name}_cores"), false);
    }
    add("this tool", "measure_cores", true);
    add("whole machine", "machine_busy_cores", true);
    format!("{} cores", parts.join(", "))
}

/// "p50 / p99 / max" of a latency object.
fn trio(v: &Value) -> String {
    let f = |k: &str| v[k].as_f64().map_or("-".into(), |x| format!("{x:.1}"));
    format!("{} / {} / {}", f("p50_ms"), f("p99_ms"), f("max_ms"))
}

fn print_buy(buy: &Value, baseline: &Value) {
    let empty = serde_json::Map::new();
    let backends = buy.as_object().unwrap_or(&empty);
    if backends.is_empty() && baseline.as_object().is_none_or(|b| b.is_empty()) {
        return;
    }
    let any = backends.values().find(|b| b.get("error").is_none());
    println!();
    println!(
        "a. purchases: {} buyers on distinct seats, {} round(s) per backend{}",
        any.map_or(Value::Null, |b| b["buyers"].clone()),
        any.map_or(Value::Null, |b| b["rounds"].clone()),
        if any.is_some_and(|b| b["fresh_server_per_round"] == true) {
            " on fresh databases and servers (512-seat demo event each)"
        } else {
            ""
        }
    );
    println!(
        "  {:<9} {:>12} {:>10} {:>10} {:>10} {:>10} {:>12} {:>7} {:>7} {:>7}",
        "backend",
        "holds+chk",
        "hold p50",
        "hold p99",
        "chk p50",
        "chk p99",
        "raw tx",
        "ratio",
        "audits",
        "errors"
    );
    for (name, b) in backends {
        if let Some(e) = b.get("error") {
            println!("  {name:<9} FAILED: {}", e.as_str().unwrap_or("?"));
            continue;
        }
        println!(
            "  {:<9} {:>12} {:>10} {:>10} {:>10} {:>10} {:>12} {:>7} {:>7} {:>7}",
            name,
            fmt_rate(&b["holds_plus_checkouts_per_sec"]),
            fmt_ms(&b["hold_latency"]["p50_ms"]),
            fmt_ms(&b["hold_latency"]["p99_ms"]),
            fmt_ms(&b["checkout_latency"]["p50_ms"]),
            fmt_ms(&b["checkout_latency"]["p99_ms"]),
            fmt_rate(&b["baseline_transactions_per_sec"]),
            b["ratio_to_baseline"]
                .as_f64()
                .map_or("-".into(), |r| format!("{r:.3}")),
            format!("{}/{}", b["audits_passed"], b["audits_run"]),
            b["errors_total"],
        );
    }
    for (name, b) in backends.iter().filter(|(_, b)| b.get("cpu").is_some()) {
        println!("  {name:<9} CPU while buying: {}", fmt_cpu(&b["cpu"]));
    }
    if let Some(bases) = baseline.as_object().filter(|b| !b.is_empty()) {
        println!("  raw baseline (hold UPDATE tx + sell UPDATE tx over sqlx, no server):");
        for (name, b) in bases {
            if let Some(e) = b.get("error") {
                println!("  {name:<9} FAILED: {}", e.as_str().unwrap_or("?"));
                continue;
            }
            println!(
                "  {:<9} {:>12} tx/s; hold tx p50/p99 {} / {}; sell tx p50/p99 {} / {}; {} tasks on {} connection(s), {} s, ended by {}; {} errors",
                name,
                fmt_rate(&b["transactions_per_sec"]),
                fmt_ms(&b["hold_latency"]["p50_ms"]),
                fmt_ms(&b["hold_latency"]["p99_ms"]),
                fmt_ms(&b["sell_latency"]["p50_ms"]),
                fmt_ms(&b["sell_latency"]["p99_ms"]),
                b["tasks"],
                b["connections"],
                b["seconds"],
                b["ended_by"].as_str().unwrap_or("?"),
                b["errors_total"],
            );
            println!("  {:<9} CPU: {}", "", fmt_cpu(&b["cpu"]));
        }
    }
}

fn print_read(r: &Value) {
    println!();
    println!(
        "b. reads: {} concurrent, {} s each",
        r["concurrency"], r["seconds_each"]
    );
    println!("  {:<34} {:>12} {:>12} {:>12}", "", "rate", "p50", "p99");
    let row = |label: &str, rate: &Value, p50: &Value, p99: &Value| {
        println!(
            "  {:<34} {:>12} {:>12} {:>12}",
            label,
            fmt_rate(rate),
            fmt_ms(p50),
            fmt_ms(p99)
        );
    };
    for (label, v, cpu) in [
        (
            "GET /healthz (this tool)",
            &r["client"]["healthz"],
            &r["client"]["healthz_cpu"],
        ),
        (
            "GET /seats (this tool)",
            &r["client"]["seats"],
            &r["client"]["seats_cpu"],
        ),
    ] {
        row(
            label,
            &v["requests_per_sec"],
            &v["latency"]["p50_ms"],
            &v["latency"]["p99_ms"],
        );
        println!("      CPU: {}", fmt_cpu(cpu));
    }
    println!(
        "  seats/healthz (this tool): {}",
        r["client"]["seats_to_healthz_ratio"]
    );
    if r["wrk"].get("skipped").is_some() {
        println!("  wrk: skipped: {}", r["wrk"]["skipped"]);
        return;
    }
    for (label, v) in [
        ("GET /healthz (wrk)", &r["wrk"]["healthz"]),
        ("GET /seats (wrk)", &r["wrk"]["seats"]),
    ] {
        row(label, &v["requests_per_sec"], &v["p50_ms"], &v["p99_ms"]);
        println!(
            "      CPU (wrk's own is in the machine's): {}",
            fmt_cpu(&v["cpu"])
        );
    }
    println!(
        "  seats/healthz (wrk): {}; /seats wrk/this tool: {}",
        r["wrk"]["seats_to_healthz_ratio"], r["wrk"]["seats_wrk_to_client_ratio"]
    );
}

fn print_delivery_header() {
    println!(
        "  {:<10} {:>5} {:>6} {:>14} {:>7} {:>22} {:>22} {:>22} {:>22}",
        "transport",
        "subs",
        "gap",
        "delivered",
        "missed",
        "from request",
        "from response",
        "from seat update",
        "last sub (update)"
    );
}

fn print_delivery_row(label: &str, run: &Value, spacing: &Value) {
    println!(
        "  {:<10} {:>5} {:>4}ms {:>14} {:>7} {:>22} {:>22} {:>22} {:>22}",
        label,
        run["subscribers"].as_u64().unwrap_or(0),
        spacing.as_u64().unwrap_or(0),
        format!("{}/{}", run["deliveries"], run["deliveries_expected"]),
        run["missed"],
        trio(&run["from_request_sent"]),
        trio(&run["from_response_received"]),
        trio(&run["from_seat_update"]),
        trio(&run["all_subscribers_from_seat_update"]),
    );
}

fn print_fanout(runs: &[Value]) {
    println!();
    println!(
        "c. live fan-out, one server: hold → arrival at each subscriber (ms; p50 / p99 / max)"
    );
    print_delivery_header();
    for run in runs {
        print_delivery_row(
            run["transport"].as_str().unwrap_or("?"),
            run,
            &run["spacing_ms"],
        );
    }
    for run in runs {
        println!(
            "  CPU, {} every {} ms: {}",
            run["transport"].as_str().unwrap_or("?"),
            run["spacing_ms"],
            fmt_cpu(&run["cpu"])
        );
    }
    println!(
        "  (commit → arrival lies between \"from response\" and \"from seat update\"; \"last sub\": \
         per hold, when the last subscriber had it)"
    );
}

fn print_cross(c: &Value) {
    println!();
    println!(
        "d. cross-instance fan-out: {} subscribers on instance 1 ({} SSE + {} WebSocket), holds through \
         instance 2; {} + Redis (ms; p50 / p99 / max)",
        c["subscribers"],
        c["sse_subscribers"],
        c["websocket_subscribers"],
        c["backend"].as_str().unwrap_or("?")
    );
    print_delivery_header();
    print_delivery_row("all", c, &c["spacing_ms"]);
    for kind in ["sse", "websocket"] {
        if c.get(kind).is_some() {
            print_delivery_row(kind, &c[kind], &c["spacing_ms"]);
        }
    }
    println!("  CPU (both instances together): {}", fmt_cpu(&c["cpu"]));
    println!(
        "  holds {}/{} ok; subscriber errors {}; audit ok: {}",
        c["holds_ok"], c["holds_sent"], c["subscriber_errors"], c["audit"]["ok"]
    );
}

fn print_table(report: &Value) {
    let m = &report["machine"];
    println!();
    println!(
        "machine: {} cores, {} GiB, {}, {}; load at start {}, at end {}; git {}",
        m["nproc"],
        m["memory_gib"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["os"].as_str().unwrap_or("?"),
        m["loadavg_at_start"].as_str().unwrap_or("?"),
        m["loadavg_at_end"].as_str().unwrap_or("?"),
        m["git"].as_str().unwrap_or("?")
    );
    let d = &report["databases"];
    println!(
        "databases: sqlite {}, postgres {}, mysql {}, redis {}",
        d["sqlite"].as_str().unwrap_or("-"),
        d["postgres"]
            .as_str()
            .and_then(|v| v.split(" on ").next())
            .unwrap_or("-"),
        d["mysql"].as_str().unwrap_or("-"),
        d["redis"].as_str().unwrap_or("-")
    );
    println!("server: {}", report["server"].as_str().unwrap_or("?"));
    for phase in PHASES {
        if let Some(e) = report.get(phase).and_then(|v| v.get("error")) {
            println!();
            println!("{phase}: FAILED: {}", e.as_str().unwrap_or("?"));
        }
    }
    print_buy(&report["buy"], &report["baseline"]);
    if let Some(r) = report.get("read").filter(|r| r.get("error").is_none()) {
        print_read(r);
    }
    if let Some(runs) = report.get("fanout").and_then(Value::as_array) {
        print_fanout(runs);
    }
    match report.get("cross") {
        Some(c) if c.get("skipped").is_some() => {
            println!();
            println!("d. cross-instance fan-out: skipped: {}", c["skipped"]);
        }
        Some(c) if c.get("error").is_none() => print_cross(c),
        _ => {}
    }
    if let Some(s) = report.get("scenarios") {
        scenarios::print_scenarios(s);
    }
    if let Some(s) = report.get("long-sale") {
        long_sale::print_long_sale(s);
    }
}

/// True when a phase, or one backend of it, failed.
fn has_error(v: &Value) -> bool {
    v.get("error").is_some()
        || v.as_object()
            .is_some_and(|m| m.values().any(|x| x.get("error").is_some()))
}

fn record(report: &mut Value, phase: &str, outcome: Result<Value>) {
    report[phase] = outcome.unwrap_or_else(|e| {
        eprintln!("measure: phase {phase} failed: {e}");
        json!({"error": e.to_string()})
    });
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let opts = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("measure: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut report = json!({
        "machine": machine(),
        "databases": database_versions(&opts).await,
        "server": match &opts.target {
            Some(t) => format!("--target {t}"),
            None => format!(
                "{} started per phase/round on a fresh database (buy: {}; read, fanout: sqlite; cross: {})",
                opts.server_bin.display(),
                opts.backends.iter().map(|b| b.name()).collect::<Vec<_>>().join(", "),
                opts.cross_backend.name()
            ),
        },
    });
    // Reads first and buys after, so a shared --target still has seats for each phase. The load
    // average at the start of each phase shows whether something else shared the machine.
    if opts.has("read") {
        report["machine"]["loadavg_at_read"] = loadavg().into();
        record(&mut report, "read", phase_read(&opts).await);
    }
    if opts.has("fanout") {
        report["machine"]["loadavg_at_fanout"] = loadavg().into();
        record(&mut report, "fanout", phase_fanout(&opts).await);
    }
    if opts.has("buy") || opts.has("baseline") {
        report["machine"]["loadavg_at_buy"] = loadavg().into();
        let (buy, baseline) = phase_buy_and_baseline(&opts).await;
        report["buy"] = buy;
        report["baseline"] = baseline;
    }
    if opts.has("cross") {
        report["machine"]["loadavg_at_cross"] = loadavg().into();
        record(&mut report, "cross", phase_cross(&opts).await);
    }
    if opts.has("scenarios") && opts.target.is_none() {
        report["machine"]["loadavg_at_scenarios"] = loadavg().into();
        report["scenarios"] = scenarios::phase_scenarios(&opts).await;
    }
    if opts.has("long-sale") && opts.target.is_none() {
        report["machine"]["loadavg_at_long_sale"] = loadavg().into();
        report["long-sale"] = long_sale::phase_long_sale(&opts).await;
    }
    report["machine"]["loadavg_at_end"] = loadavg().into();
    let mut failed = PHASES.iter().any(|p| report.get(*p).is_some_and(has_error))
        || report.get("scenarios").is_some_and(scenarios::any_failure)
        || report.get("long-sale").is_some_and(long_sale::any_failure);
    print_table(&report);
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!();
    println!("JSON:");
    println!("{text}");
    if let Some(path) = &opts.json_out
        && let Err(e) = std::fs::write(path, format!("{text}\n"))
    {
        eprintln!("measure: writing {}: {e}", path.display());
        failed = true;
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
