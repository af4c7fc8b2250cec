//! Cross-cutting request handling: overload shedding, cross-origin refusal, metrics, 404s.

use boxoffice_app::error::ErrorCode;
use std::time::{Duration, Instant};

use axum::{
    Router,
    body::Body,
    error_handling::HandleErrorLayer,
    extract::{MatchedPath, Request},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower::{BoxError, ServiceBuilder};

use super::{ApiError, AppState};

/// Past `max` requests in flight, answer 503 with `Retry-After` at once instead of queueing:
/// a quick "try again" beats a timeout for the crowd and for the load balancer.
pub(crate) fn shed_load(router: Router<AppState>, max: usize) -> Router<AppState> {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|err: BoxError| async move {
                if err.is::<tower::load_shed::error::Overloaded>() {
                    metrics::counter!("boxoffice_requests_shed_total").increment(1);
                    ApiError::of(ErrorCode::Unavailable)
                        .message("The box office is very busy; please try again in a moment.")
                        .retry_after(1)
                } else {
                    ApiError::internal(anyhow::anyhow!("middleware error: {err}"))
                }
            }))
            .load_shed()
            // Global: `Router::layer` wraps each route separately, and a per-route limit would
            // multiply the ceiling by the number of routes.
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max.max(1))),
    )
}

/// Browsers send cookies on cross-site requests; refusing state changes from another origin
/// closes that door (SameSite=Lax covers most of it, this covers the rest).
pub(crate) async fn refuse_cross_origin_writes(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return cross_origin();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        // We never terminate TLS ourselves: https only ever reaches us through a proxy that says so.
        let scheme = match headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            Some("https") => "https",
            _ => "http",
        };
        let same = match (origin.to_str(), host) {
            (Ok(origin), Some(host)) => is_same_origin(origin, scheme, host),
            _ => false,
        };
        if !same {
            return cross_origin();
        }
    }
    next.run(request).await
}

/// Whether `origin` (the browser's `Origin` header) is this site, scheme included: a page served
/// over plain http (which anyone on the network can write) is another origin than the https site.
fn is_same_origin(origin: &str, scheme: &str, host: &str) -> bool {
    origin
        .split_once("://")
        .is_some_and(|(s, rest)| s.eq_ignore_ascii_case(scheme) && rest.eq_ignore_ascii_case(host))
}

fn cross_origin() -> Response {
    ApiError::of(ErrorCode::CrossOriginRequest).into_response()
}

pub(crate) async fn api_not_found() -> ApiError {
    ApiError::not_found("Endpoint")
}

pub(crate) async fn api_method_not_allowed() -> ApiError {
    ApiError::of(ErrorCode::MethodNotAllowed)
}

/// Request counts and latencies by route template (never by raw path: ids would explode the
/// number of series), and the requests in flight: an autoscaler's signal that, unlike CPU, also
/// rises when requests wait on the database.
pub(crate) async fn record_metrics(request: Request<Body>, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let in_flight = InFlight::enter();
    let response = next.run(request).await;
    drop(in_flight);
    let status = response.status();
    record(&method, &route, status, started.elapsed());
    response
}

/// One request in `boxoffice_http_requests_in_flight` until its response is ready (streams count
/// until their headers are sent; `boxoffice_open_streams` counts them after). Dropped, not just
/// ended, so that a request whose client went away leaves the count too.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter() -> Self {
        let gauge = metrics::gauge!("boxoffice_http_requests_in_flight");
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

fn record(method: &str, route: &str, status: StatusCode, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("boxoffice_http_requests_total", &labels).increment(1);
    let labels = [("method", method.to_owned()), ("route", route.to_owned())];
    metrics::histogram!("boxoffice_http_request_duration_seconds", &labels)
        .record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::is_same_origin;

    #[test]
    fn the_same_host_over_another_scheme_is_another_origin() {
        assert!(is_same_origin(
            "https://tickets.example",
            "https",
            "tickets.example"
        ));
        assert!(!is_same_origin(
            "http://tickets.example",
            "https",
            "tickets.example"
        ));
        assert!(!is_same_origin(
            "https://tickets.example",
            "http",
            "tickets.example"
        ));
    }

    #[test]
    fn another_host_or_port_or_a_null_origin_is_another_origin() {
        assert!(!is_same_origin(
            "http://evil.example",
            "http",
            "tickets.example"
        ));
        assert!(!is_same_origin(
            "http://tickets.example:81",
            "http",
            "tickets.example"
        ));
        assert!(!is_same_origin("null", "http", "tickets.example"));
    }
}
