//! Checkout: turn an active hold into a paid order, charging at most once whatever the retries.
//!
//! 1. In one transaction: replay or refuse by `Idempotency-Key`, check the hold, price it from the
//!    catalogue, record the payment attempt (its unique in-flight marker admits one per hold).
//! 2. Outside any transaction: create the provider's intent (keyed by the attempt), then either
//!    confirm it with the card (the in-process sandbox), or — with a provider whose buyers pay in
//!    the browser (Stripe) — record its id and hand the page its `client_secret`: the page
//!    confirms with Stripe.js, and card data never reaches this server.
//! 3. Settle what the provider said ([`settlement`]): an order, a decline, or — when the
//!    provider has not said yet — a 202 `confirming` that a webhook or the reconciler settles.
//!
//! A free order (every seat priced 0) never goes to the provider: it is paid at once.

use std::sync::Arc;

use serde_json::json;

use crate::{App, AppError, AppResult, ErrorCode, catalog::EventInfo, settlement, views};
use boxoffice_domain::{
    card::CardNumber,
    currency::provider_amount,
    hold::Hold,
    idempotency::IdempotencyKey,
    ids::{HoldId, PaymentId, UserId},
    money::{Money, total_for},
    time::Timestamp,
};
use boxoffice_payments::{IntentRequest, IntentStatus};
use boxoffice_store::{PaymentRecord, PaymentStatus, StoreError};

/// How a checkout pays, read once from the request.
enum PaymentChoice {
    /// The server confirms with this card (the in-process sandbox).
    Card(CardNumber),
    /// The buyer's browser confirms with Stripe.js.
    Browser,
}

fn payment_choice(app: &App, method: &str, card_number: Option<&str>) -> AppResult<PaymentChoice> {
    // "card" works with any provider; the provider's own name is accepted too ("sandbox").
    if method != "card" && method != app.payments.name() {
        return Err(
            AppError::refused(ErrorCode::UnsupportedPaymentMethod).message(format!(
                "Payment method must be \"card\" or \"{}\".",
                app.payments.name()
            )),
        );
    }
    if app.payments.browser_checkout().is_some() {
        if card_number.is_some() {
            return Err(AppError::refused(ErrorCode::CardDataNotAccepted));
        }
        return Ok(PaymentChoice::Browser);
    }
    let card = CardNumber::parse(card_number.unwrap_or_default())?;
    Ok(PaymentChoice::Card(card))
}

/// What a buyer asks checkout to do, parsed once by the caller.
pub struct CheckoutCommand<'a> {
    /// The buyer.
    pub user_id: &'a UserId,
    /// The hold to pay for.
    pub hold_id: &'a HoldId,
    /// Names this payment attempt: the same key replays the first answer.
    pub key: IdempotencyKey,
    /// What the request said, so that a reused key with another request is told apart.
    pub fingerprint: String,
    /// `card`, or the provider's name (`sandbox`, `stripe`).
    pub method: &'a str,
    /// The in-process sandbox only: with a provider whose buyers pay in the browser, sending a
    /// card number is refused.
    pub card_number: Option<&'a str>,
}

/// The answer to send, byte for byte as it is stored for replays.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

