//! Runs a rehearsal: finds the event, opens the watchers' maps, signs the crowd in if it waits
//! for the opening, lets buyers arrive on schedule, stops them when the time is up, then checks
//! what they were told against the final state and assembles the report.

mod checks;
mod progress;
mod sale;

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::Method;
use tokio_util::sync::CancellationToken;

use super::{
    api::Api,
    arrivals::schedule,
    bots::Army,
    buyer::{Crowd, buyer_email},
    cluster::{ChaosLog, Cluster, ClusterSpec, ClusterSummary, run_chaos},
    options::check_target,
    record::{Recorder, Step},
    report::{Inputs, Report, Seats, assemble},
    scaling::run_scaling,
    scenario::Plan,
    seats::Chart,
    stream::{LiveView, follow},
    verdict::{Observations, judge},
};
use boxoffice_domain::seat::SeatState;
pub(crate) use checks::fresh_map;
use checks::{converge, delivery_latencies, read_back_orders, run_audit};
use sale::{run_sale, settle_confirming, sign_in_early};

/// Everything a rehearsal needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The deployment's base URL: loopback only unless `allow_remote`
    /// ([`check_target`](crate::check_target)).
    pub target: String,
    /// Who arrives, when, and what they do.
    pub plan: Plan,
    /// The event to sell; by default the first one listed with seats available.
    pub event_id: Option<String>,
    /// After the arrivals, how long buyers still buying may finish.
    pub grace: Duration,
    /// Whether `target` may be another machine.
    pub allow_remote: bool,
    /// A progress line on stderr.
    pub progress: bool,
    /// When set, `boxoffice audit` runs on this database at the end.
    pub audit_database_url: Option<String>,
    /// Start a local cluster and rehearse against it instead of `target` (its database is
    /// audited at the end).
    pub cluster: Option<ClusterSpec>,
}

const WATCHERS_READY: Duration = Duration::from_secs(15);
/// Every live map whose stream ended must be live again within this (issue 13's 5 s).
const RESYNC_LIMIT_MS: f64 = 5000.0;

/// After the sale, how long payments still confirming are waited for at most.
const CONFIRMING_LIMIT: Duration = Duration::from_secs(20);

/// Runs the rehearsal (on its own cluster when `cluster` is set) and reports.
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
