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

use std::time::Duration;

use async_trait::async_trait;
use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    BrowserCheckout, Intent, IntentRequest, IntentStatus, PaymentProvider, ProviderError, Refund,
    RefundStatus, WebhookError, WebhookEvent, form, test_cards, webhook, webhook::SIGNATURE_HEADER,
};
use boxoffice_domain::{
    card::CardNumber,
    currency::{provider_amount, provider_refund_amount},
    idempotency::hex,
    money::Money,
    time::Timestamp,
};

pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// Stripe.js, always loaded from Stripe itself (Stripe does not allow self-hosting it).
pub const DEFAULT_JS_URL: &str = "https://js.stripe.com/v3/";
/// The API version our requests and parsing were written against.
pub const DEFAULT_API_VERSION: &str = "2024-06-20";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

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

    pub fn with_api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

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

/// A raw answer: the status and the body, to be read by [`Answer::intent`] or [`Answer::object`].
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: axum::body::Bytes,
}

#[derive(Debug, Deserialize)]
struct PaymentIntentObject {
    id: String,
    status: String,
    #[serde(default)]
    last_payment_error: Option<ErrorObject>,
    #[serde(default)]
    client_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RefundObject {
    id: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    failure_reason: Option<String>,
}

impl RefundObject {
    fn refund(self) -> Refund {
        Refund {
            status: refund_status(self.status.as_deref(), self.failure_reason),
            id: self.id,
        }
    }
}

/// A refund's status as the trait sees it; an unknown or missing one is not a success.
fn refund_status(status: Option<&str>, failure_reason: Option<String>) -> RefundStatus {
    match status {
        Some("succeeded") => RefundStatus::Succeeded,
        Some("failed") => RefundStatus::Failed {
            reason: failure_reason.unwrap_or_else(|| "unknown".into()),
        },
        Some("canceled") => RefundStatus::Canceled,
        _ => RefundStatus::Pending,
    }
}

#[derive(Debug, Default, Deserialize)]
struct ErrorObject {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    payment_intent: Option<Box<PaymentIntentObject>>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

const DEFAULT_DECLINE: &str = "Your card was declined.";

/// A PaymentIntent's status as the trait sees it.
fn intent_status(pi: &PaymentIntentObject) -> Result<IntentStatus, ProviderError> {
    let declined = |e: Option<&ErrorObject>| IntentStatus::Declined {
        reason: e
            .and_then(|e| e.message.clone())
            .unwrap_or_else(|| DEFAULT_DECLINE.to_owned()),
    };
    Ok(match pi.status.as_str() {
        "succeeded" => IntentStatus::Succeeded,
        "processing" | "requires_capture" => IntentStatus::Processing,
        "canceled" => IntentStatus::Canceled,
        "requires_payment_method" if pi.last_payment_error.is_some() => {
            declined(pi.last_payment_error.as_ref())
        }
        "requires_payment_method" | "requires_confirmation" | "requires_action" => {
            IntentStatus::RequiresConfirmation
        }
        other => {
            return Err(ProviderError::Unavailable(format!(
                "payment intent {} has a status we do not know: {other}",
                pi.id
            )));
        }
    })
}

impl Answer {
    fn error(&self) -> ErrorObject {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .map(|b| b.error)
            .unwrap_or_default()
    }

    fn summary(&self) -> String {
        let e = self.error();
        let mut s = format!("HTTP {}", self.status.as_u16());
        for part in [e.kind, e.code, e.decline_code, e.message]
            .into_iter()
            .flatten()
        {
            s.push_str(": ");
            s.push_str(&part);
        }
        s
    }

    /// Failures every endpoint shares: unknown effect or a refused request.
    fn failure(&self) -> ProviderError {
        let s = self.status;
        if s.is_server_error()
            || s == StatusCode::TOO_MANY_REQUESTS
            || s == StatusCode::CONFLICT
            || s == StatusCode::REQUEST_TIMEOUT
        {
            ProviderError::Unavailable(self.summary())
        } else {
            ProviderError::Rejected(self.summary())
        }
    }

    fn object<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProviderError> {
        if !self.status.is_success() {
            return Err(self.failure());
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ProviderError::Unavailable(format!("an answer we cannot read ({e})")))
    }

