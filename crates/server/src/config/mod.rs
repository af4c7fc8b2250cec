//! Configuration: the command line and environment, parsed once into [`Settings`].

use std::{net::SocketAddr, time::Duration};

use clap::Parser;
use ipnet::IpNet;

use boxoffice_domain::rate::RateQuota;

/// Every setting of the server, from flags and `BOXOFFICE_*` variables. The `boxoffice` command
/// flattens these into its own parser; parsed alone they configure a server in tests.
#[derive(Debug, Clone, Parser)]
pub struct SettingsArgs {
    /// Address to bind.
    #[arg(
        long,
        env = "BOXOFFICE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub(crate) listen: SocketAddr,
    /// sqlite://…, mysql://… or postgres://…
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/boxoffice.db",
        global = true
    )]
    pub(crate) database_url: String,
    /// redis://… for cross-instance seat fan-out; unset means in-process fan-out.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub(crate) redis_url: Option<String>,
    /// How long a hold keeps its seats, in seconds.
    #[arg(
        long,
        env = "BOXOFFICE_HOLD_TTL_SECS",
        default_value_t = 600,
        global = true
    )]
    pub(crate) hold_ttl_secs: u64,
    /// Seats per user, per event, across active holds.
    #[arg(
        long,
        env = "BOXOFFICE_MAX_SEATS_PER_HOLD",
        default_value_t = 8,
        global = true
    )]
    pub(crate) max_seats_per_hold: u32,
    /// How long a buyer let in by an event's waiting room may hold and pay, in seconds.
    #[arg(
        long,
        env = "BOXOFFICE_ADMISSION_TTL_SECS",
        default_value_t = 900,
        global = true
    )]
    pub(crate) admission_ttl_secs: u64,
    /// Create the demo venue and event on an empty database.
    #[arg(long, env = "BOXOFFICE_DEMO", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub(crate) demo: bool,
    /// Create or update this admin account at start.
    #[arg(long, env = "BOXOFFICE_ADMIN_EMAIL", global = true)]
    pub(crate) admin_email: Option<String>,
    #[arg(
        long,
        env = "BOXOFFICE_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub(crate) admin_password: Option<String>,
    /// Key for signed tokens and ticket codes; generated once and stored in the database when unset.
    #[arg(long, env = "BOXOFFICE_SECRET", hide_env_values = true, global = true)]
    pub(crate) secret: Option<String>,
    /// Key that signs the payment provider's webhooks (for the sandbox: derived from the server
    /// secret when unset).
    #[arg(
        long,
        env = "BOXOFFICE_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub(crate) webhook_secret: Option<String>,
    /// The payment provider: `sandbox` (in-process test cards) or `stripe`. Unset: `stripe` when
    /// `STRIPE_API_KEY` is set, `sandbox` otherwise.
    #[arg(long, env = "BOXOFFICE_PAYMENT_PROVIDER", global = true)]
    pub(crate) payment_provider: Option<String>,
    /// The Stripe secret key (with `BOXOFFICE_PAYMENT_PROVIDER=stripe`).
    #[arg(long, env = "STRIPE_API_KEY", hide_env_values = true, global = true)]
    pub(crate) stripe_api_key: Option<String>,
    /// Where the Stripe API is: Stripe itself, or `boxoffice sandbox-psp` for rehearsals.
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com",
        global = true
    )]
    pub(crate) stripe_api_base: String,
    /// The Stripe publishable key (`pk_…`) the buyer's page gives Stripe.js.
    #[arg(long, env = "STRIPE_PUBLISHABLE_KEY", global = true)]
    pub(crate) stripe_publishable_key: Option<String>,
    /// The Stripe API version sent as `Stripe-Version` on every request.
    #[arg(
        long,
        env = "STRIPE_API_VERSION",
        default_value = boxoffice_payments::stripe::DEFAULT_API_VERSION,
        global = true
    )]
    pub(crate) stripe_api_version: String,
    /// Where the page loads Stripe.js from: Stripe's own, or `boxoffice sandbox-psp`'s stand-in
    /// (`http://HOST:PORT/v3/`) for rehearsals and tests. Its origin is what the page's
    /// Content-Security-Policy allows for scripts and frames.
    #[arg(
        long,
        env = "STRIPE_JS_URL",
        default_value = boxoffice_payments::stripe::DEFAULT_JS_URL,
        global = true
    )]
    pub(crate) stripe_js_url: String,
    /// How long to wait for the provider before treating a call's outcome as unknown.
    #[arg(
        long,
        env = "STRIPE_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub(crate) stripe_timeout_ms: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BOXOFFICE_MAX_BODY_BYTES", default_value_t = 64 * 1024, global = true)]
    pub(crate) max_body_bytes: usize,
    /// Milliseconds between sweeps that release expired holds.
    #[arg(
        long,
        env = "BOXOFFICE_SWEEP_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub(crate) sweep_interval_ms: u64,
    /// Milliseconds between reconciliations of the in-memory seat maps with the database.
    #[arg(
        long,
        env = "BOXOFFICE_RECONCILE_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub(crate) reconcile_interval_ms: u64,
    /// Milliseconds between passes that ask the payment provider about payments still confirming.
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENT_RECONCILE_INTERVAL_MS",
        default_value_t = 2000,
        global = true
    )]
    pub(crate) payment_reconcile_interval_ms: u64,
    /// Requests handled at once before new ones are refused with 503.
    #[arg(
        long,
        env = "BOXOFFICE_MAX_CONCURRENT_REQUESTS",
        default_value_t = 4096,
        global = true
    )]
    pub(crate) max_concurrent_requests: usize,
    /// On SIGTERM, how long to keep serving with `/readyz` failing before closing streams and the
    /// listener, so that the load balancer stops routing here first.
    #[arg(
        long,
        env = "BOXOFFICE_DRAIN_DELAY_MS",
        default_value_t = 0,
        global = true
    )]
    pub(crate) drain_delay_ms: u64,
    /// Database connections in the pool (for SQLite: readers; writes go through one connection).
    #[arg(
        long,
        env = "BOXOFFICE_DB_POOL_SIZE",
        default_value_t = 16,
        global = true
    )]
    pub(crate) db_pool_size: u32,
    // Abuse resistance (issue 11): rate limits, hoarding caps, ended-hold retention, /metrics.
    /// Proxies whose `X-Forwarded-For` names the client: addresses or networks, comma-separated.
    /// Empty: the peer is the client, whatever it forwards.
    #[arg(long, env = "BOXOFFICE_TRUSTED_PROXIES", default_value = "", value_parser = networks, global = true)]
    pub(crate) trusted_proxies: Networks,
    /// Sign-in requests per client address (`N/s`, `N/min`, `N/h`, `N/15min`, or `off`).
    #[arg(long, env = "BOXOFFICE_LIMIT_SIGN_IN_PER_ADDRESS", default_value = "30/min", value_parser = rate, global = true)]
    pub(crate) limit_sign_in_per_address: Rate,
    /// Registrations per client address.
    #[arg(long, env = "BOXOFFICE_LIMIT_REGISTER_PER_ADDRESS", default_value = "20/h", value_parser = rate, global = true)]
    pub(crate) limit_register_per_address: Rate,
    /// Hold requests per client address.
    #[arg(long, env = "BOXOFFICE_LIMIT_HOLDS_PER_ADDRESS", default_value = "120/min", value_parser = rate, global = true)]
    pub(crate) limit_holds_per_address: Rate,
    /// Checkout requests per client address.
    #[arg(long, env = "BOXOFFICE_LIMIT_CHECKOUT_PER_ADDRESS", default_value = "60/min", value_parser = rate, global = true)]
    pub(crate) limit_checkout_per_address: Rate,
    /// Sign-in attempts on one account from one client address: past it the account is locked
    /// for that address until one more is earned back; other addresses are not affected.
    #[arg(long, env = "BOXOFFICE_LIMIT_SIGN_IN_PER_ACCOUNT", default_value = "10/15min", value_parser = rate, global = true)]
    pub(crate) limit_sign_in_per_account: Rate,
    /// Sign-in attempts on one account from all addresses together: the bound on a guesser who
    /// spreads over many addresses.
    #[arg(long, env = "BOXOFFICE_LIMIT_SIGN_IN_PER_ACCOUNT_ANY_ADDRESS", default_value = "100/15min", value_parser = rate, global = true)]
    pub(crate) limit_sign_in_per_account_any_address: Rate,
    /// Holds created per account.
    #[arg(long, env = "BOXOFFICE_LIMIT_HOLDS_PER_ACCOUNT", default_value = "20/min", value_parser = rate, global = true)]
    pub(crate) limit_holds_per_account: Rate,
    /// Seats one account may hold at once across all events.
    #[arg(
        long,
        env = "BOXOFFICE_MAX_SEATS_HELD_TOTAL",
        default_value_t = 16,
        global = true
    )]
    pub(crate) max_seats_held_total: u32,
    /// Seats held from one client address, whatever the accounts, within one hold's lifetime
    /// (`BOXOFFICE_HOLD_TTL_SECS`); 0 turns it off. Against account farms.
    #[arg(
        long,
        env = "BOXOFFICE_MAX_SEATS_PER_ADDRESS",
        default_value_t = 16,
        global = true
    )]
    pub(crate) max_seats_per_address: u32,
    /// Seconds before an account may hold a seat again after releasing it or letting it expire.
    #[arg(
        long,
        env = "BOXOFFICE_HOLD_COOLDOWN_SECS",
        default_value_t = 30,
        global = true
    )]
    pub(crate) hold_cooldown_secs: u64,
    /// Holds one account may create per event per hour; 0 turns the cap off.
    #[arg(
        long,
        env = "BOXOFFICE_MAX_HOLDS_PER_EVENT_PER_HOUR",
        default_value_t = 30,
        global = true
    )]
    pub(crate) max_holds_per_event_per_hour: u32,
    /// How long released and expired holds are kept before they are deleted, in seconds (at least
    /// an hour keeps the per-hour cap whole).
    #[arg(long, env = "BOXOFFICE_ENDED_HOLD_RETENTION_SECS", default_value_t = 7 * 24 * 3600, global = true)]
    pub(crate) ended_hold_retention_secs: u64,
    /// Addresses or networks that may read `/metrics` without a token.
    #[arg(long, env = "BOXOFFICE_METRICS_ALLOW", default_value = "127.0.0.0/8,::1", value_parser = networks, global = true)]
    pub(crate) metrics_allow: Networks,
    /// A bearer token that lets any address read `/metrics` (Prometheus `authorization`).
    #[arg(
        long,
        env = "BOXOFFICE_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub(crate) metrics_token: Option<String>,
}