/// Pays for a hold, charging at most once however often the same key is sent. `admit` is asked,
/// once the hold's event is known, whether the buyer is past the event's waiting room.
pub async fn checkout(
    app: &App,
    command: CheckoutCommand<'_>,
    admit: impl FnOnce(&str) -> AppResult<()>,
) -> AppResult<Reply> {
    let CheckoutCommand {
        user_id,
        hold_id,
        key,
        fingerprint: print,
        method,
        card_number,
    } = command;
    let now = Timestamp::now();

    let mut tx = app.db.begin().await?;
    // Claim the key first: a fresh key (every first attempt) costs one INSERT, and a key seen
    // before is refused by its unique constraint and answered from its record below.
    match tx
        .insert_idempotency_record(user_id, key.as_str(), &print, now)
        .await
    {
        Err(StoreError::Conflict(_)) => {
            drop(tx);
            return answer_for_used_key(app, user_id, &key, &print).await;
        }
        other => other?,
    }
    let choice = payment_choice(app, method, card_number)?;
    let hold = tx
        .hold_by_id(hold_id)
        .await?
        .filter(|h| &h.user_id == user_id)
        .ok_or_else(|| AppError::not_found("Hold"))?;
    // Turned away at the door: the transaction rolls back, so the key is not spent.
    admit(hold.event_id.as_str())?;
    if !hold.can_be_paid(now) {
        let e = hold_not_active(
            "This hold is no longer active; its seats were released or already paid for.",
            false,
        );
        tx.complete_idempotency_record(user_id, key.as_str(), e.status(), &e.body().to_string())
            .await?;
        tx.commit().await?;
        return Err(e);
    }
    let event = app
        .catalog
        .event(&hold.event_id)
        .await?
        .ok_or_else(|| AppError::not_found("Event"))?;
    let (total, _lines) = total_for(
        hold.seat_ids.iter().map(String::as_str),
        &event.category_of_seat,
        &event.price_of_category,
    )
    .map_err(AppError::internal)?;
    if total.cents > 0 {
        // Refused before anything is recorded: the provider would refuse it too.
        provider_amount(&total)
            .map_err(|e| AppError::refused(ErrorCode::AmountNotPayable).message(e.to_string()))?;
    }
    let card_last4 = match &choice {
        PaymentChoice::Card(card) => card.last4().to_owned(),
        PaymentChoice::Browser => String::new(),
    };
    let mut payment = PaymentRecord {
        id: PaymentId::generate(),
        hold_id: hold.id.clone(),
        user_id: user_id.clone(),
        idempotency_key: key.as_str().to_owned(),
        amount_cents: total.cents,
        currency: total.currency.clone(),
        provider: app.payments.name().to_owned(),
        card_last4,
        created_at: now,
    };
    // The payment goes in unless its key has one already: a retry of an attempt that failed
    // before anything was charged (the provider did not answer), which reuses that attempt and
    // with it the provider's idempotency key. A first attempt costs the one statement.
    let mut retried = false;
    let recorded = match tx.insert_payment_for_new_key(&payment).await {
        Ok(true) => Ok(()),
        Ok(false) => match tx.payment_by_key(user_id, key.as_str()).await? {
            Some(failed) if failed.status == PaymentStatus::Failed && failed.hold_id == hold.id => {
                payment.id = failed.id.clone();
                retried = true;
                tx.retry_failed_payment(&failed.id, now).await.map(|_| ())
            }
            // The key's payment is another hold's or not over, or (where the insert cannot tell
            // which key refused it) another attempt for this hold is in flight.
            _ => Err(StoreError::Conflict("payments".to_owned())),
        },
        Err(e) => Err(e),
    };
    match recorded {
        Err(StoreError::Conflict(_)) => {
            // Another attempt for this hold is in flight or has succeeded. Roll back, keeping the
            // key unused, so that a retry sees the final outcome.
            drop(tx);
            return Err(AppError::refused(ErrorCode::PaymentInProgress));
        }
        other => other?,
    }
    tx.commit().await?;

    // From here on the attempt is recorded: finish it even if the client goes away, so that a
    // dropped connection never leaves a charge without its order (or its refund).
    let attempt = Attempt {
        app: app.clone(),
        user_id: user_id.clone(),
        key: key.as_str().to_owned(),
        hold,
        event,
        provider_key: attempt_key(&payment.id, retried.then_some(now)),
        payment,
        choice,
        total,
    };
    tokio::spawn(settle_attempt(attempt))
        .await
        .map_err(AppError::internal)?
}

