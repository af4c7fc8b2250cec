//! The HTTP face of the sandbox service: authentication, faults, idempotency, and the mapping of
//! form parameters onto [`Ledger`] operations.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use rand::Rng;

use super::{
    Shared,
    ledger::{ApiError, CreateParams, Ledger, Outcome, PaymentMethod, Replay, Stored},
    lock,
};
use boxoffice_domain::new_id;
use boxoffice_payments::form;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/payment_intents", post(create))
        .route("/v1/payment_intents/{id}", get(retrieve))
        .route("/v1/payment_intents/{id}/confirm", post(confirm))
        .route("/v1/payment_intents/{id}/cancel", post(cancel))
        .route("/v1/refunds", post(refund))
        .route("/v1/refunds/{id}", get(retrieve_refund))
        .route("/v1/payment_methods", post(create_payment_method))
        .route("/sandbox/3ds/{id}", post(authenticate_3ds))
        .merge(super::stand_in::routes())
        .fallback(unknown)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(shared)
}

#[derive(Clone, Copy)]
enum Op<'a> {
    Create,
    Retrieve(&'a str),
    Confirm(&'a str),
    Cancel(&'a str),
    Refund,
    RetrieveRefund(&'a str),
    CreatePaymentMethod,
    /// The buyer's answer to a 3-D Secure challenge.
    Authenticate(&'a str),
}

impl Op<'_> {
    /// What a publishable key may do: only what a buyer's browser does, on an intent whose
    /// client secret it holds (payment methods need no intent).
    fn browser_may(&self) -> bool {
        matches!(
            self,
            Op::Confirm(_) | Op::Retrieve(_) | Op::CreatePaymentMethod | Op::Authenticate(_)
        )
    }

    fn intent_id(&self) -> Option<&str> {
        match self {
            Op::Confirm(id) | Op::Retrieve(id) | Op::Cancel(id) | Op::Authenticate(id) => Some(id),
            _ => None,
        }
    }
}

/// Which kind of key made the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Secret,
    Publishable,
}

async fn create(State(s): State<Arc<Shared>>, uri: Uri, h: HeaderMap, body: Bytes) -> Response {
    handle(&s, Method::POST, &uri, &h, &body, Op::Create).await
}

async fn retrieve(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    h: HeaderMap,
) -> Response {
    handle(&s, Method::GET, &uri, &h, &[], Op::Retrieve(&id)).await
}

async fn confirm(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, Method::POST, &uri, &h, &body, Op::Confirm(&id)).await
}

async fn cancel(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, Method::POST, &uri, &h, &body, Op::Cancel(&id)).await
}

async fn refund(State(s): State<Arc<Shared>>, uri: Uri, h: HeaderMap, body: Bytes) -> Response {
    handle(&s, Method::POST, &uri, &h, &body, Op::Refund).await
}

async fn retrieve_refund(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    h: HeaderMap,
) -> Response {
    handle(&s, Method::GET, &uri, &h, &[], Op::RetrieveRefund(&id)).await
}

async fn create_payment_method(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, Method::POST, &uri, &h, &body, Op::CreatePaymentMethod).await
}

async fn authenticate_3ds(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, Method::POST, &uri, &h, &body, Op::Authenticate(&id)).await
}

async fn unknown(method: Method, uri: Uri) -> Response {
    let e = ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        None,
        format!("Unrecognized request URL ({method}: {}).", uri.path()),
    );
    reply(e.status, e.body.to_string(), None, false)
}

fn reply(status: StatusCode, body: String, key: Option<&str>, replayed: bool) -> Response {
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("req_{}", new_id())) {
        headers.insert("request-id", v);
    }
    if let Some(v) = key.and_then(|k| HeaderValue::from_str(k).ok()) {
        headers.insert("idempotency-key", v);
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn error_reply(e: ApiError) -> Response {
    reply(e.status, e.body.to_string(), None, false)
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Key, ApiError> {
    let unauthorized = |message: String| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            message,
        )
    };
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            unauthorized(
                "You did not provide an API key. Provide it in the Authorization header, using \
                 Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                    .into(),
            )
        })?;
    let key = value.strip_prefix("Bearer ").unwrap_or_default().trim();
    if key.starts_with("pk_test_") && key.len() > "pk_test_".len() {
        return Ok(Key::Publishable);
    }
    let accepted = match &shared.api_key {
        Some(expected) => key == expected,
        None => key.starts_with("sk_test_") && key.len() > "sk_test_".len(),
    };
    if accepted {
        Ok(Key::Secret)
    } else {
        let tail = &key[key.len().saturating_sub(4)..];
        Err(unauthorized(format!(
            "Invalid API Key provided: sk_test_****{tail}"
        )))
    }
}

