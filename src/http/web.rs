//! The buyer's web pages: static files embedded in the binary, cacheable at a CDN.

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use rust_embed::RustEmbed;
use tower_http::compression::CompressionLayer;

use super::AppState;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// `/` is the buyer's page; any other path not claimed by the API is looked up among the assets.
/// `csp` is the pages' Content-Security-Policy ([`super::csp::policy`]).
pub fn router(csp: &str) -> Router<AppState> {
    let csp = HeaderValue::from_str(csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    let index_csp = csp.clone();
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { asset("index.html", &headers, index_csp) }),
        )
        .fallback(|uri: Uri, headers: HeaderMap| async move {
            asset(uri.path().trim_start_matches('/'), &headers, csp)
        })
        .layer(CompressionLayer::new())
}

fn asset(path: &str, headers: &HeaderMap, csp: HeaderValue) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    };
    let etag = format!(
        "\"{}\"",
        crate::domain::idempotency::hex(&file.metadata.sha256_hash()[..12])
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    // HTML is revalidated on every load so a new release shows at once; other assets may sit in a
    // CDN for a few minutes and are revalidated by ETag after that.
    let cache = if path.ends_with(".html") {
        "no-cache"
    } else {
        "public, max-age=300, stale-while-revalidate=60"
    };
    let mut response = Response::new(Body::from(file.data.into_owned()));
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if path.ends_with(".html") {
        h.insert("content-security-policy", csp);
        h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    }
    response
}