/// The answer for an Idempotency-Key used before: the first response again for the same request,
/// 422 for a different one, and 409 while the first is still being processed (or when the same
/// key arrived twice at once and the other request got there first).
async fn answer_for_used_key(
    app: &App,
    user_id: &UserId,
    key: &IdempotencyKey,
    print: &str,
) -> AppResult<Reply> {
    let mut tx = app.db.read().await?;
    let record = tx.idempotency_record(user_id, key.as_str()).await?;
    tx.commit().await?;
    match record.map(|r| (r.fingerprint == print, r.response)) {
        Some((false, _)) => Err(AppError::refused(ErrorCode::IdempotencyKeyReused)),
        Some((true, Some((status, body)))) => {
            metrics::counter!("boxoffice_checkout_replays_total").increment(1);
            Ok(replay(status, body))
        }
        // Still being processed, or the other request that claimed it at once rolled back.
        _ => Err(AppError::refused(ErrorCode::RequestInProgress).retry_after(1)),
    }
}

/// A recorded payment attempt, owned so that it can be settled on its own task.
struct Attempt {
    app: App,
    user_id: UserId,
    key: String,
    hold: Hold,
    event: Arc<EventInfo>,
    payment: PaymentRecord,
    /// The key the provider's intent is created under: new for each attempt.
    provider_key: String,
    choice: PaymentChoice,
    total: Money,
}

/// The provider's idempotency key for creating an attempt's intent. A retry after a create that
/// failed is a fresh attempt (nothing can have been charged: an intent whose client secret nobody
/// got is never confirmed), so it gets a new key; reusing the old one would only replay the
/// provider's stored failure, as Stripe keeps a key's first answer, 500s included, for 24 h.
/// `retried_at` is when the failed attempt was retried (the payment's `updated_at`).
pub fn attempt_key(payment_id: &PaymentId, retried_at: Option<Timestamp>) -> String {
    match retried_at {
        None => payment_id.to_string(),
        Some(at) => format!("{payment_id}:retry-{}", at.millis()),
    }
}

/// Creates the provider's intent, confirms it with the card, and settles what the provider says.
/// An outcome that is not known yet leaves the payment pending and answers 202 `confirming`;
/// a webhook or the payment reconciler settles it later.
async fn settle_attempt(attempt: Attempt) -> AppResult<Reply> {
    let Attempt {
        app,
        user_id,
        key,
        hold,
        event,
        payment,
        provider_key,
        choice,
        total,
    } = attempt;
    let app = &app;
    if total.cents == 0 {
        // Nothing to charge: no provider would take a zero amount, and none is needed.
        return match settlement::settle_for_hold(
            app,
            &payment.id,
            None,
            &IntentStatus::Succeeded,
            &hold,
        )
        .await?
        {
            Some(answer) => Ok(replay(answer.status, answer.body.to_string())),
            None => Err(AppError::internal(anyhow::anyhow!(
                "free payment {} did not settle",
                payment.id
            ))),
        };
    }
    let request = intent_request(&provider_key, &total, &event, &hold);
    let intent = match app.payments.create_intent(&request).await {
        Ok(intent) => intent,
        Err(e) => {
            // An intent that was never confirmed charges nothing: the attempt simply failed, and
            // the key is forgotten so that the buyer's retry starts afresh.
            tracing::warn!(payment_id = %payment.id, error = %e, "could not create a payment intent");
            let mut tx = app.db.begin().await?;
            tx.finish_payment(&payment.id, PaymentStatus::Failed, None, Timestamp::now())
                .await?;
            tx.delete_idempotency_record(&user_id, &key).await?;
            tx.commit().await?;
            return Err(AppError::refused(ErrorCode::PaymentProviderUnavailable).retry_after(5));
        }
    };
    let card = match choice {
        PaymentChoice::Card(card) => card,
        PaymentChoice::Browser => {
            return hand_to_browser(app, &user_id, &key, &payment.id, &intent).await;
        }
    };
    let confirm_key = format!("{}-confirm", payment.id);
    let outcome = match app.payments.confirm(&intent.id, &card, &confirm_key).await {
        Ok(status) => status,
        Err(e) => {
            // The charge may or may not have happened: ask once, then leave it to the reconciler.
            tracing::warn!(payment_id = %payment.id, error = %e, "payment confirmation unanswered");
            match app.payments.retrieve(&intent.id).await {
                Ok(status) if status.is_final() => status,
                _ => IntentStatus::Processing,
            }
        }
    };
    match settlement::settle_for_hold(app, &payment.id, Some(&intent.id), &outcome, &hold).await? {
        Some(answer) => Ok(replay(answer.status, answer.body.to_string())),
        None => {
            // Still pending: answer 202 and store it for replays, unless a webhook or the
            // reconciler settled the payment in the meantime (the payment lock orders the two).
            let mut tx = app.db.begin().await?;
            let stored = tx
                .lock_payment(&payment.id)
                .await?
                .ok_or_else(|| AppError::not_found("Payment"))?;
            if stored.status != PaymentStatus::Pending {
                let record = tx.idempotency_record(&user_id, &key).await?;
                tx.commit().await?;
                if let Some((status, body)) = record.and_then(|r| r.response) {
                    return Ok(replay(status, body));
                }
                return Err(AppError::internal(anyhow::anyhow!(
                    "payment {} settled without an answer",
                    payment.id
                )));
            }
            let answer = views::confirming(&stored);
            let body = answer.body.to_string();
            tx.complete_idempotency_record(&user_id, &key, answer.status, &body)
                .await?;
            tx.commit().await?;
            metrics::counter!("boxoffice_payments_confirming_total").increment(1);
            Ok(replay(answer.status, body))
        }
    }
}

