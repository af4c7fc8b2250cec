//! One buyer's visit: sign in, load the event and its map, keep it live, click seats (again,
//! elsewhere, after a 409), then pay, cancel or walk away. Every answer goes to the recorder.

mod checkout;

use std::{collections::HashSet, sync::Arc, time::Duration};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{
    api::{Api, Reply},
    feed::parse_map_message,
    queue::{self, Waited},
    record::{Step, Visit},
    scenario::{Ending, Intent, Plan, Taste, Transport},
    seats::Chart,
    stream::{LiveView, Subscription, Wire, follow},
    verdict::HoldRecord,
};

use checkout::pay;
pub(crate) use checkout::{Settled, follow_payment, record_paid};

pub(super) const PASSWORD: &str = "rehearsal-password-1";
/// How long a buyer waits to see its own seats turn "mine" on its map before going on.
const OWN_SEATS_WAIT: Duration = Duration::from_secs(1);

/// What every buyer shares.
pub(crate) struct Crowd {
    pub api: Api,
    pub(crate) chart: Arc<Chart>,
    pub event_id: String,
    pub plan: Plan,
    /// Makes this run's e-mail addresses unique on a deployment that has seen earlier runs.
    pub(crate) run_id: String,
    pub stop: CancellationToken,
    /// The checkout's `payment.method`: the provider's name (`sandbox`, as the API documents),
    /// or `card`, which any provider takes (a spawned cluster pays through `stripe`).
    pub payment_method: &'static str,
}

impl Crowd {
    /// The wire of the n-th live map under the plan's transport.
    pub(crate) fn wire(&self, n: usize) -> Wire {
        match self.plan.transport {
            Transport::Sse => Wire::Sse,
            Transport::Ws => Wire::Ws,
            Transport::Mixed if n.is_multiple_of(2) => Wire::Sse,
            Transport::Mixed => Wire::Ws,
        }
    }

    pub(crate) fn subscription(&self, token: Option<String>, n: usize) -> Subscription {
        Subscription {
            api: self.api.on(n),
            chart: self.chart.clone(),
            event_id: self.event_id.clone(),
            token,
            wire: self.wire(n),
            resumed_from: None,
        }
    }
}

/// Buyer `n`'s e-mail address in the run `run_id`.
pub(crate) fn buyer_email(run_id: &str, n: usize) -> String {
    format!("rehearse-{run_id}-{n}@example.com")
}

/// Registers buyer `n` and signs it in; the bearer token, or `None` if either step failed.
pub(crate) async fn sign_in(crowd: &Crowd, n: usize) -> Option<String> {
    let api = crowd.api.on(n);
    let email = buyer_email(&crowd.run_id, n);
    let account = json!({"email": email, "password": PASSWORD, "name": format!("Buyer {n}")});
    let registered = api
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
    let login = api
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

pub(crate) async fn visit(
    crowd: Arc<Crowd>,
    n: usize,
    intent: Intent,
    token: Option<String>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let stop = crowd.stop.child_token();
    let outcome = shop(&crowd, n, intent, token, &mut rng, &stop).await;
    stop.cancel();
    crowd.api.recorder.visit(outcome);
}

/// Whether the event answer says buyers go through a waiting room.
fn has_waiting_room(event: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Answer {
        event: Flagged,
    }
    #[derive(serde::Deserialize)]
    struct Flagged {
        waiting_room: Option<Flag>,
    }
    #[derive(serde::Deserialize)]
    struct Flag {
        enabled: bool,
    }
    serde_json::from_slice::<Answer>(event)
        .ok()
        .and_then(|a| a.event.waiting_room)
        .is_some_and(|w| w.enabled)
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
    // Each buyer has an instance of its own (the load balancer's choice), and fails over.
    let mut api = crowd.api.on(n);
    let event_path = format!("/api/v1/events/{}", crowd.event_id);
    let tok = Some(token.as_str());
    // The map as the buyer's page fetches it: the event without its layout, then (after the
    // waiting room, if any) the layout from its immutable URL (each buyer is a new browser, so
    // once each) and the compact seat states, all accepting brotli and gzip.
    let Some(event) = api
        .fetch_compressed(Step::Event, &format!("{event_path}?layout=url"), tok)
        .await
        .filter(|r| r.is(200))
    else {
        return Visit::Failed;
    };
    // As the page does: through the waiting room, if the event has one, before the map.
    if has_waiting_room(&event.raw) {
        match queue::wait_in_line(&api, &crowd.event_id, &token, rng, stop).await {
            Waited::Admitted(admission) => api = api.admitted(&admission),
            Waited::StillWaiting => return Visit::Unfinished,
            Waited::Failed => return Visit::Failed,
        }
    }
    let api = &api;
    let layout_url = serde_json::from_slice::<Value>(&event.raw)
        .ok()
        .and_then(|e| e["event"]["layout_url"].as_str().map(str::to_owned));
    if let Some(url) = layout_url
        && !api
            .fetch_compressed(Step::Layout, &url, tok)
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
    let seats_path = format!("{event_path}/seats?format=compact");
    match api.fetch_compressed(Step::Seats, &seats_path, tok).await {
        Some(r) if r.is(200) => {
            // The page draws the map from this; the stream's snapshot replaces it when it comes.
            let mut s = view.lock();
            if s.snapshots == 0 {
                let snapshot = parse_map_message(
                    &crowd.chart,
                    Some("snapshot"),
                    &String::from_utf8_lossy(&r.raw),
                );
                if let super::feed::FeedMessage::Snapshot(seats) = snapshot {
                    s.map.apply_snapshot(&crowd.chart, &seats);
                }
            }
        }
        _ => return Visit::Failed,
    }
    pause(&crowd.plan, rng, stop).await;
    let Some(hold) = take_seats(crowd, api, intent, &token, &view, rng, stop).await else {
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
        Ending::Pay => pay(crowd, api, intent, &token, index, &hold_id, rng, stop).await,
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
    api: &Api,
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
        let reply = api
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

/// The seat ids of a hold object as the API answers it.
pub(super) fn seat_ids_of(hold: &Value) -> Vec<String> {
    hold["seat_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn granted(crowd: &Crowd, reply: &Reply) -> Taken {
    let hold = &reply.body["hold"];
    let seats = seat_ids_of(hold);
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

/// A human pause, cut short when the run stops.
async fn pause(plan: &Plan, rng: &mut impl Rng, stop: &CancellationToken) {
    let think = plan.think_time(rng);
    tokio::select! {
        _ = tokio::time::sleep(think) => {}
        _ = stop.cancelled() => {}
    }
}
