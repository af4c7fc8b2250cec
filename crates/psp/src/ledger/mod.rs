//! What the sandbox service knows: payment intents, their refunds, and the responses stored per
//! idempotency key. Plain synchronous code behind one mutex; the HTTP layer decides faults and
//! timing, this decides outcomes. Memory is bounded: the oldest intents and keys are forgotten first.

mod error;
mod intent;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use serde_json::{Value, json};

use boxoffice_domain::{card::CardNumber, currency, new_id, time::Timestamp};
use boxoffice_payments::IntentStatus;

use boxoffice_payments::test_cards::{
    CardBehaviour, GENERIC_DECLINE, behaviour_of_card, behaviour_of_payment_method,
};

use error::incorrect_number;
pub(crate) use error::{ApiError, Replay, Stored};
pub(crate) use intent::{CreateParams, Event, PaymentMethod};
use intent::{Decline, PaymentIntent, Status};

pub(crate) struct Limits {
    /// Whether this account may send raw card numbers with its secret key (Stripe refuses them
    /// unless the account was granted raw card data access).
    pub(crate) allow_raw_card_data: bool,
    pub(crate) max_intents: usize,
    pub(crate) max_keys: usize,
    pub(crate) key_ttl: Duration,
    pub settle_delay: Duration,
}

pub(crate) struct Ledger {
    limits: Limits,
    intents: HashMap<String, PaymentIntent>,
    intent_order: VecDeque<String>,
    keys: HashMap<String, (String, Stored)>,
    key_order: VecDeque<(Instant, String)>,
    /// Webhooks owed since the caller last drained them.
    outbox: Vec<Event>,
    /// Refunds by id, as answered when made.
    refunds: HashMap<String, Value>,
    /// Payment methods made from card details in the browser (the Payment Element).
    payment_methods: HashMap<String, CardBehaviour>,
}

/// What a successful operation answers, and whether the answer is then lost on purpose.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub body: Value,
    pub(crate) lose_answer: bool,
}

impl From<Value> for Outcome {
    fn from(body: Value) -> Self {
        Outcome {
            body,
            lose_answer: false,
        }
    }
}

fn unix_now() -> i64 {
    Timestamp::now().millis() / 1000
}

impl Ledger {
    pub(crate) fn new(limits: Limits) -> Self {
        Ledger {
            limits,
            intents: HashMap::new(),
            intent_order: VecDeque::new(),
            keys: HashMap::new(),
            key_order: VecDeque::new(),
            outbox: Vec::new(),
            refunds: HashMap::new(),
            payment_methods: HashMap::new(),
        }
    }

