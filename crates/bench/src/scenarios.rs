//! The `scenarios` phase: the four `boxoffice rehearse` presets at the scale the on-sale
//! rehearsal issue sets for this machine, each against a fresh 2,000-seat event (created through
//! the admin API) on a fresh server and database per backend, beside the `/healthz` ceiling of the
//! same server measured just before. The rehearsal runs as its own process, the way an operator
//! runs it; this tool reads its JSON report, meters CPU, and samples the server's resident memory
//! to tell memory per connected watcher.

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::{Value, json};

use crate::{
    Result,
    admin::admin_token_for,
    client::{PASSWORD, client},
    cpu::CpuMeter,
    databases::{Backend, ScratchDb},
    fail,
    hall::{ROWS, SEATS_PER_ROW, create_event, create_venue},
    options::Options,
    read::{read_load, run_wrk, wrk_available},
    servers::{Instance, audit},
    stats::round2,
};

pub(crate) const SCENARIOS: [&str; 5] = [
    "flash-sale",
    "flash-sale-room",
    "hot-seat",
    "fan-out",
    "soak",
];
/// The flash sale through the event's waiting room: paced by the hold latency it measures, from
/// 50 buyers a second, at most 600 shopping at once, and a minute for the crowd to get through.
const ROOM: &str = r#"{"enabled": true, "admit_per_minute": 3000, "max_active": 600, "auto": {"target_hold_p99_ms": 200}}"#;
const ADMIN_EMAIL: &str = "bench-admin@boxoffice.test";
/// Per-scenario sizes; the defaults are the issue's targets.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioSizes {
    pub flash_buyers: usize,
    pub hot_rate: f64,
    pub hot_secs: u64,
    pub fanout_watchers: usize,
    pub fanout_secs: u64,
    pub soak_secs: u64,
}

impl Default for ScenarioSizes {
    fn default() -> Self {
        ScenarioSizes {
            flash_buyers: 10_000,
            hot_rate: 1000.0,
            hot_secs: 5,
            fanout_watchers: 10_000,
            fanout_secs: 30,
            soak_secs: 60,
        }
    }
}

/// The rehearse flags of one scenario at these sizes (besides target, event and output).
pub(crate) fn rehearse_flags(scenario: &str, s: &ScenarioSizes) -> Vec<String> {
    let flags: Vec<String> = match scenario {
        // Everyone at the opening second, five buyers per seat.
        "flash-sale" => vec![
            "--buyers".into(),
            s.flash_buyers.to_string(),
            "--duration".into(),
            "5s".into(),
        ],
        "flash-sale-room" => vec![
            "--buyers".into(),
            s.flash_buyers.to_string(),
            "--duration".into(),
            "5s".into(),
            "--grace".into(),
            "55s".into(),
        ],
        // A steady 1,000 attempts a second, every one of them on the best seat first.
        "hot-seat" => vec![
            "--arrival".into(),
            "steady".into(),
            "--rate".into(),
            s.hot_rate.to_string(),
            "--buyers".into(),
            ((s.hot_rate * s.hot_secs as f64).ceil() as usize).to_string(),
            "--duration".into(),
            format!("{}s", s.hot_secs),
            "--early-sign-in".into(),
            "true".into(),
        ],
        "fan-out" => vec![
            "--watchers".into(),
            s.fanout_watchers.to_string(),
            "--duration".into(),
            format!("{}s", s.fanout_secs),
        ],
        _ => vec!["--duration".into(), format!("{}s", s.soak_secs)],
    };
    let preset = scenario.strip_suffix("-room").unwrap_or(scenario);
    let mut all = vec!["--scenario".to_owned(), preset.to_owned()];
    all.extend(flags);
    all
}

pub(crate) async fn phase_scenarios(opts: &Options) -> Value {
    let mut out = json!({});
    for backend in &opts.scenario_backends {
        eprintln!("scenarios {}: starting", backend.name());
        out[backend.name()] = match scenarios_on(opts, *backend).await {
            Ok(v) => v,
            Err(e) => json!({ "error": e.to_string() }),
        };
    }
    out
}

