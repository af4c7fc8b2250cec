//! The public API as the crowd calls it: every request timed and its answer recorded by step,
//! status and error code. Overload answers (503, 429) are retried after their `Retry-After`, a
//! couple of times, as a browser would.

use std::{sync::Arc, time::Duration};

use reqwest::{Method, header};
use serde_json::Value;

use super::record::{Outcome, Recorder, Sample, Step};

/// A browser gives up on a request after about this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const OVERLOAD_RETRIES: u32 = 2;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub sent_at: Duration,
    pub received_at: Duration,
}

impl Reply {
    pub fn is(&self, status: u16) -> bool {
        self.status == status
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// Without an overall timeout: a live stream stays open for the whole run.
    pub streams: reqwest::Client,
    pub base: String,
    pub recorder: Arc<Recorder>,
}

impl Api {
    pub fn new(base: &str, recorder: Arc<Recorder>) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let streams = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Api {
            http,
            streams,
            base: base.trim_end_matches('/').to_owned(),
            recorder,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// One call; `None` when no HTTP answer came (recorded as status 0).
    pub async fn call(
        &self,
        step: Step,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Option<Reply> {
        let mut attempt = 0;
        loop {
            let reply = self
                .once(step, &method, path, token, body, idempotency_key)
                .await;
            let retry_after = match &reply {
                Some((r, after)) if (r.is(503) || r.is(429)) && attempt < OVERLOAD_RETRIES => {
                    *after
                }
                _ => return reply.map(|(r, _)| r),
            };
            attempt += 1;
            tokio::time::sleep(retry_after.min(MAX_RETRY_AFTER)).await;
        }
    }

    async fn once(
        &self,
        step: Step,
        method: &Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Option<(Reply, Duration)> {
        let mut request = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        if let Some(k) = idempotency_key {
            request = request.header("Idempotency-Key", k);
        }
        let sent_at = self.recorder.now();
        let answer = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, retry_after, bytes))
        }
        .await;
        let received_at = self.recorder.now();
        let sample = |ok| Sample {
            step,
            at: sent_at,
            latency: received_at.saturating_sub(sent_at),
            ok,
        };
        match answer {
            Ok((status, retry_after, bytes)) => {
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let reply = Reply {
                    status,
                    body,
                    sent_at,
                    received_at,
                };
                let ok = (200..300).contains(&status);
                let outcome = (!ok).then(|| Outcome {
                    step,
                    status,
                    code: reply.code().to_owned(),
                });
                self.recorder.request(sample(ok), outcome);
                Some((reply, retry_after))
            }
            Err(e) => {
                let code = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect_failed"
                } else {
                    "transport_error"
                };
                let outcome = Outcome {
                    step,
                    status: 0,
                    code: code.to_owned(),
                };
                self.recorder.request(sample(false), Some(outcome));
                None
            }
        }
    }
}