    /// A PaymentIntent answer, with a 402 card error read as a decline.
    fn intent(&self) -> Result<Intent, ProviderError> {
        if self.status == StatusCode::PAYMENT_REQUIRED {
            let e = self.error();
            let reason = e.message.clone().unwrap_or_else(|| DEFAULT_DECLINE.into());
            let id = e.payment_intent.map(|pi| pi.id).unwrap_or_default();
            return Ok(Intent {
                id,
                status: IntentStatus::Declined { reason },
                client_secret: None,
            });
        }
        let pi: PaymentIntentObject = self.object()?;
        Ok(Intent {
            status: intent_status(&pi)?,
            id: pi.id,
            client_secret: pi.client_secret,
        })
    }
}

/// The idempotency key sent for `operation`: namespaced, and hashed when too long for Stripe.
fn scoped_key(operation: &str, key: &str) -> String {
    let scoped = format!("{operation}:{key}");
    if scoped.len() <= 255 {
        scoped
    } else {
        format!(
            "{operation}:sha256:{}",
            hex(&Sha256::digest(key.as_bytes()))
        )
    }
}

fn pair(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

fn create_params(request: &IntentRequest) -> Result<Vec<(String, String)>, ProviderError> {
    let amount = provider_amount(&Money {
        cents: request.amount_cents,
        currency: request.currency.clone(),
    })
    .map_err(|e| ProviderError::Rejected(e.to_string()))?;
    Ok(vec![
        pair("amount", amount.to_string()),
        pair("currency", request.currency.to_ascii_lowercase()),
        pair("description", request.description.clone()),
        pair("payment_method_types[0]", "card"),
        pair("metadata[idempotency_key]", request.idempotency_key.clone()),
    ])
}

/// A test card as its test payment method; any other number is refused here, before it could
/// leave the server.
fn confirm_params(card: &CardNumber) -> Result<Vec<(String, String)>, ProviderError> {
    match test_cards::payment_method_for_card(card.digits()) {
        Some(pm) => Ok(vec![pair("payment_method", pm)]),
        None => Err(ProviderError::Rejected(
            "card numbers are never sent to Stripe: buyers pay with Stripe.js in their browser"
                .into(),
        )),
    }
}

/// An id as one path segment.
fn segment(id: &str) -> String {
    let encoded = form::encode(&[(id, "")]);
    encoded.trim_end_matches('=').to_owned()
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
    use crate::sandbox::{CARD_DECLINED, CARD_SUCCEEDS};

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.to_owned().into(),
        }
    }

    fn pi(status: &str, error: Option<&str>) -> PaymentIntentObject {
        PaymentIntentObject {
            id: "pi_1".into(),
            status: status.into(),
            last_payment_error: error.map(|m| ErrorObject {
                message: Some(m.into()),
                ..ErrorObject::default()
            }),
            client_secret: None,
        }
    }

    #[test]
    fn statuses_map_onto_the_trait() {
        let s = |status, error| intent_status(&pi(status, error)).unwrap();
        assert_eq!(s("succeeded", None), IntentStatus::Succeeded);
        assert_eq!(s("processing", None), IntentStatus::Processing);
        assert_eq!(s("canceled", None), IntentStatus::Canceled);
        assert_eq!(
            s("requires_payment_method", None),
            IntentStatus::RequiresConfirmation
        );
        assert_eq!(
            s("requires_confirmation", None),
            IntentStatus::RequiresConfirmation
        );
        assert_eq!(
            s(
                "requires_payment_method",
                Some("Your card has insufficient funds.")
            ),
            IntentStatus::Declined {
                reason: "Your card has insufficient funds.".into()
            }
        );
        assert_eq!(
            s("requires_action", None),
            IntentStatus::RequiresConfirmation
        );
        assert!(matches!(
            intent_status(&pi("something_new", None)),
            Err(ProviderError::Unavailable(_))
        ));
    }

