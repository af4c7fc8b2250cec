//! The in-process sandbox provider: test cards behave like a real provider's test mode, including
//! the awkward cases (an answer that arrives later, an answer lost on the way back).
//!
//! | card | what happens |
//! |---|---|
//! | `4242424242424242` (and any other valid number) | succeeds at once |
//! | `4000000000000002` | declined |
//! | `4000000000003063` | processing, then succeeds after the settle delay |
//! | `4000000000000259` | processing, then declined after the settle delay |
//! | `4000000000000119` | succeeds, but the answer is lost: the caller sees a timeout |

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use axum::http::HeaderMap;

use super::{
    Intent, IntentRequest, IntentStatus, PaymentProvider, ProviderError, Refund, RefundStatus,
    WebhookError, WebhookEvent, webhook,
};
use boxoffice_domain::{card::CardNumber, money::Money, new_id, time::Timestamp};

/// Succeeds at once.
pub const CARD_SUCCEEDS: &str = "4242424242424242";
/// Declined at once.
pub const CARD_DECLINED: &str = "4000000000000002";
/// Processing, then succeeds after the settle delay.
pub const CARD_SLOW_SUCCESS: &str = "4000000000003063";
/// Processing, then declined after the settle delay.
pub const CARD_SLOW_DECLINE: &str = "4000000000000259";
/// Succeeds, but the answer is lost: the caller times out.
pub const CARD_ANSWER_LOST: &str = "4000000000000119";

pub use super::webhook::SIGNATURE_HEADER;

const DECLINED: &str = "Your card was declined.";

struct IntentState {
    amount_cents: i64,
    status: IntentStatus,
    /// For processing intents: when, and how, they settle.
    settles: Option<(Instant, IntentStatus)>,
    refunded_cents: i64,
}

/// Remembers intents, confirmations and refunds by idempotency key, as a real provider does.
pub struct SandboxProvider {
    webhook_secret: Vec<u8>,
    settle_delay: Duration,
    intents: Mutex<HashMap<String, IntentState>>,
    created: Mutex<HashMap<String, String>>,
    refunds: Mutex<HashMap<String, String>>,
}

impl SandboxProvider {
    /// A sandbox that signs its webhooks with `webhook_secret`.
    pub fn new(webhook_secret: &[u8]) -> Self {
        SandboxProvider {
            webhook_secret: webhook_secret.to_vec(),
            settle_delay: Duration::from_millis(1500),
            intents: Mutex::default(),
            created: Mutex::default(),
            refunds: Mutex::default(),
        }
    }

    /// How long a processing card takes to settle; the tests shorten it.
    #[cfg(test)]
    fn with_settle_delay(mut self, delay: Duration) -> Self {
        self.settle_delay = delay;
        self
    }

    fn settle(state: &mut IntentState) {
        if let Some((at, outcome)) = &state.settles
            && Instant::now() >= *at
        {
            state.status = outcome.clone();
            state.settles = None;
        }
    }
}

