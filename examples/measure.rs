//! Measures a running boxoffice (or fresh ones it starts itself) over loopback:
//!
//! * `buy`: holds and checkouts per second with N concurrent buyers on distinct seats, with p50/p99
//!   latency of each; the demo event has only 512 seats, so a self-started run does several short
//!   rounds on fresh servers and audits each database afterwards.
//! * `read`: seat-map snapshot reads per second (`GET /api/v1/events/{id}/seats`) against the
//!   `/healthz` ceiling, with this tool's own client and, when installed, with `wrk`.
//! * `fanout`: time from a hold request to its arrival at N SSE and N WebSocket subscribers.
//!
//! ```text
//! cargo build --release --bins
//! cargo run --release --example measure -- [--target http://127.0.0.1:8080] [options]
//! ```
//! Run with `--help` for the options. Prints a table, then the same figures as JSON.
//! Every loop is bounded in count and time, and only loopback addresses are accepted.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::{io::AsyncBufReadExt, sync::watch};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const PASSWORD: &str = "measure-password-1";
const GOOD_CARD: &str = "4242424242424242";
/// Seats per account in the fan-out phase: below the default per-user limit of 8.
const HOLDS_PER_ACCOUNT: usize = 4;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

fn fail(msg: impl Into<String>) -> BoxError {
    msg.into().into()
}

// ------------------------------------------------------------------------------------------ options

const USAGE: &str = "\
measure: load and latency figures for boxoffice (loopback only)

USAGE: cargo run --release --example measure -- [OPTIONS]

  --target URL            measure this running server (http://127.0.0.1:PORT); without it, fresh
                          servers are started from --server-bin with a temporary SQLite database
  --server-bin PATH       server binary to start [target/release/boxoffice]
  --phases LIST           comma list of buy,read,fanout [buy,read,fanout]
  --buyers N              concurrent buyers, each with its own account [50]
  --rounds N              buy rounds, each on a fresh server (1 with --target) [5]
  --buy-secs S            time limit of one buy round [30]
  --read-concurrency N    concurrent readers [50]
  --read-secs S           duration of each read measurement [10]
  --wrk PATH|none         wrk binary for the read phase, or none [wrk, skipped if not installed]
  --subscribers N         SSE subscribers, then WebSocket subscribers [100]
  --holds N               holds per fan-out run [200]
  --spacing-ms LIST       comma list of gaps between holds, one fan-out run each [20]
  --json-out PATH         also write the JSON report to this file
";

#[derive(Debug, Clone)]
struct Options {
    target: Option<String>,
    server_bin: PathBuf,
    phases: Vec<String>,
    buyers: usize,
    rounds: usize,
    buy_secs: u64,
    read_concurrency: usize,
    read_secs: u64,
    wrk: Option<String>,
    subscribers: usize,
    holds: usize,
    spacings_ms: Vec<u64>,
    json_out: Option<PathBuf>,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut o = Options {
            target: None,
            server_bin: PathBuf::from("target/release/boxoffice"),
            phases: vec!["buy".into(), "read".into(), "fanout".into()],
            buyers: 50,
            rounds: 5,
            buy_secs: 30,
            read_concurrency: 50,
            read_secs: 10,
            wrk: Some("wrk".into()),
            subscribers: 100,
            holds: 200,
            spacings_ms: vec![20],
            json_out: None,
        };
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
            let mut value = || -> Result<String> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| fail(format!("{name} needs a value")))
            };
            fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T> {
                v.parse()
                    .map_err(|_| fail(format!("{name}: not a number: {v}")))
            }
            match name.as_str() {
                "--target" => o.target = Some(value()?.trim_end_matches('/').to_owned()),
                "--server-bin" => o.server_bin = PathBuf::from(value()?),
                "--phases" => {
                    o.phases = value()?.split(',').map(|s| s.trim().to_owned()).collect();
                    for p in &o.phases {
                        if !["buy", "read", "fanout"].contains(&p.as_str()) {
                            return Err(fail(format!("unknown phase {p}")));
                        }
                    }
                }
                "--buyers" => o.buyers = num(&name, value()?)?,
                "--rounds" => o.rounds = num(&name, value()?)?,
                "--buy-secs" => o.buy_secs = num(&name, value()?)?,
                "--read-concurrency" => o.read_concurrency = num(&name, value()?)?,
                "--read-secs" => o.read_secs = num(&name, value()?)?,
                "--wrk" => {
                    let v = value()?;
                    o.wrk = (v != "none").then_some(v);
                }
                "--subscribers" => o.subscribers = num(&name, value()?)?,
                "--holds" => o.holds = num(&name, value()?)?,
                "--spacing-ms" => {
                    o.spacings_ms = value()?
                        .split(',')
                        .map(|s| num(&name, s.trim().to_owned()))
                        .collect::<Result<_>>()?
                }
                "--json-out" => o.json_out = Some(PathBuf::from(value()?)),
                _ => return Err(fail(format!("unknown argument {arg}\n\n{USAGE}"))),
            }
        }
        // Bounds: this tool is for one machine's loopback, not a load generator for hire.
        o.buyers = o.buyers.clamp(1, 1000);
        o.rounds = o.rounds.clamp(1, 50);
        o.buy_secs = o.buy_secs.clamp(1, 300);
        o.read_concurrency = o.read_concurrency.clamp(1, 1000);
        o.read_secs = o.read_secs.clamp(1, 120);
        o.subscribers = o.subscribers.clamp(1, 2000);
        o.holds = o.holds.clamp(1, 2000);
        for s in &mut o.spacings_ms {
            *s = (*s).clamp(1, 5000);
        }
        if let Some(t) = &o.target {
            let host = t
                .strip_prefix("http://")
                .ok_or_else(|| {
                    fail("--target must be http://127.x.x.x:PORT or http://localhost:PORT")
                })?
                .split(['/', ':'])
                .next()
                .unwrap_or_default();
            if !(host.starts_with("127.") || host == "localhost" || t.starts_with("http://[::1]")) {
                return Err(fail("--target must be a loopback address"));
            }
        }
        Ok(o)
    }
}

