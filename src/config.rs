//! Configuration: the command line and environment, parsed once into [`Settings`].

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "Ticket sales for reserved-seat events"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default). Migrates an empty database and creates the demo event.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check every invariant of the database; prints a JSON report, exits 0 only if none is violated.
    Audit,
    /// Simulate a crowd of buyers and watchers against a deployment; report latencies and a
    /// correctness verdict (exit 0 only when clean).
    Rehearse(Box<crate::rehearse::RehearseArgs>),
    /// Run the sandbox payment provider (Stripe's wire format) as an HTTP service, with faults
    /// to inject, so that the payment boundary can be crossed over the network.
    SandboxPsp(Box<crate::payments::psp::PspArgs>),
    /// Write the buyer's site into DIR for a bucket behind a CDN: index.html and assets/ with
    /// content-hashed names, each with precompressed .gz and .br beside it, and manifest.json.
    ExportStatic {
        /// The directory to write (created if missing; files of the same name are replaced).
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Address to bind.
    #[arg(
        long,
        env = "BOXOFFICE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,
    /// sqlite://…, mysql://… or postgres://…
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/boxoffice.db",
        global = true
    )]
    pub database_url: String,
    /// redis://… for cross-instance seat fan-out; unset means in-process fan-out.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// How long a hold keeps its seats, in seconds.
    #[arg(
        long,
        env = "BOXOFFICE_HOLD_TTL_SECS",
        default_value_t = 600,
        global = true
    )]
    pub hold_ttl_secs: u64,
    /// Seats per user, per event, across active holds.
    #[arg(
        long,
        env = "BOXOFFICE_MAX_SEATS_PER_HOLD",
        default_value_t = 8,
        global = true
    )]
    pub max_seats_per_hold: u32,
    /// How long a buyer let in by an event's waiting room may hold and pay, in seconds.
    #[arg(
        long,
        env = "BOXOFFICE_ADMISSION_TTL_SECS",
        default_value_t = 900,
        global = true
    )]
    pub admission_ttl_secs: u64,
    /// Create the demo venue and event on an empty database.
    #[arg(long, env = "BOXOFFICE_DEMO", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub demo: bool,
    /// Create or update this admin account at start.
    #[arg(long, env = "BOXOFFICE_ADMIN_EMAIL", global = true)]
    pub admin_email: Option<String>,
    #[arg(
        long,
        env = "BOXOFFICE_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<String>,
    /// Key for signed tokens and ticket codes; generated once and stored in the database when unset.
    #[arg(long, env = "BOXOFFICE_SECRET", hide_env_values = true, global = true)]
    pub secret: Option<String>,
    /// Key that signs the payment provider's webhooks (for the sandbox: derived from the server
    /// secret when unset).
    #[arg(
        long,
        env = "BOXOFFICE_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub webhook_secret: Option<String>,
    /// The payment provider: `sandbox` (in-process test cards) or `stripe`. Unset: `stripe` when
    /// `STRIPE_API_KEY` is set, `sandbox` otherwise.
    #[arg(long, env = "BOXOFFICE_PAYMENT_PROVIDER", global = true)]
    pub payment_provider: Option<String>,
    /// The Stripe secret key (with `BOXOFFICE_PAYMENT_PROVIDER=stripe`).
    #[arg(long, env = "STRIPE_API_KEY", hide_env_values = true, global = true)]
    pub stripe_api_key: Option<String>,
    /// Where the Stripe API is: Stripe itself, or `boxoffice sandbox-psp` for rehearsals.
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com",
        global = true
    )]
    pub stripe_api_base: String,
    /// The Stripe publishable key (`pk_…`) the buyer's page gives Stripe.js.
    #[arg(long, env = "STRIPE_PUBLISHABLE_KEY", global = true)]
    pub stripe_publishable_key: Option<String>,
    /// The Stripe API version sent as `Stripe-Version` on every request.
    #[arg(
        long,
        env = "STRIPE_API_VERSION",
        default_value = crate::payments::stripe::DEFAULT_API_VERSION,
        global = true
    )]
    pub stripe_api_version: String,
    /// Where the page loads Stripe.js from: Stripe's own, or `boxoffice sandbox-psp`'s stand-in
    /// (`http://HOST:PORT/v3/`) for rehearsals and tests. Its origin is what the page's
    /// Content-Security-Policy allows for scripts and frames.
    #[arg(
        long,
        env = "STRIPE_JS_URL",
        default_value = crate::payments::stripe::DEFAULT_JS_URL,
        global = true
    )]
    pub stripe_js_url: String,
    /// How long to wait for the provider before treating a call's outcome as unknown.
    #[arg(
        long,
        env = "STRIPE_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub stripe_timeout_ms: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BOXOFFICE_MAX_BODY_BYTES", default_value_t = 64 * 1024, global = true)]
    pub max_body_bytes: usize,
    /// Milliseconds between sweeps that release expired holds.
    #[arg(
        long,
        env = "BOXOFFICE_SWEEP_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub sweep_interval_ms: u64,
    /// Milliseconds between reconciliations of the in-memory seat maps with the database.
    #[arg(
        long,
        env = "BOXOFFICE_RECONCILE_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub reconcile_interval_ms: u64,
    /// Milliseconds between passes that ask the payment provider about payments still confirming.
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENT_RECONCILE_INTERVAL_MS",
        default_value_t = 2000,
        global = true
    )]
    pub payment_reconcile_interval_ms: u64,
    /// Requests handled at once before new ones are refused with 503.
    #[arg(
        long,
        env = "BOXOFFICE_MAX_CONCURRENT_REQUESTS",
        default_value_t = 4096,
        global = true
    )]
    pub max_concurrent_requests: usize,
    /// On SIGTERM, how long to keep serving with `/readyz` failing before closing streams and the
    /// listener, so that the load balancer stops routing here first.
    #[arg(
        long,
        env = "BOXOFFICE_DRAIN_DELAY_MS",
        default_value_t = 0,
        global = true
    )]
    pub drain_delay_ms: u64,
    /// Database connections in the pool (for SQLite: readers; writes go through one connection).
    #[arg(
        long,
        env = "BOXOFFICE_DB_POOL_SIZE",
        default_value_t = 16,
        global = true
    )]
    pub db_pool_size: u32,
}

