//! `rehearse --spawn-cluster N [--chaos]`: a local cluster of its own to rehearse against — N
//! instances of this executable on one database, a private Redis on a free port, and an
//! in-process sandbox payment provider speaking Stripe's wire format — and, with `--chaos`,
//! faults injected while the crowd buys: an instance killed (SIGKILL) and restarted on its port,
//! Redis restarted, the provider slow and failing for a few seconds. Everything started here is
//! stopped when the cluster is shut down or dropped (children are killed on drop, so a panic
//! takes them down too).

mod chaos;
mod databases;

pub(crate) use chaos::{ChaosEvent, ChaosLog, run_chaos};

use std::{
    path::PathBuf,
    process::Stdio,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use boxoffice_psp::{Faults, PspConfig, PspHandle, PspStats, SandboxPsp};
use boxoffice_testkit::redis::PrivateRedis;
use databases::{create_database, drop_database};
use serde::Serialize;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// The environment for a server that load tests and rehearsals drive: their whole crowd comes
/// from one address and retries at machine speed, which every abuse limit would rightly stop.
pub const CROWD_FROM_ONE_ADDRESS: &[(&str, &str)] = &[
    ("BOXOFFICE_LIMIT_SIGN_IN_PER_ADDRESS", "off"),
    ("BOXOFFICE_LIMIT_REGISTER_PER_ADDRESS", "off"),
    ("BOXOFFICE_LIMIT_HOLDS_PER_ADDRESS", "off"),
    ("BOXOFFICE_LIMIT_CHECKOUT_PER_ADDRESS", "off"),
    ("BOXOFFICE_LIMIT_SIGN_IN_PER_ACCOUNT", "off"),
    ("BOXOFFICE_LIMIT_SIGN_IN_PER_ACCOUNT_ANY_ADDRESS", "off"),
    ("BOXOFFICE_LIMIT_HOLDS_PER_ACCOUNT", "off"),
    ("BOXOFFICE_MAX_SEATS_HELD_TOTAL", "1000000"),
    ("BOXOFFICE_MAX_SEATS_PER_ADDRESS", "0"),
    ("BOXOFFICE_HOLD_COOLDOWN_SECS", "0"),
    ("BOXOFFICE_MAX_HOLDS_PER_EVENT_PER_HOUR", "0"),
];

/// What `--spawn-cluster` and `--chaos` ask for.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub instances: usize,
    /// The database for the instances: a SQLite URL is used as it is; on a PostgreSQL or MySQL
    /// server a fresh database `bo_rehearse_…` is created and dropped at the end. `None`: a fresh
    /// SQLite file in a temporary directory.
    pub database_url: Option<String>,
    pub chaos: bool,
    /// The instances keep every abuse limit at its default and trust this machine's
    /// `X-Forwarded-For` (the crowd spreads over addresses); otherwise the limits are lifted,
    /// since the whole crowd comes from one address.
    pub real_limits: bool,
    /// Instances added and drained during the sale, behind HAProxy (empty: no HAProxy, the
    /// clients talk to the instances themselves).
    pub scale: Vec<super::scaling::ScaleStep>,
}

const START_LIMIT: Duration = Duration::from_secs(30);

const WEBHOOK_SECRET: &str = "whsec_rehearse_cluster";

/// The instances' provider timeout: a lost answer turns into a 202 `confirming` quickly.
const STRIPE_TIMEOUT_MS: &str = "2000";

struct Instance {
    port: u16,
    child: Option<Child>,
}

/// A fresh database on a server, dropped at the end.
struct FreshDatabase {
    admin_url: String,
    name: String,
}

pub(crate) struct Cluster {
    dir: PathBuf,
    exe: PathBuf,
    pub database_url: String,
    fresh: Option<FreshDatabase>,
    redis_port: u16,
    redis: tokio::sync::Mutex<Option<PrivateRedis>>,
    instances: Vec<tokio::sync::Mutex<Instance>>,
    psp: Mutex<Option<PspHandle>>,
    psp_url: String,
    env: Vec<(String, String)>,
    /// Where the clients go: HAProxy when the cluster scales, else every instance.
    pub bases: Vec<String>,
    /// Every instance slot's own address (the ones added later included).
    pub(crate) direct: Vec<String>,
    /// How many instances run from the start.
    pub(crate) initial: usize,
    pub(crate) balancer: Option<super::scaling::Balancer>,
    pub scale: Vec<super::scaling::ScaleStep>,
    /// Keep the temporary directory (the instances' logs) when the cluster goes.
    keep_dir: AtomicBool,
    real_limits: bool,
}

