//! Real `boxoffice` processes for multi-instance tests: start, stop, kill, and talk to them over
//! HTTP as a signed-in buyer. Every wait is bounded.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const WAIT: Duration = Duration::from_secs(30);

/// How to start `boxoffice`: the executable (a library cannot know where Cargo built it, so the
/// test binary passes `env!("CARGO_BIN_EXE_boxoffice")`) and what every instance gets in its
/// environment on top of the settings below.
#[derive(Debug, Clone)]
pub struct Boxoffice {
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl Boxoffice {
    /// Instances of the binary at `bin`.
    pub fn new(bin: impl AsRef<Path>) -> Boxoffice {
        Boxoffice {
            bin: bin.as_ref().to_owned(),
            env: Vec::new(),
        }
    }

    /// Adds variables to every instance's environment.
    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = &'a (&'a str, &'a str)>) -> Self {
        self.env.extend(
            vars.into_iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    /// `boxoffice serve` on a port of its own, once it says it listens.
    pub async fn spawn(&self, database_url: &str, redis_url: Option<&str>) -> Instance {
        let mut cmd = Command::new(&self.bin);
        cmd.env("DATABASE_URL", database_url)
            .env("BOXOFFICE_LISTEN", "127.0.0.1:0")
            .env("BOXOFFICE_SWEEP_INTERVAL_MS", "200")
            .env("BOXOFFICE_RECONCILE_INTERVAL_MS", "250")
            .env("BOXOFFICE_DB_POOL_SIZE", "8")
            .env("BOXOFFICE_DRAIN_DELAY_MS", "1000")
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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

    /// The first instance migrates and seeds alone; the others then start together.
    pub async fn spawn_cluster(
        &self,
        database_url: &str,
        redis_url: Option<&str>,
        n: usize,
    ) -> Vec<Instance> {
        let mut cluster = vec![self.spawn(database_url, redis_url).await];
        let rest = (1..n).map(|_| self.spawn(database_url, redis_url));
        cluster.extend(futures_util::future::join_all(rest).await);
        cluster
    }

    /// Runs `boxoffice audit` against the database; true when every invariant holds.
    pub async fn audit(&self, database_url: &str) -> bool {
        let out = Command::new(&self.bin)
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
}

/// A running `boxoffice serve`; killed when dropped.
pub struct Instance {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
}

impl Instance {
    /// The id of the first event listed (the demo event on a seeded server).
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
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The status of `GET path`; `None` when the instance does not answer.
pub async fn status(instance: &Instance, path: &str) -> Option<u16> {
    client()
        .get(format!("{}{path}", instance.base))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// `GET path` as JSON; panics when the instance does not answer.
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
    /// Registers a new account on `instance` and signs it in.
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

    /// `GET path` as this buyer: the status and the JSON body.
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

    /// Asks to hold `seats` of `event`: the status and the JSON body.
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

    /// Releases a hold; the status.
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

    /// Pays for a hold with a sandbox card under `key`; status 0 when no answer came.
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
