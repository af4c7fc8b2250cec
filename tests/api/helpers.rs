//! The test harness: one application per test, on its own fresh database (the backend named by
//! `BOXOFFICE_TEST_DATABASE`), served on a random port, with clients for buyers, readers for the
//! live seat feeds, and the invariant audit.

mod buyer;
mod feeds;

pub(crate) use buyer::{Buyer, assert_error, checkout_body, error_body, parse_time, strings};
pub(crate) use feeds::{SeatMap, SseReader, WsItem, WsReader};

use std::{collections::HashMap, path::PathBuf, sync::Once, time::Duration};

use boxoffice_server::{Application, Settings};
use boxoffice_store::audit::AuditReport;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};
use uuid::Uuid;

/// The sandbox card that always succeeds.
pub(crate) const GOOD_CARD: &str = "4242424242424242";

/// The sandbox card that is always declined.
pub(crate) const DECLINED_CARD: &str = "4000000000000002";

/// The bound on every single wait in these tests.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) const PASSWORD: &str = "correct horse battery staple";

static TRACING: Once = Once::new();

fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            boxoffice_server::init_telemetry();
        }
    });
}

/// The SQLite file a `sqlite://` URL names, so that its directory can be removed afterwards.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite://").map(PathBuf::from)
}

/// A plain client (no cookies) with a generous overall timeout so that nothing hangs.
pub(crate) fn plain_client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(WAIT)
        .build()
        .expect("a reqwest client")
}

fn cookie_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(60))
        .connect_timeout(WAIT)
        .build()
        .expect("a reqwest client")
}

/// A client without an overall timeout, for streams (each read is bounded by the reader).
fn stream_client() -> Client {
    Client::builder()
        .connect_timeout(WAIT)
        .build()
        .expect("a reqwest client")
}

pub(crate) struct TestApp {
    pub address: String,
    pub port: u16,
    pub db_url: String,
    pub settings: Settings,
    /// An anonymous client: no cookies, no token.
    pub api: Client,
    event_id: tokio::sync::OnceCell<String>,
    shutdown_tx: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    keep_db: bool,
}

