//! Operations: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::sync::atomic::Ordering;

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::{ApiError, AppState, openapi};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/openapi.json", get(openapi_json))
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ReadyQuery {
    /// `redis`: report ready while the database answers even if Redis does not. For load balancer
    /// health checks: sales go on without Redis (live updates then come from reconciliation), so
    /// a Redis outage must not take every instance out of rotation.
    pub optional: Option<String>,
}

/// 200 when the database (and Redis, when configured) answer; 503 when not, and from the start of
/// a graceful shutdown.
#[utoipa::path(get, path = "/readyz", tag = "operations", params(ReadyQuery), responses((status = 200), (status = 503)))]
pub async fn readyz(State(state): State<AppState>, Query(query): Query<ReadyQuery>) -> Response {
    if !state.ready.load(Ordering::SeqCst) {
        return ApiError::unavailable("This server is shutting down.", 1).into_response();
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => {
            let redis_ok = state.fanout.redis_ready().await;
            let redis = match (state.fanout.uses_redis(), redis_ok) {
                (false, _) => "not_configured",
                (true, true) => "up",
                (true, false) => "down",
            };
            let redis_optional = query.optional.as_deref() == Some("redis");
            if !redis_ok && !redis_optional {
                let e = ApiError::unavailable("Redis does not answer.", 2);
                return e
                    .with_details(json!({"database": state.db.dialect(), "redis": redis}))
                    .into_response();
            }
            Json(json!({"status": "ready", "database": state.db.dialect(), "redis": redis}))
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            ApiError::unavailable("The database does not answer.", 2).into_response()
        }
        Err(_) => ApiError::unavailable("The database does not answer in time.", 2).into_response(),
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(openapi::document()),
    )
        .into_response()
}
