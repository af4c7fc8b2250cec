//! The ledger's outcomes: declines, card numbers, processing, refunds and its memory bound.

use super::*;
use boxoffice_payments::{
    sandbox::{
        CARD_ANSWER_LOST, CARD_DECLINED, CARD_SLOW_DECLINE, CARD_SLOW_SUCCESS, CARD_SUCCEEDS,
    },
    test_cards::payment_method_for_card,
};

fn ledger() -> Ledger {
    Ledger::new(Limits {
        allow_raw_card_data: true,
        max_intents: 3,
        max_keys: 2,
        key_ttl: Duration::from_secs(60),
        settle_delay: Duration::from_millis(0),
    })
}

fn create(l: &mut Ledger) -> String {
    let body = l
        .create(CreateParams {
            amount: 1000,
            currency: "eur".into(),
            ..CreateParams::default()
        })
        .body;
    assert_eq!(body["status"], "requires_payment_method");
    body["id"].as_str().unwrap().to_owned()
}

fn pm(id: &str) -> Option<PaymentMethod> {
    Some(PaymentMethod::Id(id.into()))
}

#[test]
fn every_sandbox_card_has_a_payment_method() {
    for card in [
        CARD_SUCCEEDS,
        CARD_DECLINED,
        CARD_SLOW_SUCCESS,
        CARD_SLOW_DECLINE,
        CARD_ANSWER_LOST,
    ] {
        assert!(payment_method_for_card(card).is_some(), "{card}");
    }
    assert_eq!(payment_method_for_card("4111111111111111"), None);
}

#[test]
fn a_decline_is_a_402_card_error_and_leaves_the_intent_retryable() {
    let mut l = ledger();
    let id = create(&mut l);
    let e = l
        .confirm(&id, pm("pm_card_chargeDeclined"), false)
        .unwrap_err();
    assert_eq!(e.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(e.body["error"]["type"], "card_error");
    assert_eq!(e.body["error"]["decline_code"], "generic_decline");
    assert_eq!(
        e.body["error"]["payment_intent"]["status"],
        "requires_payment_method"
    );
    let (ok, _) = l.confirm(&id, pm("pm_card_visa"), false).unwrap();
    assert_eq!(ok.body["status"], "succeeded");
    assert_eq!(ok.body["last_payment_error"], Value::Null);
    let events: Vec<_> = l.take_events().into_iter().map(|e| e.status).collect();
    assert!(matches!(events[0], IntentStatus::Declined { .. }));
    assert_eq!(events[1], IntentStatus::Succeeded);
}

#[test]
fn card_numbers_and_the_forced_decline_fault() {
    let mut l = ledger();
    let id = create(&mut l);
    let e = l
        .confirm(&id, Some(PaymentMethod::Card("4242".into())), false)
        .unwrap_err();
    assert_eq!(e.body["error"]["code"], "incorrect_number");
    let e = l
        .confirm(
            &id,
            Some(PaymentMethod::Card("4111 1111 1111 1111".into())),
            true,
        )
        .unwrap_err();
    assert_eq!(e.body["error"]["code"], "card_declined");
    let e = l.confirm(&id, pm("pm_nope"), false).unwrap_err();
    assert_eq!(e.body["error"]["code"], "resource_missing");
}

#[test]
fn processing_settles_on_the_next_read_and_confirming_again_is_refused() {
    let mut l = ledger();
    let id = create(&mut l);
    let (out, settle) = l
        .confirm(&id, pm("pm_sandbox_processingThenSucceeds"), false)
        .unwrap();
    assert_eq!(out.body["status"], "processing");
    assert!(settle.is_some());
    let e = l.confirm(&id, pm("pm_card_visa"), false).unwrap_err();
    // The settle delay is zero here, so the read inside confirm already settled it.
    assert_eq!(e.body["error"]["payment_intent"]["status"], "succeeded");
    assert_eq!(l.retrieve(&id).unwrap().body["status"], "succeeded");
    assert_eq!(l.take_events().len(), 2);
}

#[test]
fn refunds_never_exceed_the_charge() {
    let mut l = ledger();
    let id = create(&mut l);
    assert_eq!(
        l.refund(&id, Some(1)).unwrap_err().body["error"]["code"],
        "payment_intent_unexpected_state"
    );
    l.confirm(&id, pm("pm_card_visa"), false).unwrap();
    assert_eq!(l.refund(&id, Some(600)).unwrap().body["amount"], 600);
    let e = l.refund(&id, Some(401)).unwrap_err();
    assert_eq!(e.body["error"]["code"], "amount_too_large");
    assert_eq!(l.refund(&id, None).unwrap().body["amount"], 400);
    assert_eq!(
        l.refund(&id, None).unwrap_err().body["error"]["code"],
        "charge_already_refunded"
    );
}

#[test]
fn memory_is_bounded_oldest_first() {
    let mut l = ledger();
    let first = create(&mut l);
    for _ in 0..3 {
        create(&mut l);
    }
    assert_eq!(l.intent_count(), 3);
    assert_eq!(
        l.retrieve(&first).unwrap_err().status,
        StatusCode::NOT_FOUND
    );
    let stored = Stored {
        status: StatusCode::OK,
        body: "{}".into(),
    };
    for k in ["a", "b", "c"] {
        l.remember(k, "f", stored.clone());
    }
    assert!(matches!(l.replay("a", "f"), Replay::Fresh));
    assert!(matches!(l.replay("c", "f"), Replay::Same(_)));
    assert!(matches!(l.replay("c", "g"), Replay::Mismatch));
}
