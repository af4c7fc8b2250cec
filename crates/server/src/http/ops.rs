//! Operations: liveness, readiness, Prometheus metrics and the OpenAPI document.

use boxoffice_app::error::ErrorCode;
use std::sync::atomic::Ordering;

use axum::{
    Json, Router,
    extract::{Query, Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::{ApiError, AppState, client::client_addr, openapi};
use boxoffice_app::security::token_digest;

/// Sales figures are not for everyone: an allowed address, or the scraper's token.
fn may_read_metrics(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let limits = &state.settings.limits;
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    if let (Some(expected), Some(given)) = (&limits.metrics_token, bearer) {
        // Digests of equal length: the comparison tells nothing of how much of the token matched.
        if token_digest(expected) == token_digest(given) {
            return Ok(());
        }
    }
    // A request forwarded by a proxy we do not trust could come from anywhere: the loopback
    // address of a proxy on this machine says nothing about the client behind it.
    let peer_trusted = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|c| limits.trusted_proxies.iter().any(|n| n.contains(&c.0.ip())));
    let forwarded = request.headers().contains_key("x-forwarded-for")
        || request.headers().contains_key(header::FORWARDED);
    let allowed = (peer_trusted || !forwarded)
        && client_addr(request, &limits.trusted_proxies)
            .is_some_and(|ip| limits.metrics_allow.iter().any(|n| n.contains(&ip)));
    match (allowed, &limits.metrics_token) {
        (true, _) => Ok(()),
        (false, Some(_)) => Err(ApiError::of(ErrorCode::Unauthorized)
            .message("Metrics need the scraper's bearer token.")),
        (false, None) => Err(ApiError::of(ErrorCode::Forbidden)
            .message("Metrics are served to configured addresses only.")),
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/openapi.json", get(openapi_json))
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub(crate) struct ReadyQuery {
    /// `redis`: report ready while the database answers even if Redis does not. For load balancer
    /// health checks: sales go on without Redis (live updates then come from reconciliation), so
    /// a Redis outage must not take every instance out of rotation.
    pub optional: Option<String>,
}

/// 200 when the database (and Redis, when configured) answer; 503 when not, and from the start of
/// a graceful shutdown.
#[utoipa::path(get, path = "/readyz", tag = "operations", params(ReadyQuery), responses((status = 200), (status = 503)))]
pub(crate) async fn readyz(
    State(state): State<AppState>,
    Query(query): Query<ReadyQuery>,
) -> Response {
    if !state.ready.load(Ordering::SeqCst) {
        return ApiError::of(ErrorCode::Unavailable)
            .message("This server is shutting down.")
            .retry_after(1)
            .into_response();
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.app.db.ping()).await {
        Ok(Ok(())) => {
            let redis_ok = state.app.fanout.redis_ready().await;
            let redis = match (state.app.fanout.uses_redis(), redis_ok) {
                (false, _) => "not_configured",
                (true, true) => "up",
                (true, false) => "down",
            };
            let redis_optional = query.optional.as_deref() == Some("redis");
            if !redis_ok && !redis_optional {
                let e = ApiError::of(ErrorCode::Unavailable)
                    .message("Redis does not answer.")
                    .retry_after(2);
                return e
                    .details(json!({"database": state.app.db.dialect(), "redis": redis}))
                    .into_response();
            }
            Json(json!({"status": "ready", "database": state.app.db.dialect(), "redis": redis}))
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            ApiError::of(ErrorCode::Unavailable)
                .message("The database does not answer.")
                .retry_after(2)
                .into_response()
        }
        Err(_) => ApiError::of(ErrorCode::Unavailable)
            .message("The database does not answer in time.")
            .retry_after(2)
            .into_response(),
    }
}

/// Prometheus text format, for the addresses in `BOXOFFICE_METRICS_ALLOW` (loopback by default)
/// or with `Authorization: Bearer <BOXOFFICE_METRICS_TOKEN>`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain"),
        (status = 401, description = "unauthorized: a token is configured and this one is missing or wrong"),
        (status = 403, description = "forbidden: not an allowed address, and no token is configured")))]
pub(crate) async fn metrics_text(State(state): State<AppState>, request: Request) -> Response {
    if let Err(e) = may_read_metrics(&state, &request) {
        return e.into_response();
    }
    // The pools keep their own counts: read them as the scrape happens.
    for p in state.app.db.pool_stats() {
        let pool = p.pool;
        metrics::gauge!("boxoffice_db_pool_connections", "pool" => pool, "state" => "in_use")
            .set(f64::from(p.in_use()));
        metrics::gauge!("boxoffice_db_pool_connections", "pool" => pool, "state" => "idle")
            .set(f64::from(p.idle));
        metrics::gauge!("boxoffice_db_pool_max_connections", "pool" => pool).set(f64::from(p.max));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, content_type = "application/json")))]
pub(crate) async fn openapi_json() -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(openapi::document()),
    )
        .into_response()
}
