//! The `long-sale` phase: a 50,000-seat stadium sold out to the last seat, one seat per order
//! (hold, then sandbox checkout), by 16 buyers and then, on a second event of the same venue, by
//! 200; on each backend of `--long-sale-backends`, PostgreSQL 16 included when it answers. After
//! the first tenth of each event's seats is sold, `ANALYZE` runs on every table, as autovacuum
//! would mid-sale. Orders per second and p50/p99 are reported in 10-second windows from the first
//! order to the last, with an SVG plot per buyer count; the verdict compares the last full window
//! with the first. Optionally `boxoffice rehearse --scenario soak` then runs on a third event of
//! the stadium, and its timeline is cut into the same windows.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rand::seq::SliceRandom;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::{
    Result,
    buy::post_json,
    client::{GOOD_CARD, PASSWORD, client, error_code, new_accounts},
    cpu::CpuMeter,
    databases::{Backend, ScratchDb},
    fail,
    options::Options,
    servers::{Instance, audit},
    stats::{latency, round2},
};

const ADMIN_EMAIL: &str = "long-sale-admin@boxoffice.test";
/// 50 sections of 20 rows of 50 seats: the venue rules' largest hall.
const SECTIONS: usize = 50;
const ROWS: usize = 20;
const SEATS_PER_ROW: usize = 50;
/// The stadium's seats.
pub(crate) const SEATS: usize = SECTIONS * ROWS * SEATS_PER_ROW;
const WINDOW: Duration = Duration::from_secs(10);
/// The last full window may be at most this much slower than the first.
const FLAT_WITHIN: f64 = 0.15;
/// A sale that has not sold out by then is stopped and reported as such.
const MAX_SALE: Duration = Duration::from_secs(900);

/// One database server to sell the stadium on.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub label: String,
    pub backend: Backend,
    /// The server's admin URL (empty for SQLite).
    pub admin_url: String,
}

#[derive(Clone, Debug)]
pub(crate) struct LongSaleSizes {
    pub buyer_counts: Vec<usize>,
    /// `boxoffice rehearse --scenario soak` on the stadium afterwards, for this long (0: none).
    pub soak_secs: u64,
}

impl Default for LongSaleSizes {
    fn default() -> Self {
        LongSaleSizes {
            buyer_counts: vec![16, 200],
            soak_secs: 0,
        }
    }
}

pub(crate) async fn phase_long_sale(opts: &Options) -> Value {
    let mut out = json!({ "seats": SEATS, "window_secs": WINDOW.as_secs() });
    for target in &opts.long_sale_targets {
        eprintln!("long-sale {}: starting", target.label);
        out[target.label.as_str()] = match long_sale_on(opts, target).await {
            Ok(v) => v,
            Err(e) => json!({ "error": e.to_string() }),
        };
    }
    if let Some(dir) = &opts.long_sale_plot_dir {
        out["plots"] = write_plots(
            &out,
            &opts.long_sale_targets,
            &opts.long_sale.buyer_counts,
            dir,
        );
    }
    out
}

/// Whether any sale of the phase failed, missed its target or left the audit unclean.
pub(crate) fn any_failure(phase: &Value) -> bool {
    phase.as_object().is_some_and(|targets| {
        targets.values().any(|t| {
            t.get("error").is_some()
                || t.get("final_audit").is_some_and(|a| a["ok"] != json!(true))
                || t["sales"].as_array().is_some_and(|sales| {
                    sales
                        .iter()
                        .any(|s| s.get("error").is_some() || s["flat"] == json!(false))
                })
        })
    })
}

