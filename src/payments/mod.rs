//! The payment-provider boundary and the zero-setup sandbox provider.

pub mod sandbox;

use async_trait::async_trait;

use crate::domain::card::CardNumber;

pub use sandbox::SandboxProvider;

#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// The provider de-duplicates on this key: a retried call never charges twice.
    pub idempotency_key: String,
    pub amount_cents: i64,
    pub currency: String,
    pub card: CardNumber,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded { reference: String },
    Declined { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or did not answer in time: the outcome is unknown.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, ProviderError>;
    /// Refunds `amount_cents` of a charge; returns the refund's reference.
    async fn refund(
        &self,
        charge_reference: &str,
        amount_cents: i64,
        idempotency_key: &str,
    ) -> Result<String, ProviderError>;
}
