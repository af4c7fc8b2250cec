//! Logging and metrics set-up, done once per process.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Installs the tracing subscriber; `RUST_LOG` overrides the default level.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// The process-wide Prometheus recorder. Tests build many applications in one process, so the
/// recorder is installed once and shared.
pub(crate) fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program); then our
            // handle simply renders nothing, which is better than refusing to start.
            if metrics::set_global_recorder(recorder).is_ok() {
                describe();
            }
            handle
        })
        .clone()
}

/// Help text for the signals operators and autoscalers read (deploy/ scales and alerts on them).
fn describe() {
    metrics::describe_gauge!(
        "boxoffice_http_requests_in_flight",
        "HTTP requests being handled now (streams only until their headers are sent)"
    );
    metrics::describe_gauge!(
        "boxoffice_open_streams",
        "open live seat maps (SSE and WebSocket) on this instance"
    );
    metrics::describe_gauge!(
        "boxoffice_db_pool_connections",
        "database connections open in each pool, by state (in_use, idle); read at scrape time"
    );
    metrics::describe_gauge!(
        "boxoffice_db_pool_max_connections",
        "the most connections each pool may open"
    );
    metrics::describe_gauge!(
        "boxoffice_db_pool_waiting",
        "tasks waiting for a connection of each pool (and its BEGIN)"
    );
    metrics::describe_histogram!(
        "boxoffice_fanout_lag_seconds",
        "from another instance handing a seat change to Redis to this instance receiving it"
    );
    metrics::describe_gauge!(
        "boxoffice_fanout_publish_queue",
        "seat change batches waiting to be published on Redis"
    );
    metrics::describe_gauge!(
        "boxoffice_redis_connected",
        "1 while subscribed to the Redis fan-out channel, 0 while not (absent without REDIS_URL)"
    );
}