    pub(crate) fn allows_raw_card_data(&self) -> bool {
        self.limits.allow_raw_card_data
    }

    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.outbox)
    }

    #[cfg(test)]
    pub(crate) fn intent_count(&self) -> usize {
        self.intents.len()
    }

    /// Looks up an idempotency key. `fingerprint` names the endpoint and its parameters.
    pub(crate) fn replay(&mut self, key: &str, fingerprint: &str) -> Replay {
        self.expire_keys();
        match self.keys.get(key) {
            None => Replay::Fresh,
            Some((f, stored)) if f == fingerprint => Replay::Same(stored.clone()),
            Some(_) => Replay::Mismatch,
        }
    }

    pub(crate) fn remember(&mut self, key: &str, fingerprint: &str, stored: Stored) {
        self.expire_keys();
        if self.keys.len() >= self.limits.max_keys
            && let Some((_, oldest)) = self.key_order.pop_front()
        {
            self.keys.remove(&oldest);
        }
        self.keys
            .insert(key.to_owned(), (fingerprint.to_owned(), stored));
        self.key_order.push_back((Instant::now(), key.to_owned()));
    }

    fn expire_keys(&mut self) {
        let now = Instant::now();
        while let Some((at, _)) = self.key_order.front()
            && now.duration_since(*at) > self.limits.key_ttl
        {
            if let Some((_, key)) = self.key_order.pop_front() {
                self.keys.remove(&key);
            }
        }
    }

    /// Refuses amounts outside Stripe's limits: at least the currency's minimum charge, at most
    /// eight digits.
    pub(crate) fn check_amount(amount: i64, currency: &str) -> Result<(), ApiError> {
        let minimum = currency::provider_minimum(&currency.to_ascii_uppercase());
        if amount < minimum {
            return Err(ApiError::param(
                "amount_too_small",
                "amount",
                format!("Amount must be at least {minimum} {currency} minor units."),
            ));
        }
        if amount > currency::MAX_PROVIDER_AMOUNT {
            return Err(ApiError::param(
                "amount_too_large",
                "amount",
                "Amount must be no more than 99999999 minor units.".into(),
            ));
        }
        Ok(())
    }

    /// Makes a payment method from card details sent by the browser (`POST /v1/payment_methods`).
    pub(crate) fn create_payment_method(&mut self, number: &str) -> Result<Outcome, ApiError> {
        let card = CardNumber::parse(number).map_err(|_| incorrect_number("card[number]"))?;
        let id = format!("pm_{}", new_id());
        self.payment_methods
            .insert(id.clone(), behaviour_of_card(card.digits()));
        Ok(json!({
            "id": id,
            "object": "payment_method",
            "type": "card",
            "card": {"last4": card.last4()},
            "livemode": false,
        })
        .into())
    }

    /// The buyer's answer to the 3-D Secure challenge of an intent in `requires_action`.
    pub(crate) fn authenticate(&mut self, id: &str, passed: bool) -> Result<Outcome, ApiError> {
        let intent = self.intent(id)?;
        if intent.status != Status::RequiresAction {
            let message = format!(
                "This PaymentIntent has a status of {} and needs no authentication.",
                intent.status.as_str()
            );
            return Err(ApiError::invalid(
                "payment_intent_unexpected_state",
                message,
            ));
        }
        let status = if passed {
            intent.status = Status::Succeeded;
            intent.latest_charge = Some(format!("ch_{}", new_id()));
            IntentStatus::Succeeded
        } else {
            intent.status = Status::RequiresPaymentMethod;
            intent.last_error = Some(Decline {
                decline_code: "authentication_failed",
                message: "We are unable to authenticate your payment method. Please choose a different payment method and try again.".into(),
                payment_method: intent.payment_method.clone(),
            });
            IntentStatus::Declined {
                reason: "Your bank could not confirm it is you (3-D Secure failed).".into(),
            }
        };
        let body = intent.to_json();
        let intent_id = intent.id.clone();
        self.outbox.push(Event {
            id: format!("evt_{}", new_id()),
            intent_id,
            status,
        });
        Ok(body.into())
    }

    /// The client secret of an intent, to check a browser's request against.
    pub(crate) fn client_secret_of(&mut self, id: &str) -> Result<String, ApiError> {
        Ok(self.intent(id)?.client_secret())
    }

    pub(crate) fn retrieve_refund(&self, id: &str) -> Result<Outcome, ApiError> {
        self.refunds
            .get(id)
            .cloned()
            .map(Outcome::from)
            .ok_or_else(|| ApiError::missing("refund", id))
    }

    pub(crate) fn create(&mut self, params: CreateParams) -> Outcome {
        if self.intents.len() >= self.limits.max_intents
            && let Some(oldest) = self.intent_order.pop_front()
        {
            self.intents.remove(&oldest);
        }
        let intent = PaymentIntent {
            id: format!("pi_{}", new_id()),
            amount: params.amount,
            currency: params.currency,
            description: params.description,
            metadata: params.metadata,
            status: if params.payment_method.is_some() {
                Status::RequiresConfirmation
            } else {
                Status::RequiresPaymentMethod
            },
            last_error: None,
            payment_method: params.payment_method,
            latest_charge: None,
            amount_refunded: 0,
            created: unix_now(),
            settles: None,
            secret: new_id(),
        };
        let body = intent.to_json();
        self.intent_order.push_back(intent.id.clone());
        self.intents.insert(intent.id.clone(), intent);
        body.into()
    }

    fn intent(&mut self, id: &str) -> Result<&mut PaymentIntent, ApiError> {
        let intent = self
            .intents
            .get_mut(id)
            .ok_or_else(|| ApiError::missing("payment_intent", id))?;
        if let Some((at, succeeds)) = intent.settles
            && Instant::now() >= at
        {
            intent.settles = None;
            let status = if succeeds {
                intent.status = Status::Succeeded;
                intent.latest_charge = Some(format!("ch_{}", new_id()));
                IntentStatus::Succeeded
            } else {
                let decline = Decline {
                    decline_code: "generic_decline",
                    message: "Your card was declined.".into(),
                    payment_method: intent.payment_method.clone(),
                };
                let reason = decline.message.clone();
                intent.status = Status::RequiresPaymentMethod;
                intent.last_error = Some(decline);
                IntentStatus::Declined { reason }
            };
            self.outbox.push(Event {
                id: format!("evt_{}", new_id()),
                intent_id: intent.id.clone(),
                status,
            });
        }
        Ok(intent)
    }

    /// Settles the intent if its settle time has come (called by the settle timer).
    pub(crate) fn settle(&mut self, id: &str) {
        let _ = self.intent(id);
    }

    pub(crate) fn retrieve(&mut self, id: &str) -> Result<Outcome, ApiError> {
        Ok(self.intent(id)?.to_json().into())
    }

    /// Confirms an intent. `forced_decline` is the decline-rate fault: a card that would succeed
    /// is declined instead. Returns the settle time for intents left processing.
    pub(crate) fn confirm(
        &mut self,
        id: &str,
        method: Option<PaymentMethod>,
        forced_decline: bool,
    ) -> Result<(Outcome, Option<Duration>), ApiError> {
        let settle_delay = self.limits.settle_delay;
        let current_pm = {
            let intent = self.intent(id)?;
            if !matches!(
                intent.status,
                Status::RequiresPaymentMethod | Status::RequiresConfirmation
            ) {
                let message = format!(
                    "You cannot confirm this PaymentIntent because it has a status of {}.",
                    intent.status.as_str()
                );
                let body = intent.to_json();
                return Err(
                    ApiError::invalid("payment_intent_unexpected_state", message).with_intent(body),
                );
            }
            intent.payment_method.clone()
        };
        let known = |l: &Ledger, pm: &str| {
            l.payment_methods
                .get(pm)
                .copied()
                .or_else(|| behaviour_of_payment_method(pm))
        };
        let (pm_id, behaviour) = match method {
            Some(PaymentMethod::Id(pm)) => {
                // Unknown ids are refused, `pm_card_…` included: only Stripe's own test names.
                let b = known(self, &pm).ok_or_else(|| {
                    ApiError::param(
                        "resource_missing",
                        "payment_method",
                        format!("No such PaymentMethod: '{pm}'"),
                    )
                })?;
                (pm, b)
            }
            Some(PaymentMethod::Card(number)) => {
                let card = CardNumber::parse(&number)
                    .map_err(|_| incorrect_number("payment_method_data[card][number]"))?;
                (format!("pm_{}", new_id()), behaviour_of_card(card.digits()))
            }
            None => match current_pm {
                Some(pm) => {
                    let b = known(self, &pm).unwrap_or(CardBehaviour::Succeeds);
                    (pm, b)
                }
                None => {
                    let body = self.intent(id)?.to_json();
                    return Err(ApiError::invalid(
                        "payment_intent_unexpected_state",
                        "You cannot confirm this PaymentIntent because it's missing a payment method."
                            .into(),
                    )
                    .with_intent(body));
                }
            },
        };
        let intent = self.intent(id)?;
        let behaviour = match behaviour {
            CardBehaviour::Succeeds if forced_decline => GENERIC_DECLINE,
            b => b,
        };
        intent.payment_method = Some(pm_id.clone());
        intent.last_error = None;
        let mut lose_answer = false;
        let mut settle_in = None;
        let event = match behaviour {
            CardBehaviour::RequiresAuthentication => {
                // No webhook: nothing happened yet (Stripe sends `requires_action`, which
                // changes nothing for the merchant).
                intent.status = Status::RequiresAction;
                return Ok((intent.to_json().into(), None));
            }
            CardBehaviour::Succeeds | CardBehaviour::AnswerLost => {
                lose_answer = behaviour == CardBehaviour::AnswerLost;
                intent.status = Status::Succeeded;
                intent.latest_charge = Some(format!("ch_{}", new_id()));
                IntentStatus::Succeeded
            }
            CardBehaviour::ProcessingThenSucceeds | CardBehaviour::ProcessingThenDeclines => {
                intent.status = Status::Processing;
                intent.settles = Some((
                    Instant::now() + settle_delay,
                    behaviour == CardBehaviour::ProcessingThenSucceeds,
                ));
                settle_in = Some(settle_delay);
                IntentStatus::Processing
            }
            CardBehaviour::Declines {
                decline_code,
                message,
            } => {
                intent.status = Status::RequiresPaymentMethod;
                intent.last_error = Some(Decline {
                    decline_code,
                    message: message.into(),
                    payment_method: Some(pm_id),
                });
                let body = intent.to_json();
                let intent_id = intent.id.clone();
                self.outbox.push(Event {
                    id: format!("evt_{}", new_id()),
                    intent_id,
                    status: IntentStatus::Declined {
                        reason: message.into(),
                    },
                });
                let mut e = ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "card_error",
                    Some("card_declined"),
                    message.into(),
                )
                .with_intent(body);
                e.body["error"]["decline_code"] = json!(decline_code);
                return Err(e);
            }
        };
        let body = intent.to_json();
        let intent_id = intent.id.clone();
        self.outbox.push(Event {
            id: format!("evt_{}", new_id()),
            intent_id,
            status: event,
        });
        Ok((Outcome { body, lose_answer }, settle_in))
    }

    pub(crate) fn cancel(&mut self, id: &str) -> Result<Outcome, ApiError> {
        let intent = self.intent(id)?;
        if !matches!(
            intent.status,
            Status::RequiresPaymentMethod | Status::RequiresConfirmation | Status::RequiresAction
        ) {
            let message = format!(
                "You cannot cancel this PaymentIntent because it has a status of {}.",
                intent.status.as_str()
            );
            let body = intent.to_json();
            return Err(
                ApiError::invalid("payment_intent_unexpected_state", message).with_intent(body),
            );
        }
        intent.status = Status::Canceled;
        let body = intent.to_json();
        let intent_id = intent.id.clone();
        self.outbox.push(Event {
            id: format!("evt_{}", new_id()),
            intent_id,
            status: IntentStatus::Canceled,
        });
        Ok(body.into())
    }

    /// Refunds `amount` (all that is left when absent) of a succeeded intent.
    pub(crate) fn refund(
        &mut self,
        intent_id: &str,
        amount: Option<i64>,
    ) -> Result<Outcome, ApiError> {
        let intent = self.intent(intent_id)?;
        if intent.status != Status::Succeeded {
            return Err(ApiError::invalid(
                "payment_intent_unexpected_state",
                format!(
                    "This PaymentIntent ({}) does not have a successful charge to refund.",
                    intent.id
                ),
            ));
        }
        let left = intent.amount - intent.amount_refunded;
        let charge = intent.latest_charge.clone().unwrap_or_default();
        if left == 0 {
            return Err(ApiError::invalid(
                "charge_already_refunded",
                format!("Charge {charge} has already been refunded."),
            ));
        }
        let amount = amount.unwrap_or(left);
        if amount <= 0 {
            return Err(ApiError::param(
                "parameter_invalid_integer",
                "amount",
                "Invalid positive integer".into(),
            ));
        }
        if amount > left {
            return Err(ApiError::param(
                "amount_too_large",
                "amount",
                format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
                ),
            ));
        }
        intent.amount_refunded += amount;
        let refund = json!({
            "id": format!("re_{}", new_id()),
            "object": "refund",
            "amount": amount,
            "currency": intent.currency,
            "charge": charge,
            "payment_intent": intent.id,
            "status": "succeeded",
            "created": unix_now(),
            "metadata": {},
        });
        let id = refund["id"].as_str().unwrap_or_default().to_owned();
        self.refunds.insert(id, refund.clone());
        Ok(refund.into())
    }
}