/// A rate limit as given: `None` is `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate(pub Option<RateQuota>);

fn rate(raw: &str) -> Result<Rate, String> {
    RateQuota::parse(raw).map(Rate)
}

/// A list of networks as given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Networks(pub Vec<IpNet>);

fn networks(raw: &str) -> Result<Networks, String> {
    crate::http::client::parse_networks(raw).map(Networks)
}

/// The limits against scripts: rate limits, hoarding caps, retention and who reads `/metrics`.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Sign-in requests per client address; `None`: off (the same for every rate).
    pub sign_in_per_address: Option<RateQuota>,
    /// Registrations per client address.
    pub register_per_address: Option<RateQuota>,
    /// Hold requests per client address.
    pub holds_per_address: Option<RateQuota>,
    /// Checkout requests per client address.
    pub checkout_per_address: Option<RateQuota>,
    /// Sign-in attempts on one account from one address.
    pub sign_in_per_account: Option<RateQuota>,
    /// Sign-in attempts on one account from all addresses together.
    pub sign_in_per_account_any_address: Option<RateQuota>,
    /// Holds created per account.
    pub holds_per_account: Option<RateQuota>,
    /// Seats one account may hold at once, across all events.
    pub max_seats_held_total: u32,
    /// Seats held from one address within one hold's lifetime; 0: no cap.
    pub max_seats_per_address: u32,
    /// How long after releasing or losing a hold an account waits to hold again.
    pub hold_cooldown: Duration,
    /// Holds one account may create per event per hour; 0 turns the cap off.
    pub max_holds_per_event_per_hour: u32,
    /// How long released and expired holds are kept before they are deleted.
    pub ended_hold_retention: Duration,
    /// Addresses that may read `/metrics` without a token.
    pub metrics_allow: Vec<IpNet>,
    /// A bearer token that lets any address read `/metrics`.
    pub metrics_token: Option<String>,
}

