//! Live seat updates over Server-Sent Events and WebSocket: a snapshot, then coalesced changes.
//! With `?format=compact` the snapshot is the compact map, one shared text for every subscriber,
//! followed by a `mine` frame with the caller's own seats.

use boxoffice_app::error::ErrorCode;
use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    Router,
    extract::{
        State,
        ws::{
            CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade,
            rejection::WebSocketUpgradeRejection,
        },
    },
    http::Uri,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{
    ApiError, ApiResult, AppState,
    events::SeatFormat,
    extract::{ApiPath, MaybeUser, query_param},
};
use boxoffice_app::realtime::{FeedItem, LiveEvent, SeatFeed};
use boxoffice_domain::{account::Role, seat::SeatView};

/// Past this many open streams per instance new ones get 503: the load balancer sends them to
/// another instance.
const MAX_STREAMS: usize = 50_000;
/// A client that cannot take a message for this long is disconnected; it resyncs on reconnect.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{event_id}/stream", get(sse))
        .route("/events/{event_id}/ws", get(websocket))
}

/// One message of either transport. Serialised straight to text: a snapshot of a big hall goes
/// to every map that connects, so no intermediate `serde_json::Value` is built for it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Frame<'a> {
    Snapshot {
        event_id: &'a str,
        seats: &'a [SeatView],
    },
    Seats {
        changes: &'a [SeatView],
    },
    Mine {
        seats: &'a [SeatView],
    },
    Reconnect {
        retry_ms: u32,
    },
}

/// The SSE event name and the JSON text (the SSE data, and the WebSocket frame) of one item.
fn payload(event_id: &str, item: &FeedItem) -> (&'static str, Utf8Bytes) {
    let (name, frame) = match item {
        FeedItem::Snapshot(seats) => ("snapshot", Frame::Snapshot { event_id, seats }),
        // Made once for every subscriber: handed out, not serialised again.
        FeedItem::CompactSnapshot(snapshot) => {
            let text = Utf8Bytes::try_from(snapshot.ws_text.clone()).unwrap_or_default();
            return ("snapshot", text);
        }
        FeedItem::Mine(seats) => ("mine", Frame::Mine { seats }),
        FeedItem::Changes(changes) => ("seats", Frame::Seats { changes }),
        FeedItem::Reconnect => ("reconnect", Frame::Reconnect { retry_ms: 1000 }),
    };
    // Only strings and numbers inside: serialising cannot fail.
    (
        name,
        serde_json::to_string(&frame).unwrap_or_default().into(),
    )
}

/// Counts an open stream for as long as it lives.
struct StreamSlot(Arc<std::sync::atomic::AtomicUsize>);

impl StreamSlot {
    fn take(state: &AppState) -> ApiResult<Self> {
        let n = state.streams.fetch_add(1, Ordering::SeqCst);
        let slot = StreamSlot(state.streams.clone());
        if n >= MAX_STREAMS {
            return Err(ApiError::of(ErrorCode::Unavailable)
                .message("Too many live connections on this server.")
                .retry_after(2));
        }
        metrics::gauge!("boxoffice_open_streams").set((n + 1) as f64);
        Ok(slot)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let n = self.0.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("boxoffice_open_streams").set(n.saturating_sub(1) as f64);
    }
}

/// The feed of one new subscriber, in the format its URL asks for.
async fn open(state: &AppState, event_id: &str, uri: &Uri, user: MaybeUser) -> ApiResult<SeatFeed> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::of(ErrorCode::Unavailable)
            .message("This server is shutting down.")
            .retry_after(1));
    }
    let format = SeatFormat::of(uri)?;
    // A draft's map is for admins only (the organiser's dashboard); to anyone else it does not exist.
    let is_admin = user.0.as_ref().is_some_and(|u| u.role == Role::Admin);
    let info = state
        .app
        .catalog
        .event(event_id)
        .await?
        .filter(|info| is_admin || info.record.is_published())
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let live: Arc<LiveEvent> = state
        .app
        .hub
        .live(event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event"))?;
    let feed = SeatFeed::new(live, user.0.map(|u| u.id.into()), state.shutdown.clone());
    Ok(match format {
        SeatFormat::Full => feed,
        SeatFormat::Compact => feed.compact(info.seat_order.clone()),
    })
}

/// Server-Sent Events: `snapshot`, then `seats` events; `reconnect` when the server drains.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/stream", tag = "events",
    params(("event_id" = String, Path), ("format" = Option<String>, Query, description = "`full` (the default) or `compact`"),
        ("sales" = Option<String>, Query, description = "`1` (admins only): also an event `sales` every second with the sale's figures from memory (LiveSales: seat counts, revenue_cents net of refunds, holds_seen, sales_seen, queue_length)")),
    responses((status = 200, content_type = "text/event-stream", description = "event: snapshot (the /seats body), then event: seats with {changes: [{id, state, version}]}. With format=compact the snapshot is the compact map (the …/seats?format=compact body with \"type\": \"snapshot\"), then event: mine {type: mine, seats: [{id, state, version, mine}]} when the caller has seats"),
        (status = 401, description = "sales=1 without signing in"), (status = 403, description = "sales=1 for anyone but an admin"), (status = 404), (status = 422)))]
