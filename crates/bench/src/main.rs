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

use serde_json::{Value, json};

mod admin;
mod baseline;
mod buy;
mod client;
mod cpu;
mod cross;
mod databases;
mod fanout;
mod hall;
mod long_sale;
mod machine;
mod options;
mod plot;
mod read;
mod scenarios;
mod servers;
mod stats;
mod table;

use crate::{
    buy::phase_buy_and_baseline,
    cross::phase_cross,
    fanout::phase_fanout,
    machine::{database_versions, loadavg, machine},
    options::{Options, PHASES},
    read::phase_read,
    table::print_table,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

fn fail(msg: impl Into<String>) -> BoxError {
    msg.into().into()
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
