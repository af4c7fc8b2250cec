//! The sandbox payment provider as its own HTTP service, speaking Stripe's `PaymentIntents` wire
//! format: form-encoded requests, JSON responses, `Authorization: Bearer sk_test_…`, and the
//! `Idempotency-Key` header (the same key with the same parameters replays the stored response;
//! with other parameters it is a 400 `idempotency_error`). Outcomes are also sent as signed
//! webhooks. Faults (latency, lost answers, 500s, declines, dropped, duplicated, delayed or
//! reordered webhooks) can be switched on, deterministically with a seed, to rehearse what a
//! real provider does on a bad day.
//!
//! Endpoints: `POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`,
//! `POST /v1/payment_intents/{id}/confirm`, `POST /v1/payment_intents/{id}/cancel`,
//! `POST /v1/refunds`, `GET /v1/refunds/{id}`, and for the browser (publishable key plus the
//! intent's client secret): `POST /v1/payment_methods`, confirm and retrieve.
//!
//! As strict as Stripe: raw card numbers sent with the secret key are refused unless
//! `allow_raw_card_data` is set; amounts outside Stripe's limits and unknown payment-method ids
//! (`pm_card_…` included) are refused; each idempotency key's first answer is replayed for 24 h,
//! 500s included.
//!
//! A 3-D Secure intent waits in `requires_action` until `POST /sandbox/3ds/{id}` with
//! `client_secret` and `outcome=succeed|fail` answers the challenge (what the buyer does in the
//! bank's frame at Stripe). The service also serves a stand-in for Stripe.js ([`stand_in`]).
//!
//! Test payment methods: Stripe's documented test cards and `pm_card_…` names
//! ([`boxoffice_payments::test_cards`]; `pm_card_authenticationRequired` / `4000 0027 6000 3184`
//! needs 3-D Secure), plus the sandbox's own `pm_sandbox_…` behaviours (processing then
//! succeeding or declining, an answer that never comes).
//!
//! A declined intent goes back to `requires_payment_method` with `last_payment_error` set, as at
//! Stripe, and may be confirmed again with another card.

mod api;
mod ledger;
mod stand_in;
mod webhooks;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{SeedableRng, rngs::StdRng};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use ledger::{Event, Ledger, Limits};

/// The fault knobs. Rates are probabilities in `0.0..=1.0`, drawn per request (per event for
/// webhooks). They can be changed while the service runs ([`PspHandle::set_faults`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every API request before it is handled.
    pub latency: Duration,
    /// The request is applied (and its response stored under its idempotency key), but the answer
    /// never comes: the client times out.
    pub timeout_rate: f64,
    /// The request is answered with a 500 `api_error` without being applied.
    pub error_rate: f64,
    /// A confirmation with a card that would succeed is declined (`generic_decline`).
    pub decline_rate: f64,
    /// A confirmation is not answered, and is applied only after `late_confirm_delay`: the client
    /// has given up by then, and the intent succeeds anyway.
    pub late_confirm_rate: f64,
    /// How late such a confirmation is applied.
    pub late_confirm_delay: Duration,
    /// A webhook event is never sent.
    pub webhook_drop_rate: f64,
    /// A webhook event is sent twice (same event id).
    pub webhook_duplicate_rate: f64,
    /// Each delivery waits a random time up to this before its first attempt.
    pub webhook_delay: Duration,
    /// Events are gathered for a short window and delivered in random order.
    pub webhook_reorder: bool,
}

/// Everything the service needs; [`PspConfig::default`] is a fault-free service on `127.0.0.1:0`
/// without webhooks.
#[derive(Debug, Clone)]
pub struct PspConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The one key accepted; `None` accepts any `sk_test_…` key.
    pub api_key: Option<String>,
    /// Whether raw card numbers may be sent with the secret key.
    pub allow_raw_card_data: bool,
    /// Where webhooks go; `None` sends none.
    pub webhook_url: Option<String>,
    /// Signs webhooks as Stripe does (`Stripe-Signature`).
    pub webhook_secret: String,
    /// The faults injected from the start.
    pub faults: Faults,
    /// Seeds the fault draws; `None` seeds from the operating system.
    pub seed: Option<u64>,
    /// How long a processing card takes to settle.
    pub settle_delay: Duration,
    /// Intents kept; the oldest is forgotten first.
    pub max_intents: usize,
    /// Idempotency keys kept, each at most [`PspConfig::idempotency_ttl`].
    pub max_idempotency_keys: usize,
    /// How long an idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// Delivery attempts per webhook (the first included).
    pub webhook_max_attempts: u32,
    /// The first retry's wait; it doubles on each retry, up to 10 s.
    pub webhook_retry_base: Duration,
    /// How long a lost answer holds its connection before the service gives up on it.
    pub hang_limit: Duration,
}

