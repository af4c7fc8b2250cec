//! The waiting room's queue kept in Redis, so that every instance hands out numbers from one
//! line and sees one frontier. Each step is one Lua script: atomic, whatever the other instances
//! are doing. The scripts do what `domain::waiting_room::QueueBook` does in process.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};
use tokio::sync::OnceCell;

use super::Figures;

/// A Redis that does not answer within this is treated as down for the request at hand.
const TIMEOUT: Duration = Duration::from_millis(500);

/// Numbers the early arrivals in the order of their random keys (the shuffle at the opening).
/// Admissions are counted from the moment this runs: a room turned on long after the opening must
/// not owe the line every admission since then.
const OPEN: &str = r#"
local function open(early, num, meta, at, now)
  local members = redis.call('ZRANGE', early, 0, -1)
  for i, m in ipairs(members) do
    redis.call('HSET', num, m, i)
    redis.call('HSET', at, m, now)
  end
  redis.call('DEL', early)
  redis.call('HSET', meta, 'opened', 1, 'joined', #members, 'frontier', 0, 'carry', 0, 'last', now)
end
"#;

/// KEYS: early, num, meta, at. ARGV: user, now, opens, random key.
/// Returns {opened (0/1), number or early position}.
const JOIN: &str = r#"
local n = redis.call('HGET', KEYS[2], ARGV[1])
if n then return {1, tonumber(n)} end
local now = tonumber(ARGV[2])
if not redis.call('HGET', KEYS[3], 'opened') then
  if now < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], 'NX', ARGV[4], ARGV[1])
    return {0, redis.call('ZRANK', KEYS[1], ARGV[1]) + 1}
  end
  open(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2])
  n = redis.call('HGET', KEYS[2], ARGV[1])
  if n then return {1, tonumber(n)} end
end
local seq = redis.call('HINCRBY', KEYS[3], 'joined', 1)
redis.call('HSET', KEYS[2], ARGV[1], seq)
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
return {1, seq}
"#;

/// KEYS: early, num. ARGV: user. Returns {opened, number or early position} or {-1, 0}.
const STANDING: &str = r#"
local n = redis.call('HGET', KEYS[2], ARGV[1])
if n then return {1, tonumber(n)} end
local r = redis.call('ZRANK', KEYS[1], ARGV[1])
if r then return {0, r + 1} end
return {-1, 0}
"#;

/// KEYS: early, num, meta, act, lat, at. ARGV: now, opens, configured rate, cap (-1: none), instance,
/// this instance's hold p99 (-1: none), its sample count, settings revision, auto (0/1).
/// Returns {opened, joined, frontier, active, rate, worst fresh p99 (-1: none), last control}.
const STEP: &str = r#"
local now = tonumber(ARGV[1])
local meta = KEYS[3]
redis.call('HSET', KEYS[5], ARGV[5], ARGV[6] .. ':' .. ARGV[7] .. ':' .. ARGV[1])
local rate = tonumber(redis.call('HGET', meta, 'rate') or '0')
if ARGV[9] == '0' or redis.call('HGET', meta, 'rev') ~= ARGV[8] or rate == 0 then
  rate = tonumber(ARGV[3])
  redis.call('HSET', meta, 'rev', ARGV[8], 'rate', rate, 'control', 0)
end
local opened = redis.call('HGET', meta, 'opened')
if not opened and now >= tonumber(ARGV[2]) then
  open(KEYS[1], KEYS[2], meta, KEYS[6], ARGV[1])
  opened = '1'
end
local joined, frontier, active = redis.call('ZCARD', KEYS[1]), 0, 0
if opened then
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
  for _, u in ipairs(lapsed) do
    redis.call('HDEL', KEYS[2], u)
    redis.call('HDEL', KEYS[6], u)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  active = redis.call('ZCARD', KEYS[4])
  joined = tonumber(redis.call('HGET', meta, 'joined'))
  frontier = tonumber(redis.call('HGET', meta, 'frontier'))
  local last = tonumber(redis.call('HGET', meta, 'last'))
  local due = tonumber(redis.call('HGET', meta, 'carry')) + rate * math.max(0, now - last) / 60000
  local whole = math.floor(due)
  local limit = joined - frontier
  local cap = tonumber(ARGV[4])
  if cap >= 0 then limit = math.min(limit, math.max(0, cap - active)) end
  local carry = 0
  if whole >= limit then whole = limit else carry = due - whole end
  frontier = frontier + whole
  redis.call('HSET', meta, 'frontier', frontier, 'carry', tostring(carry), 'last', math.max(now, last))
  opened = 1
