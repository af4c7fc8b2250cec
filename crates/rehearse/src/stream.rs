//! A live seat map kept open over SSE or WebSocket: connects, applies the snapshot and changes,
//! reconnects and resyncs when the stream ends, until told to stop. Watchers also note when each
//! seat turned held or sold, for the delivery latencies.

use std::{
    sync::{Arc, Mutex, PoisonError, atomic::Ordering},
    time::Duration,
};

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use tokio_util::sync::CancellationToken;

use super::{
    api::Api,
    feed::{Applied, FeedMessage, LiveMap, parse_map_message},
    record::{Outcome, Sample, Sighting, Step},
    seats::Chart,
};
use boxoffice_domain::seat::SeatState;
use boxoffice_testkit::sse::SseStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);
/// Per watcher; beyond it sightings are dropped (and counted), so a long run stays bounded.
const MAX_SIGHTINGS: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Sse,
    Ws,
}

#[derive(Debug)]
pub(crate) struct ViewState {
    pub map: LiveMap,
    pub snapshots: u64,
    /// Filled for watchers only.
    pub(crate) sightings: Vec<Sighting>,
    pub dropped: u64,
    /// (seat, version) of the caller's own holds, seen on its own feed.
    pub(crate) mine_held: Vec<(usize, i64)>,
}

/// One client's live map, shared between the task that feeds it and its owner.
pub(crate) struct LiveView {
    pub state: Mutex<ViewState>,
    changed: Notify,
    log_sightings: bool,
}

