//! The one JSON error format of the API, and how every lower-layer error maps onto it.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use boxoffice_app::error::{AppError, ErrorCode};
use boxoffice_domain::InvalidInput;
use boxoffice_store::StoreError;

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// An application error on its way out as the API's JSON error body. The codes, their statuses
/// and messages live in one table, [`ErrorCode`]; this type only turns them into responses and
/// maps what the HTTP layer itself refuses (unreadable bodies, paths and queries).
#[derive(Debug)]
pub(crate) struct ApiError(AppError);

impl ApiError {
    /// A refusal with the code's usual message.
    pub(crate) fn of(code: ErrorCode) -> Self {
        ApiError(AppError::refused(code))
    }

    pub(crate) fn not_found(what: &str) -> Self {
        ApiError(AppError::not_found(what))
    }

    pub(crate) fn internal(source: impl Into<anyhow::Error>) -> Self {
        ApiError(AppError::internal(source))
    }

    pub(crate) fn message(self, message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        ApiError(self.0.message(message))
    }

    pub(crate) fn details(self, details: Value) -> Self {
        ApiError(self.0.details(details))
    }

    pub(crate) fn retry_after(self, secs: u64) -> Self {
        ApiError(self.0.retry_after(secs))
    }

    pub(crate) fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The application error inside, for a use case that asks the HTTP layer a question.
    pub(crate) fn into_app(self) -> AppError {
        self.0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = self.0.cause() {
            tracing::error!(error = ?source, "request failed");
        }
        let mut response = (self.status(), Json(self.0.body())).into_response();
        if let Some(secs) = self.0.retry_after_secs() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::of(code)
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(e.into())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => {
                ApiError::of(ErrorCode::InvalidRequest).message(e.body_text())
            }
            JsonRejection::JsonSyntaxError(_) => ApiError::of(ErrorCode::MalformedJson),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::of(ErrorCode::UnsupportedMediaType)
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::of(ErrorCode::PayloadTooLarge)
            }
            other => ApiError::of(ErrorCode::BadRequest).message(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::not_found("Resource")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::of(ErrorCode::InvalidQuery).message(r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_status_axum_knows() {
        for code in ErrorCode::ALL {
            assert_eq!(
                ApiError::of(*code).status().as_u16(),
                code.status(),
                "{code:?}"
            );
        }
    }
}