    #[test]
    fn answers_map_to_intents_declines_and_errors() {
        let ok = answer(
            200,
            r#"{"id":"pi_9","object":"payment_intent","status":"succeeded","amount":5}"#,
        );
        assert_eq!(
            ok.intent().unwrap(),
            Intent {
                id: "pi_9".into(),
                status: IntentStatus::Succeeded,
                client_secret: None,
            }
        );
        let declined = answer(
            402,
            r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline",
                "message":"Your card was declined.","payment_intent":{"id":"pi_9","status":"requires_payment_method"}}}"#,
        );
        assert_eq!(
            declined.intent().unwrap().status,
            IntentStatus::Declined {
                reason: "Your card was declined.".into()
            }
        );
        let cases = [
            (500, true),
            (502, true),
            (503, true),
            (429, true),
            (409, true),
            (400, false),
            (401, false),
            (404, false),
        ];
        for (status, unavailable) in cases {
            let a = answer(
                status,
                r#"{"error":{"type":"invalid_request_error","code":"x","message":"m"}}"#,
            );
            let e = a.intent().unwrap_err();
            assert_eq!(
                matches!(e, ProviderError::Unavailable(_)),
                unavailable,
                "{status}: {e}"
            );
        }
        let garbled = answer(200, "<html>");
        assert!(matches!(
            garbled.intent(),
            Err(ProviderError::Unavailable(_))
        ));
        let summary = answer(
            400,
            r#"{"error":{"type":"idempotency_error","message":"Keys…"}}"#,
        )
        .summary();
        assert_eq!(summary, "HTTP 400: idempotency_error: Keys…");
    }

    #[test]
    fn requests_are_encoded_as_stripe_expects() {
        let request = IntentRequest {
            idempotency_key: "k-1".into(),
            amount_cents: 4200,
            currency: "EUR".into(),
            description: "Order 7 & co".into(),
        };
        assert_eq!(
            form::encode(&create_params(&request).unwrap()),
            "amount=4200&currency=eur&description=Order%207%20%26%20co\
             &payment_method_types%5B0%5D=card&metadata%5Bidempotency_key%5D=k-1"
        );
        let visa = CardNumber::parse(CARD_SUCCEEDS).unwrap();
        assert_eq!(
            confirm_params(&visa).unwrap(),
            vec![pair("payment_method", "pm_card_visa")]
        );
        let declined = CardNumber::parse(CARD_DECLINED).unwrap();
        assert_eq!(
            confirm_params(&declined).unwrap(),
            vec![pair("payment_method", "pm_card_chargeDeclined")]
        );
        let other = CardNumber::parse("4111111111111111").unwrap();
        assert!(matches!(
            confirm_params(&other),
            Err(ProviderError::Rejected(_))
        ));
        let iceland = IntentRequest {
            currency: "ISK".into(),
            amount_cents: 1500,
            ..request.clone()
        };
        assert!(form::encode(&create_params(&iceland).unwrap()).starts_with("amount=150000&"));
        let huge = IntentRequest {
            amount_cents: 100_000_000,
            ..request
        };
        assert!(matches!(
            create_params(&huge),
            Err(ProviderError::Rejected(_))
        ));
        assert_eq!(segment("pi_1/../x"), "pi_1%2F..%2Fx");
    }

    #[test]
    fn idempotency_keys_are_scoped_and_bounded() {
        assert_eq!(scoped_key("confirm", "abc"), "confirm:abc");
        let long = "k".repeat(255);
        let scoped = scoped_key("refund", &long);
        assert!(scoped.len() <= 255);
        assert!(scoped.starts_with("refund:sha256:"));
        assert_eq!(scoped, scoped_key("refund", &long));
    }

    #[test]
    fn refund_statuses_count_only_a_success_as_money_returned() {
        assert_eq!(
            refund_status(Some("succeeded"), None),
            RefundStatus::Succeeded
        );
        assert_eq!(refund_status(Some("pending"), None), RefundStatus::Pending);
        assert_eq!(
            refund_status(Some("requires_action"), None),
            RefundStatus::Pending
        );
        assert_eq!(refund_status(None, None), RefundStatus::Pending);
        assert_eq!(
            refund_status(Some("failed"), Some("expired_or_canceled_card".into())),
            RefundStatus::Failed {
                reason: "expired_or_canceled_card".into()
            }
        );
    }

    #[test]
    fn only_loopback_bases_skip_the_proxy() {
        assert!(is_loopback("http://127.0.0.1:4000"));
        assert!(is_loopback("http://localhost:4000"));
        assert!(!is_loopback(DEFAULT_API_BASE));
    }
}
