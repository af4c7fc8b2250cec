//! The HTML report: one self-contained page (inline CSS and SVG, no scripts, no fonts to fetch)
//! with the latency and throughput over time and the delivery-latency histogram.

use std::fmt::Write;

use super::report::{Report, render_text};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const PAD: f64 = 44.0;

pub fn render(r: &Report) -> String {
    let t = |f: fn(&super::report::Second) -> f64| -> Vec<(f64, f64)> {
        r.timeline.iter().map(|s| (s.t as f64, f(s))).collect()
    };
    let latency = line_chart(
        "Latency over time (ms, per second of the sale)",
        &[
            ("hold p50", "#1f77b4", t(|s| s.hold_p50_ms)),
            ("hold p99", "#aec7e8", t(|s| s.hold_p99_ms)),
            ("checkout p50", "#d62728", t(|s| s.checkout_p50_ms)),
            ("checkout p99", "#ff9896", t(|s| s.checkout_p99_ms)),
        ],
    );
    let throughput = line_chart(
        "Throughput over time (per second)",
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
.ok{{color:#1a7f37;font-weight:bold}}.bad{{color:#cf222e;font-weight:bold}}svg{{display:block;margin:1em 0}}</style></head>\
<body><h1>Rehearsal: {scenario}</h1>{verdict}{latency}{throughput}{histogram}<h2>Report</h2><pre>{text}</pre></body></html>\n",
        scenario = escape(r.scenario),
        text = escape(&render_text(r)),
    )
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

fn line_chart(title: &str, series: &[Series<'_>]) -> String {
    let x_max = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
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
        let svg = line_chart("a < b", &[("x", "#000", vec![(0.0, 1.0), (1.0, 2.0)])]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &lt; b") && svg.contains("<polyline"));
        assert!(bar_chart("h", &["≤1".into()], &[3]).contains("<rect"));
    }
}