async fn scenarios_on(opts: &Options, backend: Backend) -> Result<Value> {
    let db = ScratchDb::create(backend, opts).await?;
    let admin = [
        ("BOXOFFICE_ADMIN_EMAIL", ADMIN_EMAIL),
        ("BOXOFFICE_ADMIN_PASSWORD", PASSWORD),
    ];
    let instance = match Instance::start_with(&opts.server_bin, &db.url, None, &admin).await {
        Ok(i) => i,
        Err(e) => {
            db.remove().await;
            return Err(e);
        }
    };
    let result = scenarios_against(opts, &instance, &db.url).await;
    instance.stop().await;
    let audit = audit(&opts.server_bin, &db.url).await;
    db.remove().await;
    let mut result = result?;
    result["final_audit"] = audit;
    Ok(result)
}

async fn scenarios_against(opts: &Options, instance: &Instance, db_url: &str) -> Result<Value> {
    let c = client();
    let token = admin_token(&c, &instance.base).await?;
    let venue = create_venue(&c, &instance.base, &token).await?;
    let pid = instance
        .child
        .id()
        .ok_or_else(|| fail("the server has no pid"))?;
    let healthz = healthz_ceiling(opts, &instance.base).await;
    let mut runs = json!({});
    for scenario in &opts.scenarios {
        eprintln!("scenarios: {scenario}");
        let event = create_event(&c, &instance.base, &token, &venue, scenario).await?;
        if scenario.ends_with("-room") {
            let r = c
                .put(format!(
                    "{}/api/v1/admin/events/{event}/waiting-room",
                    instance.base
                ))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(ROOM)
                .send()
                .await?;
            if !r.status().is_success() {
                return Err(fail(format!("turning the waiting room on: {}", r.status())));
            }
            // Every instance picks the settings up within a second.
            tokio::time::sleep(Duration::from_millis(1_200)).await;
        }
        runs[scenario.as_str()] = run_scenario(opts, scenario, &instance.base, &event, db_url, pid)
            .await
            .unwrap_or_else(|e| json!({ "error": e.to_string() }));
    }
    Ok(json!({
        "seats_per_event": ROWS * SEATS_PER_ROW,
        "healthz_ceiling": healthz,
        "runs": runs,
    }))
}

/// The same server's trivial endpoint, under wrk when it is installed, else this tool's client.
async fn healthz_ceiling(opts: &Options, base: &str) -> Value {
    let url = format!("{base}/healthz");
    if let Some(wrk) = opts.wrk.as_deref().filter(|w| wrk_available(w)) {
        match run_wrk(wrk, &url, opts.read_concurrency, 5).await {
            Ok(v) => return json!({ "tool": "wrk", "per_second": v["requests_per_sec"] }),
            Err(e) => eprintln!("scenarios: wrk failed ({e}); using this tool's client"),
        }
    }
    let r = read_load(
        &client(),
        &url,
        opts.read_concurrency,
        Duration::from_secs(5),
    )
    .await;
    json!({ "tool": "measure", "per_second": round2(r.ok as f64 / r.seconds) })
}

async fn admin_token(c: &reqwest::Client, base: &str) -> Result<String> {
    admin_token_for(c, base, ADMIN_EMAIL).await
}

