//! The HTML report: one self-contained page (inline CSS and SVG, no scripts, no fonts to fetch)
//! with the latency and throughput over time and the delivery-latency histogram; with `--chaos`,
//! the faults are marked on both time charts and listed with what they did to the cluster.

use std::fmt::Write;

use super::{
    cluster::ChaosEvent,
    report::{Report, render_text},
};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const PAD: f64 = 44.0;

pub(crate) fn render(r: &Report) -> String {
    let t = |f: fn(&super::report::Second) -> f64| -> Vec<(f64, f64)> {
        r.timeline.iter().map(|s| (s.t as f64, f(s))).collect()
    };
    let markers = chaos_windows(&r.chaos, r.opened_at_secs);
    let latency = line_chart(
        "Latency over time (ms, per second of the sale)",
        &markers,
        &[
            ("hold p50", "#1f77b4", t(|s| s.hold_p50_ms)),
            ("hold p99", "#aec7e8", t(|s| s.hold_p99_ms)),
            ("checkout p50", "#d62728", t(|s| s.checkout_p50_ms)),
            ("checkout p99", "#ff9896", t(|s| s.checkout_p99_ms)),
        ],
    );
    let throughput = line_chart(
        "Throughput over time (per second)",
        &markers,
        &[
            ("requests", "#2ca02c", t(|s| s.requests as f64)),
            ("non-2xx (409s included)", "#d62728", t(|s| s.errors as f64)),
            ("seats sold", "#9467bd", t(|s| s.seats_sold as f64)),
        ],
    );
    let labels: Vec<String> = r
        .delivery
        .histogram
        .iter()
        .map(|b| b.le_ms.map_or("more".to_owned(), |le| format!("≤{le}")))
        .collect();
    let counts: Vec<u64> = r.delivery.histogram.iter().map(|b| b.count).collect();
    let histogram = bar_chart(
        "Live-update delivery latency (ms, commit → watcher)",
        &labels,
        &counts,
    );
    let verdict = if r.clean {
        "<p class=ok>Verdict: clean</p>"
    } else {
        "<p class=bad>Verdict: violations found</p>"
    };
    format!(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>boxoffice rehearsal: {scenario}</title>\
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:60em}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}\
.ok{{color:#1a7f37;font-weight:bold}}.bad{{color:#cf222e;font-weight:bold}}svg{{display:block;margin:1em 0}}\
table{{border-collapse:collapse}}td,th{{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}}</style></head>\
<body><h1>Rehearsal: {scenario}</h1>{verdict}{latency}{throughput}{histogram}{chaos}<h2>Report</h2><pre>{text}</pre></body></html>\n",
        scenario = escape(r.scenario),
        chaos = chaos_section(r),
        text = escape(&render_text(r)),
    )
}

/// A stretch of the sale when something was broken: from the fault to its healing (or to the
/// end of the chart when it never healed), in seconds since the opening.
#[derive(Debug, Clone, PartialEq)]
struct FaultWindow {
    from: f64,
    to: Option<f64>,
    label: &'static str,
}

/// Pairs each fault with the event that healed it.
fn chaos_windows(events: &[ChaosEvent], opened_at_secs: f64) -> Vec<FaultWindow> {
    let at = |e: &ChaosEvent| (e.at_ms as f64 / 1000.0 - opened_at_secs).max(0.0);
    let mut windows: Vec<FaultWindow> = Vec::new();
    for e in events {
        let (label, heals) = match e.kind.as_str() {
            "instance_killed" => ("instance down", None),
            "redis_killed" => ("redis down", None),
            "psp_faulty" => ("provider faulty", None),
            "instance_restarted" | "instance_restart_failed" => ("", Some("instance down")),
            "redis_restarted" => ("", Some("redis down")),
            "psp_healed" => ("", Some("provider faulty")),
            _ => continue,
        };
        match heals {
            None => windows.push(FaultWindow {
                from: at(e),
                to: None,
                label,
            }),
            Some(open) => {
                if let Some(w) = windows
                    .iter_mut()
                    .rev()
                    .find(|w| w.label == open && w.to.is_none())
                {
                    w.to = Some(at(e));
                }
            }
        }
    }
    windows
}