fn succeeded(reference: &str) -> Refund {
    Refund {
        id: reference.to_owned(),
        status: RefundStatus::Succeeded,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create_intent(&self, request: &IntentRequest) -> Result<Intent, ProviderError> {
        if request.amount_cents < 0 {
            return Err(ProviderError::Rejected("negative amount".into()));
        }
        let mut created = lock(&self.created);
        let id = created
            .entry(request.idempotency_key.clone())
            .or_insert_with(|| format!("sbx_pi_{}", new_id()))
            .clone();
        let mut intents = lock(&self.intents);
        let state = intents.entry(id.clone()).or_insert_with(|| IntentState {
            amount_cents: request.amount_cents,
            status: IntentStatus::RequiresConfirmation,
            settles: None,
            refunded_cents: 0,
        });
        Self::settle(state);
        Ok(Intent {
            id,
            status: state.status.clone(),
            client_secret: None,
        })
    }

    async fn confirm(
        &self,
        intent_id: &str,
        card: &CardNumber,
        _idempotency_key: &str,
    ) -> Result<IntentStatus, ProviderError> {
        let mut intents = lock(&self.intents);
        let state = intents
            .get_mut(intent_id)
            .ok_or_else(|| ProviderError::Rejected(format!("no such intent {intent_id}")))?;
        Self::settle(state);
        // A confirmed intent stays what it became: confirming again changes nothing.
        if state.status != IntentStatus::RequiresConfirmation {
            return Ok(state.status.clone());
        }
        let later = Instant::now() + self.settle_delay;
        match card.digits() {
            CARD_DECLINED => {
                state.status = IntentStatus::Declined {
                    reason: DECLINED.into(),
                };
            }
            CARD_SLOW_SUCCESS => {
                state.status = IntentStatus::Processing;
                state.settles = Some((later, IntentStatus::Succeeded));
            }
            CARD_SLOW_DECLINE => {
                state.status = IntentStatus::Processing;
                state.settles = Some((
                    later,
                    IntentStatus::Declined {
                        reason: DECLINED.into(),
                    },
                ));
            }
            CARD_ANSWER_LOST => {
                state.status = IntentStatus::Succeeded;
                return Err(ProviderError::Unavailable(
                    "the provider did not answer in time".into(),
                ));
            }
            _ => state.status = IntentStatus::Succeeded,
        }
        Ok(state.status.clone())
    }

    async fn retrieve(&self, intent_id: &str) -> Result<IntentStatus, ProviderError> {
        let mut intents = lock(&self.intents);
        let state = intents
            .get_mut(intent_id)
            .ok_or_else(|| ProviderError::Rejected(format!("no such intent {intent_id}")))?;
        Self::settle(state);
        Ok(state.status.clone())
    }

    async fn cancel(&self, intent_id: &str) -> Result<IntentStatus, ProviderError> {
        let mut intents = lock(&self.intents);
        let state = intents
            .get_mut(intent_id)
            .ok_or_else(|| ProviderError::Rejected(format!("no such intent {intent_id}")))?;
        Self::settle(state);
        // Only an intent nobody confirmed can be cancelled; any other keeps its outcome.
        if state.status == IntentStatus::RequiresConfirmation {
            state.status = IntentStatus::Canceled;
        }
        Ok(state.status.clone())
    }

    async fn refund(
        &self,
        intent_id: &str,
        amount: &Money,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        let amount_cents = amount.cents;
        let mut refunds = lock(&self.refunds);
        if let Some(reference) = refunds.get(idempotency_key) {
            return Ok(succeeded(reference));
        }
        let mut intents = lock(&self.intents);
        let state = intents
            .get_mut(intent_id)
            .ok_or_else(|| ProviderError::Rejected(format!("no such intent {intent_id}")))?;
        Self::settle(state);
        if state.status != IntentStatus::Succeeded {
            return Err(ProviderError::Rejected("the intent was not charged".into()));
        }
        if amount_cents <= 0 || state.refunded_cents + amount_cents > state.amount_cents {
            return Err(ProviderError::Rejected(
                "the refund exceeds what is left of the charge".into(),
            ));
        }
        state.refunded_cents += amount_cents;
        let reference = format!("sbx_re_{}", new_id());
        refunds.insert(idempotency_key.to_owned(), reference.clone());
        Ok(succeeded(&reference))
    }

    async fn refund_status(&self, refund_id: &str) -> Result<RefundStatus, ProviderError> {
        // The in-process sandbox refunds at once: every refund it made has succeeded.
        if lock(&self.refunds).values().any(|r| r == refund_id) {
            Ok(RefundStatus::Succeeded)
        } else {
            Err(ProviderError::Rejected(format!(
                "no such refund {refund_id}"
            )))
        }
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

    fn provider() -> SandboxProvider {
        SandboxProvider::new(b"whsec").with_settle_delay(Duration::from_millis(50))
    }

    fn request(key: &str, amount: i64) -> IntentRequest {
        IntentRequest {
            idempotency_key: key.into(),
            amount_cents: amount,
            currency: "EUR".into(),
            description: "test".into(),
        }
    }

    fn card(n: &str) -> CardNumber {
        CardNumber::parse(n).unwrap()
    }

    fn eur(cents: i64) -> Money {
        Money {
            cents,
            currency: "EUR".into(),
        }
    }

    #[tokio::test]
    async fn an_unconfirmed_intent_cancels_and_a_charged_one_keeps_its_outcome() {
        let p = provider();
        let open = p.create_intent(&request("open", 1000)).await.unwrap();
        assert_eq!(p.cancel(&open.id).await.unwrap(), IntentStatus::Canceled);
        let (paid, _) = confirmed(&p, "paid", CARD_SUCCEEDS).await;
        assert_eq!(p.cancel(&paid).await.unwrap(), IntentStatus::Succeeded);
    }

    async fn confirmed(
        p: &SandboxProvider,
        key: &str,
        n: &str,
    ) -> (String, Result<IntentStatus, ProviderError>) {
        let intent = p.create_intent(&request(key, 1000)).await.unwrap();
        let outcome = p.confirm(&intent.id, &card(n), key).await;
        (intent.id, outcome)
    }

    #[tokio::test]
    async fn creating_twice_with_one_key_gives_one_intent_and_charges_nothing() {
        let p = provider();
        let a = p.create_intent(&request("k", 1000)).await.unwrap();
        let b = p.create_intent(&request("k", 1000)).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.status, IntentStatus::RequiresConfirmation);
    }

    #[tokio::test]
    async fn the_success_card_succeeds_and_the_decline_card_is_declined() {
        let p = provider();
        assert_eq!(
            confirmed(&p, "a", CARD_SUCCEEDS).await.1.unwrap(),
            IntentStatus::Succeeded
        );
        assert!(matches!(
            confirmed(&p, "b", CARD_DECLINED).await.1.unwrap(),
            IntentStatus::Declined { .. }
        ));
    }

    #[tokio::test]
    async fn a_second_confirmation_returns_the_first_outcome() {
        let p = provider();
        let (id, first) = confirmed(&p, "k", CARD_SUCCEEDS).await;
        let again = p.confirm(&id, &card(CARD_DECLINED), "k2").await.unwrap();
        assert_eq!(first.unwrap(), again);
    }

    #[tokio::test]
    async fn slow_cards_process_then_settle_after_the_delay() {
        let p = provider();
        let (ok, first) = confirmed(&p, "a", CARD_SLOW_SUCCESS).await;
        let (no, _) = confirmed(&p, "b", CARD_SLOW_DECLINE).await;
        assert_eq!(first.unwrap(), IntentStatus::Processing);
        assert_eq!(p.retrieve(&ok).await.unwrap(), IntentStatus::Processing);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(p.retrieve(&ok).await.unwrap(), IntentStatus::Succeeded);
        assert!(matches!(
            p.retrieve(&no).await.unwrap(),
            IntentStatus::Declined { .. }
        ));
    }

    #[tokio::test]
    async fn a_lost_answer_still_charged_and_asking_again_says_so() {
        let p = provider();
        let (id, outcome) = confirmed(&p, "k", CARD_ANSWER_LOST).await;
        assert!(matches!(outcome, Err(ProviderError::Unavailable(_))));
        assert_eq!(p.retrieve(&id).await.unwrap(), IntentStatus::Succeeded);
    }

    #[tokio::test]
    async fn refunds_are_idempotent_and_never_exceed_the_charge() {
        let p = provider();
        let (id, _) = confirmed(&p, "k", CARD_SUCCEEDS).await;
        let r1 = p.refund(&id, &eur(600), "r1").await.unwrap();
        assert_eq!(p.refund(&id, &eur(600), "r1").await.unwrap(), r1);
        assert_eq!(
            p.refund_status(&r1.id).await.unwrap(),
            RefundStatus::Succeeded
        );
        assert!(matches!(
            p.refund(&id, &eur(600), "r2").await,
            Err(ProviderError::Rejected(_))
        ));
        p.refund(&id, &eur(400), "r3").await.unwrap();
        let (declined, _) = confirmed(&p, "d", CARD_DECLINED).await;
        assert!(matches!(
            p.refund(&declined, &eur(1), "r4").await,
            Err(ProviderError::Rejected(_))
        ));
    }

    #[tokio::test]
    async fn webhooks_verify_with_the_sandbox_secret_only() {
        let p = provider();
        let body = webhook::event_body("evt_1", "pi_1", &IntentStatus::Succeeded);
        let now = Timestamp::now();
        let mut headers = HeaderMap::new();
        let header = webhook::sign(b"whsec", now.millis() / 1000, body.as_bytes());
        headers.insert(SIGNATURE_HEADER, header.parse().unwrap());
        let event = p.verify_webhook(&headers, body.as_bytes(), now).unwrap();
        assert_eq!(event.intent_id, "pi_1");
        let forged = webhook::sign(b"other", now.millis() / 1000, body.as_bytes());
        headers.insert(SIGNATURE_HEADER, forged.parse().unwrap());
        assert_eq!(
            p.verify_webhook(&headers, body.as_bytes(), now),
            Err(WebhookError::BadSignature)
        );
    }
}
