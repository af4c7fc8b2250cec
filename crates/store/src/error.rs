//! What a store call returns when it fails, and how rows that cannot be read are reported.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or check constraint refused the write: the caller maps it to 409.
    #[error("constraint violated: {0}")]
    Conflict(String),
    /// The database chose this transaction as a deadlock or serialization victim: nothing was
    /// written, and the same request may simply be tried again.
    #[error("transaction aborted by the database, safe to retry: {0}")]
    Retryable(String),
    /// A row holds a value this version cannot read: a bug, or a write from elsewhere.
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
    /// The URL names no dialect we speak.
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    /// Anything else the database or the driver reported.
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && (db.is_unique_violation() || db.is_check_violation())
        {
            return StoreError::Conflict(db.constraint().unwrap_or(db.message()).to_owned());
        }
        if let sqlx::Error::Database(db) = &e
            && db
                .code()
                .is_some_and(|c| RETRYABLE_CODES.contains(&c.as_ref()))
        {
            return StoreError::Retryable(db.message().to_owned());
        }
        StoreError::Database(e)
    }
}

/// PostgreSQL serialization failure and deadlock; MySQL/MariaDB deadlock and lock wait timeout.
const RETRYABLE_CODES: &[&str] = &["40001", "40P01", "1213", "1205"];

/// What every store call returns.
pub type StoreResult<T> = Result<T, StoreError>;

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

/// An id read back from the database, as its type (`parse` is the type's own). Every id stored
/// was made or checked by this server before it was written, so one that does not parse is
/// corrupt, and is reported as such rather than passed on as text.
pub(crate) fn stored_id<T>(parse: fn(&str) -> Option<T>, value: String) -> StoreResult<T> {
    parse(&value).ok_or_else(|| corrupt("id", &value))
}