// ------------------------------------------------------------------------------------------ server

/// A server under measurement: one this tool started (and stops), or the `--target`.
struct Server {
    base: String,
    child: Option<tokio::process::Child>,
    dir: Option<PathBuf>,
    database_url: Option<String>,
}

impl Server {
    async fn start(bin: &Path) -> Result<Server> {
        if !bin.exists() {
            return Err(fail(format!(
                "{} not found: build it first with `cargo build --release --bins`, or pass --target",
                bin.display()
            )));
        }
        let dir = std::env::temp_dir().join(format!(
            "boxoffice-measure-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let database_url = format!("sqlite://{}/bo.db", dir.display());
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut child = tokio::process::Command::new(bin)
            .env("BOXOFFICE_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", &database_url)
            .env("BOXOFFICE_DEMO", "true")
            .env_remove("REDIS_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| fail("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some((_, url)) = line.split_once("listening on ") {
                    return Ok::<_, BoxError>(Some(url.trim().trim_end_matches('/').to_owned()));
                }
            }
            Ok(None)
        })
        .await;
        let base = match found {
            Ok(Ok(Some(url))) => url,
            other => {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(fail(format!(
                    "the server did not print its address ({other:?}); its log:\n{log}"
                )));
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            base,
            child: Some(child),
            dir: Some(dir),
            database_url: Some(database_url),
        })
    }

    fn external(base: &str) -> Server {
        Server {
            base: base.to_owned(),
            child: None,
            dir: None,
            database_url: None,
        }
    }

    /// Stops a server this tool started (SIGTERM, then SIGKILL after 10 s), runs `boxoffice audit`
    /// on its database, and removes its files. Returns the audit's verdict.
    async fn stop(mut self, bin: &Path) -> Option<bool> {
        let mut child = self.child.take()?;
        if let Some(pid) = child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
        let audit = match &self.database_url {
            Some(url) => tokio::process::Command::new(bin)
                .arg("audit")
                .env("DATABASE_URL", url)
                .env_remove("REDIS_URL")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .ok()
                .map(|s| s.success()),
            None => None,
        };
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        audit
    }
}