/// The faults injected and what the cluster made of them; empty without `--chaos`.
fn chaos_section(r: &Report) -> String {
    if r.chaos.is_empty() && r.cluster.is_none() {
        return String::new();
    }
    let mut out = String::from("<h2>Faults injected</h2>");
    if let Some(c) = &r.cluster {
        let _ = write!(
            out,
            "<p>{n} instances on {db}, Redis {redis}, payment provider {psp}.</p><ul>\
<li>{failovers} requests failed over to another instance</li>\
<li>{errors} 5xx answers (other than 503) while something was down: reported, not counted as violations</li>\
<li>{confirming} checkouts answered 202 confirming; {pending} still confirming at the end</li>\
<li>provider: {psp_requests} requests, {psp_errors} injected errors, {psp_lost} lost answers, \
{dropped} webhooks dropped, {delivered} delivered</li></ul>",
            n = c.instances.len(),
            db = escape(&c.database),
            redis = escape(&c.redis),
            psp = escape(&c.payment_provider),
            failovers = c.failovers,
            errors = c.server_errors_during_chaos,
            confirming = c.payments_confirming,
            pending = c.payments_pending_at_end,
            psp_requests = c.psp_requests,
            psp_errors = c.psp_injected_errors,
            psp_lost = c.psp_injected_timeouts,
            dropped = c.psp_webhooks_dropped,
            delivered = c.psp_webhooks_delivered,
        );
    }
    if r.chaos.is_empty() {
        out.push_str("<p>No fault was injected (no <code>--chaos</code>).</p>");
        return out;
    }
    out.push_str("<table><tr><th>since the opening</th><th>fault</th><th>target</th></tr>");
    for e in &r.chaos {
        let _ = write!(
            out,
            "<tr><td>{:.1} s</td><td>{}</td><td>{}</td></tr>",
            e.at_ms as f64 / 1000.0 - r.opened_at_secs,
            escape(&e.kind),
            escape(&e.target)
        );
    }
    out.push_str("</table>");
    let verdict = if r.clean {
        "<p class=ok>The verdict stayed clean through every fault.</p>"
    } else {
        "<p class=bad>Violations were found: see the verdict in the report below.</p>"
    };
    out.push_str(verdict);
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A rounded-up axis maximum, so the grid lines read well.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|m| *m >= v)
        .unwrap_or(v)
}

fn frame(title: &str, y_max: f64, out: &mut String) {
    let _ = write!(
        out,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{h}' viewBox='0 0 {WIDTH} {h}' role='img'>\
<text x='{PAD}' y='16' font-size='14'>{}</text>",
        escape(title),
        h = HEIGHT + 30.0
    );
    for i in 0..=4 {
        let y = 30.0 + (HEIGHT - PAD) * (1.0 - i as f64 / 4.0);
        let _ = write!(
            out,
            "<line x1='{PAD}' x2='{x2}' y1='{y:.1}' y2='{y:.1}' stroke='#ddd'/><text x='{tx}' y='{ty:.1}' font-size='10' text-anchor='end'>{v}</text>",
            x2 = WIDTH - 10.0,
            tx = PAD - 4.0,
            ty = y + 3.0,
            v = y_max * i as f64 / 4.0
        );
    }
}

/// A named line: (legend, colour, (x, y) points).
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// A chart of lines over seconds, with the faults (the chaos) shaded where they lasted.
fn line_chart(title: &str, faults: &[FaultWindow], series: &[Series<'_>]) -> String {
    let x_max = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .chain(faults.iter().map(|w| w.to.unwrap_or(w.from)))
        .fold(1.0, f64::max);
    let y_max = nice_max(
        series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let mut out = String::new();
    frame(title, y_max, &mut out);
    let plot_w = WIDTH - PAD - 10.0;
    let plot_h = HEIGHT - PAD;
    for (i, w) in faults.iter().enumerate() {
        let x = PAD + plot_w * w.from / x_max;
        let to = PAD + plot_w * w.to.unwrap_or(x_max) / x_max;
        // Labels step down three rows so that faults close together stay readable.
        let y = 42.0 + 12.0 * (i % 3) as f64;
        let _ = write!(
            out,
            "<rect x='{x:.1}' y='30' width='{width:.1}' height='{plot_h:.1}' fill='#cf222e' fill-opacity='0.12' \
stroke='#cf222e' stroke-opacity='0.5' stroke-dasharray='4 3' class='fault'><title>{label}</title></rect>\
<text x='{tx:.1}' y='{y}' font-size='10' fill='#cf222e'>{label}</text>",
            width = (to - x).max(1.5),
            label = escape(w.label),
            tx = x + 2.0,
        );
    }
    for (n, (name, colour, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    PAD + plot_w * x / x_max,
                    30.0 + plot_h * (1.0 - y / y_max)
                )
            })
            .collect();
        let _ = write!(
            out,
            "<polyline fill='none' stroke='{colour}' stroke-width='2' points='{}'/>\
<rect x='{lx:.0}' y='{ly}' width='10' height='10' fill='{colour}'/><text x='{tx:.0}' y='{ty}' font-size='11'>{}</text>",
            path.join(" "),
            escape(name),
            lx = PAD + 160.0 * n as f64,
            ly = HEIGHT + 12.0,
            tx = PAD + 14.0 + 160.0 * n as f64,
            ty = HEIGHT + 21.0
        );
    }
    let _ = write!(
        out,
        "<text x='{}' y='{}' font-size='10' text-anchor='end'>{x_max:.0} s</text></svg>",
        WIDTH - 10.0,
        HEIGHT - PAD + 44.0
    );
    out
}

