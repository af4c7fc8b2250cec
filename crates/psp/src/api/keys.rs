//! Who may call: the secret key for everything, a publishable key only for what a buyer's
//! browser does, and then only with the intent's client secret.

use axum::http::{HeaderMap, StatusCode, Uri};

use super::params::value;
use crate::{Shared, ledger::ApiError, lock};
use boxoffice_payments::form;

/// Which kind of key made the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    Secret,
    Publishable,
}

pub(super) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Key, ApiError> {
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

/// A browser's request about an intent must carry that intent's client secret.
pub(super) fn check_client_secret(
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
