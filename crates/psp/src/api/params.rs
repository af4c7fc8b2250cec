//! The mapping of form parameters onto [`Ledger`] operations, refusing what Stripe refuses, and
//! the fingerprint of a request's parameters that an idempotency key is bound to.

use std::{collections::BTreeMap, time::Duration};

use axum::http::Method;

use super::{Op, keys::Key};
use crate::{
    Shared,
    ledger::{ApiError, CreateParams, Ledger, Outcome, PaymentMethod},
};
use boxoffice_payments::form;

pub(super) fn execute(
    ledger: &mut Ledger,
    op: Op<'_>,
    params: &[(String, String)],
    forced_decline: bool,
    key: Key,
    shared: &Shared,
) -> (Result<Outcome, ApiError>, Option<Duration>) {
    let mut settle = None;
    let raw_allowed = ledger.allows_raw_card_data();
    let result = (|| match op {
        Op::Create => {
            let p = create_params(params)?;
            Ledger::check_amount(p.amount, &p.currency)?;
            let method = payment_method(params, key, raw_allowed)?;
            let confirm = flag(params, "confirm")?;
            let created = ledger.create(p);
            if !confirm {
                return Ok(created);
            }
            let id = created.body["id"].as_str().unwrap_or_default().to_owned();
            let (outcome, s) = confirm_counted(ledger, &id, method, forced_decline, shared)?;
            settle = s;
            Ok(outcome)
        }
        Op::Retrieve(id) => ledger.retrieve(id),
        Op::Confirm(id) => {
            only(
                params,
                &[
                    "payment_method",
                    "return_url",
                    "off_session",
                    "client_secret",
                ],
                &["payment_method_data[", "expand[", "payment_method_options["],
            )?;
            let method = payment_method(params, key, raw_allowed)?;
            let (outcome, s) = confirm_counted(ledger, id, method, forced_decline, shared)?;
            settle = s;
            Ok(outcome)
        }
        Op::Cancel(id) => {
            only(params, &["cancellation_reason"], &["expand["])?;
            ledger.cancel(id)
        }
        Op::Refund => {
            only(
                params,
                &["payment_intent", "amount", "reason", "charge"],
                &["metadata[", "expand["],
            )?;
            let intent = value(params, "payment_intent").ok_or_else(|| {
                ApiError::param(
                    "parameter_missing",
                    "payment_intent",
                    "Missing required param: payment_intent.".into(),
                )
            })?;
            let amount = value(params, "amount")
                .map(|a| integer("amount", a))
                .transpose()?;
            ledger.refund(intent, amount)
        }
        Op::RetrieveRefund(id) => ledger.retrieve_refund(id),
        Op::CreatePaymentMethod => {
            only(
                params,
                &[
                    "type",
                    "card[number]",
                    "card[exp_month]",
                    "card[exp_year]",
                    "card[cvc]",
                ],
                &["billing_details["],
            )?;
            if value(params, "type") != Some("card") {
                return Err(ApiError::param(
                    "parameter_invalid",
                    "type",
                    "The sandbox takes cards only.".into(),
                ));
            }
            // Card details come from the browser with the publishable key (the Payment
            // Element); with the secret key only when raw card data access is granted.
            if key == Key::Secret && !raw_allowed {
                return Err(raw_card_data_refused());
            }
            let number = value(params, "card[number]").unwrap_or_default();
            ledger.create_payment_method(number)
        }
        Op::Authenticate(id) => {
            only(params, &["client_secret", "outcome"], &[])?;
            match value(params, "outcome") {
                Some("succeed") => ledger.authenticate(id, true),
                Some("fail") => ledger.authenticate(id, false),
                _ => Err(ApiError::param(
                    "parameter_invalid",
                    "outcome",
                    "outcome is succeed or fail.".into(),
                )),
            }
        }
    })();
    (result, settle)
}

fn confirm_counted(
    ledger: &mut Ledger,
    id: &str,
    method: Option<PaymentMethod>,
    forced_decline: bool,
    shared: &Shared,
) -> Result<(Outcome, Option<Duration>), ApiError> {
    let result = ledger.confirm(id, method, forced_decline);
    if forced_decline
        && let Err(e) = &result
        && e.body["error"]["decline_code"] == "generic_decline"
    {
        shared.stats.bump(|s| &s.injected_declines);
    }
    result
}

pub(super) fn value<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn integer(name: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::param(
            "parameter_invalid_integer",
            name,
            format!("Invalid integer: {raw}"),
        )
    })
}

fn flag(params: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match value(params, name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::param(
            "parameter_invalid_boolean",
            name,
            format!("Invalid boolean: {other}"),
        )),
    }
}

/// Refuses parameters the endpoint does not know, as Stripe does.
fn only(params: &[(String, String)], names: &[&str], prefixes: &[&str]) -> Result<(), ApiError> {
    match params
        .iter()
        .find(|(k, _)| !names.contains(&k.as_str()) && !prefixes.iter().any(|p| k.starts_with(p)))
    {
        None => Ok(()),
        Some((k, _)) => Err(ApiError::param(
            "parameter_unknown",
            k,
            format!("Received unknown parameter: {k}"),
        )),
    }
}

