//! The provider's payment intents: outcomes by card, idempotent replays, refunds, injected
//! failures, and the wire format the Stripe client reads.

use std::time::{Duration, Instant};

use boxoffice_payments::{
    IntentStatus, PaymentProvider, ProviderError, RefundStatus,
    sandbox::{
        CARD_ANSWER_LOST, CARD_DECLINED, CARD_SLOW_DECLINE, CARD_SLOW_SUCCESS, CARD_SUCCEEDS,
    },
};
use boxoffice_psp::{Faults, PspConfig};
use serde_json::Value;

use super::{KEY, card, eur, paid, request, start};

#[tokio::test]
async fn a_good_card_succeeds_and_a_declined_card_is_declined() {
    let (_psp, p) = start(PspConfig::default()).await;
    let (ok, status) = paid(&p, "a", CARD_SUCCEEDS).await;
    assert_eq!(status, IntentStatus::Succeeded);
    assert_eq!(p.retrieve(&ok).await.unwrap(), IntentStatus::Succeeded);

    let (no, status) = paid(&p, "b", CARD_DECLINED).await;
    let declined = IntentStatus::Declined {
        reason: "Your card was declined.".into(),
    };
    assert_eq!(status, declined);
    assert_eq!(p.retrieve(&no).await.unwrap(), declined);
    // Any other number is refused before it leaves: card numbers are never sent to Stripe.
    let intent = p.create_intent(&request("c", 1000)).await.unwrap();
    assert!(matches!(
        p.confirm(&intent.id, &card("4111 1111 1111 1111"), "c")
            .await,
        Err(ProviderError::Rejected(_))
    ));
}

#[tokio::test]
async fn processing_cards_settle_and_retrieve_tells_the_outcome() {
    let (_psp, p) = start(PspConfig {
        settle_delay: Duration::from_millis(200),
        ..PspConfig::default()
    })
    .await;
    let (ok, status) = paid(&p, "a", CARD_SLOW_SUCCESS).await;
    assert_eq!(status, IntentStatus::Processing);
    let (no, _) = paid(&p, "b", CARD_SLOW_DECLINE).await;
    assert_eq!(p.retrieve(&ok).await.unwrap(), IntentStatus::Processing);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(p.retrieve(&ok).await.unwrap(), IntentStatus::Succeeded);
    assert!(matches!(
        p.retrieve(&no).await.unwrap(),
        IntentStatus::Declined { .. }
    ));
    // Confirming a settled intent again (another key) answers with what it became.
    let again = p.confirm(&ok, &card(CARD_DECLINED), "other").await.unwrap();
    assert_eq!(again, IntentStatus::Succeeded);
}

#[tokio::test]
async fn create_confirm_and_refund_replay_under_the_same_key() {
    let (psp, p) = start(PspConfig::default()).await;
    let a = p.create_intent(&request("k", 1000)).await.unwrap();
    let b = p.create_intent(&request("k", 1000)).await.unwrap();
    assert_eq!(a, b, "one key, one intent");

    let first = p.confirm(&a.id, &card(CARD_SUCCEEDS), "c").await.unwrap();
    let second = p.confirm(&a.id, &card(CARD_SUCCEEDS), "c").await.unwrap();
    assert_eq!(
        (first, second),
        (IntentStatus::Succeeded, IntentStatus::Succeeded)
    );

    let r1 = p.refund(&a.id, &eur(600), "r1").await.unwrap();
    assert!(r1.id.starts_with("re_"), "{r1:?}");
    assert_eq!(r1.status, RefundStatus::Succeeded);
    assert_eq!(
        p.refund_status(&r1.id).await.unwrap(),
        RefundStatus::Succeeded
    );
    assert_eq!(p.refund(&a.id, &eur(600), "r1").await.unwrap(), r1);
    // The replay refunded nothing more: 400 are left, not 0 and not 600.
    assert!(matches!(
        p.refund(&a.id, &eur(401), "r2").await,
        Err(ProviderError::Rejected(_))
    ));
    p.refund(&a.id, &eur(400), "r3").await.unwrap();
    assert_eq!(psp.stats().idempotent_replays, 3);

    // A declined confirmation replays as the same decline.
    let d = p.create_intent(&request("d", 1000)).await.unwrap();
    let once = p.confirm(&d.id, &card(CARD_DECLINED), "dc").await.unwrap();
    let twice = p.confirm(&d.id, &card(CARD_DECLINED), "dc").await.unwrap();
    assert!(matches!(once, IntentStatus::Declined { .. }));
    assert_eq!(once, twice);
}

