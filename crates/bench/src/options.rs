//! The command line: the usage text, the options it sets, and their checks (loopback only).

use std::{path::PathBuf, str::FromStr};

use crate::{Result, databases::Backend, fail, long_sale, scenarios};

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

pub(crate) const PHASES: [&str; 7] = [
    "buy",
    "baseline",
    "read",
    "fanout",
    "cross",
    "scenarios",
    "long-sale",
];

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) target: Option<String>,
    pub(crate) server_bin: PathBuf,
    pub(crate) phases: Vec<String>,
    pub(crate) backends: Vec<Backend>,
    pub(crate) postgres_admin: String,
    pub(crate) mysql_admin: String,
    pub(crate) buyers: usize,
    pub(crate) rounds: usize,
    pub(crate) buy_secs: u64,
    pub(crate) baseline_secs: u64,
    pub(crate) baseline_pool: u32,
    pub(crate) baseline_seats: usize,
    pub(crate) read_concurrency: usize,
    pub(crate) read_secs: u64,
    pub(crate) wrk: Option<String>,
    pub(crate) subscribers: usize,
    pub(crate) holds: usize,
    pub(crate) spacings_ms: Vec<u64>,
    pub(crate) cross_backend: Backend,
    pub(crate) redis_url: String,
    pub(crate) cross_subscribers: usize,
    pub(crate) cross_holds: usize,
    pub(crate) cross_spacing_ms: u64,
    pub(crate) scenario_backends: Vec<Backend>,
    pub(crate) scenarios: Vec<String>,
    pub(crate) scenario_sizes: scenarios::ScenarioSizes,
    pub(crate) long_sale_backends: Vec<String>,
    pub(crate) postgres16_admin: String,
    pub(crate) long_sale: long_sale::LongSaleSizes,
    pub(crate) long_sale_plot_dir: Option<PathBuf>,
    pub(crate) long_sale_targets: Vec<long_sale::Target>,
    pub(crate) json_out: Option<PathBuf>,
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
    pub(crate) fn defaults() -> Options {
        Options {
            target: None,
            server_bin: PathBuf::from("target/release/boxoffice"),
            phases: PHASES.iter().map(ToString::to_string).collect(),
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
            scenarios: scenarios::SCENARIOS
                .iter()
                .map(ToString::to_string)
                .collect(),
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

    pub(crate) fn parse() -> Result<Options> {
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
            let Some(v) = inline.or_else(|| args.next()) else {
                return Err(fail(format!("{name} needs a value\n\n{USAGE}")));
            };
            o.set(&name, &v)?;
        }
        o.clamp();
        o.check_loopback()
    }

    pub(crate) fn set(&mut self, name: &str, v: &str) -> Result<()> {
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
                self.spacings_ms = list(v).map(|s| num(name, s)).collect::<Result<_>>()?;
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
                self.scenario_backends = list(v).map(Backend::parse).collect::<Result<_>>()?;
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
                    list(v).map(|s| num(name, s)).collect::<Result<_>>()?;
            }
            "--long-sale-soak-secs" => self.long_sale.soak_secs = num(name, v)?,
            "--long-sale-plot-dir" => {
                self.long_sale_plot_dir = (v != "none").then(|| PathBuf::from(v));
            }
            "--json-out" => self.json_out = Some(PathBuf::from(v)),
            _ => return Err(fail(format!("unknown argument {name}\n\n{USAGE}"))),
        }
        Ok(())
    }

    /// Bounds: this tool is for one machine's loopback, not a load generator for hire.
    pub(crate) fn clamp(&mut self) {
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

    pub(crate) fn check_loopback(self) -> Result<Options> {
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

    pub(crate) fn has(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }
}

/// Accepts only URLs whose host is 127.x.x.x, localhost or `[::1]`.
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
