//! The `buy` phase: concurrent buyers holding and checking out distinct seats through the API,
//! round after round on fresh databases; and the pairing of each backend's rounds with its baseline.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::SmallRng, seq::SliceRandom};
use serde_json::{Value, json};

use crate::{
    BoxError, Result,
    baseline::baseline_backend,
    client::{GOOD_CARD, client, error_code, free_seats, new_accounts, pick_event},
    cpu::{CpuMeter, mean_cpu},
    databases::Backend,
    options::Options,
    servers::Deployment,
    stats::{count, latency, ms, ratio, round2},
};

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

/// POSTs JSON; returns the status and body, or the transport error.
pub(crate) async fn post_json(
    request: reqwest::RequestBuilder,
    body: &Value,
) -> Result<(u16, Value), String> {
    match request.json(body).send().await {
        Ok(r) => Ok((
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// 1 or 2 seats, each half of the time (as many as are left).
pub(crate) fn seats_per_hold(rng: &mut impl Rng, left: usize) -> usize {
    if left >= 2 && rng.random_bool(0.5) {
        2
    } else {
        1
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
    mut rng: SmallRng,
) -> Tally {
    let mut t = Tally::default();
    while !seats.is_empty() && Instant::now() < deadline {
        let k = seats_per_hold(&mut rng, seats.len());
        let chosen: Vec<String> = seats.drain(..k).collect();
        let started = Instant::now();
        let request = c
            .post(format!("{base}/api/v1/events/{event}/holds"))
            .bearer_auth(&token);
        let (status, body) = match post_json(request, &json!({"seat_ids": chosen})).await {
            Ok(answer) => answer,
            Err(e) => {
                count(&mut t.errors, format!("hold transport: {e}"));
                continue;
            }
        };
        let hold_ms = ms(started.elapsed());
        if status != 201 {
            count(
                &mut t.errors,
                format!("hold {status} {}", error_code(&body)),
            );
            continue;
        }
        t.holds_ok += 1;
        t.hold_ms.push(hold_ms);
        let Some(hold_id) = body.pointer("/hold/id").and_then(Value::as_str) else {
            count(&mut t.errors, "hold without id".into());
            continue;
        };
        let started = Instant::now();
        let request = c
            .post(format!("{base}/api/v1/holds/{hold_id}/checkout"))
            .bearer_auth(&token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
        let payment = json!({"payment": {"method": "sandbox", "card_number": GOOD_CARD}});
        let (status, body) = match post_json(request, &payment).await {
            Ok(answer) => answer,
            Err(e) => {
                count(&mut t.errors, format!("checkout transport: {e}"));
                continue;
            }
        };
        let checkout_ms = ms(started.elapsed());
        if status == 201 && body.pointer("/order/status") == Some(&json!("paid")) {
            t.checkouts_ok += 1;
            t.seats_sold += k;
            t.checkout_ms.push(checkout_ms);
        } else {
            count(
                &mut t.errors,
                format!("checkout {status} {}", error_code(&body)),
            );
        }
    }
    t
}

struct BuyRound {
    seconds: f64,
    cpu: Value,
    setup_seconds: f64,
    seats_offered: usize,
    tally: Tally,
    audit: Option<Value>,
}

/// One round: a fresh database and server, N buyers until the seats or the time run out, then
/// the audit.
async fn buy_round(opts: &Options, backend: Backend) -> Result<BuyRound> {
    let setup = Instant::now();
    let deployment = Deployment::start(opts, backend).await?;
    let outcome = buy_on(opts, &deployment.base, &deployment.pids(), setup).await;
    let audit = deployment.finish(&opts.server_bin, true).await;
    let (seconds, setup_seconds, seats_offered, tally, cpu) = outcome?;
    Ok(BuyRound {
        seconds,
        cpu,
        setup_seconds,
        seats_offered,
        tally,
        audit,
    })
}

/// Returns the measured seconds, the set-up seconds, the seats offered, the tally and the CPU
/// used while buying.
async fn buy_on(
    opts: &Options,
    base: &str,
    pids: &[u32],
    setup: Instant,
) -> Result<(f64, f64, usize, Tally, Value)> {
    let base: Arc<str> = base.into();
    let c = client();
    let event: Arc<str> = pick_event(&c, &base).await?.into();
    let tokens = new_accounts(&c, &base, opts.buyers, "buyer").await?;
    let mut seats = free_seats(&c, &base, &event).await?;
    seats.shuffle(&mut rand::rng());
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
    let meter = CpuMeter::start(pids);
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
                SmallRng::from_os_rng(),
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, setup_seconds, seats_offered, tally, meter.stop()))
}

/// Every round of one backend, and their totals.
async fn buy_backend(opts: &Options, backend: Backend) -> Result<Value> {
    let rounds = if opts.target.is_some() {
        1
    } else {
        opts.rounds
    };
    let mut total = Tally::default();
    let mut seconds = 0.0;
    let mut per_round = Vec::new();
    let mut audits_passed = 0;
    let mut cpu = Vec::new();
    for r in 0..rounds {
        eprintln!("buy {}: round {}/{rounds}", backend.name(), r + 1);
        let round = buy_round(opts, backend).await?;
        if round.audit.as_ref().is_some_and(|a| a["ok"] == true) {
            audits_passed += 1;
        }
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
            "audit": round.audit,
            "cpu": round.cpu,
        }));
        cpu.push(round.cpu);
        seconds += round.seconds;
        total.merge(round.tally);
    }
    let errors: usize = total.errors.values().sum();
    Ok(json!({
        "backend": if opts.target.is_some() { "target" } else { backend.name() },
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
        "audits_passed": audits_passed,
        "audits_run": if opts.target.is_some() { 0 } else { rounds },
        "cpu": mean_cpu(&cpu.iter().collect::<Vec<_>>()),
        "rounds_detail": per_round,
    }))
}

/// `buy` and `baseline` for each backend in turn, so that each pair runs under the same
/// conditions; returns `(buy, baseline)`, each keyed by backend, with the ratio in `buy`. With
/// `--target`, `buy` runs once, against the target, and has no baseline to compare with.
pub(crate) async fn phase_buy_and_baseline(opts: &Options) -> (Value, Value) {
    let mut buy = serde_json::Map::new();
    let mut baseline = serde_json::Map::new();
    let on_error = |what: &str, e: BoxError| {
        eprintln!("measure: {what} failed: {e}");
        json!({"error": e.to_string()})
    };
    if opts.target.is_some() && opts.has("buy") {
        let v = buy_backend(opts, Backend::Sqlite) // the backend is the target's, not this one
            .await
            .unwrap_or_else(|e| on_error("buy on the target", e));
        buy.insert("target".into(), v);
    }
    for &backend in &opts.backends {
        let name = backend.name().to_owned();
        if opts.has("buy") && opts.target.is_none() {
            let v = buy_backend(opts, backend)
                .await
                .unwrap_or_else(|e| on_error(&format!("buy on {name}"), e));
            buy.insert(name.clone(), v);
        }
        if opts.has("baseline") {
            let v = baseline_backend(opts, backend)
                .await
                .unwrap_or_else(|e| on_error(&format!("baseline on {name}"), e));
            baseline.insert(name.clone(), v);
        }
        if let (Some(b), Some(base)) = (buy.get_mut(&name), baseline.get(&name))
            && b.get("error").is_none()
        {
            let rate = base["transactions_per_sec"].as_f64();
            b["baseline_transactions_per_sec"] = rate.into();
            b["ratio_to_baseline"] = ratio(b["holds_plus_checkouts_per_sec"].as_f64(), rate);
        }
    }
    (Value::Object(buy), Value::Object(baseline))
}