impl Cluster {
    pub(crate) async fn start(spec: &ClusterSpec, progress: bool) -> anyhow::Result<Cluster> {
        if spec.instances == 0 {
            bail!("--spawn-cluster needs at least one instance");
        }
        let exe = std::env::current_exe().context("finding this executable")?;
        let dir = std::env::temp_dir().join(format!("boxoffice-rehearse-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (database_url, fresh) = match &spec.database_url {
            None => (
                format!("sqlite://{}", dir.join("boxoffice.db").display()),
                None,
            ),
            Some(url) if url.starts_with("sqlite:") => (url.clone(), None),
            Some(url) => {
                let name = format!("bo_rehearse_{}", uuid::Uuid::new_v4().simple());
                create_database(url, &name).await?;
                (
                    boxoffice_store::replace_database(url, &name),
                    Some(FreshDatabase {
                        admin_url: url.clone(),
                        name,
                    }),
                )
            }
        };
        let redis_port = free_port()?;
        let slots = spec.instances + super::scaling::added(&spec.scale);
        let ports: Vec<u16> = (0..slots).map(|_| free_port()).collect::<Result<_, _>>()?;
        let direct: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let balancer = if spec.scale.is_empty() {
            None
        } else {
            let log = std::fs::File::create(dir.join("haproxy.log"))?;
            Some(super::scaling::Balancer::start(&dir, &ports, spec.instances, log).await?)
        };
        let bases = match &balancer {
            Some(b) => vec![b.url.clone()],
            None => direct.clone(),
        };
        let (_, psp) = SandboxPsp::start(PspConfig {
            // Webhooks go to the first instance; while it is down the provider retries them.
            webhook_url: Some(format!("{}/api/v1/payments/webhook", bases[0])),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            settle_delay: Duration::from_millis(500),
            hang_limit: Duration::from_secs(10),
            ..PspConfig::default()
        })
        .await
        .context("starting the sandbox payment provider")?;
        let psp_url = psp.base_url();
        let secret = format!("rehearse-{}", uuid::Uuid::new_v4().simple());
        let env = [
            ("DATABASE_URL", database_url.as_str()),
            ("REDIS_URL", &format!("redis://127.0.0.1:{redis_port}")),
            ("BOXOFFICE_PAYMENT_PROVIDER", "stripe"),
            ("STRIPE_API_BASE", &psp_url),
            ("STRIPE_API_KEY", "sk_test_x"),
            ("STRIPE_TIMEOUT_MS", STRIPE_TIMEOUT_MS),
            ("BOXOFFICE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("BOXOFFICE_SECRET", &secret),
            ("BOXOFFICE_PAYMENT_RECONCILE_INTERVAL_MS", "500"),
            ("BOXOFFICE_RECONCILE_INTERVAL_MS", "500"),
            ("BOXOFFICE_DB_POOL_SIZE", "8"),
            ("BOXOFFICE_DEMO", "true"),
            // Behind HAProxy, a draining instance's failing /readyz is seen before it stops.
            (
                "BOXOFFICE_DRAIN_DELAY_MS",
                if balancer.is_some() { "750" } else { "0" },
            ),
            ("RUST_LOG", "warn"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let cluster = Cluster {
            dir,
            exe,
            database_url,
            fresh,
            redis_port,
            redis: tokio::sync::Mutex::new(None),
            instances: ports
                .iter()
                .map(|port| {
                    tokio::sync::Mutex::new(Instance {
                        port: *port,
                        child: None,
                    })
                })
                .collect(),
            psp: Mutex::new(Some(psp)),
            psp_url,
            env,
            bases,
            direct,
            initial: spec.instances,
            balancer,
            scale: spec.scale.clone(),
            keep_dir: AtomicBool::new(false),
            real_limits: spec.real_limits,
        };
        // From here on, a failure drops `cluster`, which stops whatever has started.
        *cluster.redis.lock().await = Some(cluster.start_redis().await?);
        // The first instance migrates and seeds alone; the others then start together.
        cluster.start_instance(0).await?;
        let rest = (1..spec.instances).map(|n| cluster.start_instance(n));
        for started in futures_util::future::join_all(rest).await {
            started?;
        }
        if let Some(balancer) = &cluster.balancer {
            for n in 0..spec.instances {
                balancer.wait_until_up(n, START_LIMIT).await?;
            }
        }
        if progress {
            eprintln!(
                "cluster: {} instances ({}), {}, redis on port {redis_port}, payment provider {}; logs in {}",
                spec.instances,
                cluster.bases.join(", "),
                boxoffice_store::redact(&cluster.database_url),
                cluster.psp_url,
                cluster.dir.display()
            );
        }
        Ok(cluster)
    }

    pub(crate) fn describe(&self) -> ClusterSummary {
        ClusterSummary {
            instances: self.bases.clone(),
            database: boxoffice_store::redact(&self.database_url),
            redis: format!("redis://127.0.0.1:{}", self.redis_port),
            payment_provider: self.psp_url.clone(),
            ..ClusterSummary::default()
        }
    }

    pub(crate) fn psp_stats(&self) -> Option<PspStats> {
        lock(&self.psp).as_ref().map(PspHandle::stats)
    }

    fn log_file(&self, name: &str) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(name))
    }

    async fn start_redis(&self) -> anyhow::Result<PrivateRedis> {
        PrivateRedis::launch(self.redis_port, Some(&self.dir.join("redis.log"))).await
    }

    /// Starts instance `n` on its port (again, after a kill), waiting until it listens.
    pub(super) async fn start_instance(&self, n: usize) -> anyhow::Result<()> {
        let mut instance = self.instances[n].lock().await;
        let port = instance.port;
        let lifted: &[(&str, &str)] = if self.real_limits {
            &[("BOXOFFICE_TRUSTED_PROXIES", "127.0.0.0/8")]
        } else {
            CROWD_FROM_ONE_ADDRESS
        };
        let mut child = Command::new(&self.exe)
            .arg("serve")
            .envs(lifted.iter().copied())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("BOXOFFICE_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                self.log_file(&format!("instance-{}.log", n + 1))?,
            ))
            .kill_on_drop(true)
            .spawn()
            .context("starting an instance")?;
        let stdout = child.stdout.take().context("the instance's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let listening = tokio::time::timeout(START_LIMIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("listening on ") {
                    return true;
                }
            }
            false
        })
        .await;
        if listening != Ok(true) {
            let _ = child.start_kill();
            bail!(
                "instance {} did not start on port {port} (see {})",
                n + 1,
                self.dir.join(format!("instance-{}.log", n + 1)).display()
            );
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        instance.child = Some(child);
        Ok(())
    }

    /// SIGTERM, then waits up to `limit` for the instance to drain and exit.
    pub(super) async fn terminate_instance(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let mut instance = self.instances[n].lock().await;
        let Some(mut child) = instance.child.take() else {
            bail!("instance {} is not running", n + 1);
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                let _ = child.start_kill();
                bail!("instance {} did not drain within {limit:?}", n + 1)
            }
        }
    }

    /// SIGKILL: the instance dies wherever it is, its connections cut.
    async fn kill_instance(&self, n: usize) {
        let mut instance = self.instances[n].lock().await;
        if let Some(mut child) = instance.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }

    /// Restarts instance `n` on its port; the port may take a moment to be free again.
    async fn restart_instance(&self, n: usize) -> anyhow::Result<()> {
        let mut last = anyhow!("not tried");
        for _ in 0..5 {
            match self.start_instance(n).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Err(last)
    }

    async fn kill_redis(&self) {
        if let Some(mut redis) = self.redis.lock().await.take() {
            redis.stop_and_wait(Duration::from_secs(5)).await;
        }
    }

    async fn restart_redis(&self) -> anyhow::Result<()> {
        let mut last = anyhow!("not tried");
        for _ in 0..5 {
            match self.start_redis().await {
                Ok(redis) => {
                    *self.redis.lock().await = Some(redis);
                    return Ok(());
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Err(last)
    }

    fn set_faults(&self, faults: Faults) {
        if let Some(psp) = lock(&self.psp).as_ref() {
            psp.set_faults(faults);
        }
    }

    /// Stops every instance, Redis and the provider; drops a fresh database; removes the
    /// temporary directory (its logs too, unless `keep_logs`).
    pub(crate) async fn shut_down(&self, keep_logs: bool) {
        for instance in &self.instances {
            let mut instance = instance.lock().await;
            if let Some(mut child) = instance.child.take() {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            }
        }
        if let Some(balancer) = &self.balancer {
            balancer.stop().await;
        }
        self.kill_redis().await;
        let psp = lock(&self.psp).take();
        if let Some(psp) = psp {
            let _ = tokio::time::timeout(Duration::from_secs(5), psp.shutdown()).await;
        }
        if let Some(fresh) = &self.fresh
            && let Err(e) = drop_database(&fresh.admin_url, &fresh.name).await
        {
            eprintln!(
                "rehearse: could not drop the database {}: {e:#}",
                fresh.name
            );
        }
        if keep_logs {
            self.keep_dir.store(true, Ordering::Relaxed);
            eprintln!("rehearse: the cluster's logs are in {}", self.dir.display());
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The children are killed on drop (kill_on_drop); the directory is left to us.
        if !self.keep_dir.load(Ordering::Relaxed) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The cluster as the report shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterSummary {
    pub instances: Vec<String>,
    pub database: String,
    pub redis: String,
    pub payment_provider: String,
    /// Requests sent again to another instance after getting no answer.
    pub(crate) failovers: u64,
    /// 5xx answers other than 503 while an instance or Redis was down (or just back). They are
    /// listed with the other answers too; they are not counted as violations.
    pub(crate) server_errors_during_chaos: u64,
    /// Checkouts answered 202 `confirming`.
    pub(crate) payments_confirming: u64,
    /// Of those, still confirming when the rehearsal stopped waiting for them.
    pub(crate) payments_pending_at_end: u64,
    pub(crate) psp_requests: u64,
    pub(crate) psp_injected_errors: u64,
    pub(crate) psp_injected_timeouts: u64,
    pub(crate) psp_webhooks_dropped: u64,
    pub(crate) psp_webhooks_delivered: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    boxoffice_testkit::try_free_port().context("finding a free port")
}
