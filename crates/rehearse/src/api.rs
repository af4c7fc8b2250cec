//! The public API as the crowd calls it: every request timed and its answer recorded by step,
//! status and error code. Overload answers (503, 429) are retried after their `Retry-After`, a
//! couple of times, as a browser would, and so is a payment still in progress (409
//! `request_in_progress`). With several instances, a request that got no answer (the instance
//! died, or is restarting) is sent again to the next one: any instance serves any request, and a
//! checkout carries the same `Idempotency-Key` on every try, so it never charges twice.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use reqwest::{Method, header};
use serde_json::Value;

use super::record::{Outcome, Recorder, Sample, Step};

/// A browser gives up on a request after about this long.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const OVERLOAD_RETRIES: u32 = 2;
/// Signing in is retried longer, as the page does when the password hashers' line is full: the
/// buyer has not started shopping yet, and the server said when to come back.
const SIGN_IN_OVERLOAD_RETRIES: u32 = 30;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);
/// A payment answered `request_in_progress` is asked again this many times (about a second
/// apart): it settles when its checkout or the server's payment reconciler finishes it.
const IN_PROGRESS_RETRIES: u32 = 15;
/// Requests without an answer are sent to the next instance up to this many times; after each
/// round over every instance, a short pause lets a restarting one come back.
const FAILOVERS: usize = 6;
const FAILOVER_ROUND_PAUSE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
    /// The body as it came (decoded), for a successful [`Api::fetch_compressed`] (whose `body`
    /// is not parsed).
    pub raw: Vec<u8>,
    pub(crate) sent_at: Duration,
    pub(crate) received_at: Duration,
}

impl Reply {
    pub(crate) fn is(&self, status: u16) -> bool {
        self.status == status
    }

    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    /// Without an overall timeout: a live stream stays open for the whole run.
    pub streams: reqwest::Client,
    /// Every instance of the deployment (one, unless rehearse started its own cluster).
    bases: Arc<Vec<String>>,
    /// The instance this client talks to first.
    home: usize,
    pub recorder: Arc<Recorder>,
    /// The buyer's admission token, once the event's waiting room let it in.
    admission: Option<Arc<str>>,
    /// The client address this client claims through `X-Forwarded-For`, as a trusted proxy
    /// would forward it: the crowd then comes from many addresses, as a real one does.
    forwarded_for: Option<Arc<str>>,
    /// Whether [`Api::on`] gives each buyer an address of its own.
    spread: bool,
    /// Whether 503 and 429 are retried after `Retry-After` (a browser's way; not a script's).
    retries: bool,
}

/// What one try of a request gave.
enum Try {
    Answer(Reply, Duration),
    /// No answer: the connection failed or broke.
    Lost,
    TimedOut,
}

impl Api {
    pub(crate) fn new(base: &str, recorder: Arc<Recorder>) -> anyhow::Result<Api> {
        Api::over(&[base.to_owned()], recorder)
    }