impl Default for PspConfig {
    fn default() -> Self {
        PspConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: None,
            allow_raw_card_data: false,
            webhook_url: None,
            webhook_secret: "whsec_sandbox".into(),
            faults: Faults::default(),
            seed: None,
            settle_delay: Duration::from_millis(1500),
            max_intents: 100_000,
            max_idempotency_keys: 100_000,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            webhook_max_attempts: 6,
            webhook_retry_base: Duration::from_millis(200),
            hang_limit: Duration::from_secs(120),
        }
    }
}

/// Counters of what the service did, for tests and the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PspStats {
    /// API requests received.
    pub requests: u64,
    /// Requests answered 500 by `error_rate`.
    pub injected_errors: u64,
    /// Requests left unanswered by `timeout_rate`.
    pub injected_timeouts: u64,
    /// Good cards declined by `decline_rate`.
    pub injected_declines: u64,
    /// Requests answered from an idempotency key's stored response.
    pub idempotent_replays: u64,
    /// Webhook events owed (one per status change).
    pub events: u64,
    /// Events not queued because the queue was full (memory stays bounded).
    pub(crate) events_overflowed: u64,
    /// Events the dispatcher has drawn its faults for (dropped, sent once or twice).
    pub events_dispatched: u64,
    /// Events never sent, by `webhook_drop_rate`.
    pub webhooks_dropped: u64,
    /// Events sent twice, by `webhook_duplicate_rate`.
    pub webhooks_duplicated: u64,
    /// Delivery attempts, retries included.
    pub webhook_attempts: u64,
    /// Deliveries the receiver answered with a 2xx.
    pub webhooks_delivered: u64,
    /// Deliveries that failed every attempt.
    pub(crate) webhooks_abandoned: u64,
}

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    injected_errors: AtomicU64,
    injected_timeouts: AtomicU64,
    injected_declines: AtomicU64,
    idempotent_replays: AtomicU64,
    events: AtomicU64,
    events_overflowed: AtomicU64,
    events_dispatched: AtomicU64,
    webhooks_dropped: AtomicU64,
    webhooks_duplicated: AtomicU64,
    webhook_attempts: AtomicU64,
    webhooks_delivered: AtomicU64,
    webhooks_abandoned: AtomicU64,
}

impl Stats {
    fn bump(&self, which: impl Fn(&Stats) -> &AtomicU64) {
        which(self).fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> PspStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PspStats {
            requests: get(&self.requests),
            injected_errors: get(&self.injected_errors),
            injected_timeouts: get(&self.injected_timeouts),
            injected_declines: get(&self.injected_declines),
            idempotent_replays: get(&self.idempotent_replays),
            events: get(&self.events),
            events_overflowed: get(&self.events_overflowed),
            events_dispatched: get(&self.events_dispatched),
            webhooks_dropped: get(&self.webhooks_dropped),
            webhooks_duplicated: get(&self.webhooks_duplicated),
            webhook_attempts: get(&self.webhook_attempts),
            webhooks_delivered: get(&self.webhooks_delivered),
            webhooks_abandoned: get(&self.webhooks_abandoned),
        }
    }
}

/// Webhook events waiting for delivery; beyond this they are counted and dropped.
const EVENT_QUEUE: usize = 10_000;

/// State shared by the HTTP handlers, the settle timers and the webhook dispatcher.
struct Shared {
    ledger: Mutex<Ledger>,
    rng: Mutex<StdRng>,
    faults: RwLock<Faults>,
    api_key: Option<String>,
    stats: Stats,
    events: Option<mpsc::Sender<Event>>,
    token: CancellationToken,
    hang_limit: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn send_events(&self, events: Vec<Event>) {
        for event in events {
            self.stats.bump(|s| &s.events);
            if let Some(tx) = &self.events
                && tx.try_send(event).is_err()
            {
                self.stats.bump(|s| &s.events_overflowed);
            }
        }
    }
}

/// The sandbox payment service.
pub struct SandboxPsp;