else
  opened = 0
end
local worst = -1
local reports = redis.call('HGETALL', KEYS[5])
for i = 1, #reports, 2 do
  local p99, count, at = string.match(reports[i + 1], '(-?%d+):(%d+):(%d+)')
  if now - tonumber(at) > 3000 then
    redis.call('HDEL', KEYS[5], reports[i])
  elseif tonumber(count) >= 5 and tonumber(p99) > worst then
    worst = tonumber(p99)
  end
end
return {opened, joined, frontier, active, rate, worst, tonumber(redis.call('HGET', meta, 'control') or '0')}
"#;

/// KEYS: meta. ARGV: the control time the caller saw, the new rate, now. Only the first instance
/// to act on a control period changes the rate.
const SET_RATE: &str = r#"
if tonumber(redis.call('HGET', KEYS[1], 'control') or '0') ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rate', ARGV[2], 'control', ARGV[3])
return 1
"#;

/// KEYS: num, meta, act, at. ARGV: user, now, ttl, cap (-1: none).
/// Returns {expiry or 0 (not yet) or -1 (not in line), waited since (ms)}.
const CLAIM: &str = r#"
local n = redis.call('HGET', KEYS[1], ARGV[1])
if not n then return {-1, 0} end
local frontier = tonumber(redis.call('HGET', KEYS[2], 'frontier') or '0')
if tonumber(n) > frontier then return {0, 0} end
local now = tonumber(ARGV[2])
local e = redis.call('ZSCORE', KEYS[3], ARGV[1])
if e then return {tonumber(e), 0} end
local cap = tonumber(ARGV[4])
if cap >= 0 and redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf') >= cap then return {0, 0} end
local expires = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[3], expires, ARGV[1])
return {expires, tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0')}
"#;

pub(super) struct SharedQueue {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    join: Script,
    standing: Script,
    step: Script,
    set_rate: Script,
    claim: Script,
}

/// Keys of one event's room; the braces keep them in one Redis Cluster slot.
struct Keys {
    early: String,
    num: String,
    meta: String,
    act: String,
    lat: String,
    at: String,
}

impl Keys {
    fn of(event_id: &str) -> Self {
        let k = |part: &str| format!("boxoffice:wr:{{{event_id}}}:{part}");
        Keys {
            early: k("early"),
            num: k("num"),
            meta: k("meta"),
            act: k("act"),
            lat: k("lat"),
            at: k("at"),
        }
    }
}

/// What the last step saw of the shared line.
pub(super) struct SharedStep {
    pub figures: Figures,
    pub rate: u32,
    pub worst_p99: Option<u32>,
    pub last_control: i64,
}

type RedisResult<T> = Result<T, redis::RedisError>;

impl SharedQueue {
    pub(super) fn new(url: &str) -> anyhow::Result<Self> {
        Ok(SharedQueue {
            client: redis::Client::open(url)?,
            connection: OnceCell::new(),
            join: Script::new(&format!("{OPEN}{JOIN}")),
            standing: Script::new(STANDING),
            step: Script::new(&format!("{OPEN}{STEP}")),
            set_rate: Script::new(SET_RATE),
            claim: Script::new(CLAIM),
        })
    }

    async fn connection(&self) -> RedisResult<ConnectionManager> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        self.connection
            .get_or_try_init(|| self.client.get_connection_manager_with_config(config))
            .await
            .cloned()
    }

    /// Puts the user in line; `(opened, number or early position)`.
    pub(super) async fn join(
        &self,
        event_id: &str,
        user: &str,
        now: i64,
        opens: i64,
        random_key: u64,
    ) -> RedisResult<(bool, u64)> {
        let k = Keys::of(event_id);
        let mut c = self.connection().await?;
        let (opened, n): (i64, u64) = self
            .join
            .key(&k.early)
            .key(&k.num)
            .key(&k.meta)
            .key(&k.at)
            .arg(user)
            .arg(now)
            .arg(opens)
            // Scores are doubles: 2^53 keeps every key exact.
            .arg(random_key >> 11)
            .invoke_async(&mut c)
            .await?;
        Ok((opened == 1, n))
    }

    /// `None` when the user is not in line.
    pub(super) async fn standing(
        &self,
        event_id: &str,
        user: &str,
    ) -> RedisResult<Option<(bool, u64)>> {
        let k = Keys::of(event_id);
        let mut c = self.connection().await?;
        let (opened, n): (i64, u64) = self
            .standing
            .key(&k.early)
            .key(&k.num)
            .arg(user)
            .invoke_async(&mut c)
            .await?;
        Ok((opened >= 0).then_some((opened == 1, n)))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn step(
        &self,
        event_id: &str,
        now: i64,
        opens: i64,
        configured_rate: u32,
        cap: Option<u32>,
        instance: &str,
        p99: Option<(u32, usize)>,
        revision: i64,
        auto: bool,
    ) -> RedisResult<SharedStep> {
        let k = Keys::of(event_id);
        let mut c = self.connection().await?;
        let (p99_ms, count) = p99.map_or((-1, 0), |(p, n)| (i64::from(p), n));
        let r: Vec<i64> = self
            .step
            .key(&k.early)
            .key(&k.num)
            .key(&k.meta)
            .key(&k.act)
            .key(&k.lat)
            .key(&k.at)
            .arg(now)
            .arg(opens)
            .arg(configured_rate)
            .arg(cap.map_or(-1, i64::from))
            .arg(instance)
            .arg(p99_ms)
            .arg(count)
            .arg(revision)
            .arg(if auto { 1 } else { 0 })
            .invoke_async(&mut c)
            .await?;
        let [opened, joined, frontier, active, rate, worst, control] = r[..] else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "the step script answered an unexpected shape",
            )));
        };
        let joined = joined.max(0) as u64;
        let frontier = frontier.max(0) as u64;
        Ok(SharedStep {
            figures: Figures {
                opened: opened == 1,
                joined,
                frontier,
                waiting: joined.saturating_sub(frontier),
                active: active.max(0) as u64,
            },
            rate: rate.clamp(1, i64::from(u32::MAX)) as u32,
            worst_p99: u32::try_from(worst).ok(),
            last_control: control,
        })
    }

    pub(super) async fn set_rate(
        &self,
        event_id: &str,
        seen_control: i64,
        rate: u32,
        now: i64,
    ) -> RedisResult<bool> {
        let k = Keys::of(event_id);
        let mut c = self.connection().await?;
        let changed: i64 = self
            .set_rate
            .key(&k.meta)
            .arg(seen_control)
            .arg(rate)
            .arg(now)
            .invoke_async(&mut c)
            .await?;
        Ok(changed == 1)
    }

    /// `Ok(Some((expiry, waited_since)))` once admitted; `Ok(None)` while still waiting or the cap
    /// is full; an error of kind `ClientError` when the user is not in line.
    pub(super) async fn claim(
        &self,
        event_id: &str,
        user: &str,
        now: i64,
        ttl_ms: i64,
        cap: Option<u32>,
    ) -> RedisResult<Claimed> {
        let k = Keys::of(event_id);
        let mut c = self.connection().await?;
        let (expires, since): (i64, i64) = self
            .claim
            .key(&k.num)
            .key(&k.meta)
            .key(&k.act)
            .key(&k.at)
            .arg(user)
            .arg(now)
            .arg(ttl_ms)
            .arg(cap.map_or(-1, i64::from))
            .invoke_async(&mut c)
            .await?;
        Ok(match expires {
            -1 => Claimed::NotInLine,
            0 => Claimed::NotYet,
            e => Claimed::Admitted {
                expires: e,
                waited_since: (since > 0).then_some(since),
            },
        })
    }

    pub(super) async fn finish(&self, event_id: &str, user: &str) -> RedisResult<()> {
        let k = Keys::of(event_id);
        let mut c = self.connection().await?;
        redis::cmd("ZREM")
            .arg(&k.act)
            .arg(user)
            .query_async::<()>(&mut c)
            .await
    }
}

pub(super) enum Claimed {
    NotInLine,
    NotYet,
    /// `waited_since` is given only to the first claim, so a wait is measured once.
    Admitted {
        expires: i64,
        waited_since: Option<i64>,
    },
}
