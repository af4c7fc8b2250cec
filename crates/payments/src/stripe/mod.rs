//! A [`PaymentProvider`] over Stripe's PaymentIntents API (or anything speaking its wire format,
//! such as `boxoffice sandbox-psp`): form-encoded requests, JSON answers, bearer-key
//! authentication, `Idempotency-Key` on every POST, signed webhooks in the `Stripe-Signature`
//! header.
//!
//! How answers map onto the trait:
//! - a PaymentIntent's `status`: `succeeded` → `Succeeded`; `processing` (and `requires_capture`)
//!   → `Processing`; `canceled` → `Canceled`; `requires_payment_method` with a
//!   `last_payment_error` → `Declined` (its message), without one → `RequiresConfirmation`, as is
//!   `requires_confirmation`; `requires_action` (the buyer's browser is authenticating with
//!   3-D Secure through Stripe.js) → `RequiresConfirmation`: nothing is charged yet;
//! - a 402 card error → `Declined { reason: message }`;
//! - no answer, a timeout, a 5xx, a 429, a 409 (a concurrent request on the same key) or an
//!   unreadable 2xx → [`ProviderError::Unavailable`]: the effect is unknown, ask again;
//! - any other 4xx → [`ProviderError::Rejected`], except that confirming an intent that is
//!   already past confirmation answers with the intent's current status.
//!
//! Idempotency keys are namespaced per operation (`create:`, `confirm:`, `refund:`), because
//! Stripe binds a key to one endpoint and one set of parameters: a caller may pass the same key to
//! create and to confirm. Keys longer than Stripe's 255 characters are hashed.
//!
//! Cards: buyers pay in their browser, with Stripe.js and the Payment Element, so card data goes
//! from the browser to Stripe and never through this server (PCI DSS SAQ A). The server-side
//! [`PaymentProvider::confirm`] only takes Stripe's documented test cards, sent as their test
//! payment methods (`pm_card_visa`, …); it never sends a card number.
//!
//! Every request carries `Stripe-Version` (pinned by a setting, [`DEFAULT_API_VERSION`] unless
//! set), so that an account upgrade at Stripe cannot change the shapes we read. Amounts go in
//! Stripe's minor units ([`boxoffice_domain::currency`]).

mod answer;
mod request;

use std::time::Duration;

use async_trait::async_trait;
use axum::http::HeaderMap;
use reqwest::StatusCode;

use crate::{
    BrowserCheckout, Intent, IntentRequest, IntentStatus, PaymentProvider, ProviderError, Refund,
    RefundStatus, WebhookError, WebhookEvent, form, webhook, webhook::SIGNATURE_HEADER,
};
use answer::{Answer, PaymentIntentObject, RefundObject, intent_status};
use boxoffice_domain::{
    card::CardNumber, currency::provider_refund_amount, money::Money, time::Timestamp,
};
use request::{confirm_params, create_params, pair, scoped_key, segment};

pub(crate) const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// Stripe.js, always loaded from Stripe itself (Stripe does not allow self-hosting it).
pub const DEFAULT_JS_URL: &str = "https://js.stripe.com/v3/";
/// The API version our requests and parsing were written against.
pub const DEFAULT_API_VERSION: &str = "2024-06-20";
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the provider needs. [`StripeConfig::new`] fills in the defaults.
#[derive(Clone)]
pub struct StripeConfig {
    /// `sk_test_…` or `sk_live_…`.
    pub api_key: String,
    /// `https://api.stripe.com`, or the sandbox service's `http://127.0.0.1:PORT`.
    pub api_base: String,
    /// The endpoint's signing secret (`whsec_…`).
    pub webhook_secret: String,
    /// For the whole call, connection included.
    pub timeout: Duration,
    /// Sent as `Stripe-Version` on every request.
    pub api_version: String,
    /// `pk_…`: given to the buyer's page for Stripe.js. Without it, browsers cannot pay.
    pub publishable_key: Option<String>,
    /// Where the page loads Stripe.js from.
    pub js_url: String,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .field("api_version", &self.api_version)
            .field("js_url", &self.js_url)
            .finish_non_exhaustive()
    }
}

impl StripeConfig {
    /// Stripe's defaults with these secrets.
    pub fn new(api_key: impl Into<String>, webhook_secret: impl Into<String>) -> Self {
        StripeConfig {
            api_key: api_key.into(),
            api_base: DEFAULT_API_BASE.into(),
            webhook_secret: webhook_secret.into(),
            timeout: DEFAULT_TIMEOUT,
            api_version: DEFAULT_API_VERSION.into(),
            publishable_key: None,
            js_url: DEFAULT_JS_URL.into(),
        }
    }

    /// Another `Stripe-Version`.
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// The publishable key and where Stripe.js comes from: what the buyer's page needs.
    pub fn with_browser_checkout(mut self, publishable_key: String, js_url: String) -> Self {
        self.publishable_key = Some(publishable_key).filter(|k| !k.is_empty());
        self.js_url = js_url;
        self
    }

    /// Another API base: the sandbox service in tests and rehearsals.
    pub fn with_api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into();
        self
    }

    /// Another timeout for each call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The provider that talks to Stripe (or to anything speaking its API).
