//! The live seat feeds as a test reads them: a client-side seat map, the SSE reader (framing is
//! `boxoffice_testkit::sse`'s) and the WebSocket reader.

use std::{collections::HashMap, time::Duration};

use boxoffice_testkit::sse::SseStream;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Response, StatusCode, header};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use super::{TestApp, WAIT, stream_client};

/// A client-side seat map: a snapshot, then changes applied only when newer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SeatMap {
    pub seats: HashMap<String, (String, i64)>,
}

impl SeatMap {
    pub(crate) fn apply_snapshot(&mut self, seats: &Value) {
        self.seats.clear();
        for s in seats.as_array().expect("seats is an array") {
            self.seats.insert(
                s["id"].as_str().unwrap().to_owned(),
                (
                    s["state"].as_str().unwrap().to_owned(),
                    s["version"].as_i64().unwrap(),
                ),
            );
        }
    }

    /// Applies changes that are newer; returns how many were.
    pub(crate) fn apply_changes(&mut self, changes: &Value) -> usize {
        let mut n = 0;
        for c in changes.as_array().expect("changes is an array") {
            let id = c["id"].as_str().unwrap();
            let version = c["version"].as_i64().unwrap();
            let newer = self.seats.get(id).is_none_or(|(_, v)| version > *v);
            if newer {
                self.seats.insert(
                    id.to_owned(),
                    (c["state"].as_str().unwrap().to_owned(), version),
                );
                n += 1;
            }
        }
        n
    }

    /// Applies a feed message (`snapshot` or `seats`) by name.
    pub(crate) fn apply(&mut self, name: &str, data: &Value) {
        match name {
            "snapshot" => self.apply_snapshot(&data["seats"]),
            "seats" => {
                self.apply_changes(&data["changes"]);
            }
            _ => {}
        }
    }

    pub(crate) fn state(&self, seat: &str) -> &str {
        self.seats
            .get(seat)
            .map(|(s, _)| s.as_str())
            .unwrap_or("missing")
    }

    pub(crate) fn version(&self, seat: &str) -> i64 {
        self.seats.get(seat).map(|(_, v)| *v).unwrap_or(-1)
    }

    pub(crate) fn count(&self, state: &str) -> usize {
        self.seats.values().filter(|(s, _)| s == state).count()
    }
}

/// Reads a Server-Sent Events stream as `(event name, JSON data)` frames.
pub(crate) struct SseReader {
    frames: SseStream,
}

impl SseReader {
    pub(crate) async fn connect(app: &TestApp, token: Option<&str>) -> SseReader {
        let id = app.event_id().await;
        Self::connect_to(app, &id, token).await
    }

    /// The stream of any event (not only the demo event's).
    pub(crate) async fn connect_to(
        app: &TestApp,
        event_id: &str,
        token: Option<&str>,
    ) -> SseReader {
        Self::at(app, &format!("/api/v1/events/{event_id}/stream"), token).await
    }

    /// The stream at `path` (a query string included), which must open.
    pub(crate) async fn at(app: &TestApp, path: &str, token: Option<&str>) -> SseReader {
        let r = Self::open(app, path, token).await;
        assert_eq!(r.status(), StatusCode::OK);
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(ct.starts_with("text/event-stream"), "content-type {ct}");
        SseReader {
            frames: SseStream::new(r),
        }
    }

    pub(crate) async fn open(app: &TestApp, path: &str, token: Option<&str>) -> Response {
        let mut rb = stream_client().get(app.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        tokio::time::timeout(WAIT, rb.send())
            .await
            .expect("the stream opens in time")
            .expect("the stream opens")
    }

    /// The next event, `None` when the stream ended; `Err` when none came within `within`.
    pub(crate) async fn next_within(
        &mut self,
        within: Duration,
    ) -> Result<Option<(String, Value)>, tokio::time::error::Elapsed> {
        tokio::time::timeout(within, self.next_event()).await
    }

    /// The next event within [`WAIT`]; panics otherwise. `None` when the stream ended.
    pub(crate) async fn next(&mut self) -> Option<(String, Value)> {
        self.next_within(WAIT)
            .await
            .expect("an SSE event within the time limit")
    }

    /// A frame's data as JSON (as text when it is not JSON), its name `message` when it has none.
    pub(super) async fn next_event(&mut self) -> Option<(String, Value)> {
        let (name, data) = self.frames.next_frame().await?;
        let value = serde_json::from_str(&data).unwrap_or(Value::String(data));
        Some((name.unwrap_or_else(|| "message".to_owned()), value))
    }

    /// Reads events until `pred` accepts one (returned), within `within` in total.
    pub(crate) async fn until(
        &mut self,
        within: Duration,
        mut pred: impl FnMut(&str, &Value) -> bool,
    ) -> (String, Value) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Ok(Some((name, data))) => {
                    if pred(&name, &data) {
                        return (name, data);
                    }
                }
                Ok(None) => panic!("the stream ended while waiting"),
                Err(_) => panic!("no matching SSE event within {within:?}"),
            }
        }
    }
}

/// Reads the WebSocket feed as JSON text frames.
pub(crate) struct WsReader {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

#[derive(Debug)]
pub(crate) enum WsItem {
    Json(Value),
    Close(Option<u16>),
    Ended,
}

impl WsReader {
    pub(crate) async fn connect(app: &TestApp) -> WsReader {
        let id = app.event_id().await;
        Self::connect_to(app, &id).await
    }

    /// The WebSocket feed of any event (not only the demo event's).
    pub(crate) async fn connect_to(app: &TestApp, event_id: &str) -> WsReader {
        Self::at(app, &format!("/api/v1/events/{event_id}/ws"), None).await
    }

    /// The WebSocket at `path` (a query string included), signed in with `token` if given.
    pub(crate) async fn at(app: &TestApp, path: &str, token: Option<&str>) -> WsReader {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{}{path}", app.port)
            .into_client_request()
            .expect("a WebSocket request");
        if let Some(t) = token {
            request.headers_mut().insert(
                header::AUTHORIZATION,
                format!("Bearer {t}").parse().expect("a header value"),
            );
        }
        let (socket, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
                .await
                .expect("the WebSocket opens in time")
                .expect("the WebSocket opens");
        assert_eq!(response.status().as_u16(), 101);
        WsReader { socket }
    }

    /// The next JSON frame or close, within [`WAIT`].
    pub(crate) async fn next(&mut self) -> WsItem {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = tokio::time::timeout(left, self.socket.next())
                .await
                .expect("a WebSocket frame within the time limit");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return WsItem::Json(serde_json::from_str(t.as_str()).expect("JSON frame"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return WsItem::Close(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return WsItem::Ended,
            }
        }
    }

    pub(crate) async fn next_json(&mut self) -> Value {
        match self.next().await {
            WsItem::Json(v) => v,
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }

    pub(crate) async fn close(mut self) {
        let _ = self.socket.send(Message::Close(None)).await;
    }
}