    /// A client of every instance in `bases`; it starts with the first.
    pub(crate) fn over(bases: &[String], recorder: Arc<Recorder>) -> anyhow::Result<Api> {
        anyhow::ensure!(!bases.is_empty(), "no instance to talk to");
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
            bases: Arc::new(
                bases
                    .iter()
                    .map(|b| b.trim_end_matches('/').to_owned())
                    .collect(),
            ),
            home: 0,
            recorder,
            admission: None,
            forwarded_for: None,
            spread: false,
            retries: true,
        })
    }

    /// The same client, whose buyers (see [`Api::on`]) each come from an address of their own.
    pub(crate) fn spreading(&self) -> Api {
        Api {
            spread: true,
            ..self.clone()
        }
    }

    /// The same client, claiming to come from `address` (the server must trust this machine as
    /// a proxy to believe it).
    pub(crate) fn at_address(&self, address: &str) -> Api {
        Api {
            forwarded_for: Some(address.into()),
            ..self.clone()
        }
    }

    /// The same client recording into `recorder` and taking every answer as it comes, without
    /// retries: a script's client.
    pub(crate) fn scripted(&self, recorder: Arc<Recorder>) -> Api {
        Api {
            recorder,
            retries: false,
            spread: false,
            ..self.clone()
        }
    }

    /// The same client, talking to the n-th instance first (counting round the cluster); when
    /// spreading, from buyer n's own address.
    pub(crate) fn on(&self, n: usize) -> Api {
        Api {
            home: n % self.bases.len(),
            forwarded_for: if self.spread {
                Some(buyer_address(n).into())
            } else {
                self.forwarded_for.clone()
            },
            ..self.clone()
        }
    }

    /// The same client, showing `token` at the waiting room's door on every request.
    pub(crate) fn admitted(&self, token: &str) -> Api {
        Api {
            admission: Some(token.into()),
            ..self.clone()
        }
    }

    pub(crate) fn home(&self) -> usize {
        self.home
    }

    /// The home instance's base URL.
    pub(crate) fn base(&self) -> &str {
        &self.bases[self.home]
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }

    /// The code recorded for a request or stream that got no answer: with other instances to
    /// try, it is the expected price of an instance dying, not an error.
    pub(crate) fn lost_code(&self, code: &str) -> String {
        if self.bases.len() > 1 {
            format!("{code}_failed_over")
        } else {
            code.to_owned()
        }
    }

    /// One call; `None` when no HTTP answer came (recorded as status 0).
    pub(crate) async fn call(
        &self,
        step: Step,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Option<Reply> {
        self.call_parsing(
            step,
            method,
            path,
            token,
            body,
            idempotency_key,
            true,
            false,
        )
        .await
    }

    /// A GET as a browser sends it, accepting brotli and gzip, whose successful body is kept
    /// (decoded) instead of parsed into `body`: every buyer loads the map, and parsing
    /// thousands of copies into `Value` trees made this generator, not the server, the
    /// bottleneck of a big crowd. Errors are parsed as usual.
    pub(crate) async fn fetch_compressed(
        &self,
        step: Step,
        path: &str,
        token: Option<&str>,
    ) -> Option<Reply> {
        self.call_parsing(step, Method::GET, path, token, None, None, false, true)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn call_parsing(
        &self,
        step: Step,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        parse_success: bool,
        compressed: bool,
    ) -> Option<Reply> {
        let (mut overloaded, mut in_progress, mut failovers) = (0, 0, 0);
        let overload_retries = match step {
            Step::Register | Step::Login => SIGN_IN_OVERLOAD_RETRIES,
            _ => OVERLOAD_RETRIES,
        };
        let mut instance = self.home;
        loop {
            let will_fail_over = self.bases.len() > 1 && failovers < FAILOVERS;
            let tried = self
                .once(
                    instance,
                    will_fail_over,
                    step,
                    &method,
                    path,
                    token,
                    body,
                    idempotency_key,
                    parse_success,
                    compressed,
                )
                .await;
            let retry_after = match tried {
                Try::Answer(r, _) if !self.retries => return Some(r),
                Try::Answer(r, after)
                    if (r.is(503) || r.is(429)) && overloaded < overload_retries =>
                {
                    overloaded += 1;
                    after
                }
                Try::Answer(r, after)
                    if r.is(409)
                        && r.code() == "request_in_progress"
                        && in_progress < IN_PROGRESS_RETRIES =>
                {
                    in_progress += 1;
                    after
                }
                Try::Answer(r, _) => return Some(r),
                Try::Lost if will_fail_over => {
                    failovers += 1;
                    self.recorder
                        .counters
                        .failovers
                        .fetch_add(1, Ordering::Relaxed);
                    instance = (instance + 1) % self.bases.len();
                    if failovers.is_multiple_of(self.bases.len()) {
                        tokio::time::sleep(FAILOVER_ROUND_PAUSE).await;
                    }
                    continue;
                }
                Try::Lost | Try::TimedOut => return None,
            };
            tokio::time::sleep(retry_after.min(MAX_RETRY_AFTER)).await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn once(
        &self,
        instance: usize,
        will_fail_over: bool,
        step: Step,
        method: &Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        parse_success: bool,
        compressed: bool,
    ) -> Try {
        let url = format!("{}{path}", self.bases[instance]);
        let mut request = self.http.request(method.clone(), url);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        if let Some(k) = idempotency_key {
            request = request.header("Idempotency-Key", k);
        }
        if compressed {
            request = request.header(header::ACCEPT_ENCODING, "br, gzip");
        }
        if let Some(a) = &self.admission {
            request = request.header("Admission-Token", a.as_ref());
        }
        if let Some(a) = &self.forwarded_for {
            request = request.header("X-Forwarded-For", a.as_ref());
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
            let coding = response
                .headers()
                .get(header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let wire = response.bytes().await?;
            let bytes = match decode(coding.as_deref(), &wire) {
                Some(decoded) => bytes::Bytes::from(decoded),
                None => wire,
            };
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
                let ok = (200..300).contains(&status);
                let (body, raw) = if ok && !parse_success {
                    (Value::Null, bytes.to_vec())
                } else {
                    (
                        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        Vec::new(),
                    )
                };
                let reply = Reply {
                    status,
                    body,
                    raw,
                    sent_at,
                    received_at,
                };
                let outcome = (!ok).then(|| Outcome {
                    step,
                    status,
                    code: reply.code().to_owned(),
                });
                self.recorder.request(sample(ok), outcome);
                Try::Answer(reply, retry_after)
            }
            Err(e) if e.is_timeout() => {
                // The request may still be running: sending it elsewhere would not be a browser's
                // behaviour (and a timeout is not what an instance dying looks like).
                let outcome = Outcome {
                    step,
                    status: 0,
                    code: "timeout".to_owned(),
                };
                self.recorder.request(sample(false), Some(outcome));
                Try::TimedOut
            }
            Err(e) => {
                let code = if e.is_connect() {
                    "connect_failed"
                } else {
                    "transport_error"
                };
                let code = if will_fail_over {
                    format!("{code}_failed_over")
                } else {
                    code.to_owned()
                };
                let outcome = Outcome {
                    step,
                    status: 0,
                    code,
                };
                self.recorder.request(sample(false), Some(outcome));
                Try::Lost
            }
        }
    }
}

/// Buyer n's address when the crowd is spread: one of its own in 10.0.0.0/8.
pub(crate) fn buyer_address(n: usize) -> String {
    let n = n as u32 & 0x00ff_ffff;
    format!("10.{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff)
}

/// A body in the `Content-Encoding` it came with, decoded; `None` when it came as it is (or in a
/// coding this client did not ask for, kept as it came).
fn decode(coding: Option<&str>, body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let read = match coding? {
        "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
        "br" => brotli::Decompressor::new(body, 4096).read_to_end(&mut out),
        _ => return None,
    };
    read.ok().map(|_| out)
}
