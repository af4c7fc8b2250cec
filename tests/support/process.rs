//! Real `boxoffice` processes (and a private Redis) for multi-instance tests: start, stop, kill,
//! and talk to them over HTTP and SSE. Every wait is bounded.

#![allow(dead_code)]

use std::{collections::HashMap, process::Stdio, time::Duration};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_boxoffice");
const WAIT: Duration = Duration::from_secs(30);

pub struct Instance {
    pub base: String,
    child: Child,
}

impl Instance {
    pub async fn spawn(database_url: &str, redis_url: Option<&str>) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.env("DATABASE_URL", database_url)
            .env("BOXOFFICE_LISTEN", "127.0.0.1:0")
            .env("BOXOFFICE_SWEEP_INTERVAL_MS", "200")
            .env("BOXOFFICE_RECONCILE_INTERVAL_MS", "250")
            .env("BOXOFFICE_DB_POOL_SIZE", "8")
            .env("BOXOFFICE_DRAIN_DELAY_MS", "1000")
            .env("RUST_LOG", "warn")
            .envs(boxoffice_rehearse::CROWD_FROM_ONE_ADDRESS.iter().copied())
            .env_remove("REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(url) = redis_url {
            cmd.env("REDIS_URL", url);
        }
        let mut child = cmd.spawn().expect("start boxoffice");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("listening on ") {
                    return line[at + "listening on ".len()..].trim().to_owned();
                }
            }
            panic!("boxoffice exited before listening");
        })
        .await
        .expect("boxoffice did not start in time");
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Instance { base, child }
    }

    pub async fn event_id(&self) -> String {
        get(self, "/api/v1/events").await["events"][0]["id"]
            .as_str()
            .expect("the demo event")
            .to_owned()
    }

    /// SIGKILL: the process dies wherever it is, with no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    /// SIGTERM: a graceful drain.
    pub fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
    }

    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

/// The first instance migrates and seeds alone; the others then start together.
pub async fn spawn_cluster(database_url: &str, redis_url: Option<&str>, n: usize) -> Vec<Instance> {
    let mut cluster = vec![Instance::spawn(database_url, redis_url).await];
    let rest = (1..n).map(|_| Instance::spawn(database_url, redis_url));
    cluster.extend(futures_util::future::join_all(rest).await);
    cluster
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

pub async fn status(instance: &Instance, path: &str) -> Option<u16> {
    client()
        .get(format!("{}{path}", instance.base))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

pub async fn get(instance: &Instance, path: &str) -> Value {
    let r = client()
        .get(format!("{}{path}", instance.base))
        .send()
        .await
        .expect("GET");
    r.json().await.expect("JSON body")
}

async fn parts(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A signed-in buyer, using the bearer token so that any instance recognises it.
#[derive(Clone)]
pub struct Buyer {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Buyer {
    pub async fn register(instance: &Instance) -> Self {
        let client = client();
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let body = json!({"email": email, "password": "correct horse battery", "name": "Buyer"});
        let r = client
            .post(format!("{}/api/v1/auth/register", instance.base))
            .json(&body)
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201);
        let r = client
            .post(format!("{}/api/v1/auth/login", instance.base))
            .json(&body)
            .send()
            .await
            .expect("login");
        let login: Value = r.json().await.expect("login body");
        Buyer {
            base: instance.base.clone(),
            token: login["token"].as_str().expect("a token").to_owned(),
            client,
        }
    }

    /// The same buyer, talking to another instance.
    pub fn on(&self, instance: &Instance) -> Buyer {
        Buyer {
            base: instance.base.clone(),
            ..self.clone()
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        parts(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    pub async fn hold(&self, event: &str, seats: &[&str]) -> (u16, Value) {
        let url = format!("{}/api/v1/events/{event}/holds", self.base);
        parts(
            self.client
                .post(url)
                .bearer_auth(&self.token)
                .json(&json!({"seat_ids": seats}))
                .send()
                .await
                .expect("hold"),
        )
        .await
    }

    pub async fn release(&self, hold_id: &str) -> u16 {
        let url = format!("{}/api/v1/holds/{hold_id}", self.base);
        self.client
            .delete(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("release")
            .status()
            .as_u16()
    }

    pub async fn checkout(&self, hold_id: &str, key: &str, card: &str) -> (u16, Value) {
        let url = format!("{}/api/v1/holds/{hold_id}/checkout", self.base);
        let body = json!({"payment": {"method": "sandbox", "card_number": card}});
        match self
            .client
            .post(url)
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => parts(r).await,
            // The instance died under the request: the buyer saw no answer.
            Err(_) => (0, Value::Null),
        }
    }
}

/// An SSE subscriber that assembles the seat map as a browser does: snapshot, then changes that
/// are newer than what it has.
pub struct SeatWatcher {
    pub states: HashMap<String, (String, i64)>,
    stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>,
    >,
    buffer: String,
}

impl SeatWatcher {
    pub async fn connect(instance: &Instance, event: &str) -> Self {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/events/{event}/stream", instance.base))
            .send()
            .await
            .expect("open the stream");
        assert_eq!(r.status(), 200);
        let mut w = SeatWatcher {
            states: HashMap::new(),
            stream: Box::pin(r.bytes_stream()),
            buffer: String::new(),
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
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                let value: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                self.apply(&name, &value);
                return Some((name, value));
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

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

/// Runs `boxoffice audit` against the database; true when every invariant holds.
pub async fn audit(database_url: &str) -> bool {
    let out = Command::new(BIN)
        .arg("audit")
        .env("DATABASE_URL", database_url)
        .output()
        .await
        .expect("run audit");
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}
