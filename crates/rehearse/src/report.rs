//! The rehearsal's report: figures assembled from the recorder's observations, and their text
//! rendering. The same structure is printed as JSON and drawn as HTML.

use std::{collections::BTreeMap, fmt::Write};

use serde::Serialize;

use super::{
    cluster::{ChaosEvent, ClusterSummary},
    record::{Records, Step, Visit},
    scenario::Plan,
    stats::{Bucket, DELIVERY_BUCKETS_MS, Summary, histogram, per_second},
    verdict::Verdict,
};

/// Everything a rehearsal measured and checked, as text, JSON or HTML.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The preset's name.
    pub scenario: &'static str,
    /// The deployment rehearsed against.
    pub target: String,
    /// The event sold.
    pub event_id: String,
    /// What was planned, flags applied.
    pub plan: Plan,
    /// True when every verdict counter is zero.
    pub clean: bool,
    /// The correctness checks over what the crowd saw.
    pub verdict: Verdict,
    /// From the opening of the sale to the last buyer done.
    pub sale_secs: f64,
    /// How many came and how each visit ended.
    pub buyers: Buyers,
    /// Request counts and rates.
    pub requests: Requests,
    /// Latency of each step of a visit.
    pub steps: Vec<StepFigures>,
    /// Every answer other than success, by step, status (0: no answer) and code.
    pub answers: Vec<Answer>,
    /// How fast live maps saw changes, and how often they had to resync.
    pub delivery: Delivery,
    /// What became of the event's seats.
    pub seats: Seats,
    /// Second by second from the opening.
    pub timeline: Vec<Second>,
    /// `boxoffice audit`'s report, when a database URL was given.
    pub audit: Option<serde_json::Value>,
    /// The cluster rehearse started (`--spawn-cluster`).
    pub cluster: Option<ClusterSummary>,
    /// The faults injected (`--chaos`), in order.
    pub chaos: Vec<ChaosEvent>,
    /// When the sale opened, in seconds since the rehearsal started (the clock of `chaos`);
    /// `timeline` counts from here.
    pub(crate) opened_at_secs: f64,
    /// Time in line, the order of numbering and goodput, when the event has a waiting room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_room: Option<super::queue::WaitingRoomFigures>,
    /// What the hostile clients got, when the sale had some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bots: Option<super::bots::BotFigures>,
    /// What scaling the cluster mid-sale did (`--scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<super::scaling::ScalingFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Buyers {
    pub planned: usize,
    pub arrived: u64,
    pub(crate) signed_in_early: usize,
    pub visits: BTreeMap<Visit, u64>,
    pub watchers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Requests {
    pub total: usize,
    pub per_second: f64,
    /// Answers the crowd did not ask for (everything but 409 `seat_unavailable` and the declines).
    pub unexpected: u64,
    /// All 5xx answers, 503 included.
    pub server_errors: u64,
    pub holds_per_second: f64,
    pub seats_sold_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepFigures {
    pub step: Step,
    pub ok: usize,
    pub failed: usize,
    /// Every answer, successful or not.
    pub latency: Summary,
    /// Only the refusals (a 409 for a seat someone else got, say): how fast a loser hears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_latency: Option<Summary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub step: Step,
    pub status: u16,
    pub code: String,
    pub count: u64,
    pub expected: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// From the 201 of a hold to a watcher seeing the seat held (ms).
    pub held: Summary,
    /// From the 201 of a checkout to a watcher seeing the seat sold (ms).
    pub sold: Summary,
    /// Both, as a histogram.
    pub histogram: Vec<Bucket>,
    /// Sightings that came before the buyer had its 201 (counted as 0 ms).
    pub(crate) before_response: u64,
    /// Held changes a watcher never saw as held (coalesced into a later state within ~100 ms).
    pub held_not_seen: u64,
    pub resyncs: u64,
    pub reconnects: u64,
    pub live_maps: usize,
    pub live_maps_converged: usize,
    /// From the end of the load until every live map equalled a fresh `/seats`.
    pub convergence_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Seats {
    pub total: usize,
    pub sold_to_the_crowd: u64,
    pub(crate) final_available: usize,
    pub(crate) final_held: usize,
    pub final_sold: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Second {
    pub t: usize,
    pub requests: usize,
    pub errors: usize,
    pub hold_p50_ms: f64,
    pub hold_p99_ms: f64,
    pub(crate) checkout_p50_ms: f64,
    pub(crate) checkout_p99_ms: f64,
    pub seats_sold: usize,
}

/// Everything the driver measured beyond the recorder's records.
pub(crate) struct Inputs<'a> {
    pub target: String,
    pub event_id: String,
    pub plan: Plan,
    pub records: &'a Records,
    pub verdict: Verdict,
    pub(crate) opened_at: f64,
    pub sale_secs: f64,
    pub planned: usize,
    pub arrived: u64,
    pub(crate) signed_in_early: usize,
    pub(crate) held_latencies: Vec<f64>,
    pub(crate) sold_latencies: Vec<f64>,
    pub(crate) before_response: u64,
    pub held_not_seen: u64,
    pub resyncs: u64,
    pub reconnects: u64,
    pub live_maps: usize,
    pub live_maps_converged: usize,
    pub convergence_ms: Option<f64>,
    pub seats: Seats,
    pub audit: Option<serde_json::Value>,
}

pub(crate) fn assemble(i: Inputs<'_>) -> Report {
    let r = i.records;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let steps = Step::ALL
        .iter()
        .filter_map(|step| {
            let mine: Vec<_> = r.samples.iter().filter(|s| s.step == *step).collect();
            let ok: Vec<f64> = mine
                .iter()
                .filter(|s| s.ok)
                .map(|s| ms(s.latency))
                .collect();
            let refused: Vec<f64> = mine
                .iter()
                .filter(|s| !s.ok)
                .map(|s| ms(s.latency))
                .collect();
            (!mine.is_empty()).then(|| StepFigures {
                step: *step,
                ok: ok.len(),
                failed: refused.len(),
                latency: Summary::of(&mine.iter().map(|s| ms(s.latency)).collect::<Vec<_>>()),
                refused_latency: (!refused.is_empty()).then(|| Summary::of(&refused)),
            })
        })
        .collect();
    let answers: Vec<Answer> = r
        .outcomes
        .iter()
        .map(|(o, n)| Answer {
            step: o.step,
            status: o.status,
            code: o.code.clone(),
            count: *n,
            expected: o.is_expected(),
        })
        .collect();
    let sale = i.sale_secs.max(1e-3);
    let requests = Requests {
        total: r.samples.len(),
        per_second: r
            .samples
            .iter()
            .filter(|s| s.at.as_secs_f64() >= i.opened_at)
            .count() as f64
            / sale,
        unexpected: answers
            .iter()
            .filter(|a| !a.expected)
            .map(|a| a.count)
            .sum(),
        server_errors: answers
            .iter()
            .filter(|a| a.status >= 500)
            .map(|a| a.count)
            .sum(),
        holds_per_second: r.holds.len() as f64 / sale,
        seats_sold_per_second: r.sales.len() as f64 / sale,
    };
    let all_delivery: Vec<f64> = i
        .held_latencies
        .iter()
        .chain(&i.sold_latencies)
        .copied()
        .collect();
    Report {
        scenario: i.plan.scenario.name(),
        target: i.target,
        event_id: i.event_id,
        clean: i.verdict.is_clean(),
        verdict: i.verdict,
        sale_secs: i.sale_secs,
        buyers: Buyers {
            planned: i.planned,
            arrived: i.arrived,
            signed_in_early: i.signed_in_early,
            visits: r.visits.clone(),
            watchers: i.plan.watchers,
        },
        requests,
        steps,
        answers,
        delivery: Delivery {
            held: Summary::of(&i.held_latencies),
            sold: Summary::of(&i.sold_latencies),
            histogram: histogram(&all_delivery, DELIVERY_BUCKETS_MS),
            before_response: i.before_response,
            held_not_seen: i.held_not_seen,
            resyncs: i.resyncs,
            reconnects: i.reconnects,
            live_maps: i.live_maps,
            live_maps_converged: i.live_maps_converged,
            convergence_ms: i.convergence_ms,
        },
        seats: i.seats,
        timeline: timeline(r, i.opened_at),
        audit: i.audit,
        plan: i.plan,
        cluster: None,
        chaos: Vec::new(),
        opened_at_secs: i.opened_at,
        waiting_room: super::queue::figures(r, sale),
        bots: None,
        scaling: None,
    }
}

/// One entry per second since the opening.
fn timeline(r: &Records, opened_at: f64) -> Vec<Second> {
    let since = |d: std::time::Duration| d.as_secs_f64() - opened_at;
    let samples = per_second(
        r.samples
            .iter()
            .filter(|s| since(s.at) >= 0.0)
            .map(|s| (since(s.at), *s)),
    );
    let sales = per_second(
        r.sales
            .iter()
            .filter(|(_, at)| since(*at) >= 0.0)
            .map(|(_, at)| (since(*at), ())),
    );
    (0..samples.len().max(sales.len()))
        .map(|t| {
            let here = samples.get(t).map(Vec::as_slice).unwrap_or(&[]);
            let latency = |step: Step| {
                let v: Vec<f64> = here
                    .iter()
                    .filter(|s| s.step == step && s.ok)
                    .map(|s| s.latency.as_secs_f64() * 1000.0)
                    .collect();
                Summary::of(&v)
            };
            let (hold, checkout) = (latency(Step::Hold), latency(Step::Checkout));
            Second {
                t,
                requests: here.len(),
                errors: here.iter().filter(|s| !s.ok).count(),
                hold_p50_ms: hold.p50_ms,
                hold_p99_ms: hold.p99_ms,
                checkout_p50_ms: checkout.p50_ms,
                checkout_p99_ms: checkout.p99_ms,
                seats_sold: sales.get(t).map_or(0, Vec::len),
            }
        })
        .collect()
}

/// The report as the terminal shows it.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "rehearsal {} against {} (event {})",
        r.scenario, r.target, r.event_id
    );
    let p = &r.plan;
    let _ = writeln!(
        w,
        "  plan: {:?} arrivals over {:.1}s, {} buyers planned, {} watchers, {}-{} seats each, pay {:.0}% cancel {:.0}% abandon {:.0}%",
        p.arrival,
        p.duration.as_secs_f64(),
        r.buyers.planned,
        p.watchers,
        p.seats_per_buyer.0,
        p.seats_per_buyer.1,
        p.pay_ratio * 100.0,
        p.cancel_ratio * 100.0,
        p.abandon_ratio() * 100.0
    );
    let visits: Vec<String> = r
        .buyers
        .visits
        .iter()
        .map(|(v, n)| format!("{} {n}", serde_name(v)))
        .collect();
    let _ = writeln!(
        w,
        "  buyers: {} arrived ({} signed in before the opening): {}",
        r.buyers.arrived,
        r.buyers.signed_in_early,
        visits.join(", ")
    );
    let q = &r.requests;
    let _ = writeln!(
        w,
        "  throughput: {:.1} requests/s over {:.1}s, {:.1} holds/s, {:.1} seats sold/s; {} requests, {} unexpected answers, {} 5xx",
        q.per_second,
        r.sale_secs,
        q.holds_per_second,
        q.seats_sold_per_second,
        q.total,
        q.unexpected,
        q.server_errors
    );
    if let Some(room) = &r.waiting_room {
        let _ = writeln!(
            w,
            "  waiting room: {} joined, {} let in; time in line p50 {:.1}s, p99 {:.1}s, max {:.1}s; {} FIFO inversions after the opening ({:.2}%); goodput {:.1} orders/s",
            room.joined,
            room.admitted,
            room.queue_time.p50_ms / 1000.0,
            room.queue_time.p99_ms / 1000.0,
            room.queue_time.max_ms / 1000.0,
            room.fifo_inversions,
            room.fifo_inversion_share * 100.0,
            room.goodput_orders_per_second
        );
    }
    if let Some(b) = &r.bots {
        render_bots(w, b);
    }
    if let Some(s) = &r.scaling {
        let steps: Vec<String> = s
            .events
            .iter()
            .map(|e| format!("{} {} at {:.1}s", e.kind, e.target, e.at_ms as f64 / 1000.0))
            .collect();
        let _ = writeln!(w, "  scaling: {}", steps.join("; "));
        let _ = writeln!(
            w,
            "    {} new instances checked, {} stale seats; {} reconnects, gap p99 {:.0} ms, max {:.0} ms: {}",
            s.new_instances_checked,
            s.stale_seats_on_new_instances,
            s.reconnects,
            s.reconnect_gap_p99_ms,
            s.reconnect_gap_max_ms,
            if s.ok { "ok" } else { "NOT OK" }
        );
    }
    let _ = writeln!(
        w,
        "\n  {:<10} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "step", "ok", "failed", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for s in &r.steps {
        let l = &s.latency;
        let _ = writeln!(
            w,
            "  {:<10} {:>7} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            s.step.name(),
            s.ok,
            s.failed,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms
        );
    }
    if !r.answers.is_empty() {
        let _ = writeln!(w, "\n  answers other than success:");
        for a in &r.answers {
            let tag = if a.expected { "expected" } else { "ERROR" };
            let status = if a.status == 0 {
                "no answer".to_owned()
            } else {
                a.status.to_string()
            };
            let _ = writeln!(
                w,
                "    {:<9} {:<10} {:<24} {:>6}  {tag}",
                a.step.name(),
                status,
                a.code,
                a.count
            );
        }
    }
    if let Some(c) = &r.cluster {
        let _ = writeln!(
            w,
            "\n  cluster: {} instances ({}), {}, {}, payment provider {}",
            c.instances.len(),
            c.instances.join(", "),
            c.database,
            c.redis,
            c.payment_provider
        );
        let _ = writeln!(
            w,
            "    {} requests failed over to another instance; {} 5xx (other than 503) while something was down",
            c.failovers, c.server_errors_during_chaos
        );
        let _ = writeln!(
            w,
            "    {} checkouts answered 202 confirming, {} still confirming at the end",
            c.payments_confirming, c.payments_pending_at_end
        );
        let _ = writeln!(
            w,
            "    provider: {} requests, {} injected errors, {} lost answers, {} webhooks dropped, {} delivered",
            c.psp_requests,
            c.psp_injected_errors,
            c.psp_injected_timeouts,
            c.psp_webhooks_dropped,
            c.psp_webhooks_delivered
        );
    }
    if !r.chaos.is_empty() {
        let _ = writeln!(w, "\n  chaos ({} events):", r.chaos.len());
        for e in &r.chaos {
            let _ = writeln!(
                w,
                "    {:>8.1}s  {:<24} {}",
                e.at_ms as f64 / 1000.0,
                e.kind,
                e.target
            );
        }
    }
    let d = &r.delivery;
    let _ = writeln!(w, "\n  live updates ({} maps):", d.live_maps);
    for (name, s) in [("hold → held", &d.held), ("checkout → sold", &d.sold)] {
        let _ = writeln!(
            w,
            "    {name:<16} {:>6} seen, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
        );
    }
    let converged = d.convergence_ms.map_or("never".to_owned(), |ms| {
        format!("{ms:.0} ms after the load")
    });
    let _ = writeln!(
        w,
        "    {} seen before the buyer's 201, {} held states coalesced away, {} resyncs, {} reconnects; {}/{} maps converged ({converged})",
        d.before_response,
        d.held_not_seen,
        d.resyncs,
        d.reconnects,
        d.live_maps_converged,
        d.live_maps
    );
    let s = &r.seats;
    let _ = writeln!(
        w,
        "  seats: {} sold to the crowd; at the end {} available, {} held, {} sold of {}",
        s.sold_to_the_crowd, s.final_available, s.final_held, s.final_sold, s.total
    );
    let _ = writeln!(
        w,
        "\n  verdict: {}",
        if r.clean { "CLEAN" } else { "VIOLATIONS FOUND" }
    );
    for (name, n) in r.verdict.counters() {
        let _ = writeln!(w, "    {name:<30} {n}");
    }
    if r.audit.is_none() {
        let _ = writeln!(w, "    (no --database-url: the database audit did not run)");
    }
    out
}

