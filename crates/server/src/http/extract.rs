//! Extractors: JSON bodies with our error format, and the signed-in user.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, header, request::Parts},
};
use boxoffice_app::error::ErrorCode;
use serde::de::DeserializeOwned;

use super::{ApiError, AppState};
use boxoffice_app::security::token_digest;
use boxoffice_domain::{account::Role, ids::UserId, text, time::Timestamp};
use boxoffice_store::UserRecord;

pub(crate) const SESSION_COOKIE: &str = "boxoffice_session";

/// `axum::Json`, but its rejections speak the API's error format, and no string anywhere in the
/// body (keys included) may hold a control, bidirectional or invisible character: one check for
/// every field of every route, present and future, before any of it reaches a database.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(document) =
            axum::Json::<serde_json::Value>::from_request(req, state).await?;
        if let Some((field, c)) = text::first_refused_in_json(&document) {
            return Err(text::refused(&field, c).into());
        }
        let value = serde_json::from_value(document)
            .map_err(|e| ApiError::of(ErrorCode::InvalidRequest).message(e.to_string()))?;
        Ok(ApiJson(value))
    }
}

/// A JSON body that may be left out: no body at all means `T::default()`; anything else is read
/// exactly as [`ApiJson`] reads it, with the same errors.
pub(crate) struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::of(ErrorCode::PayloadTooLarge)
                } else {
                    ApiError::of(ErrorCode::InvalidBody).message(e.body_text())
                }
            })?;
        if bytes.is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        let mut rebuilt = Request::new(axum::body::Body::from(bytes));
        if let Some(ct) = content_type {
            rebuilt.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        let ApiJson(value) = ApiJson::<T>::from_request(rebuilt, state).await?;
        Ok(OptionalJson(value))
    }
}

/// `axum::extract::Path`, but a malformed segment (say, invalid UTF-8) is a JSON 404.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // No identifier we issue contains a control character, and PostgreSQL refuses a NUL in
        // text outright: such a path names nothing, whatever the database.
        if let Ok(raw) = axum::extract::RawPathParams::from_request_parts(parts, state).await
            && raw.iter().any(|(_, v)| v.chars().any(char::is_control))
        {
            return Err(ApiError::not_found("Resource"));
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(value))
    }
}

/// The value of one query parameter as sent. Only plain words are looked for (`format=compact`),
/// so nothing needs percent-decoding.
pub(crate) fn query_param<'a>(uri: &'a axum::http::Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// The signed-in caller; 401 when there is none.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser(pub UserRecord);

/// The caller if signed in, for endpoints that serve everyone.
#[derive(Debug, Clone)]
pub(crate) struct MaybeUser(pub Option<UserRecord>);

impl CurrentUser {
    pub(crate) fn id(&self) -> &UserId {
        &self.0.id
    }

    pub(crate) fn require_role(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::of(ErrorCode::Forbidden))
        }
    }
}

/// The session token from `Authorization: Bearer …`, else from the session cookie.
pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(token) = auth.strip_prefix("Bearer ").map(str::trim)
        && !token.is_empty()
    {
        return Some(token.to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

async fn lookup(parts: &Parts, state: &AppState) -> Result<Option<UserRecord>, ApiError> {
    let Some(token) = session_token(&parts.headers) else {
        return Ok(None);
    };
    if token.len() > 128 {
        return Ok(None);
    }
    let digest = token_digest(&token);
    if let Some(user) = state.sessions.get(&digest) {
        return Ok(Some(user));
    }
    let user = state.app.db.session_user(&digest, Timestamp::now()).await?;
    if let Some(user) = &user {
        state.sessions.put(&digest, user);
    }
    Ok(user)
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let user = lookup(parts, state)
            .await?
            .ok_or_else(|| ApiError::of(ErrorCode::Unauthorized))?;
        let user = CurrentUser(user);
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// A signed-in admin: 401 when nobody is signed in, 403 for any other role. Checked before the
/// body is read, so that only an admin can make the server read a large one.
#[derive(Debug, Clone)]
pub(crate) struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        user.require_role(&[Role::Admin])?;
        Ok(AdminUser(user))
    }
}

/// A signed-in admin or door staff, checked before the body as [`AdminUser`] is.
#[derive(Debug, Clone)]
pub(crate) struct StaffUser(pub CurrentUser);

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        user.require_role(&[Role::Staff, Role::Admin])?;
        Ok(StaffUser(user))
    }
}

/// The client's address as the limits see it (a trusted proxy's `X-Forwarded-For` resolved);
/// `None` only where no connection info is recorded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(super::client::client_of_parts(
            &parts.extensions,
            &parts.headers,
            &state.limits.trusted_proxies,
        )))
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(lookup(parts, state).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder();
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_bearer_token_wins_over_the_cookie() {
        let p = parts(&[
            ("authorization", "Bearer abc"),
            ("cookie", "boxoffice_session=xyz"),
        ]);
        assert_eq!(session_token(&p.headers).as_deref(), Some("abc"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let p = parts(&[("cookie", "theme=dark; boxoffice_session=xyz; other=1")]);
        assert_eq!(session_token(&p.headers).as_deref(), Some("xyz"));
        assert_eq!(
            session_token(&parts(&[("cookie", "theme=dark")]).headers),
            None
        );
    }
}
