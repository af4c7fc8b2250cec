//! One buyer's visit: sign in, load the event and its map, keep it live, click seats (again,
//! elsewhere, after a 409), then pay, cancel or walk away. Every answer goes to the recorder.

use std::{collections::HashSet, sync::Arc, time::Duration};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{
    api::{Api, Reply},
    feed::parse_message,
    record::{Step, Visit},
    scenario::{Ending, Intent, Plan, Taste, Transport},
    seats::Chart,
    stream::{LiveView, Subscription, Wire, follow},
    verdict::{HoldRecord, OrderRecord, ReplayRecord},
};

pub const GOOD_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";
const PASSWORD: &str = "rehearsal-password-1";
/// How long a buyer waits to see its own seats turn "mine" on its map before going on.
const OWN_SEATS_WAIT: Duration = Duration::from_secs(1);

/// What every buyer shares.
pub struct Crowd {
    pub api: Api,
    pub chart: Arc<Chart>,
    pub event_id: String,
    pub plan: Plan,
    /// Makes this run's e-mail addresses unique on a deployment that has seen earlier runs.
    pub run_id: String,
    pub stop: CancellationToken,
}

impl Crowd {
    /// The wire of the n-th live map under the plan's transport.
    pub fn wire(&self, n: usize) -> Wire {
        match self.plan.transport {
            Transport::Sse => Wire::Sse,
            Transport::Ws => Wire::Ws,
            Transport::Mixed if n.is_multiple_of(2) => Wire::Sse,
            Transport::Mixed => Wire::Ws,
        }
    }

    pub fn subscription(&self, token: Option<String>, n: usize) -> Subscription {
        Subscription {
            api: self.api.clone(),
            chart: self.chart.clone(),
            event_id: self.event_id.clone(),
            token,
            wire: self.wire(n),
        }
    }
}

/// Registers buyer `n` and signs it in; the bearer token, or `None` if either step failed.
pub async fn sign_in(crowd: &Crowd, n: usize) -> Option<String> {
    let email = format!("rehearse-{}-{n}@example.com", crowd.run_id);
    let account = json!({"email": email, "password": PASSWORD, "name": format!("Buyer {n}")});
    let registered = crowd
        .api
        .call(
            Step::Register,
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(&account),
            None,
        )
        .await?;
    if !(registered.is(201) || registered.code() == "email_taken") {
        return None;
    }
    let credentials = json!({"email": email, "password": PASSWORD});
    let login = crowd
        .api
        .call(
            Step::Login,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&credentials),
            None,
        )
        .await?;
    login.body["token"]
        .as_str()
        .filter(|_| login.is(200))
        .map(str::to_owned)
}

pub async fn visit(crowd: Arc<Crowd>, n: usize, intent: Intent, token: Option<String>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let stop = crowd.stop.child_token();
    let outcome = shop(&crowd, n, intent, token, &mut rng, &stop).await;
    stop.cancel();
    crowd.api.recorder.visit(outcome);
}