const BROWSER_MESSAGE: &str = "Enter your card details: they go straight to the payment provider, and your bank may ask you to confirm.";

/// The 202 for a payment the buyer's browser confirms: the intent is recorded (so that its
/// webhook and the reconciler find the payment), and the page gets what Stripe.js needs.
async fn hand_to_browser(
    app: &App,
    user_id: &UserId,
    key: &str,
    payment_id: &PaymentId,
    intent: &boxoffice_payments::Intent,
) -> AppResult<Reply> {
    let (Some(browser), Some(client_secret)) =
        (app.payments.browser_checkout(), &intent.client_secret)
    else {
        return Err(AppError::internal(anyhow::anyhow!(
            "intent {} came without a client secret",
            intent.id
        )));
    };
    let mut tx = app.db.begin().await?;
    tx.set_payment_reference(payment_id, &intent.id).await?;
    let stored = tx
        .lock_payment(payment_id)
        .await?
        .ok_or_else(|| AppError::not_found("Payment"))?;
    let mut view = views::payment_view(&stored, None);
    view.message = BROWSER_MESSAGE.to_owned();
    view.client_secret = Some(client_secret.clone());
    view.publishable_key = Some(browser.publishable_key.clone());
    view.stripe_js_url = Some(browser.js_url.clone());
    let body = json!(views::PaymentResponse { payment: view }).to_string();
    tx.complete_idempotency_record(user_id, key, 202, &body)
        .await?;
    tx.commit().await?;
    metrics::counter!("boxoffice_payments_handed_to_browser_total").increment(1);
    Ok(replay(202, body))
}

/// What the provider is asked to create for a payment attempt, under `provider_key` (see
/// [`attempt_key`]), so asking again with the same request finds the same intent: the
/// reconciler does that for a payment whose intent id was never stored.
pub fn intent_request(
    provider_key: &str,
    total: &Money,
    event: &EventInfo,
    hold: &Hold,
) -> IntentRequest {
    IntentRequest {
        idempotency_key: provider_key.to_owned(),
        amount_cents: total.cents,
        currency: total.currency.clone(),
        description: format!("{} — {} seat(s)", event.record.name, hold.seat_ids.len()),
    }
}

fn hold_not_active(message: &'static str, refunded: bool) -> AppError {
    AppError::refused(ErrorCode::HoldNotActive)
        .message(message)
        .details(json!({ "refunded": refunded }))
}

/// A stored response, sent byte for byte as the first time.
fn replay(status: u16, body: String) -> Reply {
    Reply { status, body }
}
