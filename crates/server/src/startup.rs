//! Wiring: [`Application::build`] connects, migrates, seeds and binds; [`Application::run_until`]
//! serves until the given shutdown future resolves, then drains.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Settings,
    http::{self, AppState},
    tasks,
};
use boxoffice_app::{
    App, SaleRules,
    catalog::Catalog,
    mail::Mailer,
    realtime::{FanOut, SeatHub},
    security::{PasswordHasher, new_secret},
    seed,
    waiting_room::WaitingRoom,
};
use boxoffice_payments::SandboxProvider;

/// A server that is connected, migrated, seeded and bound, but not serving yet.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

fn payment_provider(
    settings: &crate::config::PaymentSettings,
    webhook_secret: &[u8],
    webhook_secret_given: bool,
) -> anyhow::Result<Arc<dyn boxoffice_payments::PaymentProvider>> {
    use crate::config::PaymentSettings;
    Ok(match settings {
        PaymentSettings::Sandbox => Arc::new(SandboxProvider::new(webhook_secret)),
        PaymentSettings::Stripe {
            api_key,
            api_base,
            timeout,
            browser,
        } => {
            anyhow::ensure!(
                !api_key.is_empty(),
                "BOXOFFICE_PAYMENT_PROVIDER=stripe needs STRIPE_API_KEY"
            );
            // Stripe signs webhooks with the endpoint's own secret; a derived one cannot match.
            anyhow::ensure!(
                webhook_secret_given,
                "BOXOFFICE_PAYMENT_PROVIDER=stripe needs BOXOFFICE_WEBHOOK_SECRET (the endpoint's whsec_… secret)"
            );
            // Live buyers pay in their browser with Stripe.js, which needs the publishable key.
            // Without one, a test-mode key confirms Stripe's test cards server-side (by their
            // test payment-method names, never a number): what rehearsals drive over the API.
            anyhow::ensure!(
                !browser.publishable_key.is_empty() || !api_key.starts_with("sk_live_"),
                "BOXOFFICE_PAYMENT_PROVIDER=stripe with a live key needs STRIPE_PUBLISHABLE_KEY (pk_live_…)"
            );
            let secret = String::from_utf8_lossy(webhook_secret).into_owned();
            Arc::new(boxoffice_payments::stripe::StripeProvider::new(
                boxoffice_payments::stripe::StripeConfig::new(api_key.clone(), secret)
                    .with_api_base(api_base.clone())
                    .with_timeout(*timeout)
                    .with_api_version(browser.api_version.clone())
                    .with_browser_checkout(browser.publishable_key.clone(), browser.js_url.clone()),
            )?)
        }
        PaymentSettings::Unknown(name) => {
            anyhow::bail!("unknown payment provider {name:?}: expected sandbox or stripe")
        }
    })
}

impl Application {
    /// Connects to the database (and Redis, when set), migrates, seeds, sets up the payment
    /// provider and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = boxoffice_store::connect(&settings.database_url, settings.db_pool_size)
            .await
            .with_context(|| {
                format!(
                    "connecting to {}",
                    boxoffice_store::redact(&settings.database_url)
                )
            })?;
        db.migrate().await.context("applying migrations")?;
        let secret = match &settings.secret {
            Some(s) => s.clone(),
            None => {
                let mut tx = db.begin().await?;
                let s = tx.setting_or_insert("secret", &new_secret()).await?;
                tx.commit().await?;
                s
            }
        };
        let webhook_secret = match &settings.webhook_secret {
            Some(s) => s.clone().into_bytes(),
            None => boxoffice_app::security::derive_key(secret.as_bytes(), "webhook"),
        };
        let hasher = PasswordHasher::new();
        if settings.demo {
            seed::demo_event_if_empty(db.as_ref())
                .await
                .context("creating the demo event")?;
        }
        if let Some((email, password)) = &settings.admin {
            seed::ensure_admin(db.as_ref(), &hasher, email, password)
                .await
                .context("creating the admin account")?;
        }
        let shutdown = CancellationToken::new();
        let hub = Arc::new(SeatHub::new(db.clone()));
        let instance_id: Arc<str> = boxoffice_domain::new_id().into();
        let fanout = match &settings.redis_url {
            Some(url) => FanOut::redis(hub.clone(), url, instance_id.to_string(), shutdown.clone())
                .await
                .with_context(|| {
                    format!("connecting to Redis at {}", boxoffice_store::redact(url))
                })?,
            None => FanOut::local(hub.clone()),
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let catalog = Arc::new(Catalog::new(db.clone()));
        let waiting_room = Arc::new(WaitingRoom::new(
            db.clone(),
            catalog.clone(),
            secret.as_bytes(),
            settings.admission_ttl,
            instance_id.clone(),
            settings.redis_url.as_deref(),
        )?);
        waiting_room
            .refresh()
            .await
            .context("loading the waiting rooms")?;
        let limits = Arc::new(
            http::limits::RateLimits::new(
                &settings.limits,
                settings.hold_ttl,
                settings.redis_url.as_deref(),
            )
            .context("setting up the rate limits")?,
        );
        let rules = SaleRules {
            hold_ttl: settings.hold_ttl,
            max_seats_per_hold: settings.max_seats_per_hold,
            max_seats_held_total: settings.limits.max_seats_held_total,
            hold_cooldown: settings.limits.hold_cooldown,
            max_holds_per_event_per_hour: settings.limits.max_holds_per_event_per_hour,
            ended_hold_retention: settings.limits.ended_hold_retention,
        };
        let mail = match &settings.mail {
            Some(config) => {
                let mailer = Mailer::new(config).context("setting up e-mail")?;
                tracing::info!(from = %config.from, "e-mail to buyers is on");
                Some(Arc::new(mailer))
            }
            None => None,
        };
        let app = App {
            db,
            catalog,
            hub,
            fanout,
            instance_id,
            payments: payment_provider(
                &settings.payment,
                &webhook_secret,
                settings.webhook_secret.is_some(),
            )?,
            waiting_room,
            secret: Arc::new(secret.into_bytes()),
            rules: Arc::new(rules),
            hasher,
            mail,
        };
        let state = AppState {
            app,
            limits,
            sessions: Arc::default(),
            shutdown,
            ready: Arc::new(AtomicBool::new(true)),
            metrics: crate::telemetry::metrics_handle(),
            streams: Arc::new(AtomicUsize::new(0)),
            settings: Arc::new(settings),
        };
        Ok(Application { listener, state })
    }

    /// The address bound, with the port chosen when `listen` asked for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` resolves. Then `/readyz` turns 503, streams tell their clients to
    /// reconnect, in-flight requests finish, background tasks stop, and the pools close.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let background = tasks::spawn_all(state.clone());
        let (ready, token) = (state.ready.clone(), state.shutdown.clone());
        let drain_delay = state.settings.drain_delay;
        let app = http::router(state.clone());
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining requests and streams");
            ready.store(false, Ordering::SeqCst);
            // Keep serving while the load balancer notices /readyz failing, then close streams.
            tokio::time::sleep(drain_delay).await;
            token.cancel();
        })
        .await?;
        state.shutdown.cancel();
        for task in background {
            let _ = task.await;
        }
        state.app.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
