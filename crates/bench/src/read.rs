//! The `read` phase: seat-map snapshot reads per second beside the `/healthz` ceiling, with this
//! tool's own client and with `wrk` when it is installed.

use std::{
    collections::BTreeMap,
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    Result,
    client::{client, pick_event},
    cpu::CpuMeter,
    databases::Backend,
    fail,
    options::Options,
    servers::Deployment,
    stats::{latency, ms, ratio, round2},
};

#[derive(Default)]
pub(crate) struct ReadResult {
    pub(crate) ok: usize,
    pub(crate) not_ok: usize,
    pub(crate) bytes: usize,
    pub(crate) seconds: f64,
    pub(crate) latency_ms: Vec<f64>,
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

/// `concurrency` readers sending `GET url` until `duration` has passed.
pub(crate) async fn read_load(
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

pub(crate) async fn run_wrk(wrk: &str, url: &str, concurrency: usize, secs: u64) -> Result<Value> {
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

pub(crate) fn wrk_available(wrk: &str) -> bool {
    std::process::Command::new(wrk)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

pub(crate) async fn phase_read(opts: &Options) -> Result<Value> {
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