impl SandboxPsp {
    /// Binds `config.listen` (port 0 picks a free port) and serves in the background until the
    /// handle is shut down or dropped.
    pub async fn start(config: PspConfig) -> std::io::Result<(SocketAddr, PspHandle)> {
        for rate in [
            config.faults.timeout_rate,
            config.faults.error_rate,
            config.faults.decline_rate,
            config.faults.late_confirm_rate,
            config.faults.webhook_drop_rate,
            config.faults.webhook_duplicate_rate,
        ] {
            check_rate(rate).map_err(std::io::Error::other)?;
        }
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let token = CancellationToken::new();
        let seed = config.seed.unwrap_or_else(rand::random);
        let (tx, rx) = match config.webhook_url {
            Some(_) => {
                let (tx, rx) = mpsc::channel(EVENT_QUEUE);
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            ledger: Mutex::new(Ledger::new(Limits {
                allow_raw_card_data: config.allow_raw_card_data,
                max_intents: config.max_intents.max(1),
                max_keys: config.max_idempotency_keys.max(1),
                key_ttl: config.idempotency_ttl,
                settle_delay: config.settle_delay,
            })),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            faults: RwLock::new(config.faults.clone()),
            api_key: config.api_key.clone(),
            stats: Stats::default(),
            events: tx,
            token: token.clone(),
            hang_limit: config.hang_limit,
        });
        let dispatcher = match (rx, config.webhook_url) {
            (Some(rx), Some(url)) => Some(tokio::spawn(webhooks::run(
                rx,
                shared.clone(),
                webhooks::Delivery {
                    url,
                    secret: config.webhook_secret.into_bytes(),
                    max_attempts: config.webhook_max_attempts.max(1),
                    retry_base: config.webhook_retry_base,
                },
                // Its own stream, so request traffic does not shift webhook draws.
                seed ^ 0x5eed_0f3e_6b00_0001,
                token.clone(),
            ))),
            _ => None,
        };
        let app = api::router(shared.clone());
        let server = tokio::spawn({
            let token = token.clone();
            async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "sandbox-psp: server failed");
                }
                if let Some(d) = dispatcher {
                    let _ = d.await;
                }
            }
        });
        Ok((
            addr,
            PspHandle {
                addr,
                shared,
                token,
                server: Some(server),
            },
        ))
    }

    /// Serves until `shutdown` resolves (the `sandbox-psp` subcommand passes SIGTERM/SIGINT).
    pub async fn run(
        config: PspConfig,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<PspStats> {
        let (addr, handle) = Self::start(config).await?;
        tracing::info!(%addr, "sandbox-psp serving");
        // Scripts wait for this line to learn the port when binding port 0.
        println!("sandbox-psp listening on http://{addr}");
        shutdown.await;
        let stats = handle.stats();
        handle.shutdown().await;
        tracing::info!(?stats, "sandbox-psp stopped");
        Ok(stats)
    }
}

fn check_rate(rate: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not a probability between 0 and 1"))
    }
}

/// Controls a running [`SandboxPsp`]. Dropping it stops the service too (without waiting).
pub struct PspHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    token: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl PspHandle {
    /// `http://127.0.0.1:PORT`: the base URL to give a Stripe client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counters so far.
    pub fn stats(&self) -> PspStats {
        self.shared.stats.snapshot()
    }