async fn long_sale_on(opts: &Options, target: &Target) -> Result<Value> {
    let db = ScratchDb::create_at(target.backend, &target.admin_url).await?;
    let env = [
        ("BOXOFFICE_ADMIN_EMAIL", ADMIN_EMAIL),
        ("BOXOFFICE_ADMIN_PASSWORD", PASSWORD),
        ("BOXOFFICE_DEMO", "false"),
    ];
    let instance = match Instance::start_with(&opts.server_bin, &db.url, None, &env).await {
        Ok(i) => i,
        Err(e) => {
            db.remove().await;
            return Err(e);
        }
    };
    let result = sales(opts, &instance, &db.url, target).await;
    instance.stop().await;
    let final_audit = audit(&opts.server_bin, &db.url).await;
    db.remove().await;
    let mut result = result?;
    result["final_audit"] = final_audit;
    Ok(result)
}

async fn sales(
    opts: &Options,
    instance: &Instance,
    db_url: &str,
    target: &Target,
) -> Result<Value> {
    let c = client();
    let token = crate::admin::admin_token_for(&c, &instance.base, ADMIN_EMAIL).await?;
    let started = Instant::now();
    let venue = create_stadium(&c, &instance.base, &token).await?;
    eprintln!(
        "long-sale {}: stadium created in {:.1} s",
        target.label,
        started.elapsed().as_secs_f64()
    );
    let pid = instance.child.id().unwrap_or(0);
    let mut sales = Vec::new();
    for &buyers in &opts.long_sale.buyer_counts {
        let event = create_event(&c, &instance.base, &token, &venue, buyers).await?;
        eprintln!("long-sale {}: {buyers} buyers", target.label);
        let sale = sell_out(&instance.base, &event, buyers, db_url, pid)
            .await
            .unwrap_or_else(|e| json!({ "buyers": buyers, "error": e.to_string() }));
        sales.push(sale);
    }
    let soak = if opts.long_sale.soak_secs > 0 {
        let event = create_event(&c, &instance.base, &token, &venue, 0).await?;
        eprintln!("long-sale {}: soak", target.label);
        soak(
            &opts.server_bin,
            &instance.base,
            &event,
            db_url,
            opts.long_sale.soak_secs,
        )
        .await
        .unwrap_or_else(|e| json!({ "error": e.to_string() }))
    } else {
        Value::Null
    };
    Ok(json!({ "database": target.label, "sales": sales, "soak": soak }))
}

/// The seat id at position `i` of the stadium, in layout order.
fn seat_id(i: usize) -> String {
    let section = i / (ROWS * SEATS_PER_ROW);
    let row = (i / SEATS_PER_ROW) % ROWS;
    let n = i % SEATS_PER_ROW + 1;
    format!("S{section:02}-R{row:02}-{n:02}")
}

async fn create_stadium(c: &reqwest::Client, base: &str, token: &str) -> Result<String> {
    let section_width = SEATS_PER_ROW * 12 + 40;
    let sections: Vec<Value> = (0..SECTIONS)
        .map(|s| {
            let (ox, oy) = ((s % 10) * section_width, (s / 10) * (ROWS * 14 + 40) + 60);
            let rows: Vec<Value> = (0..ROWS)
                .map(|r| {
                    let seats: Vec<Value> = (0..SEATS_PER_ROW)
                        .map(|n| {
                            let i = (s * ROWS + r) * SEATS_PER_ROW + n;
                            json!({
                                "id": seat_id(i), "label": (n + 1).to_string(),
                                "x": ox + 20 + n * 12, "y": oy + r * 14,
                            })
                        })
                        .collect();
                    json!({ "label": format!("{}", r + 1), "seats": seats })
                })
                .collect();
            json!({ "id": format!("S{s:02}"), "name": format!("Block {}", s + 1), "rows": rows })
        })
        .collect();
    let layout = json!({
        "width": 10 * section_width, "height": 5 * (ROWS * 14 + 40) + 80,
        "stage": { "x": 10, "y": 5, "width": 10 * section_width - 20, "height": 40, "label": "Pitch" },
        "sections": sections,
    });
    let body = crate::admin::admin_post(
        c,
        format!("{base}/api/v1/admin/venues"),
        token,
        &json!({ "name": "Long-sale Stadium", "layout": layout }),
    )
    .await?;
    body["venue"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("no venue id"))
}

