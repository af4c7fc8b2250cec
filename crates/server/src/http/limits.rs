//! Rate limits: per client address on the routes a script would hammer, per account on sign-in
//! attempts and hold creation. Answered 429 `rate_limited` with `Retry-After`.
//!
//! Every limit is the generic cell rate algorithm (GCRA). Without Redis each instance keeps its
//! own counters with the `governor` crate. With Redis the same algorithm runs as a small script
//! on one shared key per client, so that N instances behind a load balancer allow what one would:
//! the script keeps the "theoretical arrival time" of the next allowed request and reads Redis's
//! own clock, so the instances' clocks never matter. When Redis does not answer in time, the
//! instance falls back to its own counters (fail open to the local limit, never to no limit):
//! a Redis outage must not lock every buyer out, nor leave the doors wide open.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use redis::aio::ConnectionManager;

use super::{ApiError, AppState, client::client_addr};
use crate::config::LimitSettings;
use boxoffice_domain::rate::RateQuota;

/// Past this, Redis is taken as down for this request and the local counter decides.
pub(super) const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// GCRA over one key: KEYS[1] holds the theoretical arrival time (ms) of the next request.
/// ARGV: the emission interval (ms) and the burst. Returns 0 when allowed, else the wait in ms.
const GCRA_SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_at = tat + interval - burst * interval
if now < allowed_at then return allowed_at - now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], next_tat, 'PX', math.max(1, next_tat - now))
return 0
";

/// One named limit: its quota, this instance's counters, and the shared ones when Redis is set.
pub(crate) struct Limiter {
    name: &'static str,
    quota: RateQuota,
    local: DefaultKeyedRateLimiter<String>,
    shared: Option<Shared>,
}

#[derive(Clone)]
pub(super) struct Shared {
    pub(super) connection: Arc<OnceLock<ConnectionManager>>,
    script: Arc<redis::Script>,
}

impl Limiter {
    fn new(name: &'static str, quota: RateQuota, shared: Option<Shared>) -> Self {
        let burst = NonZeroU32::new(quota.count).unwrap_or(NonZeroU32::MIN);
        let governor_quota = Quota::with_period(quota.interval().max(Duration::from_nanos(1)))
            .expect("a positive interval")
            .allow_burst(burst);
        Limiter {
            name,
            quota,
            local: RateLimiter::keyed(governor_quota),
            shared,
        }
    }

    /// Counts one request for `key`: `Err(wait)` when it is over the limit.
    pub(crate) async fn check(&self, key: &str) -> Result<(), Duration> {
        if let Some(shared) = &self.shared
            && let Some(connection) = shared.connection.get()
        {
            match self.check_shared(shared, connection.clone(), key).await {
                Ok(outcome) => return outcome,
                Err(e) => {
                    metrics::counter!("boxoffice_rate_limit_fallbacks_total").increment(1);
                    tracing::warn!(limit = self.name, error = %e, "Redis did not answer; the local limit decides");
                }
            }
        }
        self.local
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    async fn check_shared(
        &self,
        shared: &Shared,
        mut connection: ConnectionManager,
        key: &str,
    ) -> anyhow::Result<Result<(), Duration>> {
        let interval_ms = self.quota.interval().as_millis().max(1) as u64;
        // The quota is part of the key: instances configured alike share a counter, and a
        // deployment that changes a limit starts afresh instead of reading another rate's state.
        let mut invocation = shared.script.key(format!(
            "boxoffice:rate:{}:{}:{interval_ms}:{key}",
            self.name, self.quota.count
        ));
        invocation.arg(interval_ms).arg(self.quota.count);
        let wait_ms: u64 =
            tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| anyhow::anyhow!("timed out after {REDIS_TIMEOUT:?}"))??;
        Ok(match wait_ms {
            0 => Ok(()),
            ms => Err(Duration::from_millis(ms)),
        })
    }

    /// Forgets keys whose allowance is full again, so that a crowd of addresses does not stay in
    /// memory for good.
    pub(crate) fn forget_idle(&self) {
        self.local.retain_recent();
        self.local.shrink_to_fit();
    }
}

/// Every limit of the application; an unset (`off`) limit is `None`.
pub(crate) struct RateLimits {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub sign_in_per_address: Option<Limiter>,
    pub register_per_address: Option<Limiter>,
    pub holds_per_address: Option<Limiter>,
    pub checkout_per_address: Option<Limiter>,
    pub sign_in_per_account: Option<Limiter>,
    pub sign_in_per_account_any_address: Option<Limiter>,
    pub holds_per_account: Option<Limiter>,
    /// Seats held from one address within a hold's lifetime.
    pub seats_per_address: super::address_seats::AddressSeats,
}