impl LimitSettings {
    /// The limits of a server started with none of them configured: the production defaults,
    /// for rehearsals and tests that need the real thing.
    pub fn defaults() -> Self {
        Settings::from(SettingsArgs::parse_from(["boxoffice"])).limits
    }

    /// For tests: every limit so high that a suite signing in a thousand times from 127.0.0.1
    /// never meets one. The tests of the limits set the one they test low.
    pub(crate) fn generous() -> Self {
        let high = Some(RateQuota::new(1_000_000, Duration::from_secs(1)));
        LimitSettings {
            trusted_proxies: Vec::new(),
            sign_in_per_address: high,
            register_per_address: high,
            holds_per_address: high,
            checkout_per_address: high,
            sign_in_per_account: high,
            sign_in_per_account_any_address: high,
            holds_per_account: high,
            max_seats_held_total: 1_000_000,
            max_seats_per_address: 0,
            hold_cooldown: Duration::ZERO,
            max_holds_per_event_per_hour: 1_000_000,
            ended_hold_retention: Duration::from_secs(7 * 24 * 3600),
            metrics_allow: crate::http::client::parse_networks("127.0.0.0/8,::1")
                .expect("static networks"),
            metrics_token: None,
        }
    }
}

/// Which payment provider takes the money.
#[derive(Debug, Clone)]
pub enum PaymentSettings {
    /// The in-process sandbox: test cards, no network.
    Sandbox,
    /// Stripe, or a stand-in that speaks its wire format (`boxoffice sandbox-psp`).
    Stripe {
        /// The secret key (`sk_…`).
        api_key: String,
        /// Where the API is.
        api_base: String,
        /// How long a call may take before its outcome counts as unknown.
        timeout: Duration,
        /// What the buyer's page needs; see [`StripeBrowser`].
        browser: StripeBrowser,
    },
    /// A name we do not know: refused at start.
    Unknown(String),
}

