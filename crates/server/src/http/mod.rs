//! The HTTP layer: shared state, the router assembled from one module per resource, and the
//! cross-cutting layers (body limit, overload shedding, cross-origin refusal, metrics).

pub(crate) mod address_seats;
pub(crate) mod admin;
pub(crate) mod admin_catalog;
pub(crate) mod admin_events;
pub(crate) mod admin_orders;
pub(crate) mod auth;
pub(crate) mod checkin;
pub(crate) mod checkout;
pub(crate) mod client;
pub(crate) mod csp;
pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod extract;
pub(crate) mod holds;
pub(crate) mod limits;
pub(crate) mod middleware;
pub(crate) mod openapi;
pub(crate) mod ops;
pub(crate) mod orders;
pub(crate) mod payments;
pub(crate) mod precompressed;
pub(crate) mod queue;
pub(crate) mod sessions;
pub(crate) mod stream;
pub(crate) mod web;

use std::sync::{Arc, atomic::AtomicBool};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, header},
};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::Settings;
use boxoffice_app::App;

pub(crate) use error::{ApiError, ApiResult};

/// What every handler can reach: the application, and what only the HTTP layer needs. Cheap to
/// clone: everything is behind an `Arc`.
#[derive(Clone)]
pub(crate) struct AppState {
    pub app: App,
    pub settings: Arc<Settings>,
    /// Cancelled when a graceful shutdown begins: streams tell their clients to reconnect.
    pub shutdown: CancellationToken,
    pub ready: Arc<AtomicBool>,
    pub metrics: PrometheusHandle,
    pub streams: Arc<std::sync::atomic::AtomicUsize>,
    pub limits: Arc<limits::RateLimits>,
    pub sessions: Arc<sessions::SessionCache>,
}

pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(auth::router())
        .merge(events::router())
        .merge(holds::router())
        .merge(orders::router())
        .merge(admin::router())
        .merge(admin_catalog::router())
        .merge(admin_events::router())
        .merge(admin_orders::router())
        .merge(payments::router())
        .merge(checkin::router())
        .merge(queue::router())
        .layer(axum::middleware::from_fn(
            middleware::refuse_cross_origin_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_by_address,
        ))
        // The general limit; the catalogue routes set a larger one of their own, closer to the
        // handler, which wins.
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes));
    // Streams stay open for minutes: they are bounded by their own limit, not the request limit.
    let api = middleware::shed_load(
        api.merge(payments::webhook_router()),
        state.settings.max_concurrent_requests,
    )
    .merge(stream::router())
    .fallback(middleware::api_not_found)
    .method_not_allowed_fallback(middleware::api_method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .route(
            "/api/{*rest}",
            axum::routing::any(middleware::api_not_found),
        )
        .merge(ops::router())
        .route_layer(axum::middleware::from_fn(middleware::record_metrics))
        .merge(web::router(&csp::policy(
            state.app.payments.browser_checkout(),
        )))
        // A JSON error or a QR image must never be sniffed into something a browser runs.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}