/// The server's resident memory, in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn run_scenario(
    opts: &Options,
    scenario: &str,
    base: &str,
    event: &str,
    db_url: &str,
    pid: u32,
) -> Result<Value> {
    let flags = rehearse_flags(scenario, &opts.scenario_sizes);
    let rss_before = rss_kib(pid);
    // Peak memory while the crowd is connected, sampled every 100 ms.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(rss_kib(pid).unwrap_or(0));
            tokio::select! {
                _ = stopped.changed() => return peak,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    });
    let meter = CpuMeter::start(&[pid]);
    let started = std::time::Instant::now();
    let output = rehearse(&opts.server_bin, base, event, db_url, &flags).await;
    let wall = started.elapsed();
    let cpu = meter.stop();
    let _ = stop.send(true);
    let peak = sampler.await.unwrap_or(0);
    let (status, report) = output?;
    let watchers = report["buyers"]["watchers"].as_u64().unwrap_or(0);
    let growth = rss_before.map(|before| peak.saturating_sub(before));
    // Only fan-out is watchers and little else: elsewhere the buyers' work dominates the growth.
    let per_watcher = match growth {
        Some(g) if scenario == "fan-out" && watchers > 0 => {
            json!(round2(g as f64 / watchers as f64))
        }
        _ => Value::Null,
    };
    let memory = json!({
        "rss_before_kib": rss_before,
        "rss_peak_kib": peak,
        "growth_kib": growth,
        "per_watcher_kib": per_watcher,
    });
    Ok(json!({
        "command": format!("boxoffice rehearse --target {base} --event <id> {} --json", flags.join(" ")),
        "exit_code": status,
        "wall_secs": round2(wall.as_secs_f64()),
        "cpu": cpu,
        "memory": memory,
        "report": summarise(&report),
    }))
}

/// Runs the rehearsal as an operator would, with the database given so that it audits at the end.
pub(super) async fn rehearse(
    bin: &Path,
    base: &str,
    event: &str,
    db_url: &str,
    flags: &[String],
) -> Result<(Option<i32>, Value)> {
    let mut command = tokio::process::Command::new(bin);
    command
        .arg("rehearse")
        .args(["--target", base, "--event", event, "--json", "--quiet"])
        .args(flags)
        .env("DATABASE_URL", db_url)
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    // Bounded whatever the flags: sign-in of a big crowd, the sale, the grace and the audit.
    let out = tokio::time::timeout(Duration::from_secs(1200), command.output())
        .await
        .map_err(|_| fail("the rehearsal did not end within 20 minutes"))??;
    let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        fail(format!(
            "the rehearsal printed no JSON report ({e}); exit {:?}; stderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ))
    })?;
    Ok((out.status.code(), report))
}

/// What BENCHMARKS.md needs from a rehearsal report; the plot data stays out.
fn summarise(r: &Value) -> Value {
    let step = |name: &str| {
        r["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["step"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "clean": r["clean"],
        "verdict": r["verdict"],
        "sale_secs": r["sale_secs"],
        "buyers": r["buyers"],
        "requests": r["requests"],
        "hold": step("hold"),
        "checkout": step("checkout"),
        "event": step("event"),
        "seats": step("seats"),
        "subscribe": step("subscribe"),
        "login": step("login"),
        "queue": step("queue"),
        "waiting_room": r["waiting_room"],
        "answers": r["answers"],
        "delivery": {
            "held": r["delivery"]["held"],
            "sold": r["delivery"]["sold"],
            "held_not_seen": r["delivery"]["held_not_seen"],
            "resyncs": r["delivery"]["resyncs"],
            "reconnects": r["delivery"]["reconnects"],
            "live_maps": r["delivery"]["live_maps"],
            "live_maps_converged": r["delivery"]["live_maps_converged"],
            "convergence_ms": r["delivery"]["convergence_ms"],
        },
        "seats_final": r["seats"],
        "audit_ok": r["audit"]["ok"],
    })
}

/// True when a backend or a scenario failed to run, or a rehearsal's verdict was not clean.
pub(crate) fn any_failure(s: &Value) -> bool {
    s.as_object().is_some_and(|backends| {
        backends.values().any(|b| {
            b.get("error").is_some()
                || b["runs"].as_object().is_some_and(|runs| {
                    runs.values()
                        .any(|r| r.get("error").is_some() || r["report"]["clean"] != true)
                })
        })
    })
}

fn f(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "-".into(),
    }
}

