//! The sandbox payment service (`SandboxPsp`, Stripe's PaymentIntents wire format) driven by the
//! Stripe provider over loopback: outcomes, idempotency, faults and signed webhooks.

mod payments;
mod webhooks;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use boxoffice_domain::{card::CardNumber, money::Money, time::Timestamp};
use boxoffice_payments::{
    IntentRequest, IntentStatus, PaymentProvider, ProviderError, WebhookError, WebhookEvent,
    stripe::{StripeConfig, StripeProvider},
};
use boxoffice_psp::{Faults, PspConfig, PspHandle, SandboxPsp};

const KEY: &str = "sk_test_boxoffice";

const SECRET: &str = "whsec_psp_test";

fn provider_for(handle: &PspHandle, secret: &str) -> Arc<StripeProvider> {
    let config = StripeConfig::new(KEY, secret)
        .with_api_base(handle.base_url())
        .with_timeout(Duration::from_millis(500));
    Arc::new(StripeProvider::new(config).expect("client"))
}

async fn start(config: PspConfig) -> (PspHandle, Arc<StripeProvider>) {
    let (_, handle) = SandboxPsp::start(config).await.expect("sandbox psp starts");
    let provider = provider_for(&handle, SECRET);
    (handle, provider)
}

fn request(key: &str, amount: i64) -> IntentRequest {
    IntentRequest {
        idempotency_key: key.into(),
        amount_cents: amount,
        currency: "EUR".into(),
        description: format!("test {key}"),
    }
}

fn eur(cents: i64) -> Money {
    Money {
        cents,
        currency: "EUR".into(),
    }
}

fn card(n: &str) -> CardNumber {
    CardNumber::parse(n).unwrap()
}

async fn paid(p: &StripeProvider, key: &str, number: &str) -> (String, IntentStatus) {
    let intent = p.create_intent(&request(key, 1000)).await.unwrap();
    assert_eq!(intent.status, IntentStatus::RequiresConfirmation);
    let status = p.confirm(&intent.id, &card(number), key).await.unwrap();
    (intent.id, status)
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A webhook endpoint on port 0 that verifies every delivery with the provider.
#[derive(Default)]
struct Inbox {
    events: Mutex<Vec<WebhookEvent>>,
    errors: Mutex<Vec<WebhookError>>,
    /// Answer 500 to this many deliveries first.
    fail_first: AtomicUsize,
    hits: AtomicUsize,
}

impl Inbox {
    fn events(&self) -> Vec<WebhookEvent> {
        self.events.lock().unwrap().clone()
    }
}

async fn receiver(provider: Arc<StripeProvider>, inbox: Arc<Inbox>) -> String {
    let app = Router::new().route(
        "/webhooks",
        post(move |headers: HeaderMap, body: Bytes| {
            let (provider, inbox) = (provider.clone(), inbox.clone());
            async move {
                inbox.hits.fetch_add(1, Ordering::SeqCst);
                if inbox
                    .fail_first
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                match provider.verify_webhook(&headers, &body, Timestamp::now()) {
                    Ok(event) => {
                        inbox.events.lock().unwrap().push(event);
                        StatusCode::OK
                    }
                    Err(e) => {
                        inbox.errors.lock().unwrap().push(e);
                        StatusCode::BAD_REQUEST
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/webhooks")
}

/// A sandbox whose webhooks go to a fresh receiver; returns the receiver's inbox too.
async fn start_with_webhooks(
    mut config: PspConfig,
) -> (PspHandle, Arc<StripeProvider>, Arc<Inbox>) {
    // The receiver verifies with a provider of its own; only the secret matters for that.
    let verifier = Arc::new(
        StripeProvider::new(StripeConfig::new(KEY, SECRET).with_api_base("http://127.0.0.1:9"))
            .unwrap(),
    );
    let inbox = Arc::new(Inbox::default());
    config.webhook_url = Some(receiver(verifier, inbox.clone()).await);
    config.webhook_secret = SECRET.into();
    let (handle, provider) = start(config).await;
    (handle, provider, inbox)
}

#[tokio::test]
async fn shutdown_answers_held_requests_and_stops() {
    let (psp, _) = start(PspConfig {
        faults: Faults {
            timeout_rate: 1.0,
            ..Faults::default()
        },
        ..PspConfig::default()
    })
    .await;
    let patient = Arc::new(
        StripeProvider::new(
            StripeConfig::new(KEY, SECRET)
                .with_api_base(psp.base_url())
                .with_timeout(Duration::from_secs(30)),
        )
        .unwrap(),
    );
    let held = tokio::spawn({
        let patient = patient.clone();
        async move { patient.create_intent(&request("a", 1000)).await }
    });
    wait_until("the request to be held", Duration::from_secs(2), || {
        psp.stats().injected_timeouts == 1
    })
    .await;
    let started = Instant::now();
    psp.shutdown().await;
    let outcome = held.await.unwrap();
    assert!(
        matches!(outcome, Err(ProviderError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}
