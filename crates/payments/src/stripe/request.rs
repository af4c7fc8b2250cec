//! What we send Stripe: the form parameters of each call, idempotency keys scoped per
//! operation, and ids made safe as path segments.

use sha2::{Digest, Sha256};

use crate::{IntentRequest, ProviderError, form, test_cards};
use boxoffice_domain::{
    card::CardNumber, currency::provider_amount, idempotency::hex, money::Money,
};

/// The idempotency key sent for `operation`: namespaced, and hashed when too long for Stripe.
pub(super) fn scoped_key(operation: &str, key: &str) -> String {
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

pub(super) fn pair(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

pub(super) fn create_params(
    request: &IntentRequest,
) -> Result<Vec<(String, String)>, ProviderError> {
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
pub(super) fn confirm_params(card: &CardNumber) -> Result<Vec<(String, String)>, ProviderError> {
    match test_cards::payment_method_for_card(card.digits()) {
        Some(pm) => Ok(vec![pair("payment_method", pm)]),
        None => Err(ProviderError::Rejected(
            "card numbers are never sent to Stripe: buyers pay with Stripe.js in their browser"
                .into(),
        )),
    }
}

/// An id as one path segment.
pub(super) fn segment(id: &str) -> String {
    let encoded = form::encode(&[(id, "")]);
    encoded.trim_end_matches('=').to_owned()
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{CARD_DECLINED, CARD_SUCCEEDS};

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
}
