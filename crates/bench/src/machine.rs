//! What the report says about where it ran: the machine, its load average, the commit, and the
//! database servers' versions.

use serde_json::{Value, json};
use sqlx::Connection;

use crate::{Result, options::Options, stats::round2};

pub(crate) fn read_file(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub(crate) fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(crate) fn loadavg() -> String {
    read_file("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn machine() -> Value {
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
        "nproc": std::thread::available_parallelism().map(std::num::NonZero::get).ok(),
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
pub(crate) async fn database_versions(opts: &Options) -> Value {
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
