//! The payment boundary crossed over the network: the app talks to `boxoffice sandbox-psp`
//! (Stripe's wire format) through the Stripe provider, and receives its signed webhooks, while
//! the sandbox injects the faults real providers have.

mod browser;
mod charges;

use std::time::Duration;

use boxoffice_psp::{Faults, PspConfig, PspHandle, SandboxPsp};
use boxoffice_server::{PaymentSettings, StripeBrowser};
use boxoffice_testkit::free_port;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Buyer, TestApp};

const SECRET: &str = "whsec_provider_test";

async fn app_behind_psp(faults: Faults, reconcile: Duration) -> (TestApp, PspHandle) {
    let port = free_port();
    let (_, psp) = SandboxPsp::start(PspConfig {
        webhook_url: Some(format!("http://127.0.0.1:{port}/api/v1/payments/webhook")),
        webhook_secret: SECRET.to_owned(),
        faults,
        seed: Some(7),
        settle_delay: Duration::from_millis(500),
        webhook_retry_base: Duration::from_millis(100),
        ..PspConfig::default()
    })
    .await
    .unwrap();
    let base = psp.base_url();
    let app = TestApp::spawn_with(move |s| {
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.webhook_secret = Some(SECRET.to_owned());
        s.payment_reconcile_interval = reconcile;
        s.payment = PaymentSettings::Stripe {
            api_key: "sk_test_boxoffice".to_owned(),
            api_base: base,
            timeout: Duration::from_millis(1500),
            browser: StripeBrowser::default(),
        };
    })
    .await;
    (app, psp)
}

async fn pay(buyer: &Buyer, hold_id: &str, key: &str, card: &str) -> (StatusCode, Value) {
    let r = buyer
        .checkout_body(
            hold_id,
            Some(key),
            &json!({"payment": {"method": "card", "card_number": card}}),
        )
        .await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn wait_paid(buyer: &Buyer, payment_id: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let view: Value = buyer
            .get(&format!("/api/v1/payments/{payment_id}"))
            .await
            .json()
            .await
            .unwrap();
        if view["payment"]["status"] != "confirming" {
            return view["payment"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still confirming: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SLOW_RECONCILER: Duration = Duration::from_secs(3600);
