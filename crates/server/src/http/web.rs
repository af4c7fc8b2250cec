//! The buyer's web pages: static files embedded in the binary, served under content-hashed names
//! (see [`crate::site`]) that a browser or CDN keeps for a year, and compressed once.

use axum::{
    Router,
    http::{HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{AppState, precompressed};
use crate::site::{ASSETS_DIR, Asset, site};

/// Links to the plain names (a page from before a release, a bookmark) still work; such a file
/// may sit in a CDN for a few minutes and is revalidated by ETag after that.
const PLAIN: &str = "public, max-age=300, stale-while-revalidate=60";

/// `/` is the buyer's page; any other path not claimed by the API is looked up among the assets.
/// `csp` is the pages' Content-Security-Policy ([`super::csp::policy`]).
pub(crate) fn router(csp: &str) -> Router<AppState> {
    let csp = HeaderValue::from_str(csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    let index_csp = csp.clone();
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { index(&headers, index_csp) }),
        )
        .fallback(|uri: Uri, headers: HeaderMap| async move {
            let path = uri.path().trim_start_matches('/');
            if path == "index.html" {
                return index(&headers, csp);
            }
            let site = site();
            let found = match path.strip_prefix(ASSETS_DIR).filter(|p| p.starts_with('/')) {
                Some(_) => site.hashed.get(path).map(|a| (a, precompressed::IMMUTABLE)),
                None => site.plain.get(path).map(|a| (a, PLAIN)),
            };
            match found {
                Some((asset, cache)) if asset.mime == "text/html" => {
                    page(asset, &headers, cache, csp)
                }
                Some((asset, cache)) => file(asset, &headers, cache),
                None => not_found(),
            }
        })
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}

/// The page itself is revalidated on every load, so a new release shows at once.
fn index(headers: &HeaderMap, csp: HeaderValue) -> Response {
    page(&site().index, headers, precompressed::REVALIDATE, csp)
}

fn page(asset: &Asset, headers: &HeaderMap, cache: &'static str, csp: HeaderValue) -> Response {
    let mut response = file(asset, headers, cache);
    let h = response.headers_mut();
    h.insert("content-security-policy", csp);
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

fn file(asset: &Asset, headers: &HeaderMap, cache: &'static str) -> Response {
    let mut response = precompressed::respond(&asset.body, headers, cache, &asset.mime);
    response.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}
