//! Answers from bodies compressed ahead of time: the coding the client prefers, a strong ETag
//! (the content's hash, the same in every coding, since the content is the same), and 304 when
//! the client already has it.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use boxoffice_app::compress::{Compressed, negotiate};

/// A long-lived, never-changing body: a CDN and the browser keep it for a year.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A body that changes at any moment: ask every time (an ETag makes the answer cheap).
pub(crate) const REVALIDATE: &str = "no-cache";

/// Whether `If-None-Match` names `tag` (weak comparison, as RFC 9110 asks for this header).
pub(crate) fn none_match(request: &HeaderMap, tag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).trim_matches('"') == tag)
}

pub(crate) fn respond(
    body: &Compressed,
    request: &HeaderMap,
    cache_control: &'static str,
    content_type: &str,
) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", body.tag))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let mut response = if none_match(request, &body.tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let coding = negotiate(
            request
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok()),
        );
        let mut r = Response::new(Body::from(body.body(coding).clone()));
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        if let Some(v) = coding.header_value() {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(v));
        }
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn if_none_match_compares_tags_in_a_list_weakly_and_takes_a_star() {
        assert!(none_match(&with("\"abc\""), "abc"));
        assert!(none_match(&with("\"x\", W/\"abc\""), "abc"));
        assert!(none_match(&with("*"), "abc"));
        assert!(!none_match(&with("\"abcd\""), "abc"));
        assert!(!none_match(&HeaderMap::new(), "abc"));
    }
}