fn bar_chart(title: &str, labels: &[String], counts: &[u64]) -> String {
    let y_max = nice_max(counts.iter().copied().max().unwrap_or(0) as f64);
    let mut out = String::new();
    frame(title, y_max, &mut out);
    let slot = (WIDTH - PAD - 10.0) / counts.len().max(1) as f64;
    let plot_h = HEIGHT - PAD;
    for (i, (label, count)) in labels.iter().zip(counts).enumerate() {
        let h = plot_h * *count as f64 / y_max;
        let x = PAD + slot * i as f64;
        let _ = write!(
            out,
            "<rect x='{:.1}' y='{:.1}' width='{:.1}' height='{h:.1}' fill='#1f77b4'><title>{count}</title></rect>\
<text x='{:.1}' y='{}' font-size='10' text-anchor='middle'>{}</text>",
            x + 2.0,
            30.0 + plot_h - h,
            slot - 4.0,
            x + slot / 2.0,
            HEIGHT + 2.0,
            escape(label)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_round_up_to_one_two_or_five() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(nice_max(0.4), 0.5);
    }

    #[test]
    fn charts_are_inline_svg_with_escaped_text() {
        let svg = line_chart("a < b", &[], &[("x", "#000", vec![(0.0, 1.0), (1.0, 2.0)])]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &lt; b") && svg.contains("<polyline"));
        assert!(bar_chart("h", &["≤1".into()], &[3]).contains("<rect"));
    }

    fn event(at_ms: u64, kind: &str, target: &str) -> ChaosEvent {
        ChaosEvent {
            at_ms,
            kind: kind.to_owned(),
            target: target.to_owned(),
        }
    }

    #[test]
    fn each_fault_is_shaded_from_its_second_of_the_sale_until_it_healed() {
        let events = [
            event(3_500, "instance_killed", "instance 2"),
            event(4_500, "redis_killed", "redis"),
            event(5_000, "instance_restarted", "instance 2"),
            event(6_000, "redis_restarted", "redis"),
            event(8_000, "psp_faulty", "payment provider"),
        ];
        let windows = chaos_windows(&events, 1.5);
        let spans: Vec<(f64, Option<f64>, &str)> =
            windows.iter().map(|w| (w.from, w.to, w.label)).collect();
        assert_eq!(
            spans,
            vec![
                (2.0, Some(3.5), "instance down"),
                (3.0, Some(4.5), "redis down"),
                // Never healed before the end: shaded to the end of the chart.
                (6.5, None, "provider faulty"),
            ]
        );
        let svg = line_chart(
            "t",
            &windows,
            &[("x", "#000", vec![(0.0, 1.0), (10.0, 2.0)])],
        );
        assert_eq!(svg.matches("class='fault'").count(), 3);
        assert!(svg.contains(">instance down<") && svg.contains(">provider faulty<"));
    }

    #[test]
    fn a_rehearsal_with_chaos_lists_every_fault_and_one_without_has_no_section() {
        let plan = super::super::scenario::Plan::preset(super::super::scenario::Scenario::Soak);
        let records = super::super::record::Records::default();
        let mut report = super::super::report::assemble(super::super::report::Inputs {
            target: "http://127.0.0.1:1".into(),
            event_id: "e".into(),
            plan,
            records: &records,
            verdict: Default::default(),
            opened_at: 1.0,
            sale_secs: 10.0,
            planned: 0,
            arrived: 0,
            signed_in_early: 0,
            held_latencies: vec![],
            sold_latencies: vec![],
            before_response: 0,
            held_not_seen: 0,
            resyncs: 0,
            reconnects: 0,
            live_maps: 0,
            live_maps_converged: 0,
            convergence_ms: None,
            seats: super::super::report::Seats {
                total: 0,
                sold_to_the_crowd: 0,
                final_available: 0,
                final_held: 0,
                final_sold: 0,
            },
            audit: None,
        });
        assert!(!render(&report).contains("Faults injected"));
        report.chaos = vec![
            event(4_000, "instance_killed", "instance 1 <a>"),
            event(9_000, "psp_faulty", "sandbox-psp"),
        ];
        let page = render(&report);
        assert!(page.contains("<h2>Faults injected</h2>"));
        assert!(
            page.contains("<td>3.0 s</td><td>instance_killed</td><td>instance 1 &lt;a&gt;</td>")
        );
        assert!(page.contains("<td>psp_faulty</td>"));
        // Shaded on both time charts, and the styles stay in the head.
        assert_eq!(page.matches(">instance down</text>").count(), 2);
        let head = &page[..page.find("<body>").unwrap()];
        assert!(head.contains("border-collapse"));
        assert!(!page[head.len()..].contains("border-collapse"));
    }
}
