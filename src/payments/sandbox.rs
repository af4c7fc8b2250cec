//! The in-process sandbox provider: test cards behave like a real provider's test mode.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;

use super::{ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError};
use crate::domain::{idempotency::hex, new_id};

pub const CARD_SUCCEEDS: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";

/// Remembers each idempotency key's outcome, as a real provider does, so a retried charge returns
/// the first answer instead of charging again.
#[derive(Default)]
pub struct SandboxProvider {
    charges: Mutex<HashMap<String, ChargeOutcome>>,
    refunds: Mutex<HashMap<String, String>>,
}

impl SandboxProvider {
    pub fn new() -> Self {
        Self::default()
    }

    fn decide(request: &ChargeRequest) -> ChargeOutcome {
        if request.card.digits() == CARD_DECLINED {
            return ChargeOutcome::Declined {
                reason: "Your card was declined.".to_owned(),
            };
        }
        let digest = <sha2::Sha256 as sha2::Digest>::digest(request.idempotency_key.as_bytes());
        ChargeOutcome::Succeeded {
            reference: format!("sbx_ch_{}", &hex(&digest)[..24]),
        }
    }
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, ProviderError> {
        let mut charges = self.charges.lock().unwrap_or_else(|e| e.into_inner());
        Ok(charges
            .entry(request.idempotency_key.clone())
            .or_insert_with(|| Self::decide(request))
            .clone())
    }

    async fn refund(
        &self,
        charge_reference: &str,
        _amount_cents: i64,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let mut refunds = self.refunds.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{charge_reference}/{idempotency_key}");
        Ok(refunds
            .entry(key)
            .or_insert_with(|| format!("sbx_re_{}", new_id()))
            .clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::CardNumber;

    fn request(key: &str, card: &str) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: key.into(),
            amount_cents: 100,
            currency: "EUR".into(),
            card: CardNumber::parse(card).unwrap(),
            description: "test".into(),
        }
    }

    #[tokio::test]
    async fn the_success_card_is_charged_and_the_decline_card_is_declined() {
        let p = SandboxProvider::new();
        assert!(matches!(
            p.charge(&request("k1", CARD_SUCCEEDS)).await.unwrap(),
            ChargeOutcome::Succeeded { .. }
        ));
        assert!(matches!(
            p.charge(&request("k2", CARD_DECLINED)).await.unwrap(),
            ChargeOutcome::Declined { .. }
        ));
    }

    #[tokio::test]
    async fn a_retried_charge_with_the_same_key_returns_the_first_outcome() {
        let p = SandboxProvider::new();
        let first = p.charge(&request("k", CARD_SUCCEEDS)).await.unwrap();
        let again = p.charge(&request("k", CARD_DECLINED)).await.unwrap();
        assert_eq!(first, again);
    }
}