impl TestApp {
    pub(crate) async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub(crate) async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_on(crate::database::fresh_database_url().await, configure).await
    }

    /// An application on the database the URL names (migrated and seeded if empty).
    pub(crate) async fn spawn_on(db_url: String, configure: impl FnOnce(&mut Settings)) -> TestApp {
        init_tracing();
        let mut settings = Settings::for_tests(db_url.clone());
        configure(&mut settings);
        let app = Application::build(settings.clone())
            .await
            .expect("the application builds");
        let port = app.port();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = shutdown_rx.await;
        }));
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            db_url,
            settings,
            api: plain_client(),
            event_id: tokio::sync::OnceCell::new(),
            shutdown_tx: Some(shutdown_tx),
            server: Some(server),
            keep_db: false,
        }
    }

    /// Keeps the database file when this app is dropped (to start another app on it).
    pub(crate) fn keep_database(&mut self) {
        self.keep_db = true;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Begins a graceful shutdown without waiting for it.
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
    }

    /// Waits (bounded) for `run_until` to return, and returns its result.
    pub(crate) async fn stopped(&mut self, within: Duration) -> anyhow::Result<()> {
        let server = self.server.take().expect("the server was started once");
        tokio::time::timeout(within, server)
            .await
            .map_err(|_| anyhow::anyhow!("run_until did not return within {within:?}"))??
    }

    /// Graceful shutdown: signals and waits for `run_until` to return.
    pub(crate) async fn shutdown(&mut self) {
        self.begin_shutdown();
        self.stopped(Duration::from_secs(10))
            .await
            .expect("the application stops cleanly");
    }

    /// The demo event's id (the first event of the list).
    pub(crate) async fn event_id(&self) -> String {
        self.event_id
            .get_or_init(|| async {
                let body: Value = self.get_json("/api/v1/events").await;
                body["events"][0]["id"]
                    .as_str()
                    .expect("the demo event exists")
                    .to_owned()
            })
            .await
            .clone()
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.api.get(self.url(path)).send().await.expect("GET")
    }

    /// GET that must answer 200 with JSON.
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.expect("a JSON body")
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.api
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// The event detail (`event` object).
    pub(crate) async fn event(&self) -> Value {
        let id = self.event_id().await;
        self.get_json(&format!("/api/v1/events/{id}")).await["event"].clone()
    }

    /// The anonymous `/seats` view as id → (state, version).
    pub(crate) async fn seat_map(&self) -> SeatMap {
        let id = self.event_id().await;
        let body = self.get_json(&format!("/api/v1/events/{id}/seats")).await;
        let mut map = SeatMap::default();
        map.apply_snapshot(&body["seats"]);
        map
    }

    pub(crate) async fn seat_state(&self, seat: &str) -> String {
        self.seat_map().await.state(seat).to_owned()
    }

    /// Seat id → price in cents, from the event detail (layout category → category price).
    pub(crate) async fn prices(&self) -> HashMap<String, i64> {
        let event = self.event().await;
        let price_of: HashMap<String, i64> = event["categories"]
            .as_array()
            .expect("categories")
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["price_cents"].as_i64().unwrap(),
                )
            })
            .collect();
        let mut out = HashMap::new();
        for section in event["layout"]["sections"].as_array().unwrap() {
            for row in section["rows"].as_array().unwrap() {
                for seat in row["seats"].as_array().unwrap() {
                    let cat = seat["category_id"].as_str().expect("a category per seat");
                    out.insert(seat["id"].as_str().unwrap().to_owned(), price_of[cat]);
                }
            }
        }
        out
    }

    pub(crate) async fn register(&self, email: &str, password: &str, name: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({"email": email, "password": password, "name": name}),
        )
        .await
    }

    pub(crate) async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers a new buyer with a unique e-mail and signs them in with their own cookie jar.
    pub(crate) async fn register_and_login(&self) -> Buyer {
        let email = format!("buyer-{}@example.com", Uuid::new_v4().simple());
        let r = self.register(&email, PASSWORD, "Test Buyer").await;
        assert_eq!(r.status(), StatusCode::CREATED, "register {email}");
        self.sign_in(&email, PASSWORD).await
    }

    /// Signs an existing account in, with its own cookie jar.
    pub(crate) async fn sign_in(&self, email: &str, password: &str) -> Buyer {
        let client = cookie_client();
        let r = client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::OK, "login {email}");
        let body: Value = r.json().await.unwrap();
        Buyer {
            client,
            token: body["token"].as_str().unwrap().to_owned(),
            user_id: body["user"]["id"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
            address: self.address.clone(),
            event_id: self.event_id().await,
        }
    }

    /// `n` buyers, registered and signed in concurrently.
    pub(crate) async fn buyers(&self, n: usize) -> Vec<Buyer> {
        futures_util::future::join_all((0..n).map(|_| self.register_and_login())).await
    }

    /// Runs `boxoffice audit` against this app's database.
    pub(crate) async fn audit(&self) -> AuditReport {
        let db = boxoffice_store::connect(&self.db_url, 1)
            .await
            .expect("the audit connects");
        let report = boxoffice_store::audit::run(db.as_ref())
            .await
            .expect("the audit runs");
        db.close().await;
        report
    }

    pub(crate) async fn assert_audit_ok(&self) {
        let report = self.audit().await;
        assert!(
            report.ok,
            "audit failed: {}",
            serde_json::to_string_pretty(&report).unwrap()
        );
    }

    /// Every value a direct query returns, for checks the API does not expose. `sql` uses `?`
    /// placeholders and only text parameters; they are renumbered for PostgreSQL, and MySQL's
    /// reserved `key` and `value` columns are quoted its way.
    pub(crate) async fn scalars<T>(&self, sql: &str, params: &[&str]) -> Vec<T>
    where
        T: Send + Unpin,
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
        T: for<'r> sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>,
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        use sqlx::Connection;
        match crate::database::backend().as_str() {
            "postgres" => {
                let mut conn = sqlx::PgConnection::connect(&self.db_url).await.unwrap();
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(numbered_placeholders(sql)));
                for p in params {
                    query = query.bind(*p);
                }
                let v = query.fetch_all(&mut conn).await.unwrap();
                conn.close().await.ok();
                v
            }
            "mysql" => {
                let mut conn = sqlx::MySqlConnection::connect(&self.db_url).await.unwrap();
                let sql = sql
                    .replace(" key ", " `key` ")
                    .replace(" value ", " `value` ");
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                for p in params {
                    query = query.bind(*p);
                }
                let v = query.fetch_all(&mut conn).await.unwrap();
                conn.close().await.ok();
                v
            }
            _ => {
                let mut conn = sqlx::SqliteConnection::connect(&self.db_url).await.unwrap();
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()));
                for p in params {
                    query = query.bind(*p);
                }
                let v = query.fetch_all(&mut conn).await.unwrap();
                conn.close().await.ok();
                v
            }
        }
    }

    /// A number from a direct query (see [`TestApp::scalars`]).
    pub(crate) async fn count(&self, sql: &str, params: &[&str]) -> i64 {
        self.scalars::<i64>(sql, params).await[0]
    }

    /// A text value from a direct query (see [`TestApp::scalars`]).
    pub(crate) async fn text(&self, sql: &str, params: &[&str]) -> String {
        self.scalars::<String>(sql, params).await.remove(0)
    }

    /// Every text value a direct query returns (see [`TestApp::scalars`]).
    pub(crate) async fn texts(&self, sql: &str, params: &[&str]) -> Vec<String> {
        self.scalars(sql, params).await
    }

    pub(crate) async fn sse(&self) -> SseReader {
        SseReader::connect(self, None).await
    }

    pub(crate) async fn ws(&self) -> WsReader {
        WsReader::connect(self).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        // Server databases are dropped by `scripts/test` (they are all named `bo_test_…`).
        if !self.keep_db
            && let Some(path) = sqlite_path(&self.db_url)
            && let Some(dir) = path.parent()
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The seat ids of the demo hall in row-major order: A-1 … P-32.
pub(crate) fn all_seat_ids() -> Vec<String> {
    ('A'..='P')
        .flat_map(|r| (1..=32).map(move |n| format!("{r}-{n}")))
        .collect()
}

/// `a = ? AND b = ?` → `a = $1 AND b = $2` (PostgreSQL's placeholders).
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}