    /// Changes the fault knobs from the next request (or webhook) on.
    ///
    /// # Panics
    /// When a rate is not a probability.
    pub fn set_faults(&self, faults: Faults) {
        for rate in [
            faults.timeout_rate,
            faults.error_rate,
            faults.decline_rate,
            faults.late_confirm_rate,
            faults.webhook_drop_rate,
            faults.webhook_duplicate_rate,
        ] {
            if let Err(e) = check_rate(rate) {
                panic!("{e}");
            }
        }
        *self
            .shared
            .faults
            .write()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// Stops accepting, answers requests held by a lost-answer fault with 503, abandons pending
    /// webhook deliveries, and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for PspHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

fn probability(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    check_rate(rate)
}

/// The `boxoffice sandbox-psp` flags. The address comes from the global `--listen`.
#[derive(Debug, Clone, clap::Args)]
pub struct PspArgs {
    /// Where to POST webhooks (none are sent when absent).
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// The secret that signs webhooks (the `Stripe-Signature` header).
    #[arg(
        long,
        env = "BOXOFFICE_WEBHOOK_SECRET",
        default_value = "whsec_sandbox"
    )]
    pub webhook_secret: String,
    /// The one API key accepted; by default any `sk_test_…` key is.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Accept raw card numbers with the secret key (Stripe refuses them without raw card data
    /// access).
    #[arg(long)]
    pub(crate) allow_raw_card_data: bool,
    /// Probability that a confirmation is never answered but succeeds later anyway.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub late_confirm_rate: f64,
    /// How long such a confirmation waits before it succeeds, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub(crate) late_confirm_delay_ms: u64,
    /// Added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Probability that a request is applied but never answered.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub timeout_rate: f64,
    /// Probability that a request is answered 500 without being applied.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub error_rate: f64,
    /// Probability that a confirmation with a good card is declined.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub decline_rate: f64,
    /// Probability that a webhook is never sent.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub webhook_drop_rate: f64,
    /// Probability that a webhook is sent twice.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub webhook_duplicate_rate: f64,
    /// Each webhook waits a random time up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub(crate) webhook_delay_ms: u64,
    /// Deliver webhooks in random order.
    #[arg(long)]
    pub webhook_reorder: bool,
    /// Seed for every random draw (faults); random when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How long processing cards take to settle, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub(crate) settle_delay_ms: u64,
    /// Intents kept in memory (the oldest are forgotten first).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) max_intents: usize,
    /// Idempotency keys kept in memory (each at most 24 h).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) max_idempotency_keys: usize,
    /// Attempts per webhook before giving up.
    #[arg(long, default_value_t = 6)]
    pub(crate) webhook_max_attempts: u32,
}

impl PspArgs {
    /// The service's configuration from these flags, listening on `listen`.
    pub fn into_config(self, listen: SocketAddr) -> PspConfig {
        PspConfig {
            listen,
            api_key: self.api_key,
            allow_raw_card_data: self.allow_raw_card_data,
            webhook_url: self.webhook_url,
            webhook_secret: self.webhook_secret,
            faults: Faults {
                latency: Duration::from_millis(self.latency_ms),
                timeout_rate: self.timeout_rate,
                error_rate: self.error_rate,
                decline_rate: self.decline_rate,
                late_confirm_rate: self.late_confirm_rate,
                late_confirm_delay: Duration::from_millis(self.late_confirm_delay_ms),
                webhook_drop_rate: self.webhook_drop_rate,
                webhook_duplicate_rate: self.webhook_duplicate_rate,
                webhook_delay: Duration::from_millis(self.webhook_delay_ms),
                webhook_reorder: self.webhook_reorder,
            },
            seed: self.seed,
            settle_delay: Duration::from_millis(self.settle_delay_ms),
            max_intents: self.max_intents,
            max_idempotency_keys: self.max_idempotency_keys,
            webhook_max_attempts: self.webhook_max_attempts,
            ..PspConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{Parser, Subcommand};

    use super::*;

    /// The shape of `boxoffice`'s command line: a global `--listen`, subcommands below it.
    #[derive(Parser)]
    struct Cli {
        #[arg(long, default_value = "127.0.0.1:8080", global = true)]
        listen: SocketAddr,
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        SandboxPsp(PspArgs),
    }

    #[test]
    fn the_subcommand_parses_its_flags_and_the_global_listen_address() {
        let cli = Cli::try_parse_from([
            "boxoffice",
            "sandbox-psp",
            "--listen",
            "127.0.0.1:12111",
            "--webhook-url",
            "http://127.0.0.1:8080/api/v1/payments/webhook",
            "--webhook-secret",
            "whsec_x",
            "--timeout-rate",
            "0.1",
            "--error-rate",
            "0.05",
            "--webhook-reorder",
            "--webhook-delay-ms",
            "250",
            "--seed",
            "9",
        ])
        .unwrap();
        let Command::SandboxPsp(args) = cli.command;
        let config = args.into_config(cli.listen);
        assert_eq!(config.listen.port(), 12111);
        assert_eq!(config.webhook_secret, "whsec_x");
        assert_eq!(config.faults.timeout_rate, 0.1);
        assert_eq!(config.faults.webhook_delay, Duration::from_millis(250));
        assert!(config.faults.webhook_reorder);
        assert_eq!(config.seed, Some(9));
        assert!(
            Cli::try_parse_from(["boxoffice", "sandbox-psp", "--decline-rate", "1.5"]).is_err()
        );
    }
}