impl LiveView {
    pub(crate) fn new(chart: &Chart, log_sightings: bool) -> LiveView {
        LiveView {
            state: Mutex::new(ViewState {
                map: LiveMap::new(chart),
                snapshots: 0,
                sightings: Vec::new(),
                dropped: 0,
                mine_held: Vec::new(),
            }),
            changed: Notify::new(),
            log_sightings,
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ViewState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `cond` holds on the view, at most `within`; returns whether it did.
    pub(crate) async fn wait_for(
        &self,
        within: Duration,
        cond: impl Fn(&ViewState) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the check, so a change in between still wakes us.
            let changed = self.changed.notified();
            if cond(&self.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }

    fn apply(&self, at: Duration, message: &FeedMessage, chart: &Chart) -> bool {
        let mut s = self.lock();
        let applied: Vec<Applied> = match message {
            FeedMessage::Snapshot(seats) => {
                s.snapshots += 1;
                s.map.apply_snapshot(chart, seats)
            }
            FeedMessage::Changes(changes) => s.map.apply_changes(chart, changes),
            FeedMessage::Mine(seats) => s.map.apply_mine(chart, seats),
            FeedMessage::Reconnect | FeedMessage::Other => return false,
        };
        for (seat, state, version, mine) in applied {
            if mine && state == SeatState::Held {
                s.mine_held.push((seat, version));
            }
            if self.log_sightings && state != SeatState::Available {
                if s.sightings.len() < MAX_SIGHTINGS {
                    s.sightings.push(Sighting {
                        seat: seat as u32,
                        version,
                        sold: state == SeatState::Sold,
                        at,
                    });
                } else {
                    s.dropped += 1;
                }
            }
        }
        drop(s);
        self.changed.notify_waiters();
        true
    }
}

/// Everything a live connection needs.
#[derive(Clone)]
pub(crate) struct Subscription {
    pub api: Api,
    pub(crate) chart: Arc<Chart>,
    pub event_id: String,
    pub token: Option<String>,
    pub wire: Wire,
    /// When the previous connection of this map ended, for the reconnect's gap.
    pub(crate) resumed_from: Option<Duration>,
}

/// Keeps `view` live until `stop`: reconnects whenever the stream ends, to the next instance
/// when there are several (the one it was on may have died), and resyncs from the snapshot
/// every connection starts with.
pub(crate) async fn follow(sub: Subscription, view: Arc<LiveView>, stop: CancellationToken) {
    let counters = &sub.api.recorder.counters;
    let home = sub.api.home();
    let mut session_number = 0;
    let mut ended_at = None;
    while !stop.is_cancelled() {
        if session_number > 0 {
            counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let here = Subscription {
            api: sub.api.on(home + session_number),
            resumed_from: ended_at,
            ..sub.clone()
        };
        session_number += 1;
        let session = async {
            match here.wire {
                Wire::Sse => sse(&here, &view).await,
                Wire::Ws => websocket(&here, &view).await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = session => {}
        }
        ended_at = Some(sub.api.recorder.now());
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
        }
    }
}

/// Records how long the snapshot took to arrive, or why the stream could not open.
fn subscribed(sub: &Subscription, opened_at: Duration, failure: Option<(u16, &str)>) {
    let recorder = &sub.api.recorder;
    let sample = Sample {
        step: Step::Subscribe,
        at: opened_at,
        latency: recorder.now().saturating_sub(opened_at),
        ok: failure.is_none(),
    };
    let outcome = failure.map(|(status, code)| Outcome {
        step: Step::Subscribe,
        status,
        code: code.to_owned(),
    });
    recorder.request(sample, outcome);
}

/// Applies one message; counts a snapshot after the first on this connection as a resync.
fn deliver(
    sub: &Subscription,
    view: &LiveView,
    message: &FeedMessage,
    opened_at: Duration,
    seen_snapshot: &mut bool,
) -> bool {
    let recorder = &sub.api.recorder;
    if matches!(message, FeedMessage::Reconnect) {
        return false;
    }
    if matches!(message, FeedMessage::Snapshot(_)) {
        if *seen_snapshot {
            recorder.counters.resyncs.fetch_add(1, Ordering::Relaxed);
        } else {
            *seen_snapshot = true;
            subscribed(sub, opened_at, None);
            if let Some(ended) = sub.resumed_from {
                let gap = recorder.now().saturating_sub(ended);
                recorder.lock().reconnect_gaps.push(gap);
            }
        }
    }
    view.apply(recorder.now(), message, &sub.chart);
    true
}

async fn sse(sub: &Subscription, view: &LiveView) {
    // The compact form, as the buyer's page asks for it.
    let path = format!("/api/v1/events/{}/stream?format=compact", sub.event_id);
    let mut request = sub
        .api
        .streams
        .get(sub.api.url(&path))
        .header(reqwest::header::ACCEPT, "text/event-stream");
    if let Some(t) = &sub.token {
        request = request.bearer_auth(t);
    }
    let opened_at = sub.api.recorder.now();
    let response = match tokio::time::timeout(CONNECT_TIMEOUT, request.send()).await {
        Ok(Ok(r)) if r.status().is_success() => r,
        Ok(Ok(r)) => {
            return subscribed(
                sub,
                opened_at,
                Some((r.status().as_u16(), "stream_refused")),
            );
        }
        Ok(Err(_)) => {
            let code = sub.api.lost_code("connect_failed");
            return subscribed(sub, opened_at, Some((0, &code)));
        }
        Err(_) => return subscribed(sub, opened_at, Some((0, "timeout"))),
    };
    let mut frames = SseStream::new(response);
    let mut seen_snapshot = false;
    while let Some((name, data)) = frames.next_frame().await {
        let message = parse_map_message(&sub.chart, name.as_deref(), &data);
        if !deliver(sub, view, &message, opened_at, &mut seen_snapshot) {
            return;
        }
    }
}

async fn websocket(sub: &Subscription, view: &LiveView) {
    let base = sub.api.base().replacen("http", "ws", 1);
    let url = format!("{base}/api/v1/events/{}/ws?format=compact", sub.event_id);
    let opened_at = sub.api.recorder.now();
    let Ok(mut request) = url.into_client_request() else {
        return subscribed(sub, opened_at, Some((0, "bad_url")));
    };
    if let Some(t) = &sub.token
        && let Ok(value) = format!("Bearer {t}").parse()
    {
        request.headers_mut().insert("Authorization", value);
    }
    let mut socket = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(r))) => {
            return subscribed(
                sub,
                opened_at,
                Some((r.status().as_u16(), "stream_refused")),
            );
        }
        Ok(Err(_)) => {
            let code = sub.api.lost_code("connect_failed");
            return subscribed(sub, opened_at, Some((0, &code)));
        }
        Err(_) => return subscribed(sub, opened_at, Some((0, "timeout"))),
    };
    let mut seen_snapshot = false;
    while let Some(Ok(frame)) = socket.next().await {
        match frame {
            Message::Text(text) => {
                let message = parse_map_message(&sub.chart, None, text.as_str());
                if !deliver(sub, view, &message, opened_at, &mut seen_snapshot) {
                    return;
                }
            }
            Message::Close(_) => return,
            _ => {}
        }
    }
}