async fn server_for(opts: &Options) -> Result<Server> {
    match &opts.target {
        Some(t) => Ok(Server::external(t)),
        None => Server::start(&opts.server_bin).await,
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
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `a - b` in milliseconds, negative when `a` came first.
fn signed_ms(a: Instant, b: Instant) -> f64 {
    if a >= b { ms(a - b) } else { -ms(b - a) }
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

fn fmt_ms(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0} ms"),
        Some(x) => format!("{x:.2} ms"),
        None => "-".into(),
    }
}

fn fmt_rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}/s")
    } else {
        format!("{x:.1}/s")
    }
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
        let k = if seats.len() >= 2 && rng.next().is_multiple_of(2) {
            2
        } else {
            1
        };
        let chosen: Vec<String> = seats.drain(..k).collect();
        let started = Instant::now();
        let response = c
            .post(format!("{base}/api/v1/events/{event}/holds"))
            .bearer_auth(&token)
            .json(&json!({"seat_ids": chosen}))
            .send()
            .await;
        let (status, body) = match response {
            Ok(r) => (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            ),
            Err(e) => {
                *t.errors.entry(format!("hold transport: {e}")).or_default() += 1;
                continue;
            }
        };
        let hold_ms = ms(started.elapsed());
        if status != 201 {
            *t.errors
                .entry(format!("hold {status} {}", error_code(&body)))
                .or_default() += 1;
            continue;
        }
        t.holds_ok += 1;
        t.hold_ms.push(hold_ms);
        let Some(hold_id) = body.pointer("/hold/id").and_then(Value::as_str) else {
            *t.errors.entry("hold without id".into()).or_default() += 1;
            continue;
        };
        let started = Instant::now();
        let response = c
            .post(format!("{base}/api/v1/holds/{hold_id}/checkout"))
            .bearer_auth(&token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"payment": {"method": "sandbox", "card_number": GOOD_CARD}}))
            .send()
            .await;
        let (status, body) = match response {
            Ok(r) => (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            ),
            Err(e) => {
                *t.errors
                    .entry(format!("checkout transport: {e}"))
                    .or_default() += 1;
                continue;
            }
        };
        let checkout_ms = ms(started.elapsed());
        if status == 201 && body.pointer("/order/status") == Some(&json!("paid")) {
            t.checkouts_ok += 1;
            t.seats_sold += k;
            t.checkout_ms.push(checkout_ms);
        } else {
            *t.errors
                .entry(format!("checkout {status} {}", error_code(&body)))
                .or_default() += 1;
        }
    }
    t
}

struct BuyRound {
    seconds: f64,
    seats_offered: usize,
    tally: Tally,
    audit_ok: Option<bool>,
    setup_seconds: f64,
}

async fn buy_round(opts: &Options) -> Result<BuyRound> {
    let setup = Instant::now();
    let server = server_for(opts).await?;
    let base: Arc<str> = server.base.clone().into();
    let c = client();
    let event: Arc<str> = pick_event(&c, &base).await?.into();
    let tokens = new_accounts(&c, &base, opts.buyers, "buyer").await?;
    let mut seats = free_seats(&c, &base, &event).await?;
    let mut rng = Rng::new();
    rng.shuffle(&mut seats);
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
    let audit_ok = server.stop(&opts.server_bin).await;
    Ok(BuyRound {
        seconds,
        seats_offered,
        tally,
        audit_ok,
        setup_seconds,
    })
}

async fn phase_buy(opts: &Options) -> Result<Value> {
    let rounds = if opts.target.is_some() {
        1
    } else {
        opts.rounds
    };
    let mut total = Tally::default();
    let mut seconds = 0.0;
    let mut per_round = Vec::new();
    for r in 0..rounds {
        eprintln!("buy: round {}/{rounds}", r + 1);
        let round = buy_round(opts).await?;
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
            "audit_ok": round.audit_ok,
        }));
        seconds += round.seconds;
        total.merge(round.tally);
    }
    let errors: usize = total.errors.values().sum();
    Ok(json!({
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
        "rounds_detail": per_round,
    }))
}

// ------------------------------------------------------------------------------------------ read

struct ReadResult {
    ok: usize,
    not_ok: usize,
    bytes: usize,
    seconds: f64,
    latency_ms: Vec<f64>,
}

