//! Accounts: registration, sign-in with a session cookie or bearer token, sign-out, and `me`.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiError, ApiResult, AppState,
    extract::{ApiJson, ClientAddress, CurrentUser, SESSION_COOKIE, session_token},
    limits,
};
use boxoffice_app::{
    ErrorCode,
    accounts::{self, Session},
    security::token_digest,
};
use boxoffice_domain::account::{Email, Password};
use boxoffice_store::UserRecord;

pub(crate) use boxoffice_app::accounts::SESSION_TTL;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    /// `buyer`, `staff` or `admin`.
    pub role: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        UserView {
            id: u.id.to_string(),
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserResponse {
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginResponse {
    pub user: UserView,
    /// For `Authorization: Bearer <token>`; browsers use the session cookie instead.
    pub token: String,
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = UserResponse), (status = 409, description = "email_taken"), (status = 422, description = "invalid input")))]
pub(crate) async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<Response> {
    let user = accounts::register(&state.app, &req.email, &req.password, &req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserResponse {
            user: UserView::from(&user),
        }),
    )
        .into_response())
}

/// Sign in: returns a bearer token and sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "invalid_credentials")))]
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientAddress,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    // A password too long to be one is refused before it spends the account's allowance.
    if Password::for_login(&req.password).is_none() {
        return Err(ApiError::of(ErrorCode::InvalidCredentials));
    }
    let email = Email::parse(&req.email).ok();
    if let Some(email) = &email {
        // Every attempt on an account spends one of its allowance, the right password too
        // (an owner signs in once per session). Spent, the account is locked until the
        // allowance earns one back: a guesser is slowed to that pace, and the owner, whose
        // attempt comes after the lock has run out, gets in as always. The lock is per
        // account *and address*, so that a guesser elsewhere cannot lock the owner out by
        // spending the allowance first; a looser allowance over all addresses bounds a
        // guesser who spreads over many.
        // Keyed by a digest: the limiter's keys (in Redis too) hold no e-mail address.
        let account = token_digest(email.as_str());
        let from = client.0.map(limits::address_key).unwrap_or_default();
        limits::check(
            state.limits.sign_in_per_account.as_ref(),
            &format!("{account}@{from}"),
        )
        .await?;
        limits::check(
            state.limits.sign_in_per_account_any_address.as_ref(),
            &account,
        )
        .await?;
    }
    let Session { user, token } =
        accounts::sign_in(&state.app, email.as_ref(), &req.password).await?;
    let cookie = session_cookie(&token, SESSION_TTL.as_secs(), is_https(&headers));
    let mut response = Json(LoginResponse {
        user: UserView::from(&user),
        token,
    })
    .into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Sign out: ends the session (if any) and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", responses((status = 204)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = session_token(&headers) {
        let digest = token_digest(&token);
        let mut tx = state.app.db.begin().await?;
        tx.delete_session(&digest).await?;
        tx.commit().await?;
        state.sessions.forget(&digest);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, is_https(&headers)),
    );
    Ok(response)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", responses((status = 200, body = UserResponse), (status = 401)))]
pub(crate) async fn me(user: CurrentUser) -> Json<UserResponse> {
    Json(UserResponse {
        user: UserView::from(&user.0),
    })
}

/// Behind a TLS-terminating load balancer the cookie must be `Secure`; on plain local HTTP it
/// cannot be.
pub(crate) fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        == Some("https")
}

fn session_cookie(token: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("boxoffice_session=; Max-Age=0"))
}
