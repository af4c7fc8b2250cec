//! The checks after the sale: every live map against a fresh `/seats`, the paid orders read
//! back, what watchers saw matched with what buyers were told, and the database audit.

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use futures_util::{StreamExt, stream};
use reqwest::Method;
use tokio::time::Instant;

use crate::{
    api::Api,
    feed::{FeedMessage, LiveMap, parse_message},
    record::{Records, Step},
    seats::Chart,
    stream::LiveView,
    verdict::OrderReadBack,
};

/// The design's promise: every map converges within 2 s; allow a little more.
const CONVERGENCE_LIMIT: Duration = Duration::from_secs(3);
const READ_BACK_CONCURRENCY: usize = 8;
/// Orders not read back by then count as missing their tickets: unconfirmed is not confirmed.
const READ_BACK_LIMIT: Duration = Duration::from_secs(120);

/// A fresh anonymous `/seats`: the map and seat id → state.
pub(crate) async fn fresh_map(api: &Api, chart: &Chart, event_id: &str) -> Option<FreshMap> {
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

pub(crate) type FreshMap = (LiveMap, HashMap<String, String>);

/// Compares every live map with fresh `/seats` until all agree or the limit passes. Returns each
/// map's differing seats at the last comparison, how long agreement took, and the last fresh map.
pub(super) async fn converge(
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
pub(super) async fn read_back_orders(api: &Api) {
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

pub(super) async fn run_audit(url: &str) -> anyhow::Result<serde_json::Value> {
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
pub(super) struct DeliveryLatencies {
    pub(super) held: Vec<f64>,
    pub(super) sold: Vec<f64>,
    pub(super) before_response: u64,
    pub(super) held_not_seen: u64,
}

/// Matches what watchers saw with what buyers were told: a held seat by its exact version (the
/// buyer's own feed marks it `mine`), a sold seat by its first sighting as sold.
pub(super) fn delivery_latencies(records: &Records, views: &[Arc<LiveView>]) -> DeliveryLatencies {
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
