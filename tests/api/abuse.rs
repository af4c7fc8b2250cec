//! Abuse resistance (issue 11): rate limits per address and per account, trusted proxies, Redis
//! shared limits, hoarding caps and cool-down, ended-hold retention, refused characters, roles
//! before bodies, and who may read `/metrics`.

mod hoarding;
mod hygiene;
mod rate_limits;

use std::time::Duration;

use boxoffice_domain::rate::RateQuota;
use reqwest::{StatusCode, header};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error};

fn per_minute(n: u32) -> Option<RateQuota> {
    Some(RateQuota::new(n, Duration::from_secs(60)))
}

/// Asserts a 429 `rate_limited` in the JSON error format; returns its `Retry-After` in seconds.
async fn assert_rate_limited(r: reqwest::Response) -> u64 {
    let retry_after: u64 = r
        .headers()
        .get(header::RETRY_AFTER)
        .expect("a 429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    let error = assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(error["details"]["retry_after_seconds"], retry_after);
    retry_after
}

async fn login_from(
    app: &TestApp,
    email: &str,
    password: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .api
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(addr) = forwarded {
        request = request.header("x-forwarded-for", addr);
    }
    request.send().await.unwrap()
}

fn unique_email() -> String {
    format!("abuse-{}@example.com", Uuid::new_v4().simple())
}