/// An on-sale event in the stadium: lower and upper tiers at two prices.
async fn create_event(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    venue: &str,
    buyers: usize,
) -> Result<String> {
    let mut seat_categories = serde_json::Map::new();
    for i in 0..SEATS {
        let tier = if i < SEATS / 2 { "Lower" } else { "Upper" };
        seat_categories.insert(seat_id(i), tier.into());
    }
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let body = crate::admin::admin_post(
        c,
        format!("{base}/api/v1/admin/events"),
        token,
        &json!({
            "venue_id": venue, "name": format!("Long sale, {buyers} buyers"),
            "starts_at": rfc(now + time::Duration::days(30)),
            "sale_opens_at": rfc(now - time::Duration::hours(1)),
            "categories": [
                { "name": "Lower", "price_cents": 8000 },
                { "name": "Upper", "price_cents": 4500 },
            ],
            "seat_categories": seat_categories,
        }),
    )
    .await?;
    body["event"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("no event id"))
}

/// One finished order: when it completed (since the sale started) and how long hold + checkout
/// took.
#[derive(Clone, Copy)]
struct Order {
    done_at: Duration,
    ms: f64,
}

#[derive(Default)]
struct BuyerLog {
    orders: Vec<Order>,
    errors: std::collections::BTreeMap<String, usize>,
}

