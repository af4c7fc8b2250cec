//! Runs a rehearsal: finds the event, opens the watchers' maps, signs the crowd in if it waits
//! for the opening, lets buyers arrive on schedule, stops them when the time is up, then checks
//! what they were told against the final state and assembles the report.

use std::{
    collections::HashMap,
    io::IsTerminal,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use futures_util::{StreamExt, stream};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::Method;
use tokio::{task::JoinSet, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{
    api::Api,
    arrivals::schedule,
    bots::Army,
    buyer::{Crowd, Settled, buyer_email, follow_payment, record_paid, sign_in, visit},
    cluster::{ChaosLog, Cluster, ClusterSpec, ClusterSummary, run_chaos},
    feed::{FeedMessage, LiveMap, parse_message},
    options::check_target,
    record::{Confirming, Recorder, Step, Visit},
    report::{Inputs, Report, Seats, assemble},
    scaling::run_scaling,
    scenario::Plan,
    seats::Chart,
    stream::{LiveView, follow},
    verdict::{Observations, OrderReadBack, judge},
};
use boxoffice_domain::seat::SeatState;

/// Everything a rehearsal needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: String,
    pub plan: Plan,
    pub event_id: Option<String>,
    /// After the arrivals, how long buyers still buying may finish.
    pub grace: Duration,
    pub allow_remote: bool,
    pub progress: bool,
    /// When set, `boxoffice audit` runs on this database at the end.
    pub audit_database_url: Option<String>,
    /// Start a local cluster and rehearse against it instead of `target` (its database is
    /// audited at the end).
    pub cluster: Option<ClusterSpec>,
}

const WATCHERS_READY: Duration = Duration::from_secs(15);
const SIGN_IN_LIMIT: Duration = Duration::from_secs(120);
const SIGN_IN_CONCURRENCY: usize = 8;
/// The design's promise: every map converges within 2 s; allow a little more.
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(3);
const READ_BACK_CONCURRENCY: usize = 8;
/// Orders not read back by then count as missing their tickets: unconfirmed is not confirmed.
const READ_BACK_LIMIT: Duration = Duration::from_secs(120);

/// Every live map whose stream ended must be live again within this (issue 13's 5 s).
const RESYNC_LIMIT_MS: f64 = 5000.0;

/// After the sale, how long payments still confirming are waited for at most.
const CONFIRMING_LIMIT: Duration = Duration::from_secs(20);

pub async fn rehearse(options: Options) -> anyhow::Result<Report> {
    let Some(spec) = options.cluster.clone() else {
        return rehearse_on(options, None).await;
    };
    let cluster = Arc::new(Cluster::start(&spec, options.progress).await?);
    let result = rehearse_on(options, Some((cluster.clone(), spec.chaos))).await;
    // Keep the instances' logs when something went wrong, to find out what.
    let keep_logs = !result.as_ref().is_ok_and(|r| r.clean);
    cluster.shut_down(keep_logs).await;
    result
}

async fn rehearse_on(
    mut options: Options,
    cluster: Option<(Arc<Cluster>, bool)>,
) -> anyhow::Result<Report> {
    let recorder = Arc::new(Recorder::new());
    let (target, api) = match &cluster {
        Some((c, _)) => {
            options.audit_database_url = Some(c.database_url.clone());
            (c.bases[0].clone(), Api::over(&c.bases, recorder.clone())?)
        }
        None => {
            let target =
                check_target(&options.target, options.allow_remote).map_err(|e| anyhow!(e))?;
            let api = Api::new(&target, recorder.clone())?;
            (target, api)
        }
    };
    let plan = options.plan.clone();
    let event_id = find_event(&api, options.event_id.as_deref()).await?;
    let event = api
        .call(
            Step::Event,
            Method::GET,
            &format!("/api/v1/events/{event_id}"),
            None,
            None,
            None,
        )
        .await
        .filter(|r| r.is(200))
        .context("reading the event")?;
    let chart =
        Arc::new(Chart::from_layout(&event.body["event"]["layout"]).map_err(|e| anyhow!(e))?);
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let arrivals = schedule(
        plan.arrival,
        plan.buyers,
        plan.rate,
        plan.duration,
        &mut rng,
    );
    // With spread addresses, each buyer comes from its own; the driver's own reads do not.
    let crowd_api = if plan.spread_addresses {
        api.spreading()
    } else {
        api.clone()
    };
    let crowd = Arc::new(Crowd {
        api: crowd_api,
        chart: chart.clone(),
        event_id: event_id.clone(),
        plan: plan.clone(),
        run_id: format!("{:08x}", rng.random::<u32>()),
        stop: CancellationToken::new(),
        payment_method: if cluster.is_some() { "card" } else { "sandbox" },
    });

    // The first map is the progress line's own; the others are the passive watchers.
    let watchers_stop = CancellationToken::new();
    let views: Vec<Arc<LiveView>> = (0..=plan.watchers)
        .map(|_| Arc::new(LiveView::new(&chart, true)))
        .collect();
    for (n, view) in views.iter().enumerate() {
        tokio::spawn(follow(
            crowd.subscription(None, n),
            view.clone(),
            watchers_stop.clone(),
        ));
    }
    for view in &views {
        view.wait_for(WATCHERS_READY, |s| s.snapshots > 0).await;
    }

    // The bots start before the opening: a farm registers its accounts ahead of the sale.
    let army = plan.bots.any().then(|| {
        let victims = (0..arrivals.len())
            .take(plan.bots.guessers * 3)
            .map(|n| (n, buyer_email(&crowd.run_id, n)))
            .collect();
        Army::start(
            &api,
            chart.clone(),
            &event_id,
            &crowd.run_id,
            plan.bots,
            victims,
            plan.seed,
        )
    });
    let tokens = if plan.early_sign_in {
        sign_in_early(&crowd, arrivals.len(), options.progress).await
    } else {
        Vec::new()
    };
    let signed_in_early = tokens.iter().flatten().count();

    let opened_at = recorder.now();
    if let Some(army) = &army {
        army.open();
    }
    let chaos_stop = CancellationToken::new();
    let chaos = match &cluster {
        Some((c, true)) => Some(tokio::spawn(run_chaos(
            c.clone(),
            recorder.clone(),
            plan.duration,
            plan.seed,
            options.progress,
            chaos_stop.clone(),
        ))),
        _ => None,
    };
    let scaling = match &cluster {
        Some((c, _)) if !c.scale.is_empty() => Some(tokio::spawn(run_scaling(
            c.clone(),
            recorder.clone(),
            event_id.clone(),
            c.scale.clone(),
            options.progress,
            chaos_stop.clone(),
        ))),
        _ => None,
    };
    let arrived = run_sale(&crowd, &arrivals, tokens, &mut rng, &views[0], &options).await;
    let load_end = recorder.now();
    crowd.stop.cancel();
    let bots = match army {
        Some(army) => {
            let honest_rate_limited = recorder
                .lock()
                .outcomes
                .iter()
                .filter(|(o, _)| o.status == 429)
                .map(|(_, n)| *n)
                .sum();
            Some(army.finish(opened_at, load_end, honest_rate_limited).await)
        }
        None => None,
    };
    // No new fault from here; the one under way heals before the checks.
    chaos_stop.cancel();
    let chaos = match chaos {
        Some(task) => task.await.context("the chaos task")?,
        None => ChaosLog::default(),
    };
    let scaling = match scaling {
        Some(task) => Some(task.await.context("the scaling task")?),
        None => None,
    };
    settle_confirming(&crowd, options.grace.min(CONFIRMING_LIMIT)).await;

    let (differences, convergence, fresh) = converge(&api, &chart, &event_id, &views).await;
    watchers_stop.cancel();
    read_back_orders(&api).await;
    let audit = match &options.audit_database_url {
        Some(url) => Some(run_audit(url).await?),
        None => None,
    };

    let records = recorder.lock();
    let server_errors: u64 = records
        .outcomes
        .iter()
        .filter(|(o, _)| o.status >= 500 && o.status != 503)
        .map(|(_, n)| *n)
        .sum();
    // A 5xx while an instance or Redis was down is reported apart, not hidden: it stays in the
    // answers, and in the cluster's figures.
    let during_chaos = records
        .server_error_times
        .iter()
        .filter(|at| chaos.during(**at))
        .count() as u64;
    let server_errors = server_errors.saturating_sub(during_chaos);
    let final_map = fresh
        .as_ref()
        .map(|(_, states)| states.clone())
        .unwrap_or_default();
    let observations = Observations {
        holds: records.holds.clone(),
        orders: records.orders.clone(),
        replays: records.replays.clone(),
        map_differences: differences.clone(),
        final_states: final_map,
        server_errors,
        audit_violations: audit
            .as_ref()
            .map(|a| a["violations"].as_u64().unwrap_or(1)),
    };
    let verdict = judge(&observations);
    let delivery = delivery_latencies(&records, &views);
    let final_counts = |state| fresh.as_ref().map_or(0, |(m, _)| m.count(state));
    let counters = &recorder.counters;
    let cluster_summary = cluster.as_ref().map(|(c, _)| {
        let psp = c.psp_stats().unwrap_or_default();
        ClusterSummary {
            failovers: counters.failovers.load(Ordering::Relaxed),
            server_errors_during_chaos: during_chaos,
            payments_confirming: records.confirming_seen,
            payments_pending_at_end: records.confirming.len() as u64,
            psp_requests: psp.requests,
            psp_injected_errors: psp.injected_errors,
            psp_injected_timeouts: psp.injected_timeouts,
            psp_webhooks_dropped: psp.webhooks_dropped,
            psp_webhooks_delivered: psp.webhooks_delivered,
            ..c.describe()
        }
    });
    let mut report = assemble(Inputs {
        target,
        event_id,
        plan,
        records: &records,
        verdict,
        opened_at: opened_at.as_secs_f64(),
        sale_secs: (load_end - opened_at).as_secs_f64(),
        planned: arrivals.len(),
        arrived,
        signed_in_early,
        held_latencies: delivery.held,
        sold_latencies: delivery.sold,
        before_response: delivery.before_response,
        held_not_seen: delivery.held_not_seen,
        resyncs: counters.resyncs.load(Ordering::Relaxed),
        reconnects: counters.reconnects.load(Ordering::Relaxed),
        live_maps: views.len(),
        live_maps_converged: differences.iter().filter(|d| **d == 0).count(),
        convergence_ms: convergence.map(|d| d.as_secs_f64() * 1000.0),
        seats: Seats {
            total: chart.len(),
            sold_to_the_crowd: records.sales.len() as u64,
            final_available: final_counts(SeatState::Available),
            final_held: final_counts(SeatState::Held),
            final_sold: final_counts(SeatState::Sold),
        },
        audit,
    });
    report.chaos = chaos.events;
    report.bots = bots;
    report.scaling = scaling.map(|mut s| {
        let gaps: Vec<f64> = records
            .reconnect_gaps
            .iter()
            .map(|g| g.as_secs_f64() * 1000.0)
            .collect();
        let summary = super::stats::Summary::of(&gaps);
        s.reconnects = gaps.len() as u64;
        s.reconnect_gap_p99_ms = summary.p99_ms;
        s.reconnect_gap_max_ms = summary.max_ms;
        s.ok = summary.max_ms <= RESYNC_LIMIT_MS
            && s.stale_seats_on_new_instances == 0
            && !s.events.iter().any(|e| e.kind.ends_with("_failed"));
        s
    });
    report.cluster = cluster_summary;
    Ok(report)
}

/// Follows the payments buyers were told are confirming until each is final, or `limit`.
async fn settle_confirming(crowd: &Crowd, limit: Duration) {
    let api = &crowd.api;
    let deadline = Instant::now() + limit;
    loop {
        let waiting: Vec<(String, Confirming)> = api
            .recorder
            .lock()
            .confirming
            .iter()
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect();
        if waiting.is_empty() || Instant::now() >= deadline {
            return;
        }
        for (id, c) in waiting {
            let settled = follow_payment(api, &id, &c.token, &c.seats).await;
            if matches!(settled, Settled::Pending) {
                continue;
            }
            api.recorder.lock().confirming.remove(&id);
            match settled {
                Settled::Paid {
                    order_id,
                    seats,
                    at,
                    ..
                } => record_paid(&crowd.chart, api, c.hold, &order_id, &seats, &c.token, at),
                Settled::HoldLost => api.recorder.update_hold(c.hold, |h| h.lost = true),
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The given event, or the first listed with seats available (else the first).
async fn find_event(api: &Api, wanted: Option<&str>) -> anyhow::Result<String> {
    if let Some(id) = wanted {
        return Ok(id.to_owned());
    }
    let list = api
        .call(Step::Event, Method::GET, "/api/v1/events", None, None, None)
        .await
        .filter(|r| r.is(200))
        .context("listing the events: is the target a boxoffice server?")?;
    let events = list.body["events"].as_array().cloned().unwrap_or_default();
    let open = events
        .iter()
        .find(|e| e["seats_available"].as_u64().is_some_and(|n| n > 0));
    match open.or(events.first()).and_then(|e| e["id"].as_str()) {
        Some(id) => Ok(id.to_owned()),
        None => bail!("the target lists no events"),
    }
}

/// Signs in `count` buyers before the opening, a few at a time; slots left `None` sign in on
/// arrival (the time limit keeps a slow server from holding the whole run).
async fn sign_in_early(crowd: &Arc<Crowd>, count: usize, progress: bool) -> Vec<Option<String>> {
    let deadline = Instant::now() + SIGN_IN_LIMIT;
    let mut tokens = vec![None; count];
    let mut done = stream::iter(0..count)
        .map(|n| {
            let crowd = crowd.clone();
            async move { (n, sign_in(&crowd, n).await) }
        })
        .buffer_unordered(SIGN_IN_CONCURRENCY);
    let mut finished = 0;
    while let Ok(Some((n, token))) = tokio::time::timeout_at(deadline, done.next()).await {
        tokens[n] = token;
        finished += 1;
        if progress && (finished % 25 == 0 || finished == count) {
            // In place on a terminal; in a log, one line per 25 sign-ins is enough.
            if std::io::stderr().is_terminal() {
                eprint!("\rsigning the crowd in before the opening: {finished}/{count}\x1b[K");
            } else {
                eprintln!("signing the crowd in before the opening: {finished}/{count}");
            }
        }
    }
    if progress && std::io::stderr().is_terminal() {
        eprintln!();
    }
    tokens
}

/// Lets buyers arrive on schedule; returns how many arrived. Stops them all at the end of the
/// grace period.
async fn run_sale(
    crowd: &Arc<Crowd>,
    arrivals: &[Duration],
    mut tokens: Vec<Option<String>>,
    rng: &mut StdRng,
    monitor: &LiveView,
    options: &Options,
) -> u64 {
    let start = Instant::now();
    let deadline = start + crowd.plan.duration + options.grace;
    let mut buyers = JoinSet::new();
    let mut next = 0;
    let mut progress = Progress::new(options.progress);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        let due = arrivals.get(next).map(|t| start + *t);
        if due.is_none() && buyers.is_empty() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(due.unwrap_or(deadline)), if due.is_some() => {
                let intent = crowd.plan.intent(rng);
                let token = tokens.get_mut(next).and_then(Option::take);
                crowd.api.recorder.counters.arrived.fetch_add(1, Ordering::Relaxed);
                buyers.spawn(visit(crowd.clone(), next, intent, token, rng.random()));
                next += 1;
            }
            Some(_) = buyers.join_next(), if !buyers.is_empty() => {}
            _ = tick.tick() => progress.show(crowd, arrivals.len(), start, monitor),
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let unfinished = buyers.len();
    buyers.abort_all();
    while buyers.join_next().await.is_some() {}
    if unfinished > 0 {
        *crowd
            .api
            .recorder
            .lock()
            .visits
            .entry(Visit::Unfinished)
            .or_default() += unfinished as u64;
    }
    progress.finish(crowd, arrivals.len(), start, monitor);
    crowd.api.recorder.counters.arrived.load(Ordering::Relaxed)
}

/// The live line on stderr: overwritten in place on a terminal, a line every few seconds
/// otherwise (logs).
struct Progress {
    enabled: bool,
    terminal: bool,
    last_requests: u64,
    last_at: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            terminal: std::io::stderr().is_terminal(),
            last_requests: 0,
            last_at: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn line(
        &mut self,
        crowd: &Crowd,
        planned: usize,
        start: Instant,
        monitor: &LiveView,
    ) -> String {
        let c = &crowd.api.recorder.counters;
        let requests = c.requests.load(Ordering::Relaxed);
        let rate =
            (requests - self.last_requests) as f64 / self.last_at.elapsed().as_secs_f64().max(1e-3);
        self.last_requests = requests;
        self.last_at = Instant::now();
        let (arrived, finished) = (
            c.arrived.load(Ordering::Relaxed),
            c.finished.load(Ordering::Relaxed),
        );
        let left = monitor.lock().map.count(SeatState::Available);
        format!(
            "[{:6.1}s] buyers {arrived}/{planned} ({} active)  holds {} (409: {})  sold {}  {rate:.0} req/s  errors {}  seats left {left}",
            start.elapsed().as_secs_f64(),
            arrived.saturating_sub(finished),
            c.holds.load(Ordering::Relaxed),
            c.refused.load(Ordering::Relaxed),
            c.paid_seats.load(Ordering::Relaxed),
            c.errors.load(Ordering::Relaxed),
        )
    }

    fn show(&mut self, crowd: &Crowd, planned: usize, start: Instant, monitor: &LiveView) {
        if !self.enabled || (!self.terminal && self.last_line.elapsed() < Duration::from_secs(5)) {
            return;
        }
        self.last_line = Instant::now();
        let line = self.line(crowd, planned, start, monitor);
        if self.terminal {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    }

    fn finish(&mut self, crowd: &Crowd, planned: usize, start: Instant, monitor: &LiveView) {
        if self.enabled {
            let line = self.line(crowd, planned, start, monitor);
            eprintln!("{}{line}", if self.terminal { "\r" } else { "" });
        }
    }
}

/// A fresh anonymous `/seats`: the map and seat id → state.
pub(super) async fn fresh_map(api: &Api, chart: &Chart, event_id: &str) -> Option<FreshMap> {
    let path = format!("/api/v1/events/{event_id}/seats");
    let reply = api
        .call(Step::Seats, Method::GET, &path, None, None, None)
        .await
        .filter(|r| r.is(200))?;
    let FeedMessage::Snapshot(seats) = parse_message(Some("snapshot"), &reply.body.to_string())
    else {
        return None;
    };
    let mut map = LiveMap::new(chart);
    map.apply_snapshot(chart, &seats);
    let states = seats
        .iter()
        .map(|s| (s.id.clone(), s.state.as_str().to_owned()))
        .collect();
    Some((map, states))
}

type FreshMap = (LiveMap, HashMap<String, String>);

/// Compares every live map with fresh `/seats` until all agree or the limit passes. Returns each
/// map's differing seats at the last comparison, how long agreement took, and the last fresh map.
async fn converge(
    api: &Api,
    chart: &Chart,
    event_id: &str,
    views: &[Arc<LiveView>],
) -> (Vec<usize>, Option<Duration>, Option<FreshMap>) {
    let started = Instant::now();
    let mut differences = vec![usize::MAX; views.len()];
    let mut last = None;
    while started.elapsed() < CONVERGENCE_LIMIT {
        if let Some(fresh) = fresh_map(api, chart, event_id).await {
            differences = views
                .iter()
                .map(|v| v.lock().map.differences(&fresh.0))
                .collect();
            last = Some(fresh);
            if differences.iter().all(|d| *d == 0) {
                return (differences, Some(started.elapsed()), last);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (differences, None, last)
}

/// Reads every paid order back with its buyer's token.
async fn read_back_orders(api: &Api) {
    let wanted: Vec<(usize, String, String)> = {
        let r = api.recorder.lock();
        r.orders
            .iter()
            .zip(&r.order_tokens)
            .enumerate()
            .map(|(i, (o, t))| (i, o.order_id.clone(), t.clone()))
            .collect()
    };
    let deadline = Instant::now() + READ_BACK_LIMIT;
    let results: Vec<(usize, Option<OrderReadBack>)> = stream::iter(wanted)
        .map(|(i, id, token)| async move {
            let path = format!("/api/v1/orders/{id}");
            let call = api.call(Step::Order, Method::GET, &path, Some(&token), None, None);
            let reply = tokio::time::timeout_at(deadline, call).await.ok().flatten();
            let back = reply.filter(|r| r.is(200)).map(|r| {
                let order = &r.body["order"];
                let strings = |v: &serde_json::Value| -> Vec<String> {
                    v.as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                OrderReadBack {
                    status: order["status"].as_str().unwrap_or_default().to_owned(),
                    seats: strings(&order["seat_ids"]),
                    ticket_seats: order["tickets"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|t| t["seat_id"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            });
            (i, back)
        })
        .buffer_unordered(READ_BACK_CONCURRENCY)
        .collect()
        .await;
    let mut r = api.recorder.lock();
    for (i, back) in results {
        r.orders[i].read_back = back;
    }
}

async fn run_audit(url: &str) -> anyhow::Result<serde_json::Value> {
    let db = boxoffice_store::connect(url, 1).await.with_context(|| {
        format!(
            "connecting to {} for the audit",
            boxoffice_store::redact(url)
        )
    })?;
    let report = boxoffice_store::audit::run(db.as_ref()).await;
    db.close().await;
    Ok(serde_json::to_value(report.context("running the audit")?)?)
}

#[derive(Default)]
struct DeliveryLatencies {
    held: Vec<f64>,
    sold: Vec<f64>,
    before_response: u64,
    held_not_seen: u64,
}

/// Matches what watchers saw with what buyers were told: a held seat by its exact version (the
/// buyer's own feed marks it `mine`), a sold seat by its first sighting as sold.
fn delivery_latencies(
    records: &super::record::Records,
    views: &[Arc<LiveView>],
) -> DeliveryLatencies {
    let granted: HashMap<(usize, i64), Duration> = records
        .own_holds
        .iter()
        .map(|(hold, seat, version)| ((*seat, *version), records.holds[*hold].granted_at))
        .collect();
    let sold: HashMap<usize, Duration> = records.sales.iter().copied().collect();
    let mut out = DeliveryLatencies::default();
    let mut push = |list: &mut Vec<f64>, seen: Duration, told: Duration| {
        if seen < told {
            out.before_response += 1;
        }
        list.push(seen.saturating_sub(told).as_secs_f64() * 1000.0);
    };
    let (mut held_list, mut sold_list) = (Vec::new(), Vec::new());
    let mut held_not_seen = 0;
    for view in views {
        let state = view.lock();
        let mut seen_held: HashMap<(usize, i64), Duration> = HashMap::new();
        let mut first_sold: HashMap<usize, Duration> = HashMap::new();
        for s in &state.sightings {
            let seat = s.seat as usize;
            if s.sold {
                first_sold.entry(seat).or_insert(s.at);
            } else {
                seen_held.entry((seat, s.version)).or_insert(s.at);
            }
        }
        for (key, told) in &granted {
            match seen_held.get(key) {
                Some(seen) => push(&mut held_list, *seen, *told),
                None => held_not_seen += 1,
            }
        }
        for (seat, seen) in first_sold {
            if let Some(told) = sold.get(&seat) {
                push(&mut sold_list, seen, *told);
            }
        }
    }
    out.held = held_list;
    out.sold = sold_list;
    out.held_not_seen = held_not_seen;
    out
}