/// The Stripe settings beyond the secret key: the page's publishable key and Stripe.js, and the
/// pinned API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeBrowser {
    /// The publishable key (`pk_…`) the page gives Stripe.js.
    pub publishable_key: String,
    /// Where the page loads Stripe.js from; its origin goes into the page's CSP.
    pub js_url: String,
    /// The API version sent as `Stripe-Version`.
    pub api_version: String,
}

impl Default for StripeBrowser {
    fn default() -> Self {
        StripeBrowser {
            publishable_key: String::new(),
            js_url: boxoffice_payments::stripe::DEFAULT_JS_URL.into(),
            api_version: boxoffice_payments::stripe::DEFAULT_API_VERSION.into(),
        }
    }
}

/// Everything the application needs to start, independent of how it was given.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// `sqlite://…`, `mysql://…` or `postgres://…`.
    pub database_url: String,
    /// Redis for the cross-instance fan-out and waiting rooms; `None`: in-process only.
    pub redis_url: Option<String>,
    /// How long a hold keeps its seats.
    pub hold_ttl: Duration,
    /// Seats one account may hold per event, across its active holds.
    pub max_seats_per_hold: u32,
    /// How long a buyer let in by a waiting room may hold and pay.
    pub admission_ttl: Duration,
    /// Seed the demo venue and event into an empty database.
    pub demo: bool,
    /// An admin account (email, password) created or updated at start.
    pub admin: Option<(String, String)>,
    /// The key for signed tokens and ticket codes; `None`: the one stored in the database.
    pub secret: Option<String>,
    /// The key of the provider's webhook signatures; `None`: derived (sandbox only).
    pub webhook_secret: Option<String>,
    /// Which provider takes the money.
    pub payment: PaymentSettings,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Between sweeps that release expired holds.
    pub sweep_interval: Duration,
    /// Between reconciliations of the in-memory seat maps with the database.
    pub reconcile_interval: Duration,
    /// Between passes that ask the provider about payments still confirming.
    pub payment_reconcile_interval: Duration,
    /// Requests served at once before new ones are refused with 503.
    pub max_concurrent_requests: usize,
    /// Database connections in the pool.
    pub db_pool_size: u32,
    /// On shutdown, how long `/readyz` fails before streams and the listener close.
    pub drain_delay: Duration,
    /// The limits against scripts.
    pub limits: LimitSettings,
}

