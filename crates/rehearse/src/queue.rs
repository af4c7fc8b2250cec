//! The waiting room as the crowd meets it: join the line, ask where one stands at the pace the
//! page does, and come in with the admission token; then what the report says about it: time
//! spent queueing, the order buyers were numbered in, and goodput.

use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{
    api::Api,
    record::{Records, Step},
    stats::Summary,
};

/// One buyer's time in line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueRecord {
    /// When the join was sent, and when its answer came.
    pub(crate) joined_sent: Duration,
    pub(crate) joined_received: Duration,
    pub before_opening: bool,
    /// The buyer's number in line, once the server gave one.
    pub number: Option<u64>,
    pub(crate) admitted_at: Option<Duration>,
}

/// How a wait in line ended.
pub(crate) enum Waited {
    Admitted(String),
    /// The run ended first.
    StillWaiting,
    /// An answer the page could not go on from.
    Failed,
}

/// Waits in `event_id`'s line: `Admitted(token)` once let in.
pub(crate) async fn wait_in_line(
    api: &Api,
    event_id: &str,
    token: &str,
    rng: &mut impl Rng,
    stop: &CancellationToken,
) -> Waited {
    let path = format!("/api/v1/events/{event_id}/queue");
    let joined_sent = api.recorder.now();
    let mut method = Method::POST;
    let mut index: Option<usize> = None;
    loop {
        let Some(reply) = api
            .call(Step::Queue, method.clone(), &path, Some(token), None, None)
            .await
        else {
            return Waited::Failed;
        };
        let place = &reply.body["place"];
        if reply.is(404) {
            method = Method::POST;
        } else if !reply.is(200) {
            return Waited::Failed;
        } else {
            method = Method::GET;
            let number = place["number"].as_u64();
            let i = *index.get_or_insert_with(|| {
                let mut r = api.recorder.lock();
                r.queue.push(QueueRecord {
                    joined_sent,
                    joined_received: reply.received_at,
                    before_opening: place["before_opening"].as_bool().unwrap_or(false),
                    number,
                    admitted_at: None,
                });
                r.queue.len() - 1
            });
            if place["status"] == "admitted" {
                let mut r = api.recorder.lock();
                let record = &mut r.queue[i];
                record.admitted_at = Some(reply.received_at);
                record.number = record.number.or(number);
                return match place["admission_token"].as_str() {
                    Some(t) => Waited::Admitted(t.to_owned()),
                    None => Waited::Failed,
                };
            }
            let mut r = api.recorder.lock();
            r.queue[i].number = r.queue[i].number.or(number);
        }
        // The page's pace: sooner as the turn nears, between 1.5 and 5 seconds, jittered.
        let eta = place["eta_seconds"].as_u64().unwrap_or(2);
        let base = (eta * 100).clamp(1_500, 5_000) as f64;
        let wait = Duration::from_millis((base * rng.random_range(0.8..1.2)) as u64);
        tokio::select! {
            _ = stop.cancelled() => return Waited::StillWaiting,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The waiting room's part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct WaitingRoomFigures {
    pub joined: usize,
    pub admitted: usize,
    /// From joining to being let in, for those let in.
    pub queue_time: Summary,
    /// Buyers who joined after the opening and were numbered behind someone who joined after
    /// them (the pre-queue's shuffle is by design and not counted).
    pub fifo_inversions: usize,
    pub(crate) fifo_inversion_share: f64,
    /// Paid orders per second of the sale: the work the crowd came for.
    pub goodput_orders_per_second: f64,
}

/// `None` when nobody met a waiting room.
pub(crate) fn figures(r: &Records, sale_secs: f64) -> Option<WaitingRoomFigures> {
    if r.queue.is_empty() {
        return None;
    }
    let admitted: Vec<&QueueRecord> = r.queue.iter().filter(|q| q.admitted_at.is_some()).collect();
    let waits: Vec<f64> = admitted
        .iter()
        .filter_map(|q| {
            q.admitted_at
                .map(|a| (a - q.joined_sent).as_secs_f64() * 1_000.0)
        })
        .collect();
    let after_opening: Vec<(Duration, Duration, u64)> = r
        .queue
        .iter()
        .filter(|q| !q.before_opening)
        .filter_map(|q| q.number.map(|n| (q.joined_sent, q.joined_received, n)))
        .collect();
    let inversions = fifo_inversions(&after_opening);
    Some(WaitingRoomFigures {
        joined: r.queue.len(),
        admitted: admitted.len(),
        queue_time: Summary::of(&waits),
        fifo_inversions: inversions,
        fifo_inversion_share: inversions as f64 / after_opening.len().max(1) as f64,
        goodput_orders_per_second: r.orders.len() as f64 / sale_secs.max(1e-3),
    })
}

/// How many buyers got a higher number than someone whose join was sent only after theirs had
/// been answered (so the server surely saw theirs first). Each entry: (sent, answered, number).
pub(crate) fn fifo_inversions(joins: &[(Duration, Duration, u64)]) -> usize {
    let mut by_sent: Vec<(Duration, u64)> = joins.iter().map(|j| (j.0, j.2)).collect();
    by_sent.sort_by_key(|j| j.0);
    // The lowest number among the joins sent from each point on.
    let mut lowest_from = vec![u64::MAX; by_sent.len() + 1];
    for i in (0..by_sent.len()).rev() {
        lowest_from[i] = lowest_from[i + 1].min(by_sent[i].1);
    }
    joins
        .iter()
        .filter(|&&(_, answered, number)| {
            // Everyone who sent after this one was answered must have a higher number.
            let first_later = by_sent.partition_point(|j| j.0 <= answered);
            lowest_from[first_later] < number
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn numbers_in_the_order_of_arrival_have_no_inversion() {
        let joins = [(ms(0), ms(5), 1), (ms(10), ms(15), 2), (ms(20), ms(25), 3)];
        assert_eq!(fifo_inversions(&joins), 0);
    }

    #[test]
    fn a_later_arrival_numbered_ahead_is_an_inversion() {
        let joins = [(ms(0), ms(5), 2), (ms(10), ms(15), 1), (ms(20), ms(25), 3)];
        assert_eq!(fifo_inversions(&joins), 1);
    }

    #[test]
    fn joins_in_flight_together_may_be_numbered_either_way() {
        // The second was sent before the first was answered: the server may have seen it first.
        let joins = [(ms(0), ms(50), 2), (ms(10), ms(40), 1)];
        assert_eq!(fifo_inversions(&joins), 0);
    }
}