/// Which payment provider takes the money.
#[derive(Debug, Clone)]
pub enum PaymentSettings {
    /// The in-process sandbox: test cards, no network.
    Sandbox,
    Stripe {
        api_key: String,
        api_base: String,
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
    pub publishable_key: String,
    pub js_url: String,
    pub api_version: String,
}

impl Default for StripeBrowser {
    fn default() -> Self {
        StripeBrowser {
            publishable_key: String::new(),
            js_url: crate::payments::stripe::DEFAULT_JS_URL.into(),
            api_version: crate::payments::stripe::DEFAULT_API_VERSION.into(),
        }
    }
}

/// Everything the application needs to start, independent of how it was given.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub hold_ttl: Duration,
    pub max_seats_per_hold: u32,
    pub admission_ttl: Duration,
    pub demo: bool,
    pub admin: Option<(String, String)>,
    pub secret: Option<String>,
    pub webhook_secret: Option<String>,
    pub payment: PaymentSettings,
    pub max_body_bytes: usize,
    pub sweep_interval: Duration,
    pub reconcile_interval: Duration,
    pub payment_reconcile_interval: Duration,
    pub max_concurrent_requests: usize,
    pub db_pool_size: u32,
    pub drain_delay: Duration,
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
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, PaymentSettings, Settings};

    fn payment(args: &[&str]) -> PaymentSettings {
        let cli = Cli::try_parse_from(std::iter::once("boxoffice").chain(args.iter().copied()))
            .expect("the arguments parse");
        Settings::from(cli.settings).payment
    }

    #[test]
    fn a_stripe_key_alone_switches_to_stripe_and_an_explicit_choice_wins() {
        assert!(matches!(
            payment(&["--stripe-api-key", "sk_test_x"]),
            PaymentSettings::Stripe { .. }
        ));
        assert!(matches!(
            payment(&[
                "--payment-provider",
                "sandbox",
                "--stripe-api-key",
                "sk_test_x"
            ]),
            PaymentSettings::Sandbox
        ));
        assert!(matches!(
            payment(&["--payment-provider", "paypal"]),
            PaymentSettings::Unknown(_)
        ));
    }

    #[test]
    fn the_stripe_api_version_is_pinned_by_default_and_can_be_set() {
        let PaymentSettings::Stripe { browser, .. } = payment(&["--stripe-api-key", "sk_test_x"])
        else {
            panic!("stripe expected");
        };
        assert_eq!(
            browser.api_version,
            crate::payments::stripe::DEFAULT_API_VERSION
        );
        assert_eq!(browser.js_url, "https://js.stripe.com/v3/");
        let PaymentSettings::Stripe { browser, .. } = payment(&[
            "--stripe-api-key",
            "sk_test_x",
            "--stripe-api-version",
            "2025-01-27.acacia",
            "--stripe-publishable-key",
            "pk_test_y",
        ]) else {
            panic!("stripe expected");
        };
        assert_eq!(browser.api_version, "2025-01-27.acacia");
        assert_eq!(browser.publishable_key, "pk_test_y");
    }
}