fn serde_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The bots' section: what they tried, what they got, and the target.
fn render_bots(w: &mut String, b: &super::bots::BotFigures) {
    let answers: Vec<String> = b
        .hold_answers
        .iter()
        .map(|(a, n)| format!("{a} ×{n}"))
        .collect();
    let _ = writeln!(
        w,
        "  bots: {} guessers, {} farms, {} hoarders, from {} addresses",
        b.bots.guessers, b.bots.farms, b.bots.hoarders, b.addresses
    );
    let _ = writeln!(
        w,
        "    guesses: {} sent, {} wrong (401), {} refused (429), {} right; {} of {} victims signed in afterwards",
        b.guesses,
        b.guesses_wrong,
        b.guesses_rate_limited,
        b.guesses_right,
        b.victims_signed_in_after,
        b.victims
    );
    let _ = writeln!(
        w,
        "    farms: {} registrations tried, {} accounts made, {} refused (429)",
        b.farm_registrations, b.farm_accounts, b.farm_registrations_rate_limited
    );
    let _ = writeln!(
        w,
        "    holds: {} granted; answers {}",
        b.holds_granted,
        if answers.is_empty() {
            "none".to_owned()
        } else {
            answers.join(", ")
        }
    );
    let _ = writeln!(
        w,
        "    seats held by bots: at most {} of {} ({:.1}%, target under {:.0}%: {}), {:.1} on average, longest hold {:.1}s",
        b.seats_held_peak,
        b.seats_total,
        b.seats_held_peak_share * 100.0,
        super::bots::TARGET_SHARE * 100.0,
        if b.within_target { "met" } else { "MISSED" },
        b.seats_held_mean,
        b.longest_hold_secs
    );
    let _ = writeln!(
        w,
        "    honest buyers refused by a limit (429): {}",
        b.honest_rate_limited
    );
}
