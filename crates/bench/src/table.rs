//! The table printed before the JSON: one section per phase, from the report's values (the
//! rehearsals' own section is printed by `scenarios`).

use serde_json::{Value, json};

use crate::{cpu::METERED_NAMES, options::PHASES, scenarios};

fn fmt_ms(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0} ms"),
        Some(x) => format!("{x:.2} ms"),
        None => "-".into(),
    }
}

fn fmt_rate(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x >= 100.0 => format!("{x:.0}/s"),
        Some(x) => format!("{x:.1}/s"),
        None => "-".into(),
    }
}

/// "boxoffice 1.10, postgres 0.40, this tool 0.30, whole machine 1.95 cores", leaving out the
/// named processes that did nothing.
fn fmt_cpu(v: &Value) -> String {
    let mut parts = Vec::new();
    let mut add = |label: &str, key: &str, always: bool| {
        if let Some(x) = v[key].as_f64().filter(|&x| always || x >= 0.01) {
            parts.push(format!("{label} {x:.2}"));
        }
    };
    add("boxoffice", "boxoffice_cores", true);
    for name in METERED_NAMES {
        add(name, &format!("{name}_cores"), false);
    }
    add("this tool", "measure_cores", true);
    add("whole machine", "machine_busy_cores", true);
    format!("{} cores", parts.join(", "))
}

/// "p50 / p99 / max" of a latency object.
fn trio(v: &Value) -> String {
    let f = |k: &str| v[k].as_f64().map_or("-".into(), |x| format!("{x:.1}"));
    format!("{} / {} / {}", f("p50_ms"), f("p99_ms"), f("max_ms"))
}

fn print_buy(buy: &Value, baseline: &Value) {
    let empty = serde_json::Map::new();
    let backends = buy.as_object().unwrap_or(&empty);
    if backends.is_empty() && baseline.as_object().is_none_or(serde_json::Map::is_empty) {
        return;
    }
    let any = backends.values().find(|b| b.get("error").is_none());
    println!();
    println!(
        "a. purchases: {} buyers on distinct seats, {} round(s) per backend{}",
        any.map_or(Value::Null, |b| b["buyers"].clone()),
        any.map_or(Value::Null, |b| b["rounds"].clone()),
        if any.is_some_and(|b| b["fresh_server_per_round"] == true) {
            " on fresh databases and servers (512-seat demo event each)"
        } else {
            ""
        }
    );
    println!(
        "  {:<9} {:>12} {:>10} {:>10} {:>10} {:>10} {:>12} {:>7} {:>7} {:>7}",
        "backend",
        "holds+chk",
        "hold p50",
        "hold p99",
        "chk p50",
        "chk p99",
        "raw tx",
        "ratio",
        "audits",
        "errors"
    );
    for (name, b) in backends {
        if let Some(e) = b.get("error") {
            println!("  {name:<9} FAILED: {}", e.as_str().unwrap_or("?"));
            continue;
        }
        println!(
            "  {:<9} {:>12} {:>10} {:>10} {:>10} {:>10} {:>12} {:>7} {:>7} {:>7}",
            name,
            fmt_rate(&b["holds_plus_checkouts_per_sec"]),
            fmt_ms(&b["hold_latency"]["p50_ms"]),
            fmt_ms(&b["hold_latency"]["p99_ms"]),
            fmt_ms(&b["checkout_latency"]["p50_ms"]),
            fmt_ms(&b["checkout_latency"]["p99_ms"]),
            fmt_rate(&b["baseline_transactions_per_sec"]),
            b["ratio_to_baseline"]
                .as_f64()
                .map_or("-".into(), |r| format!("{r:.3}")),
            format!("{}/{}", b["audits_passed"], b["audits_run"]),
            b["errors_total"],
        );
    }
    for (name, b) in backends.iter().filter(|(_, b)| b.get("cpu").is_some()) {
        println!("  {name:<9} CPU while buying: {}", fmt_cpu(&b["cpu"]));
    }
    if let Some(bases) = baseline.as_object().filter(|b| !b.is_empty()) {
        println!("  raw baseline (hold UPDATE tx + sell UPDATE tx over sqlx, no server):");
        for (name, b) in bases {
            if let Some(e) = b.get("error") {
                println!("  {name:<9} FAILED: {}", e.as_str().unwrap_or("?"));
                continue;
            }
            println!(
                "  {:<9} {:>12} tx/s; hold tx p50/p99 {} / {}; sell tx p50/p99 {} / {}; {} tasks on {} connection(s), {} s, ended by {}; {} errors",
                name,
                fmt_rate(&b["transactions_per_sec"]),
                fmt_ms(&b["hold_latency"]["p50_ms"]),
                fmt_ms(&b["hold_latency"]["p99_ms"]),
                fmt_ms(&b["sell_latency"]["p50_ms"]),
                fmt_ms(&b["sell_latency"]["p99_ms"]),
                b["tasks"],
                b["connections"],
                b["seconds"],
                b["ended_by"].as_str().unwrap_or("?"),
                b["errors_total"],
            );
            println!("  {:<9} CPU: {}", "", fmt_cpu(&b["cpu"]));
        }
    }
}

