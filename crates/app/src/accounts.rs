//! Accounts: registering a buyer, and signing in with an e-mail address and password for a
//! session token. Passwords are hashed on the hashers' own threads, behind their line.

use std::time::Duration;

use crate::{
    App, AppError, AppResult, ErrorCode,
    security::{HashersBusy, new_session_token},
};
use boxoffice_domain::{
    account::{DisplayName, Email, Password, Role},
    ids::UserId,
    time::Timestamp,
};
use boxoffice_store::{StoreError, UserRecord};

/// How long a session lasts without signing in again.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Creates a buyer's account.
pub async fn register(app: &App, email: &str, password: &str, name: &str) -> AppResult<UserRecord> {
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    let name = DisplayName::parse(name)?;
    let password_hash = app.hasher.hash(&password).await.map_err(hashing_failed)?;
    let user = UserRecord {
        id: UserId::generate(),
        email: email.as_str().to_owned(),
        name: name.as_str().to_owned(),
        role: Role::Buyer,
        password_hash,
        created_at: Timestamp::now(),
    };
    let mut tx = app.db.begin().await?;
    match tx.insert_user(&user).await {
        Err(StoreError::Conflict(_)) => return Err(ErrorCode::EmailTaken.into()),
        other => other?,
    }
    tx.commit().await?;
    Ok(user)
}

/// A new session: the account and the bearer token that names it (only its digest is stored).
pub struct Session {
    /// Who signed in.
    pub user: UserRecord,
    /// For `Authorization: Bearer` or the session cookie.
    pub token: String,
}

/// Signs in `email` (when it parsed: the caller has already counted the attempt against the
/// account's allowance) with `password`. An unknown account costs the same hashing time as a
/// wrong password, so the answer's timing does not tell which accounts exist.
pub async fn sign_in(app: &App, email: Option<&Email>, password: &str) -> AppResult<Session> {
    let invalid = || AppError::refused(ErrorCode::InvalidCredentials);
    let password = Password::for_login(password).ok_or_else(invalid)?;
    let user = match email {
        Some(email) => {
            let mut tx = app.db.read().await?;
            let user = tx.user_by_email(email.as_str()).await?;
            tx.commit().await?;
            user
        }
        None => None,
    };
    let ok = app
        .hasher
        .verify(&password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await
        .map_err(hashing_failed)?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(invalid());
    };
    let (token, digest) = new_session_token();
    let now = Timestamp::now();
    let mut tx = app.db.begin().await?;
    tx.insert_session(&digest, &user.id, now, now.plus(SESSION_TTL))
        .await?;
    tx.commit().await?;
    Ok(Session { user, token })
}

/// A full line for the password hashers is a busy moment, not a fault.
fn hashing_failed(e: anyhow::Error) -> AppError {
    if e.is::<HashersBusy>() {
        AppError::refused(ErrorCode::Unavailable)
            .message("Lots of people are signing in right now; please try again in a moment.")
            .retry_after(1)
    } else {
        AppError::internal(e)
    }
}