impl From<SettingsArgs> for Settings {
    fn from(a: SettingsArgs) -> Self {
        Settings {
            listen: a.listen,
            database_url: a.database_url,
            redis_url: a.redis_url.filter(|u| !u.is_empty()),
            hold_ttl: Duration::from_secs(a.hold_ttl_secs),
            max_seats_per_hold: a.max_seats_per_hold,
            admission_ttl: Duration::from_secs(a.admission_ttl_secs),
            demo: a.demo,
            admin: a.admin_email.zip(a.admin_password),
            secret: a.secret.filter(|s| !s.is_empty()),
            webhook_secret: a.webhook_secret.filter(|s| !s.is_empty()),
            payment: {
                let stripe_key = a.stripe_api_key.filter(|k| !k.is_empty());
                let chosen = a.payment_provider.filter(|p| !p.is_empty());
                match (chosen.as_deref(), stripe_key) {
                    (Some("stripe"), key) | (None, key @ Some(_)) => PaymentSettings::Stripe {
                        api_key: key.unwrap_or_default(),
                        api_base: a.stripe_api_base,
                        timeout: Duration::from_millis(a.stripe_timeout_ms),
                        browser: StripeBrowser {
                            publishable_key: a.stripe_publishable_key.unwrap_or_default(),
                            js_url: a.stripe_js_url,
                            api_version: a.stripe_api_version,
                        },
                    },
                    (Some("sandbox") | None, _) => PaymentSettings::Sandbox,
                    (Some(other), _) => PaymentSettings::Unknown(other.to_owned()),
                }
            },
            max_body_bytes: a.max_body_bytes,
            sweep_interval: Duration::from_millis(a.sweep_interval_ms),
            reconcile_interval: Duration::from_millis(a.reconcile_interval_ms),
            payment_reconcile_interval: Duration::from_millis(a.payment_reconcile_interval_ms),
            max_concurrent_requests: a.max_concurrent_requests,
            db_pool_size: a.db_pool_size,
            drain_delay: Duration::from_millis(a.drain_delay_ms),
            limits: LimitSettings {
                trusted_proxies: a.trusted_proxies.0,
                sign_in_per_address: a.limit_sign_in_per_address.0,
                register_per_address: a.limit_register_per_address.0,
                holds_per_address: a.limit_holds_per_address.0,
                checkout_per_address: a.limit_checkout_per_address.0,
                sign_in_per_account: a.limit_sign_in_per_account.0,
                sign_in_per_account_any_address: a.limit_sign_in_per_account_any_address.0,
                holds_per_account: a.limit_holds_per_account.0,
                max_seats_held_total: a.max_seats_held_total,
                max_seats_per_address: a.max_seats_per_address,
                hold_cooldown: Duration::from_secs(a.hold_cooldown_secs),
                max_holds_per_event_per_hour: a.max_holds_per_event_per_hour,
                ended_hold_retention: Duration::from_secs(a.ended_hold_retention_secs),
                metrics_allow: a.metrics_allow.0,
                metrics_token: a.metrics_token.filter(|t| !t.is_empty()),
            },
        }
    }
}

impl Settings {
    /// Settings for a test application: port 0, the given database, fast background tasks.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Settings {
            listen: "127.0.0.1:0".parse().expect("static address"),
            database_url: database_url.into(),
            redis_url: None,
            hold_ttl: Duration::from_secs(600),
            max_seats_per_hold: 8,
            admission_ttl: Duration::from_secs(900),
            demo: true,
            admin: None,
            secret: None,
            webhook_secret: None,
            payment: PaymentSettings::Sandbox,
            max_body_bytes: 64 * 1024,
            sweep_interval: Duration::from_millis(100),
            reconcile_interval: Duration::from_millis(250),
            payment_reconcile_interval: Duration::from_millis(200),
            max_concurrent_requests: 4096,
            db_pool_size: 8,
            drain_delay: Duration::ZERO,
            limits: LimitSettings::generous(),
        }
    }
}

#[cfg(test)]
mod tests;