fn create_params(params: &[(String, String)]) -> Result<CreateParams, ApiError> {
    only(
        params,
        &[
            "amount",
            "currency",
            "description",
            "payment_method",
            "confirm",
            "capture_method",
            "confirmation_method",
            "receipt_email",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "return_url",
        ],
        &[
            "metadata[",
            "payment_method_types[",
            "payment_method_data[",
            "automatic_payment_methods[",
            "expand[",
        ],
    )?;
    let missing = |name: &str| {
        ApiError::param(
            "parameter_missing",
            name,
            format!("Missing required param: {name}."),
        )
    };
    let amount = integer(
        "amount",
        value(params, "amount").ok_or_else(|| missing("amount"))?,
    )?;
    if amount < 1 {
        return Err(ApiError::param(
            "amount_too_small",
            "amount",
            "Amount must be at least 1 (in the currency's smallest unit).".into(),
        ));
    }
    let currency = value(params, "currency").ok_or_else(|| missing("currency"))?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::param(
            "parameter_invalid",
            "currency",
            format!("Invalid currency: {currency}"),
        ));
    }
    if value(params, "capture_method").is_some_and(|m| m != "automatic") {
        return Err(ApiError::param(
            "parameter_invalid",
            "capture_method",
            "The sandbox captures automatically only.".into(),
        ));
    }
    let mut metadata = BTreeMap::new();
    for (k, v) in params {
        if let Some(name) = k
            .strip_prefix("metadata[")
            .and_then(|r| r.strip_suffix(']'))
        {
            if metadata.len() >= 50 && !metadata.contains_key(name) {
                return Err(ApiError::param(
                    "parameter_invalid",
                    "metadata",
                    "Metadata can have up to 50 keys.".into(),
                ));
            }
            metadata.insert(name.to_owned(), v.clone());
        }
    }
    Ok(CreateParams {
        amount,
        currency: currency.to_ascii_lowercase(),
        description: value(params, "description").map(str::to_owned),
        metadata,
        payment_method: value(params, "payment_method").map(str::to_owned),
    })
}

fn raw_card_data_refused() -> ApiError {
    ApiError::invalid(
        "raw_card_data_not_allowed",
        "Sending credit card numbers directly to the Stripe API is generally unsafe. Collect card \
         details in the browser with Stripe.js instead."
            .into(),
    )
}

pub(super) fn payment_method(
    params: &[(String, String)],
    key: Key,
    raw_allowed: bool,
) -> Result<Option<PaymentMethod>, ApiError> {
    if let Some(number) = value(params, "payment_method_data[card][number]") {
        if key == Key::Secret && !raw_allowed {
            return Err(raw_card_data_refused());
        }
        if value(params, "payment_method_data[type]").is_some_and(|t| t != "card") {
            return Err(ApiError::param(
                "parameter_invalid",
                "payment_method_data[type]",
                "The sandbox takes cards only.".into(),
            ));
        }
        return Ok(Some(PaymentMethod::Card(number.to_owned())));
    }
    Ok(value(params, "payment_method").map(|pm| PaymentMethod::Id(pm.to_owned())))
}

/// The endpoint and its parameters, order-independent: what an idempotency key is bound to.
pub(super) fn fingerprint(method: &Method, path: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort();
    format!("{method} {path}\n{}", form::encode(&sorted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_fingerprint_ignores_parameter_order_but_not_values_or_endpoint() {
        let a = pairs(&[("amount", "1000"), ("currency", "eur")]);
        let b = pairs(&[("currency", "eur"), ("amount", "1000")]);
        let c = pairs(&[("currency", "eur"), ("amount", "1001")]);
        let f = |p: &[(String, String)], path| fingerprint(&Method::POST, path, p);
        assert_eq!(f(&a, "/v1/payment_intents"), f(&b, "/v1/payment_intents"));
        assert_ne!(f(&a, "/v1/payment_intents"), f(&c, "/v1/payment_intents"));
        assert_ne!(f(&a, "/v1/payment_intents"), f(&a, "/v1/refunds"));
    }

    #[test]
    fn create_parameters_are_checked_like_stripe_does() {
        let ok = create_params(&pairs(&[
            ("amount", "1000"),
            ("currency", "EUR"),
            ("metadata[order]", "o1"),
            ("payment_method_types[0]", "card"),
        ]))
        .unwrap();
        assert_eq!(ok.currency, "eur");
        assert_eq!(ok.metadata["order"], "o1");
        let code = |p: &[(&str, &str)]| {
            create_params(&pairs(p)).unwrap_err().body["error"]["code"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(code(&[("currency", "eur")]), "parameter_missing");
        assert_eq!(
            code(&[("amount", "ten"), ("currency", "eur")]),
            "parameter_invalid_integer"
        );
        assert_eq!(
            code(&[("amount", "0"), ("currency", "eur")]),
            "amount_too_small"
        );
        assert_eq!(
            code(&[("amount", "1"), ("currency", "eur"), ("colour", "red")]),
            "parameter_unknown"
        );
    }
}