#[tokio::test]
async fn the_same_key_with_different_parameters_is_rejected() {
    let (_psp, p) = start(PspConfig::default()).await;
    let a = p.create_intent(&request("k", 1000)).await.unwrap();
    match p.create_intent(&request("k", 2000)).await {
        Err(ProviderError::Rejected(m)) => assert!(m.contains("idempotency_error"), "{m}"),
        other => panic!("expected an idempotency error, got {other:?}"),
    }
    p.confirm(&a.id, &card(CARD_SUCCEEDS), "c").await.unwrap();
    p.refund(&a.id, &eur(100), "r").await.unwrap();
    assert!(matches!(
        p.refund(&a.id, &eur(200), "r").await,
        Err(ProviderError::Rejected(_))
    ));
}

#[tokio::test]
async fn refunds_never_exceed_the_charge() {
    let (_psp, p) = start(PspConfig::default()).await;
    let (id, _) = paid(&p, "a", CARD_SUCCEEDS).await;
    match p.refund(&id, &eur(1001), "r1").await {
        Err(ProviderError::Rejected(m)) => assert!(m.contains("amount_too_large"), "{m}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    p.refund(&id, &eur(1000), "r2").await.unwrap();
    assert!(matches!(
        p.refund(&id, &eur(1), "r3").await,
        Err(ProviderError::Rejected(_))
    ));
    let (declined, _) = paid(&p, "b", CARD_DECLINED).await;
    assert!(matches!(
        p.refund(&declined, &eur(1), "r4").await,
        Err(ProviderError::Rejected(_))
    ));
}

#[tokio::test]
async fn a_lost_answer_is_unavailable_and_retrieve_tells_the_truth() {
    let (psp, p) = start(PspConfig::default()).await;
    let intent = p.create_intent(&request("a", 1000)).await.unwrap();
    psp.set_faults(Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    });
    let started = Instant::now();
    let outcome = p.confirm(&intent.id, &card(CARD_SUCCEEDS), "c").await;
    assert!(
        matches!(outcome, Err(ProviderError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    psp.set_faults(Faults::default());
    // It was charged all the same, and a retry with the same key replays the success.
    assert_eq!(
        p.retrieve(&intent.id).await.unwrap(),
        IntentStatus::Succeeded
    );
    let retried = p.confirm(&intent.id, &card(CARD_SUCCEEDS), "c").await;
    assert_eq!(retried.unwrap(), IntentStatus::Succeeded);
    assert_eq!(psp.stats().injected_timeouts, 1);

    // The answer-lost test card does the same without any fault switched on.
    let other = p.create_intent(&request("b", 1000)).await.unwrap();
    let lost = p.confirm(&other.id, &card(CARD_ANSWER_LOST), "d").await;
    assert!(matches!(lost, Err(ProviderError::Unavailable(_))));
    assert_eq!(
        p.retrieve(&other.id).await.unwrap(),
        IntentStatus::Succeeded
    );
}

#[tokio::test]
async fn a_500_is_unavailable_changes_nothing_and_is_replayed_for_its_key() {
    let (psp, p) = start(PspConfig::default()).await;
    let intent = p.create_intent(&request("a", 1000)).await.unwrap();
    psp.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    for outcome in [
        p.confirm(&intent.id, &card(CARD_SUCCEEDS), "c")
            .await
            .map(|_| ()),
        p.retrieve(&intent.id).await.map(|_| ()),
        p.create_intent(&request("b", 1000)).await.map(|_| ()),
    ] {
        assert!(
            matches!(outcome, Err(ProviderError::Unavailable(_))),
            "{outcome:?}"
        );
    }
    psp.set_faults(Faults::default());
    assert_eq!(
        p.retrieve(&intent.id).await.unwrap(),
        IntentStatus::RequiresConfirmation
    );
    // As at Stripe, the key keeps its first answer, the 500: only a new key tries again.
    assert!(matches!(
        p.confirm(&intent.id, &card(CARD_SUCCEEDS), "c").await,
        Err(ProviderError::Unavailable(_))
    ));
    let status = p
        .confirm(&intent.id, &card(CARD_SUCCEEDS), "c-again")
        .await
        .unwrap();
    assert_eq!(status, IntentStatus::Succeeded);
    assert_eq!(psp.stats().injected_errors, 3);
    assert_eq!(psp.stats().idempotent_replays, 1);
}

#[tokio::test]
async fn the_decline_rate_declines_good_cards() {
    let (psp, p) = start(PspConfig {
        faults: Faults {
            decline_rate: 1.0,
            ..Faults::default()
        },
        seed: Some(7),
        ..PspConfig::default()
    })
    .await;
    let (_, status) = paid(&p, "a", CARD_SUCCEEDS).await;
    assert!(matches!(status, IntentStatus::Declined { .. }));
    assert_eq!(psp.stats().injected_declines, 1);
}

#[tokio::test]
async fn the_wire_format_is_stripes() {
    let (psp, _) = start(PspConfig::default()).await;
    let base = psp.base_url();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |path: &str, key: Option<&str>, body: &str| {
        let mut r = http
            .post(format!("{base}{path}"))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send()
    };
    let read = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let replayed = r.headers().contains_key("idempotent-replayed");
        (status, r.json::<Value>().await.unwrap(), replayed)
    };

    let anonymous = http
        .post(format!("{base}/v1/payment_intents"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    let body = "amount=1500&currency=EUR&description=Two+seats&metadata%5Border%5D=o1";
    let (status, pi, replayed) =
        read(post("/v1/payment_intents", Some("k1"), body).await.unwrap()).await;
    assert_eq!((status, replayed), (200, false));
    assert_eq!(pi["object"], "payment_intent");
    assert_eq!(pi["status"], "requires_payment_method");
    assert_eq!(pi["amount"], 1500);
    assert_eq!(pi["currency"], "eur");
    assert_eq!(pi["metadata"]["order"], "o1");
    let id = pi["id"].as_str().unwrap().to_owned();

    let (status, again, replayed) =
        read(post("/v1/payment_intents", Some("k1"), body).await.unwrap()).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, pi);

    let (status, e, _) = read(
        post("/v1/payment_intents", Some("k1"), "amount=1&currency=eur")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["type"], "idempotency_error");

    let (status, e, _) = read(
        post(
            &format!("/v1/payment_intents/{id}/confirm"),
            Some("c1"),
            "payment_method=pm_card_chargeDeclinedInsufficientFunds",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 402);
    assert_eq!(e["error"]["type"], "card_error");
    assert_eq!(e["error"]["code"], "card_declined");
    assert_eq!(e["error"]["decline_code"], "insufficient_funds");
    assert_eq!(
        e["error"]["payment_intent"]["status"],
        "requires_payment_method"
    );
    assert_eq!(
        e["error"]["payment_intent"]["last_payment_error"]["decline_code"],
        "insufficient_funds"
    );

    let (status, refused, _) = read(
        post(
            &format!("/v1/payment_intents/{id}/confirm"),
            Some("c2"),
            "payment_method_data%5Btype%5D=card&payment_method_data%5Bcard%5D%5Bnumber%5D=4242424242424242",
        )
        .await
        .unwrap(),
    )
    .await;
    // Raw card numbers with the secret key: refused, as Stripe does without raw card access.
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["code"], "raw_card_data_not_allowed");
    let (status, made_up, _) = read(
        post(
            &format!("/v1/payment_intents/{id}/confirm"),
            Some("c3"),
            "payment_method=pm_card_madeUpName",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(made_up["error"]["code"], "resource_missing");
    let (status, pi, _) = read(
        post(
            &format!("/v1/payment_intents/{id}/confirm"),
            Some("c4"),
            "payment_method=pm_card_visa",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, pi["status"].as_str()), (200, Some("succeeded")));
    assert_eq!(pi["amount_received"], 1500);
    assert_eq!(pi["last_payment_error"], Value::Null);

    let (status, refund, _) = read(
        post(
            "/v1/refunds",
            Some("r1"),
            &format!("payment_intent={id}&amount=500"),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(refund["object"], "refund");
    assert_eq!(refund["status"], "succeeded");
    assert_eq!(refund["amount"], 500);
    let (status, e, _) = read(
        post(
            "/v1/refunds",
            Some("r2"),
            &format!("payment_intent={id}&amount=1001"),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "amount_too_large");

    let missing = http
        .get(format!("{base}/v1/payment_intents/pi_nope"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let e: Value = missing.json().await.unwrap();
    assert_eq!(e["error"]["code"], "resource_missing");
}