fn print_read(r: &Value) {
    println!();
    println!(
        "b. reads: {} concurrent, {} s each",
        r["concurrency"], r["seconds_each"]
    );
    println!("  {:<34} {:>12} {:>12} {:>12}", "", "rate", "p50", "p99");
    let row = |label: &str, rate: &Value, p50: &Value, p99: &Value| {
        println!(
            "  {:<34} {:>12} {:>12} {:>12}",
            label,
            fmt_rate(rate),
            fmt_ms(p50),
            fmt_ms(p99)
        );
    };
    for (label, v, cpu) in [
        (
            "GET /healthz (this tool)",
            &r["client"]["healthz"],
            &r["client"]["healthz_cpu"],
        ),
        (
            "GET /seats (this tool)",
            &r["client"]["seats"],
            &r["client"]["seats_cpu"],
        ),
    ] {
        row(
            label,
            &v["requests_per_sec"],
            &v["latency"]["p50_ms"],
            &v["latency"]["p99_ms"],
        );
        println!("      CPU: {}", fmt_cpu(cpu));
    }
    println!(
        "  seats/healthz (this tool): {}",
        r["client"]["seats_to_healthz_ratio"]
    );
    if r["wrk"].get("skipped").is_some() {
        println!("  wrk: skipped: {}", r["wrk"]["skipped"]);
        return;
    }
    for (label, v) in [
        ("GET /healthz (wrk)", &r["wrk"]["healthz"]),
        ("GET /seats (wrk)", &r["wrk"]["seats"]),
    ] {
        row(label, &v["requests_per_sec"], &v["p50_ms"], &v["p99_ms"]);
        println!(
            "      CPU (wrk's own is in the machine's): {}",
            fmt_cpu(&v["cpu"])
        );
    }
    println!(
        "  seats/healthz (wrk): {}; /seats wrk/this tool: {}",
        r["wrk"]["seats_to_healthz_ratio"], r["wrk"]["seats_wrk_to_client_ratio"]
    );
}

fn print_delivery_header() {
    println!(
        "  {:<10} {:>5} {:>6} {:>14} {:>7} {:>22} {:>22} {:>22} {:>22}",
        "transport",
        "subs",
        "gap",
        "delivered",
        "missed",
        "from request",
        "from response",
        "from seat update",
        "last sub (update)"
    );
}

fn print_delivery_row(label: &str, run: &Value, spacing: &Value) {
    println!(
        "  {:<10} {:>5} {:>4}ms {:>14} {:>7} {:>22} {:>22} {:>22} {:>22}",
        label,
        run["subscribers"].as_u64().unwrap_or(0),
        spacing.as_u64().unwrap_or(0),
        format!("{}/{}", run["deliveries"], run["deliveries_expected"]),
        run["missed"],
        trio(&run["from_request_sent"]),
        trio(&run["from_response_received"]),
        trio(&run["from_seat_update"]),
        trio(&run["all_subscribers_from_seat_update"]),
    );
}

fn print_fanout(runs: &[Value]) {
    println!();
    println!(
        "c. live fan-out, one server: hold → arrival at each subscriber (ms; p50 / p99 / max)"
    );
    print_delivery_header();
    for run in runs {
        print_delivery_row(
            run["transport"].as_str().unwrap_or("?"),
            run,
            &run["spacing_ms"],
        );
    }
    for run in runs {
        println!(
            "  CPU, {} every {} ms: {}",
            run["transport"].as_str().unwrap_or("?"),
            run["spacing_ms"],
            fmt_cpu(&run["cpu"])
        );
    }
    println!(
        "  (commit → arrival lies between \"from response\" and \"from seat update\"; \"last sub\": \
         per hold, when the last subscriber had it)"
    );
}

fn print_cross(c: &Value) {
    println!();
    println!(
        "d. cross-instance fan-out: {} subscribers on instance 1 ({} SSE + {} WebSocket), holds through \
         instance 2; {} + Redis (ms; p50 / p99 / max)",
        c["subscribers"],
        c["sse_subscribers"],
        c["websocket_subscribers"],
        c["backend"].as_str().unwrap_or("?")
    );
    print_delivery_header();
    print_delivery_row("all", c, &c["spacing_ms"]);
    for kind in ["sse", "websocket"] {
        if c.get(kind).is_some() {
            print_delivery_row(kind, &c[kind], &c["spacing_ms"]);
        }
    }
    println!("  CPU (both instances together): {}", fmt_cpu(&c["cpu"]));
    println!(
        "  holds {}/{} ok; subscriber errors {}; audit ok: {}",
        c["holds_ok"], c["holds_sent"], c["subscriber_errors"], c["audit"]["ok"]
    );
}