/// The fault draws for one request, always in the same order so a seed replays a run.
struct Draws {
    error: bool,
    timeout: bool,
    decline: bool,
    late_confirm: bool,
}

async fn handle(
    shared: &Arc<Shared>,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    op: Op<'_>,
) -> Response {
    shared.stats.bump(|s| &s.requests);
    let key_kind = match authenticate(shared, headers) {
        Ok(k) => k,
        Err(e) => return error_reply(e),
    };
    if key_kind == Key::Publishable && !op.browser_may() {
        return error_reply(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("secret_key_required"),
            "This API call cannot be made with a publishable API key. Please use a secret API key."
                .into(),
        ));
    }
    let faults = shared.faults();
    if !faults.latency.is_zero() {
        tokio::select! {
            () = shared.token.cancelled() => return unavailable(),
            () = tokio::time::sleep(faults.latency) => {}
        }
    }
    let params = match std::str::from_utf8(body)
        .map_err(|_| form::FormError("not UTF-8".into()))
        .and_then(form::decode)
    {
        Ok(p) => p,
        Err(e) => {
            return error_reply(ApiError::invalid("parameter_invalid", e.to_string()));
        }
    };
    if key_kind == Key::Publishable
        && let Some(id) = op.intent_id()
        && let Err(e) = check_client_secret(shared, id, uri, &params)
    {
        return error_reply(e);
    }
    let draws = {
        let mut rng = lock(&shared.rng);
        Draws {
            error: rng.random_bool(faults.error_rate),
            timeout: rng.random_bool(faults.timeout_rate),
            decline: rng.random_bool(faults.decline_rate),
            late_confirm: rng.random_bool(faults.late_confirm_rate),
        }
    };
    let key = match headers.get("idempotency-key").map(HeaderValue::to_str) {
        _ if method != Method::POST => None,
        None => None,
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Some(k.to_owned()),
        Some(_) => {
            return error_reply(ApiError::invalid(
                "idempotency_key_invalid",
                "Idempotency keys must be 1 to 255 characters long.".into(),
            ));
        }
    };
    let fingerprint = fingerprint(&method, uri.path(), &params);

    let (stored, replayed, lose_answer, settle) = {
        let mut ledger = lock(&shared.ledger);
        let replay = match &key {
            Some(k) => ledger.replay(k, &fingerprint),
            None => Replay::Fresh,
        };
        match replay {
            Replay::Same(stored) => (stored, true, false, None),
            Replay::Mismatch => {
                let k = key.as_deref().unwrap_or_default();
                let e = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    None,
                    format!(
                        "Keys for idempotent requests can only be used with the same parameters \
                         they were first used with. Try using a key other than '{k}' if you \
                         meant to execute a different request."
                    ),
                );
                (
                    Stored {
                        status: e.status,
                        body: e.body.to_string(),
                    },
                    false,
                    false,
                    None,
                )
            }
            Replay::Fresh if draws.error => {
                // Stripe keeps a key's first answer even when it is a 500: a retry with the
                // same key gets the same 500, so only a new key can try again.
                shared.stats.bump(|s| &s.injected_errors);
                let e = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    None,
                    "An unknown error occurred (injected by the sandbox).".into(),
                );
                let stored = Stored {
                    status: e.status,
                    body: e.body.to_string(),
                };
                if let Some(k) = &key {
                    ledger.remember(k, &fingerprint, stored.clone());
                }
                (stored, false, false, None)
            }
            Replay::Fresh if draws.late_confirm && matches!(op, Op::Confirm(_)) => {
                // Not applied now, and not answered: the client gives up, and the confirmation
                // lands later anyway (a charge the merchant must not leave without an order).
                if let Op::Confirm(id) = op {
                    spawn_late_confirm(
                        shared,
                        id.to_owned(),
                        params.clone(),
                        faults.late_confirm_delay,
                    );
                }
                (
                    Stored {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        body: String::new(),
                    },
                    false,
                    true,
                    None,
                )
            }
            Replay::Fresh => {
                let params = params.clone();
                let (result, settle) =
                    execute(&mut ledger, op, &params, draws.decline, key_kind, shared);
                let (stored, lose_answer, keep) = match result {
                    Ok(outcome) => (
                        Stored {
                            status: StatusCode::OK,
                            body: outcome.body.to_string(),
                        },
                        outcome.lose_answer,
                        true,
                    ),
                    // Stripe keeps the outcome of a request that ran, declines included, but
                    // not of one refused before it ran (bad parameters, a wrong state).
                    Err(e) => {
                        let keep = e.status == StatusCode::PAYMENT_REQUIRED;
                        (
                            Stored {
                                status: e.status,
                                body: e.body.to_string(),
                            },
                            false,
                            keep,
                        )
                    }
                };
                if keep && let Some(k) = &key {
                    ledger.remember(k, &fingerprint, stored.clone());
                }
                shared.send_events(ledger.take_events());
                (stored, false, lose_answer, settle)
            }
        }
    };
    if replayed {
        shared.stats.bump(|s| &s.idempotent_replays);
    }
    if let (Some(delay), Op::Confirm(id)) = (settle, op) {
        spawn_settle_timer(shared, id.to_owned(), delay);
    }
    if draws.timeout || lose_answer {
        if draws.timeout {
            shared.stats.bump(|s| &s.injected_timeouts);
        }
        // Applied, and the answer never comes: hold the connection until the client gives up
        // (or the service stops, or the hang limit passes).
        tokio::select! {
            () = shared.token.cancelled() => {}
            () = tokio::time::sleep(shared.hang_limit) => {}
        }
        return unavailable();
    }
    reply(stored.status, stored.body, key.as_deref(), replayed)
}

