//! A live seat map over SSE from a spawned instance, assembled as a browser does, for tests that
//! wait until a change made elsewhere shows.

use std::{collections::HashMap, time::Duration};

use serde_json::Value;

use crate::{process::Instance, sse::SseStream};

/// An SSE subscriber that assembles the seat map as a browser does: snapshot, then changes that
/// are newer than what it has.
pub struct SeatWatcher {
    /// Seat id → (state, version), as assembled so far.
    pub states: HashMap<String, (String, i64)>,
    frames: SseStream,
}

impl SeatWatcher {
    /// Subscribes to `event`'s stream on `instance` and waits for its snapshot.
    pub async fn connect(instance: &Instance, event: &str) -> Self {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/events/{event}/stream", instance.base))
            .send()
            .await
            .expect("open the stream");
        assert_eq!(r.status(), 200);
        let mut w = SeatWatcher {
            states: HashMap::new(),
            frames: SseStream::new(r),
        };
        let snapshot = w
            .next_event_named("snapshot", Duration::from_secs(5))
            .await
            .expect("a snapshot first");
        assert_eq!(snapshot["seats"].as_array().map(Vec::len), Some(512));
        w
    }

    fn apply(&mut self, name: &str, data: &Value) {
        let seats = match name {
            "snapshot" => {
                self.states.clear();
                data["seats"].as_array()
            }
            "seats" => data["changes"].as_array(),
            _ => None,
        };
        for s in seats.into_iter().flatten() {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            let version = s["version"].as_i64().unwrap_or_default();
            let state = s["state"].as_str().unwrap_or_default().to_owned();
            if self.states.get(&id).is_none_or(|(_, v)| version > *v) {
                self.states.insert(id, (state, version));
            }
        }
    }

    /// The next frame, applied to the map; `None` when the stream ends or time runs out.
    async fn next_frame(&mut self, deadline: tokio::time::Instant) -> Option<(String, Value)> {
        loop {
            let (name, data) = tokio::time::timeout_at(deadline, self.frames.next_frame())
                .await
                .ok()??;
            if data.is_empty() {
                continue;
            }
            let name = name.unwrap_or_else(|| "message".to_owned());
            let value: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            self.apply(&name, &value);
            return Some((name, value));
        }
    }

    /// The next frame named `wanted`, applied to the map; `None` after `within`.
    pub async fn next_event_named(&mut self, wanted: &str, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        while let Some((name, value)) = self.next_frame(deadline).await {
            if name == wanted {
                return Some(value);
            }
        }
        None
    }

    /// Waits until the assembled map shows `seat` in `state`; panics after `within`.
    pub async fn wait_for(&mut self, seat: &str, state: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.states.get(seat).is_some_and(|(s, _)| s == state) {
                return;
            }
            if self.next_frame(deadline).await.is_none() {
                panic!(
                    "{seat} did not become {state} within {within:?}; it is {:?}",
                    self.states.get(seat)
                );
            }
        }
    }
}