pub(crate) fn print_table(report: &Value) {
    let m = &report["machine"];
    println!();
    println!(
        "machine: {} cores, {} GiB, {}, {}; load at start {}, at end {}; git {}",
        m["nproc"],
        m["memory_gib"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["os"].as_str().unwrap_or("?"),
        m["loadavg_at_start"].as_str().unwrap_or("?"),
        m["loadavg_at_end"].as_str().unwrap_or("?"),
        m["git"].as_str().unwrap_or("?")
    );
    let d = &report["databases"];
    println!(
        "databases: sqlite {}, postgres {}, mysql {}, redis {}",
        d["sqlite"].as_str().unwrap_or("-"),
        d["postgres"]
            .as_str()
            .and_then(|v| v.split(" on ").next())
            .unwrap_or("-"),
        d["mysql"].as_str().unwrap_or("-"),
        d["redis"].as_str().unwrap_or("-")
    );
    println!("server: {}", report["server"].as_str().unwrap_or("?"));
    for phase in PHASES {
        if let Some(e) = report.get(phase).and_then(|v| v.get("error")) {
            println!();
            println!("{phase}: FAILED: {}", e.as_str().unwrap_or("?"));
        }
    }
    print_buy(&report["buy"], &report["baseline"]);
    if let Some(r) = report.get("read").filter(|r| r.get("error").is_none()) {
        print_read(r);
    }
    if let Some(runs) = report.get("fanout").and_then(Value::as_array) {
        print_fanout(runs);
    }
    match report.get("cross") {
        Some(c) if c.get("skipped").is_some() => {
            println!();
            println!("d. cross-instance fan-out: skipped: {}", c["skipped"]);
        }
        Some(c) if c.get("error").is_none() => print_cross(c),
        _ => {}
    }
    if let Some(s) = report.get("scenarios") {
        scenarios::print_scenarios(s);
    }
    if let Some(s) = report.get("long-sale") {
        print_long_sale(s);
    }
}

fn print_long_sale(phase: &Value) {
    println!();
    println!(
        "g. long sale: a {}-seat stadium sold out one seat per order, ANALYZE after the first tenth; orders/s in {}-second windows",
        phase["seats"], phase["window_secs"]
    );
    println!(
        "{:<11} {:>6} {:>8} {:>9} {:>10} {:>10} {:>12} {:>8} {:>6}  audit",
        "database",
        "buyers",
        "orders",
        "seconds",
        "orders/s",
        "first win",
        "last full win",
        "ratio",
        "flat"
    );
    let Some(targets) = phase.as_object() else {
        return;
    };
    for (label, t) in targets {
        if !t.is_object() || label == "plots" {
            continue;
        }
        if let Some(e) = t.get("error") {
            println!("{label:<11} FAILED: {}", e.as_str().unwrap_or("?"));
            continue;
        }
        let audit = format!(
            "{} in {} s",
            if t["final_audit"]["ok"] == json!(true) {
                "clean"
            } else {
                "NOT CLEAN"
            },
            t["final_audit"]["seconds"]
        );
        for sale in t["sales"].as_array().into_iter().flatten() {
            if let Some(e) = sale.get("error") {
                println!(
                    "{label:<11} {:>6} FAILED: {}",
                    sale["buyers"],
                    e.as_str().unwrap_or("?")
                );
                continue;
            }
            let full: Vec<&Value> = sale["windows"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|w| w["full"] == json!(true))
                .collect();
            let rate = |w: Option<&&Value>| {
                w.map(|w| {
                    format!(
                        "{} ({}/{} ms)",
                        w["orders_per_second"], w["p50_ms"], w["p99_ms"]
                    )
                })
                .unwrap_or_else(|| "-".into())
            };
            println!(
                "{label:<11} {:>6} {:>8} {:>9} {:>10} {:>10} {:>12} {:>8} {:>6}  {audit}",
                sale["buyers"],
                sale["orders"],
                sale["seconds"],
                sale["orders_per_second"],
                rate(full.first()),
                rate(full.last()),
                sale["last_to_first"],
                sale["flat"],
            );
        }
        if let Some(w) = t["soak"]["windows"].as_array() {
            let p99: Vec<String> = w.iter().map(|w| w["hold_p99_ms"].to_string()).collect();
            println!(
                "{label:<11} soak: hold p99 per window (ms): {}",
                p99.join(" ")
            );
        }
    }
    if let Some(plots) = phase["plots"].as_array() {
        for p in plots {
            println!("plot: {}", p.as_str().unwrap_or("?"));
        }
    }
}
