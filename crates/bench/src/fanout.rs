//! The `fanout` phase, and the subscribers and hold timings `cross` shares with it: SSE or
//! WebSocket subscribers, one-seat holds at a fixed spacing, and each hold's arrival at each.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use boxoffice_testkit::sse::SseParser;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::{
    Result,
    client::{client, free_seats, new_accounts, pick_event, stream_client},
    cpu::CpuMeter,
    databases::{Backend, seat_update_times},
    fail,
    options::Options,
    servers::Deployment,
    stats::{WallClock, count, latency, ms, signed_ms},
};

/// Seats per account in the fan-out phases: below the default per-user limit of 8.
const HOLDS_PER_ACCOUNT: usize = 4;
/// How long the fan-out phases wait for the last deliveries after the last hold. The server's
/// reconciler heals a lost message within about a second, so anything later counts as missed.
const DRAIN: Duration = Duration::from_secs(10);
/// Subscribers connecting at once: a thousand simultaneous handshakes would measure the accept
/// queue, not the fan-out.
const CONNECT_CONCURRENCY: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Sse,
    WebSocket,
}

impl Transport {
    pub(crate) fn name(self) -> &'static str {
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
    let mut frames = SseParser::default();
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            chunk = body.next() => {
                let Some(chunk) = chunk else {
                    return Err(fail("the server ended the SSE stream"));
                };
                let chunk = chunk?;
                let at = Instant::now();
                for (_, data) in frames.push(&chunk) {
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
pub(crate) struct FanoutPlan<'a> {
    pub(crate) watch_base: &'a str,
    pub(crate) hold_base: &'a str,
    pub(crate) transports: Vec<Transport>,
    pub(crate) holds: usize,
    pub(crate) spacing_ms: u64,
    pub(crate) database_url: Option<&'a str>,
    /// The servers' process ids, for the CPU meter.
    pub(crate) server_pids: Vec<u32>,
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
        if let Some(done) = handles
            .iter()
            .position(tokio::task::JoinHandle::is_finished)
        {
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

pub(crate) async fn measure_fanout(plan: &FanoutPlan<'_>) -> Result<Value> {
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

pub(crate) async fn phase_fanout(opts: &Options) -> Result<Value> {
    let mut runs = Vec::new();
    for &spacing in &opts.spacings_ms {
        for transport in [Transport::Sse, Transport::WebSocket] {
            runs.push(fanout_run(opts, transport, spacing).await?);
        }
    }
    Ok(Value::Array(runs))
}
