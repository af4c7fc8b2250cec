//! The HTTP face of the sandbox service: the routes, the faults drawn per request, and
//! idempotency; who may call is in `keys`, what the parameters mean in `params`.

mod keys;
mod params;

use std::{sync::Arc, time::Duration};

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
    ledger::{ApiError, Replay, Stored},
    lock,
};
use boxoffice_domain::new_id;
use boxoffice_payments::form;
use keys::{Key, authenticate, check_client_secret};
use params::{execute, fingerprint, payment_method};

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

fn error_reply(e: &ApiError) -> Response {
    reply(e.status, e.body.to_string(), None, false)
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
        Err(e) => return error_reply(&e),
    };
    if key_kind == Key::Publishable && !op.browser_may() {
        return error_reply(&ApiError::new(
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
            return error_reply(&ApiError::invalid("parameter_invalid", e.to_string()));
        }
    };
    if key_kind == Key::Publishable
        && let Some(id) = op.intent_id()
        && let Err(e) = check_client_secret(shared, id, uri, &params)
    {
        return error_reply(&e);
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
            return error_reply(&ApiError::invalid(
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
    error_reply(&ApiError::new(
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