/// `concurrency` loops GETting `url` until `duration` has passed.
async fn read_load(
    c: &reqwest::Client,
    url: &str,
    concurrency: usize,
    duration: Duration,
) -> ReadResult {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let c = c.clone();
            let url = url.to_owned();
            tokio::spawn(async move {
                let mut r = ReadResult {
                    ok: 0,
                    not_ok: 0,
                    bytes: 0,
                    seconds: 0.0,
                    latency_ms: Vec::new(),
                };
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match c.get(&url).send().await {
                        Ok(resp) => {
                            let good = resp.status().is_success();
                            let body = resp.bytes().await.map(|b| b.len());
                            match (good, body) {
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
            })
        })
        .collect();
    let mut total = ReadResult {
        ok: 0,
        not_ok: 0,
        bytes: 0,
        seconds: 0.0,
        latency_ms: Vec::new(),
    };
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
    Ok(json!({
        "command": format!("{wrk} {}", args.join(" ")),
        "requests": requests,
        "requests_per_sec": rps,
        "non_2xx": non_2xx,
        "socket_errors": if socket_errors.is_empty() { Value::Null } else { Value::from(socket_errors) },
        "p50_ms": percentiles.get("50"),
        "p99_ms": percentiles.get("99"),
    }))
}

fn wrk_available(wrk: &str) -> bool {
    std::process::Command::new(wrk)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!(((a / b) * 1000.0).round() / 1000.0),
        _ => Value::Null,
    }
}

async fn phase_read(opts: &Options) -> Result<Value> {
    let server = server_for(opts).await?;
    let base = server.base.clone();
    let result = async {
        let c = client();
        let event = pick_event(&c, &base).await?;
        let healthz = format!("{base}/healthz");
        let seats = format!("{base}/api/v1/events/{event}/seats");
        let duration = Duration::from_secs(opts.read_secs);
        let n = opts.read_concurrency;
        eprintln!("read: warm-up");
        read_load(&c, &seats, n, Duration::from_secs(1)).await;
        eprintln!("read: /healthz with this tool, {n} concurrent, {}s", opts.read_secs);
        let h = read_load(&c, &healthz, n, duration).await;
        eprintln!("read: /seats with this tool, {n} concurrent, {}s", opts.read_secs);
        let s = read_load(&c, &seats, n, duration).await;
        let mut out = json!({
            "concurrency": n,
            "seconds_each": opts.read_secs,
            "client": {
                "healthz": read_json(&h),
                "seats": read_json(&s),
                "seats_to_healthz_ratio": ratio(Some(s.ok as f64 / s.seconds), Some(h.ok as f64 / h.seconds)),
            },
        });
        match opts.wrk.as_deref() {
            Some(wrk) if wrk_available(wrk) => {
                eprintln!("read: /healthz with wrk");
                let wh = run_wrk(wrk, &healthz, n, opts.read_secs).await?;
                eprintln!("read: /seats with wrk");
                let ws = run_wrk(wrk, &seats, n, opts.read_secs).await?;
                let r = ratio(ws["requests_per_sec"].as_f64(), wh["requests_per_sec"].as_f64());
                let wrk_over_client = ratio(
                    ws["requests_per_sec"].as_f64(),
                    Some(s.ok as f64 / s.seconds),
                );
                out["wrk"] = json!({
                    "healthz": wh,
                    "seats": ws,
                    "seats_to_healthz_ratio": r,
                    "seats_wrk_to_client_ratio": wrk_over_client,
                });
            }
            Some(wrk) => {
                out["wrk"] = json!({"skipped": format!("{wrk} is not installed (apt-get install -y wrk)")});
            }
            None => out["wrk"] = json!({"skipped": "--wrk none"}),
        }
        Ok::<_, BoxError>(out)
    }
    .await;
    server.stop(&opts.server_bin).await;
    result
}

// ------------------------------------------------------------------------------------------ fanout

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

async fn subscribe_sse(
    url: String,
    mut sub: Subscriber,
    mut stop: watch::Receiver<bool>,
) -> Result<HashMap<String, Instant>> {
    let response = stream_client()
        .get(&url)
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
            _ = stop.changed() => break,
            chunk = body.next() => {
                let Some(chunk) = chunk else { break };
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
    Ok(sub.seen)
}

async fn subscribe_ws(
    url: String,
    mut sub: Subscriber,
    mut stop: watch::Receiver<bool>,
) -> Result<HashMap<String, Instant>> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            message = socket.next() => {
                let Some(message) = message else { break };
                let message = message?;
                let at = Instant::now();
                if message.is_text() {
                    sub.handle(message.to_text()?, at);
                } else if message.is_close() {
                    break;
                }
            }
        }
    }
    let _ = socket.close(None).await;
    Ok(sub.seen)
}