/// Sells every seat of the event, one per order, with `buyers` concurrent buyers taking the next
/// seat of one shuffled list. The buyer that completes the tenth of the seats runs `ANALYZE`.
async fn sell_out(base: &str, event: &str, buyers: usize, db_url: &str, pid: u32) -> Result<Value> {
    let c = client();
    let tokens = new_accounts(&c, base, buyers, "stadium").await?;
    let mut seats: Vec<String> = (0..SEATS).map(seat_id).collect();
    seats.shuffle(&mut rand::rng());
    let seats = Arc::new(seats);
    let next = Arc::new(AtomicUsize::new(0));
    let sold = Arc::new(AtomicUsize::new(0));
    let analyzed = Arc::new(AtomicBool::new(false));
    let analyze_at: Arc<std::sync::Mutex<Option<(f64, f64)>>> = Default::default();
    let started = Instant::now();
    let deadline = started + MAX_SALE;
    let meter = CpuMeter::start(&[pid]);
    let base: Arc<str> = base.into();
    let event: Arc<str> = event.into();
    let db_url: Arc<str> = db_url.into();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let (c, base, event, seats, next, sold) = (
                c.clone(),
                base.clone(),
                event.clone(),
                seats.clone(),
                next.clone(),
                sold.clone(),
            );
            let (analyzed, analyze_at, db_url) =
                (analyzed.clone(), analyze_at.clone(), db_url.clone());
            tokio::spawn(async move {
                let mut log = BuyerLog::default();
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(seat) = seats.get(i) else { break };
                    let t0 = Instant::now();
                    match buy_one(&c, &base, &event, &token, seat).await {
                        Ok(()) => log.orders.push(Order {
                            done_at: started.elapsed(),
                            ms: t0.elapsed().as_secs_f64() * 1000.0,
                        }),
                        Err(what) => *log.errors.entry(what).or_default() += 1,
                    }
                    let n = sold.fetch_add(1, Ordering::Relaxed) + 1;
                    if n >= SEATS / 10 && !analyzed.swap(true, Ordering::Relaxed) {
                        let at = started.elapsed().as_secs_f64();
                        let took = analyze(&db_url).await;
                        *analyze_at.lock().unwrap() = Some((at, took.unwrap_or(f64::NAN)));
                    }
                }
                log
            })
        })
        .collect();
    let mut orders = Vec::new();
    let mut errors = std::collections::BTreeMap::new();
    for task in tasks {
        let log = task.await?;
        orders.extend(log.orders);
        for (k, v) in log.errors {
            *errors.entry(k).or_insert(0) += v;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = meter.stop();
    orders.sort_by_key(|o| o.done_at);
    let windows = windows(&orders);
    let full: Vec<&Value> = windows
        .iter()
        .filter(|w| w["full"] == json!(true))
        .collect();
    let (first, last) = (full.first(), full.last());
    let ratio = first.zip(last).and_then(|(f, l)| {
        let (f, l) = (
            f["orders_per_second"].as_f64()?,
            l["orders_per_second"].as_f64()?,
        );
        (f > 0.0).then(|| round2(l / f))
    });
    let all_ms: Vec<f64> = orders.iter().map(|o| o.ms).collect();
    let analyze_at = *analyze_at.lock().unwrap();
    Ok(json!({
        "buyers": buyers,
        "seats": SEATS,
        "orders": orders.len(),
        "sold_out": orders.len() == SEATS,
        "seconds": round2(seconds),
        "orders_per_second": round2(orders.len() as f64 / seconds),
        "order_ms": latency(&all_ms),
        "errors": errors,
        "analyze_at_secs": analyze_at.map(|(at, _)| round2(at)),
        "analyze_took_secs": analyze_at.map(|(_, took)| round2(took)),
        "cpu": cpu,
        "windows": windows,
        "last_to_first": ratio,
        "flat": ratio.map(|r| r >= 1.0 - FLAT_WITHIN),
    }))
}

/// Hold one seat, then pay for it: `Err` names what went wrong.
async fn buy_one(
    c: &reqwest::Client,
    base: &str,
    event: &str,
    token: &str,
    seat: &str,
) -> std::result::Result<(), String> {
    let request = c
        .post(format!("{base}/api/v1/events/{event}/holds"))
        .bearer_auth(token);
    let (status, body) = post_json(request, &json!({ "seat_ids": [seat] })).await?;
    if status != 201 {
        return Err(format!("hold {status} {}", error_code(&body)));
    }
    let hold = body
        .pointer("/hold/id")
        .and_then(Value::as_str)
        .ok_or("hold without id")?;
    let request = c
        .post(format!("{base}/api/v1/holds/{hold}/checkout"))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    let payment = json!({ "payment": { "method": "sandbox", "card_number": GOOD_CARD } });
    let (status, body) = post_json(request, &payment).await?;
    if status != 201 {
        return Err(format!("checkout {status} {}", error_code(&body)));
    }
    Ok(())
}

/// `ANALYZE` on every table, through the database's own client library; returns the seconds it
/// took.
async fn analyze(db_url: &str) -> Result<f64> {
    let t0 = Instant::now();
    match Backend::of_url(db_url)? {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(db_url).await?;
            sqlx::raw_sql("PRAGMA busy_timeout = 10000; ANALYZE")
                .execute(&mut conn)
                .await?;
            conn.close().await.ok();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(db_url).await?;
            sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
            conn.close().await.ok();
        }
        Backend::MySql => {
            let mut conn = sqlx::MySqlConnection::connect(db_url).await?;
            sqlx::raw_sql(
                "ANALYZE TABLE users, sessions, settings, venues, events, categories, seats, \
                 holds, hold_seats, idempotency_keys, payments, orders, tickets, ledger",
            )
            .execute(&mut conn)
            .await?;
            conn.close().await.ok();
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// Orders per second and latency in each 10-second window from the first order to the last. A
/// window is full when the sale went on for all of it.
fn windows(orders: &[Order]) -> Vec<Value> {
    let (Some(first), Some(last)) = (orders.first(), orders.last()) else {
        return Vec::new();
    };
    let span = last.done_at - first.done_at;
    let count = (span.as_secs_f64() / WINDOW.as_secs_f64()).floor() as usize + 1;
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); count];
    for o in orders {
        let i = ((o.done_at - first.done_at).as_secs_f64() / WINDOW.as_secs_f64()) as usize;
        buckets[i.min(count - 1)].push(o.ms);
    }
    buckets
        .iter()
        .enumerate()
        .map(|(i, ms)| {
            let start = i as f64 * WINDOW.as_secs_f64();
            let length = (span.as_secs_f64() - start).min(WINDOW.as_secs_f64());
            let full = length >= WINDOW.as_secs_f64() - 1e-9;
            let lat = latency(ms);
            json!({
                "start_secs": start,
                "seconds": round2(length),
                "full": full,
                "orders": ms.len(),
                "orders_per_second": (length > 0.0).then(|| round2(ms.len() as f64 / length)),
                "p50_ms": lat["p50_ms"],
                "p99_ms": lat["p99_ms"],
            })
        })
        .collect()
}

/// `boxoffice rehearse --scenario soak` on a fresh event of the stadium; its per-second timeline
/// cut into the same windows.
async fn soak(bin: &Path, base: &str, event: &str, db_url: &str, secs: u64) -> Result<Value> {
    let flags = vec![
        "--scenario".to_owned(),
        "soak".to_owned(),
        "--duration".to_owned(),
        format!("{secs}s"),
    ];
    let (status, report) = crate::scenarios::rehearse(bin, base, event, db_url, &flags).await?;
    let timeline = report["timeline"].as_array().cloned().unwrap_or_default();
    let mut windows = Vec::new();
    for chunk in timeline.chunks(WINDOW.as_secs() as usize) {
        let sum = |key: &str| chunk.iter().filter_map(|s| s[key].as_f64()).sum::<f64>();
        let worst = |key: &str| {
            chunk
                .iter()
                .filter_map(|s| s[key].as_f64())
                .fold(f64::NAN, f64::max)
        };
        windows.push(json!({
            "seconds": chunk.len(),
            "requests_per_second": round2(sum("requests") / chunk.len() as f64),
            "seats_sold_per_second": round2(sum("seats_sold") / chunk.len() as f64),
            "hold_p50_ms": worst("hold_p50_ms"),
            "hold_p99_ms": worst("hold_p99_ms"),
        }));
    }
    Ok(json!({
        "command": format!("boxoffice rehearse --target {base} --event <id> {} --json", flags.join(" ")),
        "exit_code": status,
        "verdict": report["verdict"],
        "steps": report["steps"],
        "audit_ok": report["audit"]["ok"],
        "windows": windows,
    }))
}

/// One SVG per buyer count: orders per second in each window, one line per database.
fn write_plots(out: &Value, targets: &[Target], buyer_counts: &[usize], dir: &Path) -> Value {
    let mut written = Vec::new();
    if let Err(e) = std::fs::create_dir_all(dir) {
        return json!({ "error": e.to_string() });
    }
    for (k, buyers) in buyer_counts.iter().enumerate() {
        let lines: Vec<(String, Vec<(f64, f64)>)> = targets
            .iter()
            .filter_map(|t| {
                let w = out[t.label.as_str()]["sales"][k]["windows"].as_array()?;
                let points = w
                    .iter()
                    .filter(|w| w["full"] == json!(true))
                    .filter_map(|w| {
                        Some((w["start_secs"].as_f64()?, w["orders_per_second"].as_f64()?))
                    })
                    .collect();
                Some((t.label.clone(), points))
            })
            .collect();
        let svg = crate::plot::line_chart(
            &format!(
                "Stadium of {SEATS} seats sold out by {buyers} buyers: orders per second, 10-second windows"
            ),
            "seconds since the first order",
            "orders/s",
            &lines,
        );
        let path = dir.join(format!("long-sale-{buyers}-buyers.svg"));
        match std::fs::write(&path, svg) {
            Ok(()) => written.push(path.display().to_string()),
            Err(e) => return json!({ "error": e.to_string() }),
        }
    }
    json!(written)
}