fn unavailable() -> Response {
    error_reply(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "api_error",
        None,
        "The sandbox is shutting down.".into(),
    ))
}

fn spawn_late_confirm(
    shared: &Arc<Shared>,
    id: String,
    params: Vec<(String, String)>,
    delay: Duration,
) {
    let token = shared.token.clone();
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::select! {
            () = token.cancelled() => {}
            () = tokio::time::sleep(delay) => {
                if let Some(shared) = weak.upgrade() {
                    let events = {
                        let mut ledger = lock(&shared.ledger);
                        let method = payment_method(&params, Key::Secret, true).ok().flatten();
                        let _ = ledger.confirm(&id, method, false);
                        ledger.take_events()
                    };
                    shared.send_events(events);
                }
            }
        }
    });
}

/// A browser's request about an intent must carry that intent's client secret.
fn check_client_secret(
    shared: &Shared,
    id: &str,
    uri: &Uri,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let query = uri
        .query()
        .and_then(|q| form::decode(q).ok())
        .unwrap_or_default();
    let given = value(params, "client_secret").or_else(|| value(&query, "client_secret"));
    let expected = lock(&shared.ledger).client_secret_of(id)?;
    if given == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(ApiError::param(
            "resource_missing",
            "client_secret",
            format!("No such payment_intent: '{id}'"),
        ))
    }
}

fn spawn_settle_timer(shared: &Arc<Shared>, id: String, delay: Duration) {
    // A weak reference: a pending timer does not keep a stopped service alive.
    let token = shared.token.clone();
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        tokio::select! {
            () = token.cancelled() => {}
            () = tokio::time::sleep(delay + Duration::from_millis(1)) => {
                if let Some(shared) = weak.upgrade() {
                    let events = {
                        let mut ledger = lock(&shared.ledger);
                        ledger.settle(&id);
                        ledger.take_events()
                    };
                    shared.send_events(events);
                }
            }
        }
    });
}

/// The endpoint and its parameters, order-independent: what an idempotency key is bound to.
fn fingerprint(method: &Method, path: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort();
    format!("{method} {path}\n{}", form::encode(&sorted))
}

fn execute(
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

fn value<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
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

fn payment_method(
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