impl RateLimits {
    /// The limits of `settings`; with a Redis URL, shared through Redis once it answers.
    pub(crate) fn new(
        settings: &LimitSettings,
        hold_ttl: Duration,
        redis_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let shared = match redis_url {
            Some(url) => Some(connect(url)?),
            None => None,
        };
        let limiter =
            |name, quota: Option<RateQuota>| quota.map(|q| Limiter::new(name, q, shared.clone()));
        Ok(RateLimits {
            trusted_proxies: settings.trusted_proxies.clone(),
            sign_in_per_address: limiter("sign_in_ip", settings.sign_in_per_address),
            register_per_address: limiter("register_ip", settings.register_per_address),
            holds_per_address: limiter("holds_ip", settings.holds_per_address),
            checkout_per_address: limiter("checkout_ip", settings.checkout_per_address),
            sign_in_per_account: limiter("sign_in_account", settings.sign_in_per_account),
            sign_in_per_account_any_address: limiter(
                "sign_in_account_any",
                settings.sign_in_per_account_any_address,
            ),
            holds_per_account: limiter("holds_account", settings.holds_per_account),
            seats_per_address: super::address_seats::AddressSeats::new(
                settings.max_seats_per_address,
                hold_ttl,
                shared.clone(),
            ),
        })
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Limiter> {
        [
            &self.sign_in_per_address,
            &self.register_per_address,
            &self.holds_per_address,
            &self.checkout_per_address,
            &self.sign_in_per_account,
            &self.sign_in_per_account_any_address,
            &self.holds_per_account,
        ]
        .into_iter()
        .flatten()
    }

    /// The per-address limit that guards this route, if any.
    fn for_route(&self, method: &Method, route: &str) -> Option<&Limiter> {
        if method != Method::POST {
            return None;
        }
        match route {
            "/api/v1/auth/login" => self.sign_in_per_address.as_ref(),
            "/api/v1/auth/register" => self.register_per_address.as_ref(),
            "/api/v1/events/{event_id}/holds" => self.holds_per_address.as_ref(),
            "/api/v1/holds/{hold_id}/checkout" => self.checkout_per_address.as_ref(),
            _ => None,
        }
    }
}

/// Starts connecting in the background: until Redis answers, the local counters decide.
pub(super) fn connect(url: &str) -> anyhow::Result<Shared> {
    let client = redis::Client::open(url)?;
    let connection = Arc::new(OnceLock::new());
    let cell = connection.clone();
    tokio::spawn(async move {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_max_delay(Duration::from_secs(1));
        loop {
            match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                Ok(manager) => {
                    let _ = cell.set(manager);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: Redis not reachable yet; local limits apply");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(Shared {
        connection,
        script: Arc::new(redis::Script::new(GCRA_SCRIPT)),
    })
}

/// The 429 for a request over `limit` that may come back after `wait`.
pub(crate) fn rate_limited(wait: Duration) -> ApiError {
    boxoffice_app::holds::rate_limited(wait).into()
}

/// Counts one request against `limiter` for `key`, as a 429 when over.
pub(crate) async fn check(limiter: Option<&Limiter>, key: &str) -> Result<(), ApiError> {
    match limiter {
        Some(limiter) => limiter.check(key).await.map_err(|wait| {
            metrics::counter!("boxoffice_rate_limited_total", "limit" => limiter.name).increment(1);
            rate_limited(wait)
        }),
        None => Ok(()),
    }
}

/// The client address of `request` as the limits see it.
pub(crate) fn client_of(request: &Request, limits: &RateLimits) -> Option<IpAddr> {
    client_addr(request, &limits.trusted_proxies)
}

/// One key per IPv4 address, and per /64 for IPv6: one subscriber usually has a whole /64 and
/// could otherwise take a fresh address for every request.
pub(super) fn address_key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The per-address limits, before any body is read: a refused request costs next to nothing.
pub(crate) async fn limit_by_address(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &state.limits;
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str());
    let limiter = route.and_then(|r| limits.for_route(request.method(), r));
    if let Some(limiter) = limiter
        && let Some(addr) = client_of(&request, limits)
        && let Err(e) = check(Some(limiter), &address_key(addr)).await
    {
        return e.into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_per_64_and_mapped_ipv4_as_ipv4() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            address_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1"
        );
    }

    #[tokio::test]
    async fn the_local_limiter_allows_the_burst_then_says_how_long_to_wait() {
        let limiter = Limiter::new("test", RateQuota::new(2, Duration::from_secs(60)), None);
        assert!(limiter.check("a").await.is_ok());
        assert!(limiter.check("a").await.is_ok());
        let wait = limiter.check("a").await.unwrap_err();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limiter.check("b").await.is_ok(), "keys are counted apart");
    }
}
