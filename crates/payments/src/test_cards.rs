//! Stripe's documented test cards, by number and by test payment-method id, and what each does in
//! test mode; plus the sandbox's own extra behaviours, named `pm_sandbox_…` so that they cannot be
//! mistaken for Stripe's. Facts about test mode, shared by the Stripe provider (to confirm a test
//! card server-side without sending its number) and the sandbox service (to act like Stripe).

/// What confirming an intent with a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBehaviour {
    /// The charge succeeds.
    Succeeds,
    /// The charge is declined.
    Declines {
        /// Stripe's `decline_code`.
        decline_code: &'static str,
        /// Stripe's message for the buyer.
        message: &'static str,
    },
    /// 3-D Secure is required: the intent waits in `requires_action` until the buyer passes
    /// (then it succeeds) or fails the challenge.
    RequiresAuthentication,
    /// Sandbox only: `processing`, then `succeeded` after the settle delay.
    ProcessingThenSucceeds,
    /// Sandbox only: `processing`, then declined after the settle delay.
    ProcessingThenDeclines,
    /// Sandbox only: succeeds, but the answer never comes (the caller times out).
    AnswerLost,
}

/// The decline of a card that is simply refused.
pub const GENERIC_DECLINE: CardBehaviour = CardBehaviour::Declines {
    decline_code: "generic_decline",
    message: "Your card was declined.",
};

/// Stripe's test cards: (number, payment method, behaviour).
pub(crate) const STRIPE_TEST_CARDS: &[(&str, &str, CardBehaviour)] = &[
    ("4242424242424242", "pm_card_visa", CardBehaviour::Succeeds),
    (
        "4000056655665556",
        "pm_card_visa_debit",
        CardBehaviour::Succeeds,
    ),
    (
        "5555555555554444",
        "pm_card_mastercard",
        CardBehaviour::Succeeds,
    ),
    ("378282246310005", "pm_card_amex", CardBehaviour::Succeeds),
    (
        "6011111111111117",
        "pm_card_discover",
        CardBehaviour::Succeeds,
    ),
    (
        "4000000000000002",
        "pm_card_chargeDeclined",
        GENERIC_DECLINE,
    ),
    (
        "4000000000009995",
        "pm_card_chargeDeclinedInsufficientFunds",
        CardBehaviour::Declines {
            decline_code: "insufficient_funds",
            message: "Your card has insufficient funds.",
        },
    ),
    (
        "4000000000009987",
        "pm_card_chargeDeclinedLostCard",
        CardBehaviour::Declines {
            decline_code: "lost_card",
            message: "Your card was declined.",
        },
    ),
    (
        "4000000000000069",
        "pm_card_chargeDeclinedExpiredCard",
        CardBehaviour::Declines {
            decline_code: "expired_card",
            message: "Your card has expired.",
        },
    ),
    (
        "4000002760003184",
        "pm_card_authenticationRequired",
        CardBehaviour::RequiresAuthentication,
    ),
];

/// The sandbox's own behaviours, which Stripe's test mode has no card for. The numbers are the
/// ones the in-process sandbox has always used for them.
pub(crate) const SANDBOX_TEST_CARDS: &[(&str, &str, CardBehaviour)] = &[
    (
        "4000000000003063",
        "pm_sandbox_processingThenSucceeds",
        CardBehaviour::ProcessingThenSucceeds,
    ),
    (
        "4000000000000259",
        "pm_sandbox_processingThenDeclines",
        CardBehaviour::ProcessingThenDeclines,
    ),
    (
        "4000000000000119",
        "pm_sandbox_answerLost",
        CardBehaviour::AnswerLost,
    ),
];

fn all() -> impl Iterator<Item = &'static (&'static str, &'static str, CardBehaviour)> {
    STRIPE_TEST_CARDS.iter().chain(SANDBOX_TEST_CARDS)
}

/// The test payment-method id for a test card number, if it has one.
pub fn payment_method_for_card(digits: &str) -> Option<&'static str> {
    all().find(|(n, _, _)| *n == digits).map(|(_, pm, _)| *pm)
}

/// What a test card number does; a number that is not a test card succeeds (as at Stripe for a
/// valid number in test mode).
pub fn behaviour_of_card(digits: &str) -> CardBehaviour {
    all()
        .find(|(n, _, _)| *n == digits)
        .map_or(CardBehaviour::Succeeds, |(_, _, b)| *b)
}

/// What a test payment method does; `None` for an id that is not one (Stripe answers
/// `resource_missing`).
pub fn behaviour_of_payment_method(pm: &str) -> Option<CardBehaviour> {
    all().find(|(_, id, _)| *id == pm).map(|(_, _, b)| *b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_card_passes_the_luhn_check_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for (number, pm, _) in all() {
            assert!(
                boxoffice_domain::card::CardNumber::parse(number).is_ok(),
                "{number}"
            );
            assert!(names.insert(*pm), "{pm} twice");
        }
    }

    #[test]
    fn only_stripes_own_cards_are_named_pm_card() {
        assert!(
            STRIPE_TEST_CARDS
                .iter()
                .all(|(_, pm, _)| pm.starts_with("pm_card_"))
        );
        assert!(
            SANDBOX_TEST_CARDS
                .iter()
                .all(|(_, pm, _)| pm.starts_with("pm_sandbox_"))
        );
    }

    #[test]
    fn the_three_d_secure_card_requires_authentication_and_unknown_names_are_none() {
        assert_eq!(
            behaviour_of_card("4000002760003184"),
            CardBehaviour::RequiresAuthentication
        );
        assert_eq!(behaviour_of_payment_method("pm_card_madeUp"), None);
        assert_eq!(
            behaviour_of_card("4111111111111111"),
            CardBehaviour::Succeeds
        );
    }
}
