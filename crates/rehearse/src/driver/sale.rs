//! The sale itself: the crowd signed in before the opening, buyers let in on schedule and
//! stopped at the end, and the payments still confirming followed until they are final.

use std::{io::IsTerminal, sync::Arc, sync::atomic::Ordering, time::Duration};

use futures_util::{StreamExt, stream};
use rand::{Rng, rngs::StdRng};
use tokio::{task::JoinSet, time::Instant};

use super::{Options, progress::Progress};
use crate::{
    buyer::{Crowd, Settled, follow_payment, record_paid, sign_in, visit},
    record::{Confirming, Visit},
    stream::LiveView,
};

const SIGN_IN_LIMIT: Duration = Duration::from_secs(120);
const SIGN_IN_CONCURRENCY: usize = 8;

/// Follows the payments buyers were told are confirming until each is final, or `limit`.
pub(super) async fn settle_confirming(crowd: &Crowd, limit: Duration) {
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

/// Signs in `count` buyers before the opening, a few at a time; slots left `None` sign in on
/// arrival (the time limit keeps a slow server from holding the whole run).
pub(super) async fn sign_in_early(
    crowd: &Arc<Crowd>,
    count: usize,
    progress: bool,
) -> Vec<Option<String>> {
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
pub(super) async fn run_sale(
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