async fn shop(
    crowd: &Crowd,
    n: usize,
    intent: Intent,
    token: Option<String>,
    rng: &mut StdRng,
    stop: &CancellationToken,
) -> Visit {
    let token = match token {
        Some(t) => t,
        None => match sign_in(crowd, n).await {
            Some(t) => t,
            None => return Visit::Failed,
        },
    };
    let api = &crowd.api;
    let event_path = format!("/api/v1/events/{}", crowd.event_id);
    let tok = Some(token.as_str());
    if !api
        .call(Step::Event, Method::GET, &event_path, tok, None, None)
        .await
        .is_some_and(|r| r.is(200))
    {
        return Visit::Failed;
    }
    let view = Arc::new(LiveView::new(&crowd.chart, false));
    tokio::spawn(follow(
        crowd.subscription(Some(token.clone()), n),
        view.clone(),
        stop.clone(),
    ));
    let seats_path = format!("{event_path}/seats");
    match api
        .call(Step::Seats, Method::GET, &seats_path, tok, None, None)
        .await
    {
        Some(r) if r.is(200) => {
            // The page draws the map from this; the stream's snapshot replaces it when it comes.
            let mut s = view.lock();
            if s.snapshots == 0 {
                let snapshot = parse_message(Some("snapshot"), &r.body.to_string());
                if let super::feed::FeedMessage::Snapshot(seats) = snapshot {
                    s.map.apply_snapshot(&crowd.chart, &seats);
                }
            }
        }
        _ => return Visit::Failed,
    }
    pause(&crowd.plan, rng, stop).await;
    let Some(hold) = take_seats(crowd, intent, &token, &view, rng, stop).await else {
        return Visit::Failed;
    };
    let (index, seats) = match hold {
        Taken::Hold(index, seats) => (index, seats),
        Taken::Nothing(visit) => return visit,
    };
    // A person looks at the map turning their seats "mine" before paying.
    let seat_indices: Vec<usize> = seats
        .iter()
        .filter_map(|s| crowd.chart.index_of(s))
        .collect();
    view.wait_for(OWN_SEATS_WAIT, |s| {
        seat_indices
            .iter()
            .all(|i| s.mine_held.iter().any(|(seat, _)| seat == i))
    })
    .await;
    {
        let mut r = api.recorder.lock();
        let own = view.lock();
        for (seat, version) in own
            .mine_held
            .iter()
            .filter(|(s, _)| seat_indices.contains(s))
        {
            r.own_holds.push((index, *seat, *version));
        }
    }
    pause(&crowd.plan, rng, stop).await;
    let hold_id = api.recorder.lock().holds[index].hold_id.clone();
    match intent.ending {
        Ending::Pay => pay(crowd, intent, &token, index, &hold_id, rng, stop).await,
        Ending::Cancel => {
            let now = api.recorder.now();
            api.recorder
                .update_hold(index, |h| h.release_sent_at = Some(now));
            let path = format!("/api/v1/holds/{hold_id}");
            match api
                .call(Step::Release, Method::DELETE, &path, tok, None, None)
                .await
            {
                Some(r) if r.is(204) => Visit::Cancelled,
                _ => Visit::Failed,
            }
        }
        Ending::Abandon => Visit::Abandoned,
    }
}

enum Taken {
    /// The recorder's index of the granted hold, and its seats.
    Hold(usize, Vec<String>),
    Nothing(Visit),
}

/// Clicks seats until a hold is granted; after a 409 the refused seats are avoided. `None` when
/// an unexpected answer ended the visit.
async fn take_seats(
    crowd: &Crowd,
    intent: Intent,
    token: &str,
    view: &LiveView,
    rng: &mut StdRng,
    stop: &CancellationToken,
) -> Option<Taken> {
    let mut refused: HashSet<usize> = HashSet::new();
    let path = format!("/api/v1/events/{}/holds", crowd.event_id);
    for attempt in 0..crowd.plan.max_attempts {
        let picked = {
            let s = view.lock();
            let first = attempt == 0;
            crowd.chart.choose(
                intent.seats,
                intent.taste,
                first,
                |i| s.map.is_free(i) && !refused.contains(&i),
                rng,
            )
        };
        if picked.is_empty() {
            return Some(Taken::Nothing(Visit::SoldOut));
        }
        let seat_ids: Vec<&str> = picked.iter().map(|i| crowd.chart.id(*i)).collect();
        let body = json!({ "seat_ids": seat_ids });
        let reply = crowd
            .api
            .call(
                Step::Hold,
                Method::POST,
                &path,
                Some(token),
                Some(&body),
                None,
            )
            .await?;
        if reply.is(201) {
            return Some(granted(crowd, &reply));
        }
        if !(reply.is(409) && reply.code() == "seat_unavailable") {
            return None;
        }
        crowd
            .api
            .recorder
            .counters
            .refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let taken = reply.body["error"]["details"]["seat_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        refused.extend(
            taken
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|id| crowd.chart.index_of(id)),
        );
        if intent.taste == Taste::HotSeat || taken.is_empty() {
            refused.extend(picked);
        }
        pause(&crowd.plan, rng, stop).await;
    }
    Some(Taken::Nothing(Visit::GaveUp))
}