pub struct StripeProvider {
    client: reqwest::Client,
    base: String,
    api_key: String,
    api_version: String,
    webhook_secret: Vec<u8>,
    browser: Option<BrowserCheckout>,
}

impl StripeProvider {
    /// Builds the HTTP client (TLS included); fails only if the client cannot be built.
    pub fn new(config: StripeConfig) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("boxoffice/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&config.api_base) {
            // The sandbox runs next to us: never send its traffic through a proxy.
            builder = builder.no_proxy();
        }
        Ok(StripeProvider {
            client: builder.build()?,
            base: config.api_base.trim_end_matches('/').to_owned(),
            api_key: config.api_key,
            api_version: config.api_version,
            webhook_secret: config.webhook_secret.into_bytes(),
            browser: config
                .publishable_key
                .map(|publishable_key| BrowserCheckout {
                    publishable_key,
                    js_url: config.js_url,
                }),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(String, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Answer, ProviderError> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .header("Stripe-Version", &self.api_version);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if method == reqwest::Method::POST {
            request = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form::encode(params));
        }
        let response = request.send().await.map_err(|e| {
            ProviderError::Unavailable(format!("{method} {path}: {}", describe(&e)))
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            ProviderError::Unavailable(format!("{method} {path}: reading the answer: {e}"))
        })?;
        Ok(Answer { status, body })
    }
}

fn is_loopback(base: &str) -> bool {
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"))
        .unwrap_or(base);
    ["127.", "localhost", "[::1]"]
        .iter()
        .any(|p| rest.starts_with(p))
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer in time ({e})")
    } else if e.is_connect() {
        format!("cannot connect ({e})")
    } else {
        e.to_string()
    }
}
#[async_trait]
impl PaymentProvider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn create_intent(&self, request: &IntentRequest) -> Result<Intent, ProviderError> {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/v1/payment_intents",
                &create_params(request)?,
                Some(&scoped_key("create", &request.idempotency_key)),
            )
            .await?;
        if answer.status == StatusCode::PAYMENT_REQUIRED {
            return Err(answer.failure());
        }
        answer.intent()
    }

    async fn confirm(
        &self,
        intent_id: &str,
        card: &CardNumber,
        idempotency_key: &str,
    ) -> Result<IntentStatus, ProviderError> {
        let answer = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/payment_intents/{}/confirm", segment(intent_id)),
                &confirm_params(card)?,
                Some(&scoped_key("confirm", idempotency_key)),
            )
            .await?;
        if answer.status == StatusCode::BAD_REQUEST {
            // Confirming twice (another key, another tab): the intent already went its way.
            let e = answer.error();
            if e.code.as_deref() == Some("payment_intent_unexpected_state")
                && let Some(pi) = &e.payment_intent
                && matches!(pi.status.as_str(), "succeeded" | "processing" | "canceled")
            {
                return intent_status(pi);
            }
        }
        answer.intent().map(|i| i.status)
    }

    async fn retrieve(&self, intent_id: &str) -> Result<IntentStatus, ProviderError> {
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/payment_intents/{}", segment(intent_id)),
                &[],
                None,
            )
            .await?;
        let pi: PaymentIntentObject = answer.object()?;
        intent_status(&pi)
    }

    async fn cancel(&self, intent_id: &str) -> Result<IntentStatus, ProviderError> {
        let answer = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/payment_intents/{}/cancel", segment(intent_id)),
                &[pair("cancellation_reason", "abandoned")],
                Some(&scoped_key("cancel", intent_id)),
            )
            .await?;
        if answer.status == StatusCode::BAD_REQUEST {
            // Too late to cancel: the intent went its way first (a slow confirmation landed).
            let e = answer.error();
            if e.code.as_deref() == Some("payment_intent_unexpected_state")
                && let Some(pi) = &e.payment_intent
            {
                return intent_status(pi);
            }
        }
        let pi: PaymentIntentObject = answer.object()?;
        intent_status(&pi)
    }

    async fn refund(
        &self,
        intent_id: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        let amount =
            provider_refund_amount(amount).map_err(|e| ProviderError::Rejected(e.to_string()))?;
        let answer = self
            .call(
                reqwest::Method::POST,
                "/v1/refunds",
                &[
                    pair("payment_intent", intent_id),
                    pair("amount", amount.to_string()),
                ],
                Some(&scoped_key("refund", idempotency_key)),
            )
            .await?;
        let refund: RefundObject = answer.object()?;
        Ok(refund.refund())
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundStatus, ProviderError> {
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/refunds/{}", segment(refund_id)),
                &[],
                None,
            )
            .await?;
        let refund: RefundObject = answer.object()?;
        Ok(refund.refund().status)
    }

    fn browser_checkout(&self) -> Option<&BrowserCheckout> {
        self.browser.as_ref()
    }

    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(WebhookError::BadSignature)?;
        webhook::verify(&self.webhook_secret, header, body, now)?;
        webhook::parse_event(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_bases_skip_the_proxy() {
        assert!(is_loopback("http://127.0.0.1:4000"));
        assert!(is_loopback("http://localhost:4000"));
        assert!(!is_loopback(DEFAULT_API_BASE));
    }
}