pub(crate) fn print_scenarios(s: &Value) {
    println!();
    println!(
        "e. rehearsals (boxoffice rehearse), each on a fresh {}-seat event",
        ROWS * SEATS_PER_ROW
    );
    let Some(backends) = s.as_object() else {
        return;
    };
    for (backend, b) in backends {
        if let Some(e) = b.get("error") {
            println!("  {backend}: failed: {e}");
            continue;
        }
        println!(
            "  {backend}: /healthz ceiling {} req/s ({}); final audit ok: {}",
            f(&b["healthz_ceiling"]["per_second"]),
            b["healthz_ceiling"]["tool"].as_str().unwrap_or("-"),
            b["final_audit"]["ok"]
        );
        println!(
            "  {:<11} {:>6} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8}",
            "scenario",
            "clean",
            "req/s",
            "holds/s",
            "hold p50",
            "hold p99",
            "refused99",
            "held p99",
            "sold p99",
            "sold",
            "5xx",
            "+RSS MiB",
            "KiB/watch"
        );
        let Some(runs) = b["runs"].as_object() else {
            continue;
        };
        for (name, run) in runs {
            if let Some(e) = run.get("error") {
                println!("  {name:<11} failed: {e}");
                continue;
            }
            let r = &run["report"];
            println!(
                "  {:<11} {:>6} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8}",
                name,
                r["clean"],
                f(&r["requests"]["per_second"]),
                f(&r["requests"]["holds_per_second"]),
                f(&r["hold"]["latency"]["p50_ms"]),
                f(&r["hold"]["latency"]["p99_ms"]),
                f(&r["hold"]["refused_latency"]["p99_ms"]),
                f(&r["delivery"]["held"]["p99_ms"]),
                f(&r["delivery"]["sold"]["p99_ms"]),
                format!(
                    "{}/{}",
                    r["seats_final"]["final_sold"], r["seats_final"]["total"]
                ),
                r["requests"]["server_errors"],
                f(&json!(
                    run["memory"]["growth_kib"].as_f64().map(|k| k / 1024.0)
                )),
                f(&run["memory"]["per_watcher_kib"]),
            );
            let room = &r["waiting_room"];
            if room.is_object() {
                println!(
                    "  {:<11} waiting room: {} joined, {} let in; in line p50 {} s, p99 {} s; status p99 {} ms; {} FIFO inversions; goodput {} orders/s; unfinished {}",
                    "",
                    room["joined"],
                    room["admitted"],
                    f(&json!(
                        room["queue_time"]["p50_ms"].as_f64().map(|m| m / 1000.0)
                    )),
                    f(&json!(
                        room["queue_time"]["p99_ms"].as_f64().map(|m| m / 1000.0)
                    )),
                    f(&r["queue"]["latency"]["p99_ms"]),
                    room["fifo_inversions"],
                    f(&room["goodput_orders_per_second"]),
                    r["buyers"]["visits"]["unfinished"],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flash_sale_through_the_room_is_the_flash_sale_preset_with_a_minute_to_finish() {
        let flags = rehearse_flags("flash-sale-room", &ScenarioSizes::default());
        let at = |name: &str| flags[flags.iter().position(|f| f == name).unwrap() + 1].clone();
        assert_eq!(at("--scenario"), "flash-sale");
        assert_eq!(at("--buyers"), "10000");
        assert_eq!(at("--grace"), "55s");
        let room: Value = serde_json::from_str(ROOM).unwrap();
        assert_eq!(room["enabled"], true);
    }

    #[test]
    fn the_hot_seat_run_asks_for_the_rate_times_the_duration_in_buyers() {
        let flags = rehearse_flags("hot-seat", &ScenarioSizes::default());
        let at = |name: &str| flags[flags.iter().position(|f| f == name).unwrap() + 1].clone();
        assert_eq!(at("--rate"), "1000");
        assert_eq!(at("--buyers"), "5000");
        assert_eq!(at("--scenario"), "hot-seat");
    }
}
