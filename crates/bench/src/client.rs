//! The HTTP side every phase shares: the clients, retried requests, accounts, the event to use
//! and its free seats.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::{Result, fail};

/// Every account this tool makes has this password.
pub(crate) const PASSWORD: &str = "measure-password-1";
/// The sandbox payment provider's card that always succeeds.
pub(crate) const GOOD_CARD: &str = "4242424242424242";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("a plain HTTP client builds")
}

/// For streams: no overall timeout, which would cut a long-lived response.
pub(crate) fn stream_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("a plain HTTP client builds")
}

pub(crate) fn error_code(body: &Value) -> String {
    body.pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_owned()
}

/// Sends and retries (bounded) on 429/503, honouring `Retry-After`; for set-up requests only.
async fn send_retrying(make: impl Fn() -> reqwest::RequestBuilder, expect: u16) -> Result<Value> {
    for _ in 0..20 {
        let response = make().send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1)
            .min(5);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == expect {
            return Ok(body);
        }
        if status == 429 || status == 503 {
            tokio::time::sleep(Duration::from_secs(retry_after)).await;
            continue;
        }
        return Err(fail(format!("expected {expect}, got {status}: {body}")));
    }
    Err(fail("gave up after 20 retries"))
}

/// Registers a fresh account and signs in; returns its bearer token.
async fn new_account(c: &reqwest::Client, base: &str, tag: &str) -> Result<String> {
    let email = format!(
        "{tag}-{}@measure.example.com",
        uuid::Uuid::new_v4().simple()
    );
    send_retrying(
        || {
            c.post(format!("{base}/api/v1/auth/register")).json(
                &json!({"email": email, "password": PASSWORD, "name": format!("Measure {tag}")}),
            )
        },
        201,
    )
    .await?;
    let body = send_retrying(
        || {
            c.post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": email, "password": PASSWORD}))
        },
        200,
    )
    .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("login returned no token"))
}

pub(crate) async fn new_accounts(
    c: &reqwest::Client,
    base: &str,
    n: usize,
    tag: &str,
) -> Result<Vec<String>> {
    futures_util::stream::iter(0..n)
        .map(|i| {
            let tag = format!("{tag}{i}");
            async move { new_account(c, base, &tag).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// The event to measure: the first with seats available (the demo event on a fresh server).
pub(crate) async fn pick_event(c: &reqwest::Client, base: &str) -> Result<String> {
    let body = send_retrying(|| c.get(format!("{base}/api/v1/events")), 200).await?;
    let events = body["events"]
        .as_array()
        .ok_or_else(|| fail("no events array"))?;
    events
        .iter()
        .find(|e| e["seats_available"].as_u64().unwrap_or(0) > 0)
        .or(events.first())
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| fail("the server has no event"))
}

pub(crate) async fn free_seats(
    c: &reqwest::Client,
    base: &str,
    event: &str,
) -> Result<Vec<String>> {
    let body = send_retrying(|| c.get(format!("{base}/api/v1/events/{event}/seats")), 200).await?;
    Ok(body["seats"]
        .as_array()
        .ok_or_else(|| fail("no seats array"))?
        .iter()
        .filter(|s| s["state"] == "available")
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect())
}
