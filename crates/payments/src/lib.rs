//! The payment-provider boundary, shaped like real providers' lifecycles: create a payment intent
//! (never charges), confirm it with a card (charges, now or later), ask for its status, refund it.
//! Every call carries an idempotency key, so a retry after a lost answer never charges twice.
//! Outcomes that arrive later come by webhook, signed as in [`webhook`].

pub mod form;
pub mod sandbox;
pub mod stripe;
pub mod test_cards;
pub mod webhook;

use async_trait::async_trait;
use axum::http::HeaderMap;

use boxoffice_domain::{card::CardNumber, money::Money, time::Timestamp};

pub use sandbox::SandboxProvider;

/// What an intent is created for: one checkout attempt's amount.
#[derive(Debug, Clone)]
pub struct IntentRequest {
    /// The provider de-duplicates on this key: asking twice creates one intent.
    pub idempotency_key: String,
    /// In our minor units; the provider converts to its own.
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Shown in the provider's dashboard.
    pub description: String,
}

/// A payment intent as the provider created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The provider's id of the intent: the reference every later call and webhook names.
    pub id: String,
    /// Where it stands at creation.
    pub status: IntentStatus,
    /// What the buyer's browser confirms the intent with (Stripe.js), when the provider has one.
    pub client_secret: Option<String>,
}

/// What the buyer's page needs to confirm an intent itself, with Stripe.js and the Payment
/// Element, so that card data goes from the browser to the provider and never to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCheckout {
    /// `pk_test_…` or `pk_live_…`.
    pub publishable_key: String,
    /// Where Stripe.js is loaded from: `https://js.stripe.com/v3/`, or the sandbox's stand-in.
    pub js_url: String,
}

/// A refund as the provider reports it. Only a succeeded refund has sent money back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The provider's id of the refund.
    pub id: String,
    /// Where it stands.
    pub status: RefundStatus,
}

/// Where a refund stands at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundStatus {
    /// Accepted; the money is on its way (or waits for the buyer's bank).
    Pending,
    /// The money went back.
    Succeeded,
    /// The provider could not send the money back.
    Failed {
        /// The provider's reason.
        reason: String,
    },
    /// Cancelled before the money went back.
    Canceled,
}

/// Where a payment intent stands at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentStatus {
    /// Created but not confirmed, or waiting for the buyer (a card, 3-D Secure): nothing has been
    /// charged yet.
    RequiresConfirmation,
    /// Confirmed; the outcome comes later, by webhook or by asking again.
    Processing,
    /// Charged.
    Succeeded,
    /// The card was refused; nothing was charged.
    Declined {
        /// The provider's reason.
        reason: String,
    },
    /// Cancelled before any charge.
    Canceled,
}

impl IntentStatus {
    /// True when the status will not change any more (apart from refunds).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            IntentStatus::Succeeded | IntentStatus::Declined { .. } | IntentStatus::Canceled
        )
    }
}

/// Why a provider call gave no answer we can act on.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No answer, or not in time: whether the call took effect is unknown.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answered that the request itself is wrong: it took no effect.
    #[error("payment provider refused the request: {0}")]
    Rejected(String),
}

/// A verified webhook: what the provider says happened to one intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id (the same event may arrive more than once).
    pub id: String,
    /// The intent it is about.
    pub intent_id: String,
    /// What the intent became.
    pub status: IntentStatus,
}

/// Why a webhook was not acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not signed with our secret: not from the provider.
    #[error("the webhook signature is missing or wrong")]
    BadSignature,
    /// Signed too long ago (or ahead of our clock): perhaps a replay.
    #[error("the webhook is too old (or from the future)")]
    Stale,
    /// Signed, but not a body we can read.
    #[error("the webhook body is not an event we understand: {0}")]
    Malformed(String),
    /// A genuine event of a kind that changes nothing here.
    #[error("the webhook's event type is not one we act on")]
    Ignored,
}

/// A payment provider, as checkout, settlement and refunds use it.
#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// The provider's name, stored with each payment.
    fn name(&self) -> &'static str;
    /// Creates the intent for one attempt, once per idempotency key.
    async fn create_intent(&self, request: &IntentRequest) -> Result<Intent, ProviderError>;
    /// Charges the card for the intent. `idempotency_key` makes a retried confirmation harmless.
    async fn confirm(
        &self,
        intent_id: &str,
        card: &CardNumber,
        idempotency_key: &str,
    ) -> Result<IntentStatus, ProviderError>;
    /// The intent's status as the provider knows it now.
    async fn retrieve(&self, intent_id: &str) -> Result<IntentStatus, ProviderError>;
    /// Cancels an intent that has not been charged, so that it never can be. Answers the
    /// intent's status afterwards: `Canceled`, or what it became first (`Succeeded` when a slow
    /// confirmation landed before the cancel).
    async fn cancel(&self, intent_id: &str) -> Result<IntentStatus, ProviderError>;
    /// Refunds `amount` of a succeeded intent; the refund may still be pending.
    async fn refund(
        &self,
        intent_id: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError>;
    /// The refund's status as the provider knows it now.
    async fn refund_status(&self, refund_id: &str) -> Result<RefundStatus, ProviderError>;
    /// Set when the buyer's browser confirms payments itself (Stripe.js); `None` when the
    /// server confirms with a card number (the in-process sandbox).
    fn browser_checkout(&self) -> Option<&BrowserCheckout> {
        None
    }
    /// Checks a webhook's signature and freshness, then reads the event.
    fn verify_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<WebhookEvent, WebhookError>;
}