fn granted(crowd: &Crowd, reply: &Reply) -> Taken {
    let hold = &reply.body["hold"];
    let seats: Vec<String> = hold["seat_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let time = |k: &str| {
        hold[k].as_str().and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
    };
    let ttl = match (time("created_at"), time("expires_at")) {
        (Some(c), Some(e)) => Duration::try_from(e - c).ok(),
        _ => None,
    };
    let index = crowd.api.recorder.hold(HoldRecord {
        hold_id: hold["id"].as_str().unwrap_or_default().to_owned(),
        seats: seats.clone(),
        requested_at: reply.sent_at,
        granted_at: reply.received_at,
        ttl,
        release_sent_at: None,
        converted: false,
        lost: false,
    });
    Taken::Hold(index, seats)
}

async fn pay(
    crowd: &Crowd,
    intent: Intent,
    token: &str,
    index: usize,
    hold_id: &str,
    rng: &mut StdRng,
    stop: &CancellationToken,
) -> Visit {
    let api = &crowd.api;
    let path = format!("/api/v1/holds/{hold_id}/checkout");
    let payment = |card: &str| json!({"payment": {"method": "sandbox", "card_number": card}});
    let key = |rng: &mut StdRng| format!("rehearse-{:032x}", rng.random::<u128>());
    if intent.declined_first {
        let declined = api
            .call(
                Step::Checkout,
                Method::POST,
                &path,
                Some(token),
                Some(&payment(DECLINED_CARD)),
                Some(&key(rng)),
            )
            .await;
        if !declined.is_some_and(|r| r.is(402)) {
            return Visit::Failed;
        }
        pause(&crowd.plan, rng, stop).await;
    }
    let good = payment(GOOD_CARD);
    let key = key(rng);
    let Some(reply) = api
        .call(
            Step::Checkout,
            Method::POST,
            &path,
            Some(token),
            Some(&good),
            Some(&key),
        )
        .await
    else {
        return Visit::Failed;
    };
    if !reply.is(201) {
        if reply.is(409) && reply.code() == "hold_not_active" {
            api.recorder.update_hold(index, |h| h.lost = true);
        }
        return Visit::Failed;
    }
    let order = &reply.body["order"];
    let order_id = order["id"].as_str().unwrap_or_default().to_owned();
    let seats: Vec<String> = order["seat_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    {
        let mut r = api.recorder.lock();
        r.holds[index].converted = true;
        for s in &seats {
            if let Some(i) = crowd.chart.index_of(s) {
                r.sales.push((i, reply.received_at));
            }
        }
        r.orders.push(OrderRecord {
            order_id: order_id.clone(),
            seats: seats.clone(),
            read_back: None,
        });
        r.order_tokens.push(token.to_owned());
    }
    api.recorder
        .counters
        .paid_seats
        .fetch_add(seats.len() as u64, std::sync::atomic::Ordering::Relaxed);
    if intent.replay {
        // The double click: the same key again must answer with the same order, not a second one.
        let again = api
            .call(
                Step::Replay,
                Method::POST,
                &path,
                Some(token),
                Some(&good),
                Some(&key),
            )
            .await;
        let replay_order_id = again
            .filter(|r| r.is(201) || r.is(200))
            .and_then(|r| r.body["order"]["id"].as_str().map(str::to_owned));
        api.recorder.lock().replays.push(ReplayRecord {
            first_order_id: order_id,
            replay_order_id,
        });
    }
    Visit::Paid
}

/// A human pause, cut short when the run stops.
async fn pause(plan: &Plan, rng: &mut impl Rng, stop: &CancellationToken) {
    let think = plan.think_time(rng);
    tokio::select! {
        _ = tokio::time::sleep(think) => {}
        _ = stop.cancelled() => {}
    }
}
