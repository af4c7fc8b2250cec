//! The cap on seats held from one client address, whatever the accounts: what stops an account
//! farm, which gets round every per-account cap by registering more accounts. Each granted seat
//! counts for one hold's lifetime ([`SeatWindow`]); with Redis the window is shared by every
//! instance, and when Redis does not answer in time this instance's own window decides (as the
//! rate limits do).

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    AppState,
    extract::ClientAddress,
    limits::{self, REDIS_TIMEOUT, Shared},
};
use boxoffice_app::{AppResult, holds::SeatAllowance};
use boxoffice_domain::hoarding::SeatWindow;

/// One sorted set per address: members `ticket:seats`, scored by when they stop counting.
/// ARGV: window ms, cap, seats, ticket. Returns 0 when counted, else the wait in ms.
const RESERVE_SCRIPT: &str = r"
local window = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local seats = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local counted = 0
for i = 1, #entries, 2 do
  counted = counted + tonumber(string.match(entries[i], ':(%d+)$'))
end
if counted + seats <= cap then
  redis.call('ZADD', KEYS[1], now + window, ARGV[4] .. ':' .. seats)
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local over = counted + seats - cap
for i = 1, #entries, 2 do
  over = over - tonumber(string.match(entries[i], ':(%d+)$'))
  if over <= 0 then return math.max(1, tonumber(entries[i + 1]) - now) end
end
return window
";

pub(crate) struct AddressSeats {
    cap: u32,
    window: Duration,
    local: Mutex<HashMap<String, SeatWindow>>,
    /// The local windows' clock.
    epoch: Instant,
    next_ticket: AtomicU64,
    instance: u64,
    shared: Option<(Shared, redis::Script)>,
}

/// Seats counted for a hold not yet granted: give it back with [`AddressSeats::cancel`] if the
/// hold fails.
pub(crate) struct Reservation {
    key: String,
    ticket: u64,
    seats: u32,
    in_redis: bool,
}

impl AddressSeats {
    /// A cap of 0 counts nothing.
    pub(super) fn new(cap: u32, window: Duration, shared: Option<Shared>) -> Self {
        AddressSeats {
            cap,
            window,
            local: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            next_ticket: AtomicU64::new(1),
            instance: rand::random(),
            shared: shared.map(|s| (s, redis::Script::new(RESERVE_SCRIPT))),
        }
    }

    /// Counts `seats` for the address `key`; `Err(wait)` when they would take it past the cap.
    pub(crate) async fn reserve(
        &self,
        key: &str,
        seats: u32,
    ) -> Result<Option<Reservation>, Duration> {
        if self.cap == 0 {
            return Ok(None);
        }
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let mut reservation = Reservation {
            key: key.to_owned(),
            ticket,
            seats,
            in_redis: false,
        };
        if let Some((shared, script)) = &self.shared
            && let Some(connection) = shared.connection.get()
        {
            let mut invocation = script.key(self.redis_key(key));
            invocation
                .arg(self.window.as_millis() as u64)
                .arg(self.cap)
                .arg(seats)
                .arg(self.ticket_id(ticket));
            let mut connection = connection.clone();
            match tokio::time::timeout(
                REDIS_TIMEOUT,
                invocation.invoke_async::<u64>(&mut connection),
            )
            .await
            {
                Ok(Ok(0)) => {
                    reservation.in_redis = true;
                    return Ok(Some(reservation));
                }
                Ok(Ok(wait_ms)) => return Err(Duration::from_millis(wait_ms)),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "seats per address: Redis failed; this instance's count decides");
                }
                Err(_) => {
                    tracing::warn!(
                        "seats per address: Redis timed out; this instance's count decides"
                    );
                }
            }
            metrics::counter!("boxoffice_rate_limit_fallbacks_total").increment(1);
        }
        let now = self.now_ms();
        let window = self.window.as_millis() as u64;
        lock(&self.local)
            .entry(key.to_owned())
            .or_default()
            .reserve(ticket, seats, self.cap, now, window)
            .map(|()| Some(reservation))
            .map_err(Duration::from_millis)
    }

    /// Takes back the seats of a hold that was not granted.
    pub(crate) async fn cancel(&self, reservation: Reservation) {
        if reservation.in_redis {
            if let Some((shared, _)) = &self.shared
                && let Some(connection) = shared.connection.get()
            {
                let member = format!(
                    "{}:{}",
                    self.ticket_id(reservation.ticket),
                    reservation.seats
                );
                let mut connection = connection.clone();
                let removed = tokio::time::timeout(
                    REDIS_TIMEOUT,
                    redis::cmd("ZREM")
                        .arg(self.redis_key(&reservation.key))
                        .arg(member)
                        .query_async::<i64>(&mut connection),
                )
                .await;
                if !matches!(removed, Ok(Ok(_))) {
                    tracing::warn!(
                        "seats per address: could not take back a reservation; it lapses with the window"
                    );
                }
            }
            return;
        }
        if let Some(window) = lock(&self.local).get_mut(&reservation.key) {
            window.cancel(reservation.ticket);
        }
    }

    /// Forgets addresses with nothing left in their window.
    pub(crate) fn forget_idle(&self) {
        let now = self.now_ms();
        lock(&self.local).retain(|_, w| !w.forget_before(now));
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The cap and window are part of the key, as for the rate limits: a changed setting starts
    /// afresh instead of reading another setting's counts.
    fn redis_key(&self, key: &str) -> String {
        format!(
            "boxoffice:seats_ip:{}:{}:{key}",
            self.cap,
            self.window.as_millis()
        )
    }

    /// Tickets are unique per instance only, so the member carries this instance's own tag.
    fn ticket_id(&self, ticket: u64) -> String {
        format!("{:x}-{ticket}", self.instance)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A hold's seats counted against its client address's cap: the use case reserves before it
/// writes the hold and gives back when the hold is refused.
pub(crate) struct AddressAllowance<'a> {
    state: &'a AppState,
    client: ClientAddress,
    reservation: Option<Reservation>,
}

impl<'a> AddressAllowance<'a> {
    pub(crate) fn new(state: &'a AppState, client: ClientAddress) -> Self {
        AddressAllowance {
            state,
            client,
            reservation: None,
        }
    }
}

impl SeatAllowance for AddressAllowance<'_> {
    async fn reserve(&mut self, seats: usize) -> AppResult<()> {
        // Without a known address (a direct connection from a trusted proxy's own host) there
        // is nothing to count against.
        let Some(addr) = self.client.0 else {
            return Ok(());
        };
        let seats = u32::try_from(seats).unwrap_or(u32::MAX);
        let key = limits::address_key(addr);
        self.reservation = self
            .state
            .limits
            .seats_per_address
            .reserve(&key, seats)
            .await
            .map_err(|wait| {
                metrics::counter!("boxoffice_rate_limited_total", "limit" => "seats_per_address")
                    .increment(1);
                boxoffice_app::holds::rate_limited(wait)
            })?;
        Ok(())
    }

    async fn give_back(&mut self) {
        if let Some(r) = self.reservation.take() {
            self.state.limits.seats_per_address.cancel(r).await;
        }
    }
}