pub(crate) async fn sse(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: MaybeUser,
    uri: Uri,
) -> ApiResult<Response> {
    let sales = query_param(&uri, "sales") == Some("1");
    if sales {
        // The organiser's dashboard only: 401 or 403 like any admin route.
        let caller = user
            .0
            .as_ref()
            .ok_or_else(|| ApiError::of(ErrorCode::Unauthorized))?;
        if caller.role != Role::Admin {
            return Err(ApiError::of(ErrorCode::Forbidden));
        }
    }
    let mut feed = open(&state, &event_id, &uri, user).await?;
    let slot = StreamSlot::take(&state)?;
    let (tx, rx) = mpsc::channel::<Result<Event, std::convert::Infallible>>(4);
    tokio::spawn(async move {
        let _slot = slot;
        let mut tick = tokio::time::interval(SALES_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                item = feed.next() => {
                    let Some(item) = item else { break };
                    let (name, data) = payload(&event_id, &item);
                    Event::default().event(name).data(data.as_str())
                }
                _ = tick.tick(), if sales => {
                    let Some(figures) = sales_figures(&state, &event_id).await else { continue };
                    Event::default().event("sales").data(figures)
                }
            };
            match tokio::time::timeout(SEND_TIMEOUT, tx.send(Ok(event))).await {
                Ok(Ok(())) => {}
                _ => break, // the client went away or stopped reading
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// How often the organiser's dashboard gets the sale's figures.
const SALES_EVERY: Duration = Duration::from_secs(1);

/// The `sales` frame: `{"type": "sales", …LiveSales}`, from this instance's memory.
async fn sales_figures(state: &AppState, event_id: &str) -> Option<String> {
    let info = state.app.catalog.event(event_id).await.ok()??;
    let live = state.app.hub.live(event_id).await.ok()??;
    let figures = boxoffice_app::sales::live_sales(&state.app, &info, &live);
    #[derive(Serialize)]
    struct SalesFrame<'a> {
        r#type: &'static str,
        #[serde(flatten)]
        figures: &'a boxoffice_app::sales::LiveSales,
    }
    serde_json::to_string(&SalesFrame {
        r#type: "sales",
        figures: &figures,
    })
    .ok()
}

/// WebSocket: the same payloads as text frames, `{"type": "snapshot", …}` then `{"type": "seats", …}`.
const WS_READ_BUFFER: usize = 4 * 1024;
const WS_MAX_INCOMING: usize = 16 * 1024;

#[utoipa::path(get, path = "/api/v1/events/{event_id}/ws", tag = "events",
    params(("event_id" = String, Path), ("format" = Option<String>, Query, description = "`full` (the default) or `compact`")),
    responses((status = 101, description = "WebSocket: text frames {type: snapshot|seats|reconnect, …}; with format=compact the snapshot is compact and a {type: mine} frame follows it when the caller has seats"), (status = 404), (status = 422)))]
pub(crate) async fn websocket(
    State(state): State<AppState>,
    ApiPath(event_id): ApiPath<String>,
    user: MaybeUser,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|r| {
        ApiError::of(ErrorCode::WebsocketUpgradeRequired).message(format!(
            "Open this endpoint as a WebSocket: {}",
            r.body_text()
        ))
    })?;
    let feed = open(&state, &event_id, &uri, user).await?;
    let slot = StreamSlot::take(&state)?;
    Ok(upgrade
        // A live map sends the server nothing but control frames, so the default 128 KiB read
        // buffer (allocated, and zeroed on every read, for each of thousands of open maps) is
        // wasted memory and CPU; and nothing a browser sends needs more than a few KiB.
        .read_buffer_size(WS_READ_BUFFER)
        .max_frame_size(WS_MAX_INCOMING)
        .max_message_size(WS_MAX_INCOMING)
        .on_upgrade(move |socket| serve_socket(socket, feed, event_id, slot)))
}

async fn serve_socket(
    mut socket: WebSocket,
    mut feed: SeatFeed,
    event_id: String,
    _slot: StreamSlot,
) {
    loop {
        tokio::select! {
            item = feed.next() => {
                let Some(item) = item else { break };
                let reconnect = item == FeedItem::Reconnect;
                let (_, data) = payload(&event_id, &item);
                let sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(data))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
                if reconnect {
                    // 1012: service restart — the client should reconnect, possibly elsewhere.
                    let frame = CloseFrame { code: 1012, reason: "server draining".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {} // pings are answered by the library; clients send nothing else
            }
        }
    }
}