struct HoldSent {
    seat: String,
    sent: Instant,
    answered: Instant,
    status: u16,
}

async fn fanout_run(opts: &Options, transport: Transport, spacing_ms: u64) -> Result<Value> {
    let server = server_for(opts).await?;
    let base = server.base.clone();
    let result = fanout_on(opts, &base, transport, spacing_ms).await;
    server.stop(&opts.server_bin).await;
    result
}

async fn fanout_on(
    opts: &Options,
    base: &str,
    transport: Transport,
    spacing_ms: u64,
) -> Result<Value> {
    let c = client();
    let event = pick_event(&c, base).await?;
    let free = free_seats(&c, base, &event).await?;
    let n = opts.holds.min(free.len());
    if n == 0 {
        return Err(fail("no free seat left for the fan-out run"));
    }
    let seats: Vec<String> = free.into_iter().take(n).collect();
    let accounts = new_accounts(&c, base, n.div_ceil(HOLDS_PER_ACCOUNT), "fan").await?;
    let targets: Arc<HashSet<String>> = Arc::new(seats.iter().cloned().collect());
    let ready = Arc::new(AtomicUsize::new(0));
    let seen_total = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let ws_base = base.replacen("http://", "ws://", 1);
    eprintln!(
        "fanout: {} {} subscribers, {n} holds {spacing_ms} ms apart",
        opts.subscribers,
        transport.name()
    );
    let subscribers: Vec<_> = (0..opts.subscribers)
        .map(|_| {
            let sub = Subscriber {
                targets: targets.clone(),
                seen: HashMap::new(),
                snapshot: false,
                ready: ready.clone(),
                seen_total: seen_total.clone(),
            };
            match transport {
                Transport::Sse => tokio::spawn(subscribe_sse(
                    format!("{base}/api/v1/events/{event}/stream"),
                    sub,
                    stop_rx.clone(),
                )),
                Transport::WebSocket => tokio::spawn(subscribe_ws(
                    format!("{ws_base}/api/v1/events/{event}/ws"),
                    sub,
                    stop_rx.clone(),
                )),
            }
        })
        .collect();
    let connect_deadline = Instant::now() + Duration::from_secs(30);
    while ready.load(Ordering::SeqCst) < opts.subscribers {
        if Instant::now() > connect_deadline || subscribers.iter().any(|s| s.is_finished()) {
            let _ = stop_tx.send(true);
            return Err(fail(format!(
                "only {} of {} subscribers got their snapshot",
                ready.load(Ordering::SeqCst),
                opts.subscribers
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Warm the holder's connections, then let the subscribers settle.
    let _ = c.get(format!("{base}/healthz")).send().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let start = tokio::time::Instant::now();
    let holders: Vec<_> = seats
        .iter()
        .enumerate()
        .map(|(i, seat)| {
            let c = c.clone();
            let url = format!("{base}/api/v1/events/{event}/holds");
            let token = accounts[i % accounts.len()].clone();
            let seat = seat.clone();
            let at = start + Duration::from_millis(spacing_ms * i as u64);
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let sent = Instant::now();
                let status = match c
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"seat_ids": [seat]}))
                    .send()
                    .await
                {
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
    let ok: Vec<&HoldSent> = sent.iter().filter(|h| h.status == 201).collect();
    let expected = ok.len() * opts.subscribers;
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    while seen_total.load(Ordering::SeqCst) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_tx.send(true);
    let mut seen_by = Vec::new();
    let mut subscriber_errors = 0;
    for s in subscribers {
        match s.await {
            Ok(Ok(seen)) => seen_by.push(seen),
            _ => subscriber_errors += 1,
        }
    }

    let mut from_send = Vec::new();
    let mut from_response = Vec::new();
    let mut all_from_send = Vec::new();
    let mut all_from_response = Vec::new();
    let mut delivered = 0usize;
    for h in &ok {
        let mut last: Option<Instant> = None;
        let mut everyone = true;
        for seen in &seen_by {
            match seen.get(&h.seat) {
                Some(&at) => {
                    delivered += 1;
                    from_send.push(signed_ms(at, h.sent));
                    from_response.push(signed_ms(at, h.answered));
                    last = Some(last.map_or(at, |l| l.max(at)));
                }
                None => everyone = false,
            }
        }
        if let (Some(last), true) = (last, everyone) {
            all_from_send.push(signed_ms(last, h.sent));
            all_from_response.push(signed_ms(last, h.answered));
        }
    }
    let hold_ms: Vec<f64> = ok.iter().map(|h| ms(h.answered - h.sent)).collect();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for h in sent.iter().filter(|h| h.status != 201) {
        *refused.entry(h.status.to_string()).or_default() += 1;
    }
    Ok(json!({
        "transport": transport.name(),
        "subscribers": opts.subscribers,
        "subscriber_errors": subscriber_errors,
        "holds_sent": sent.len(),
        "holds_ok": ok.len(),
        "holds_refused": refused,
        "spacing_ms": spacing_ms,
        "deliveries_expected": ok.len() * seen_by.len(),
        "deliveries": delivered,
        "hold_request_latency": latency(&hold_ms),
        "from_request_sent": latency(&from_send),
        "from_response_received": latency(&from_response),
        "all_subscribers_from_request_sent": latency(&all_from_send),
        "all_subscribers_from_response_received": latency(&all_from_response),
    }))
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
        "loadavg_at_start": read_file("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "git": command_output("git", &["describe", "--always", "--dirty"]),
        "date_utc": command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
    })
}

fn print_table(report: &Value) {
    let m = &report["machine"];
    println!();
    println!(
        "machine: {} cores, {} GiB, {}, {}; load at start {}; git {}",
        m["nproc"],
        m["memory_gib"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["os"].as_str().unwrap_or("?"),
        m["loadavg_at_start"].as_str().unwrap_or("?"),
        m["git"].as_str().unwrap_or("?")
    );
    println!("server: {}", report["server"].as_str().unwrap_or("?"));
    for phase in ["buy", "read", "fanout"] {
        if let Some(e) = report.get(phase).and_then(|v| v.get("error")) {
            println!();
            println!("{phase}: FAILED: {}", e.as_str().unwrap_or("?"));
        }
    }
    if let Some(b) = report.get("buy").filter(|b| b.get("error").is_none()) {
        println!();
        println!(
            "a. purchases: {} buyers on distinct seats, {} round(s){}",
            b["buyers"],
            b["rounds"],
            if b["fresh_server_per_round"] == true {
                " on fresh servers (512-seat demo event each)"
            } else {
                ""
            }
        );
        println!("  {:<34} {:>12} {:>12} {:>12}", "", "rate", "p50", "p99");
        println!(
            "  {:<34} {:>12} {:>12} {:>12}",
            "holds",
            fmt_rate(b["holds_per_sec"].as_f64().unwrap_or(0.0)),
            fmt_ms(&b["hold_latency"]["p50_ms"]),
            fmt_ms(&b["hold_latency"]["p99_ms"])
        );
        println!(
            "  {:<34} {:>12} {:>12} {:>12}",
            "checkouts (paid orders)",
            fmt_rate(b["checkouts_per_sec"].as_f64().unwrap_or(0.0)),
            fmt_ms(&b["checkout_latency"]["p50_ms"]),
            fmt_ms(&b["checkout_latency"]["p99_ms"])
        );
        println!(
            "  {:<34} {:>12}",
            "holds + checkouts",
            fmt_rate(b["holds_plus_checkouts_per_sec"].as_f64().unwrap_or(0.0))
        );
        println!(
            "  {:<34} {:>12}",
            "seats sold",
            fmt_rate(b["seats_sold_per_sec"].as_f64().unwrap_or(0.0))
        );
        println!(
            "  totals: {} holds, {} paid orders, {} seats in {} s measured; {} errors {}",
            b["holds_ok"],
            b["checkouts_ok"],
            b["seats_sold"],
            b["measured_seconds"],
            b["errors_total"],
            b["errors"]
        );
        let audits: Vec<String> = b["rounds_detail"]
            .as_array()
            .map(|rs| rs.iter().map(|r| r["audit_ok"].to_string()).collect())
            .unwrap_or_default();
        println!(
            "  boxoffice audit after each round: [{}]",
            audits.join(", ")
        );
    }
    if let Some(r) = report.get("read").filter(|r| r.get("error").is_none()) {
        println!();
        println!(
            "b. reads: {} concurrent, {} s each",
            r["concurrency"], r["seconds_each"]
        );
        println!("  {:<34} {:>12} {:>12} {:>12}", "", "rate", "p50", "p99");
        for (label, v) in [
            ("GET /healthz (this tool)", &r["client"]["healthz"]),
            ("GET /seats (this tool)", &r["client"]["seats"]),
        ] {
            println!(
                "  {:<34} {:>12} {:>12} {:>12}",
                label,
                fmt_rate(v["requests_per_sec"].as_f64().unwrap_or(0.0)),
                fmt_ms(&v["latency"]["p50_ms"]),
                fmt_ms(&v["latency"]["p99_ms"])
            );
        }
        println!(
            "  seats/healthz (this tool): {}",
            r["client"]["seats_to_healthz_ratio"]
        );
        if r["wrk"].get("skipped").is_some() {
            println!("  wrk: skipped: {}", r["wrk"]["skipped"]);
        } else {
            for (label, v) in [
                ("GET /healthz (wrk)", &r["wrk"]["healthz"]),
                ("GET /seats (wrk)", &r["wrk"]["seats"]),
            ] {
                println!(
                    "  {:<34} {:>12} {:>12} {:>12}",
                    label,
                    fmt_rate(v["requests_per_sec"].as_f64().unwrap_or(0.0)),
                    fmt_ms(&v["p50_ms"]),
                    fmt_ms(&v["p99_ms"])
                );
            }
            println!(
                "  seats/healthz (wrk): {}; /seats wrk/this tool: {}",
                r["wrk"]["seats_to_healthz_ratio"], r["wrk"]["seats_wrk_to_client_ratio"]
            );
        }
    }
    if let Some(runs) = report.get("fanout").and_then(Value::as_array) {
        println!();
        println!("c. live fan-out: hold → arrival at every subscriber (ms; p50 / p99 / max)");
        println!(
            "  {:<10} {:>5} {:>6} {:>12} {:>22} {:>22} {:>22}",
            "transport",
            "subs",
            "gap",
            "delivered",
            "from request sent",
            "from response",
            "last subscriber"
        );
        for run in runs {
            let trio = |v: &Value| {
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    v["p50_ms"].as_f64().unwrap_or(f64::NAN),
                    v["p99_ms"].as_f64().unwrap_or(f64::NAN),
                    v["max_ms"].as_f64().unwrap_or(f64::NAN)
                )
            };
            println!(
                "  {:<10} {:>5} {:>4}ms {:>12} {:>22} {:>22} {:>22}",
                run["transport"].as_str().unwrap_or("?"),
                run["subscribers"].as_u64().unwrap_or(0),
                run["spacing_ms"].as_u64().unwrap_or(0),
                format!("{}/{}", run["deliveries"], run["deliveries_expected"]),
                trio(&run["from_request_sent"]),
                trio(&run["from_response_received"]),
                trio(&run["all_subscribers_from_request_sent"]),
            );
        }
        println!(
            "  (\"last subscriber\": per hold, when the last of the subscribers had it, from the request)"
        );
    }
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
        "server": match &opts.target {
            Some(t) => format!("--target {t}"),
            None => format!("{} started per phase/round with a fresh SQLite database in a temp dir", opts.server_bin.display()),
        },
    });
    let mut failed = false;
    // Order: reads first and buys last, so a shared --target still has seats for each phase.
    for phase in ["read", "fanout", "buy"] {
        if !opts.phases.iter().any(|p| p == phase) {
            continue;
        }
        let outcome = match phase {
            "read" => phase_read(&opts).await,
            "fanout" => phase_fanout(&opts).await,
            _ => phase_buy(&opts).await,
        };
        match outcome {
            Ok(v) => report[phase] = v,
            Err(e) => {
                eprintln!("measure: phase {phase} failed: {e}");
                report[phase] = json!({"error": e.to_string()});
                failed = true;
            }
        }
    }
    report["machine"]["loadavg_at_end"] = json!(
        read_file("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
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
