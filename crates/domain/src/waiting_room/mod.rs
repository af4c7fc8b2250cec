//! The virtual waiting room's rules: its settings, the queue's order and admission pace, the
//! signed admission token, and the controller that paces admissions by the sale's hold latency.
//!
//! The queue is a line of sequence numbers. Buyers who join before the opening are given a random
//! key instead, and at the opening they are numbered in the order of their keys: arriving early
//! gives no advantage over arriving just before. Everyone after is numbered as they come. The
//! *frontier* is the highest number let in so far; it moves at the admission rate from the
//! opening, so every instance that knows the rate, the frontier and a buyer's number can say where
//! the buyer stands without asking anyone.

use std::collections::{BTreeSet, HashMap};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::InvalidInput;

/// The fastest admission rate an admin may set or the controller may reach.
pub const MAX_ADMIT_PER_MINUTE: u32 = 600_000;
/// The slowest the controller goes: a room never stops admitting altogether.
pub const MIN_AUTO_ADMIT_PER_MINUTE: u32 = 30;

/// How an admin configured one event's room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub enabled: bool,
    pub admit_per_minute: u32,
    pub max_active: Option<u32>,
    pub auto: Option<AutoPacing>,
    /// When these settings were saved (ms): a change restarts the automatic rate from
    /// `admit_per_minute`.
    #[serde(default)]
    pub revision: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoPacing {
    pub target_hold_p99_ms: u32,
}

impl RoomSettings {
    /// Checks an admin's request; `revision` is the time of saving.
    pub fn parse(
        enabled: bool,
        admit_per_minute: i64,
        max_active: Option<i64>,
        target_hold_p99_ms: Option<i64>,
        revision: i64,
    ) -> Result<Self, InvalidInput> {
        if !(1..=i64::from(MAX_ADMIT_PER_MINUTE)).contains(&admit_per_minute) {
            return Err(InvalidInput::new(
                "invalid_admission_rate",
                format!("admit_per_minute must be between 1 and {MAX_ADMIT_PER_MINUTE}."),
            ));
        }
        let max_active = match max_active {
            None => None,
            Some(n) if (1..=10_000_000).contains(&n) => Some(n as u32),
            Some(_) => {
                return Err(InvalidInput::new(
                    "invalid_max_active",
                    "max_active must be between 1 and 10,000,000, or left out.",
                ));
            }
        };
        let auto = match target_hold_p99_ms {
            None => None,
            Some(ms) if (10..=60_000).contains(&ms) => Some(AutoPacing {
                target_hold_p99_ms: ms as u32,
            }),
            Some(_) => {
                return Err(InvalidInput::new(
                    "invalid_latency_target",
                    "auto.target_hold_p99_ms must be between 10 and 60,000.",
                ));
            }
        };
        Ok(RoomSettings {
            enabled,
            admit_per_minute: admit_per_minute as u32,
            max_active,
            auto,
            revision,
        })
    }
}

/// Seconds until `ahead` more buyers have been let in at `admit_per_minute`.
pub fn eta_seconds(ahead: u64, admit_per_minute: u32) -> u64 {
    let rate = u64::from(admit_per_minute.max(1));
    (ahead * 60).div_ceil(rate)
}

/// Where one buyer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Joined before the opening: the order is drawn then. `position` is where the buyer's
    /// random key puts them among those already waiting, which is where they will be if nobody
    /// else arrives early.
    BeforeOpening { position: u64 },
    /// In line with number `seq`, behind `ahead` others still waiting.
    Waiting { seq: u64, ahead: u64 },
    /// Let in: may now hold seats and pay.
    Admitted { seq: u64 },
}

/// The standing of number `seq` against `frontier`.
pub fn standing(seq: u64, frontier: u64) -> Standing {
    if seq <= frontier {
        Standing::Admitted { seq }
    } else {
        Standing::Waiting {
            seq,
            ahead: seq - frontier - 1,
        }
    }
}

/// How many more numbers to let in after `elapsed_ms` at `admit_per_minute`, given the fraction
/// left over from the last step (`carry`), and how many are still waiting. Returns the whole
/// number to admit and the new carry. Capacity not used because nobody was waiting is not saved
/// up: a quiet minute must not let a later crowd in all at once.
pub fn admissions_due(
    elapsed_ms: i64,
    admit_per_minute: u32,
    carry: f64,
    waiting: u64,
    room_under_cap: Option<u64>,
) -> (u64, f64) {
    let due = carry + f64::from(admit_per_minute) * elapsed_ms.max(0) as f64 / 60_000.0;
    let whole = due.floor() as u64;
    let limit = room_under_cap.map_or(waiting, |room| room.min(waiting));
    if whole >= limit {
        (limit, 0.0)
    } else {
        (whole, due - whole as f64)
    }
}

/// The automatic rate's next value: down by a third when the hold p99 is over the target, up by
/// a tenth (at least 30/min) while it is comfortably under and buyers are waiting, else unchanged.
/// Cutting harder than raising keeps the p99 under the target rather than around it.
pub fn next_auto_rate(
    current: u32,
    hold_p99_ms: Option<u32>,
    target_ms: u32,
    waiting: bool,
) -> u32 {
    let next = match hold_p99_ms {
        Some(p99) if p99 > target_ms => u64::from(current) * 2 / 3,
        Some(p99) if waiting && u64::from(p99) * 10 < u64::from(target_ms) * 7 => {
            u64::from(current) + (u64::from(current) / 10).max(30)
        }
        // No holds measured: nobody admitted is buying yet, so there is nothing to protect.
        None if waiting => u64::from(current) + (u64::from(current) / 10).max(30),
        _ => u64::from(current),
    };
    next.clamp(
        u64::from(MIN_AUTO_ADMIT_PER_MINUTE),
        u64::from(MAX_ADMIT_PER_MINUTE),
    ) as u32
}

/// The 99th percentile of `samples` (ms), or `None` when there are too few to mean anything.
pub fn p99(samples: &mut [u32]) -> Option<u32> {
    if samples.len() < 5 {
        return None;
    }
    samples.sort_unstable();
    let rank = (samples.len() * 99).div_ceil(100).max(1) - 1;
    Some(samples[rank])
}

/// One event's queue, kept in process when there is no Redis. The Redis scripts in
/// `waiting_room::shared` do the same steps on the shared copy.
#[derive(Debug, Default)]
pub struct QueueBook {
    early: BTreeSet<(u64, String)>,
    early_key: HashMap<String, u64>,
    /// Set at the opening: how many had joined before it (they hold numbers 1..=opened_with).
    opened_with: Option<u64>,
    numbers: HashMap<String, u64>,
    /// When each numbered buyer started waiting (the opening, for early arrivals).
    waiting_since: HashMap<String, i64>,
    joined: u64,
    frontier: u64,
    carry: f64,
    last_step_ms: i64,
    /// Admitted buyers' admission expiry (ms).
    active: HashMap<String, i64>,
}

/// An admission: until when, and (on the first claim only, so a wait is counted once) since when
/// the buyer had waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub expires_ms: i64,
    pub waited_since_ms: Option<i64>,
}

/// The counts an admin and `/metrics` see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueFigures {
    pub joined: u64,
    pub frontier: u64,
    pub waiting: u64,
    pub active: u64,
}

impl QueueBook {
    /// Puts `user` in line (or leaves them where they are). `random_key` orders early arrivals.
    pub fn join(&mut self, user: &str, now_ms: i64, opens_ms: i64, random_key: u64) -> Standing {
        if let Some(s) = self.standing(user) {
            return s;
        }
        if self.opened_with.is_none() && now_ms < opens_ms {
            self.early.insert((random_key, user.to_owned()));
            self.early_key.insert(user.to_owned(), random_key);
        } else {
            self.open(now_ms);
            self.joined += 1;
            self.numbers.insert(user.to_owned(), self.joined);
            self.waiting_since.insert(user.to_owned(), now_ms);
        }
        self.standing(user).expect("just joined")
    }

    pub fn standing(&self, user: &str) -> Option<Standing> {
        if let Some(&seq) = self.numbers.get(user) {
            return Some(standing(seq, self.frontier));
        }
        let key = *self.early_key.get(user)?;
        let position = self.early.range(..(key, user.to_owned())).count() as u64 + 1;
        Some(Standing::BeforeOpening { position })
    }

    /// Numbers the early arrivals in the order of their random keys, once. Admissions are counted
    /// from now: a room turned on long after the opening must not owe the line every admission
    /// since then.
    fn open(&mut self, now_ms: i64) {
        if self.opened_with.is_some() {
            return;
        }
        for (i, (_, user)) in std::mem::take(&mut self.early).into_iter().enumerate() {
            self.waiting_since.insert(user.clone(), now_ms);
            self.numbers.insert(user, i as u64 + 1);
        }
        self.early_key.clear();
        self.joined = self.numbers.len() as u64;
        self.opened_with = Some(self.joined);
        self.last_step_ms = now_ms;
    }

    /// Moves the frontier for the time since the last step (from the opening on).
    pub fn step(
        &mut self,
        now_ms: i64,
        opens_ms: i64,
        admit_per_minute: u32,
        max_active: Option<u32>,
    ) {
        if now_ms < opens_ms && self.opened_with.is_none() {
            return;
        }
        self.open(now_ms);
        // A lapsed admission is spent: that buyer joins again at the back.
        let lapsed: Vec<String> = self
            .active
            .iter()
            .filter(|&(_, &expires)| expires <= now_ms)
            .map(|(user, _)| user.clone())
            .collect();
        for user in lapsed {
            self.active.remove(&user);
            self.numbers.remove(&user);
            self.waiting_since.remove(&user);
        }
        let room = max_active.map(|cap| u64::from(cap).saturating_sub(self.active.len() as u64));
        let waiting = self.joined - self.frontier;
        let elapsed = now_ms - self.last_step_ms;
        let (admit, carry) = admissions_due(elapsed, admit_per_minute, self.carry, waiting, room);
        self.frontier += admit;
        self.carry = carry;
        self.last_step_ms = now_ms.max(self.last_step_ms);
    }

    /// Records an admitted buyer's admission (first claim wins) and returns its expiry; `None`
    /// when the buyer is not admitted, or the cap on active buyers is full.
    pub fn claim(
        &mut self,
        user: &str,
        now_ms: i64,
        ttl_ms: i64,
        max_active: Option<u32>,
    ) -> Option<Claim> {
        let Some(Standing::Admitted { .. }) = self.standing(user) else {
            return None;
        };
        if let Some(&expires) = self.active.get(user) {
            return (expires > now_ms).then_some(Claim {
                expires_ms: expires,
                waited_since_ms: None,
            });
        }
        let live = self.active.values().filter(|&&e| e > now_ms).count() as u64;
        if max_active.is_some_and(|cap| live >= u64::from(cap)) {
            return None;
        }
        let expires = now_ms + ttl_ms;
        self.active.insert(user.to_owned(), expires);
        Some(Claim {
            expires_ms: expires,
            waited_since_ms: self.waiting_since.get(user).copied(),
        })
    }

    /// The buyer has bought: their place under the cap goes to the next in line.
    pub fn finish(&mut self, user: &str) {
        self.active.remove(user);
    }

    pub fn figures(&self, now_ms: i64) -> QueueFigures {
        let early = self.early.len() as u64;
        QueueFigures {
            joined: self.joined + early,
            frontier: self.frontier,
            waiting: self.joined - self.frontier + early,
            active: self.active.values().filter(|&&e| e > now_ms).count() as u64,
        }
    }
}

/// Why an admission token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionRefused {
    #[error("the admission token is not one this box office signed")]
    Forged,
    #[error("the admission token has expired")]
    Expired,
    #[error("the admission token is for another event")]
    OtherEvent,
    #[error("the admission token is for another buyer")]
    OtherUser,
}

/// Proof that a buyer was let in: any instance checks it with the shared key, no database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionToken {
    pub event_id: String,
    pub user_id: String,
    pub expires_ms: i64,
    pub id: String,
}

type HmacSha256 = Hmac<Sha256>;

impl AdmissionToken {
    /// The token for this admission. Its id is derived from the rest, so asking again gives the
    /// same token.
    pub fn new(event_id: &str, user_id: &str, expires_ms: i64, key: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(format!("id|{event_id}|{user_id}|{expires_ms}").as_bytes());
        let id = hex(&mac.finalize().into_bytes()[..8]);
        AdmissionToken {
            event_id: event_id.to_owned(),
            user_id: user_id.to_owned(),
            expires_ms,
            id,
        }
    }

    fn payload(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.event_id, self.user_id, self.expires_ms, self.id
        )
    }

    pub fn sign(&self, key: &[u8]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = self.payload();
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(payload.as_bytes());
        format!(
            "{}.{}",
            b64.encode(payload.as_bytes()),
            b64.encode(mac.finalize().into_bytes())
        )
    }

    /// Checks `token` for `event_id` and `user_id` at `now_ms`.
    pub fn verify(
        token: &str,
        key: &[u8],
        event_id: &str,
        user_id: &str,
        now_ms: i64,
    ) -> Result<AdmissionToken, AdmissionRefused> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (payload, signature) = token.split_once('.').ok_or(AdmissionRefused::Forged)?;
        let payload = b64.decode(payload).map_err(|_| AdmissionRefused::Forged)?;
        let signature = b64
            .decode(signature)
            .map_err(|_| AdmissionRefused::Forged)?;
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(&payload);
        mac.verify_slice(&signature)
            .map_err(|_| AdmissionRefused::Forged)?;
        let payload = String::from_utf8(payload).map_err(|_| AdmissionRefused::Forged)?;
        let mut parts = payload.split('|');
        let (Some(event), Some(user), Some(expires), Some(id), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AdmissionRefused::Forged);
        };
        let expires_ms: i64 = expires.parse().map_err(|_| AdmissionRefused::Forged)?;
        if event != event_id {
            return Err(AdmissionRefused::OtherEvent);
        }
        if user != user_id {
            return Err(AdmissionRefused::OtherUser);
        }
        if expires_ms <= now_ms {
            return Err(AdmissionRefused::Expired);
        }
        Ok(AdmissionToken {
            event_id: event.to_owned(),
            user_id: user.to_owned(),
            expires_ms,
            id: id.to_owned(),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test key";

    #[test]
    fn a_token_verifies_for_its_event_and_buyer_until_it_expires() {
        let t = AdmissionToken::new("ev", "u1", 10_000, KEY).sign(KEY);
        assert!(AdmissionToken::verify(&t, KEY, "ev", "u1", 9_999).is_ok());
        assert_eq!(
            AdmissionToken::verify(&t, KEY, "ev", "u1", 10_000),
            Err(AdmissionRefused::Expired)
        );
        assert_eq!(
            AdmissionToken::verify(&t, KEY, "other", "u1", 0),
            Err(AdmissionRefused::OtherEvent)
        );
        assert_eq!(
            AdmissionToken::verify(&t, KEY, "ev", "u2", 0),
            Err(AdmissionRefused::OtherUser)
        );
    }

    #[test]
    fn a_token_signed_with_another_key_or_altered_is_forged() {
        let t = AdmissionToken::new("ev", "u1", 10_000, b"other").sign(b"other");
        assert_eq!(
            AdmissionToken::verify(&t, KEY, "ev", "u1", 0),
            Err(AdmissionRefused::Forged)
        );
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let good = AdmissionToken::new("ev", "u1", 10_000, KEY).sign(KEY);
        let (_, sig) = good.split_once('.').unwrap();
        let longer = format!("{}.{sig}", b64.encode("ev|u1|99999999|x"));
        assert_eq!(
            AdmissionToken::verify(&longer, KEY, "ev", "u1", 0),
            Err(AdmissionRefused::Forged)
        );
        assert_eq!(
            AdmissionToken::verify("garbage", KEY, "ev", "u1", 0),
            Err(AdmissionRefused::Forged)
        );
    }

    #[test]
    fn asking_again_gives_the_same_token() {
        let a = AdmissionToken::new("ev", "u1", 5, KEY).sign(KEY);
        let b = AdmissionToken::new("ev", "u1", 5, KEY).sign(KEY);
        assert_eq!(a, b);
    }

    #[test]
    fn early_arrivals_are_numbered_in_random_order_at_the_opening() {
        let mut q = QueueBook::default();
        // Keys in reverse of arrival: the last to arrive gets number 1.
        for i in 0..10u64 {
            let s = q.join(&format!("u{i}"), 0, 1_000, 100 - i);
            assert!(matches!(s, Standing::BeforeOpening { .. }));
        }
        assert_eq!(
            q.standing("u9"),
            Some(Standing::BeforeOpening { position: 1 })
        );
        q.step(1_000, 1_000, 60, None);
        assert_eq!(
            q.standing("u9"),
            Some(Standing::Waiting { seq: 1, ahead: 0 })
        );
        assert_eq!(
            q.standing("u0"),
            Some(Standing::Waiting { seq: 10, ahead: 9 })
        );
        // After the opening it is first come, first served, behind the early ones.
        assert_eq!(
            q.join("late", 1_001, 1_000, 0),
            Standing::Waiting { seq: 11, ahead: 10 }
        );
    }

    #[test]
    fn joining_again_keeps_the_place() {
        let mut q = QueueBook::default();
        q.join("a", 5, 0, 1);
        q.join("b", 6, 0, 2);
        assert_eq!(
            q.join("a", 7, 0, 99),
            Standing::Waiting { seq: 1, ahead: 0 }
        );
    }

    #[test]
    fn the_frontier_moves_at_the_rate_and_does_not_bank_idle_capacity() {
        let mut q = QueueBook::default();
        q.step(0, 0, 60, None);
        // A quiet minute: nobody waiting, nothing banked.
        q.step(60_000, 0, 60, None);
        for i in 0..100 {
            q.join(&format!("u{i}"), 60_000, 0, 0);
        }
        q.step(60_500, 0, 60, None);
        assert_eq!(q.figures(60_500).frontier, 0);
        q.step(70_000, 0, 60, None);
        assert_eq!(q.figures(70_000).frontier, 10);
        assert_eq!(q.standing("u9"), Some(Standing::Admitted { seq: 10 }));
        assert_eq!(
            q.standing("u10"),
            Some(Standing::Waiting { seq: 11, ahead: 0 })
        );
    }

    #[test]
    fn the_cap_on_active_buyers_holds_the_frontier_until_someone_finishes_or_expires() {
        let mut q = QueueBook::default();
        for i in 0..5 {
            q.join(&format!("u{i}"), 0, 0, 0);
        }
        q.step(60_000, 0, 600, Some(2));
        assert_eq!(q.figures(60_000).frontier, 2);
        assert_eq!(
            q.claim("u0", 60_000, 10_000, Some(2)).map(|c| c.expires_ms),
            Some(70_000)
        );
        assert_eq!(
            q.claim("u1", 60_000, 10_000, Some(2)).map(|c| c.expires_ms),
            Some(70_000)
        );
        q.step(61_000, 0, 600, Some(2));
        assert_eq!(q.figures(61_000).frontier, 2, "full: nobody more let in");
        q.finish("u0");
        q.step(61_100, 0, 600, Some(2));
        assert_eq!(q.figures(61_100).frontier, 3);
        assert!(q.claim("u2", 61_100, 10_000, Some(2)).is_some());
        q.step(62_000, 0, 600, Some(2));
        assert_eq!(q.figures(62_000).frontier, 3);
        // u1's admission lapses unused: its place goes to the next in line.
        q.step(70_001, 0, 600, Some(2));
        assert_eq!(q.figures(70_001).frontier, 4);
        assert_eq!(q.figures(70_001).active, 1);
        assert_eq!(q.standing("u1"), None, "a lapsed admission is spent");
    }

    #[test]
    fn a_claim_is_refused_to_a_buyer_still_waiting() {
        let mut q = QueueBook::default();
        q.join("a", 0, 0, 0);
        assert_eq!(q.claim("a", 0, 1_000, None), None);
        q.step(1_000, 0, 60, None);
        assert_eq!(
            q.claim("a", 1_000, 1_000, None),
            Some(Claim {
                expires_ms: 2_000,
                waited_since_ms: Some(0)
            })
        );
        assert_eq!(
            q.claim("a", 1_500, 1_000, None),
            Some(Claim {
                expires_ms: 2_000,
                waited_since_ms: None
            })
        );
    }

    #[test]
    fn the_eta_is_the_people_ahead_at_the_rate() {
        assert_eq!(eta_seconds(0, 60), 0);
        assert_eq!(eta_seconds(10, 60), 10);
        assert_eq!(eta_seconds(1, 120), 1);
        assert_eq!(eta_seconds(100, 6_000), 1);
    }

    #[test]
    fn the_auto_rate_falls_fast_over_the_target_and_rises_slowly_under_it() {
        assert_eq!(next_auto_rate(600, Some(400), 250, true), 400);
        assert_eq!(next_auto_rate(600, Some(100), 250, true), 660);
        assert_eq!(
            next_auto_rate(600, Some(200), 250, true),
            600,
            "near the target: hold"
        );
        assert_eq!(
            next_auto_rate(600, Some(100), 250, false),
            600,
            "nobody waiting"
        );
        assert_eq!(
            next_auto_rate(40, Some(900), 250, true),
            MIN_AUTO_ADMIT_PER_MINUTE
        );
        assert_eq!(next_auto_rate(600, None, 250, true), 660);
    }

    #[test]
    fn p99_needs_a_few_samples_and_takes_the_high_tail() {
        assert_eq!(p99(&mut [1, 2, 3]), None);
        let mut v: Vec<u32> = (1..=100).collect();
        assert_eq!(p99(&mut v), Some(99));
        let mut v: Vec<u32> = (1..=1000).collect();
        assert_eq!(p99(&mut v), Some(990));
    }

    #[test]
    fn settings_out_of_bounds_are_refused() {
        assert!(RoomSettings::parse(true, 0, None, None, 0).is_err());
        assert!(RoomSettings::parse(true, 60, Some(0), None, 0).is_err());
        assert!(RoomSettings::parse(true, 60, None, Some(5), 0).is_err());
        let s = RoomSettings::parse(true, 60, Some(10), Some(250), 7).unwrap();
        assert_eq!(
            s.auto,
            Some(AutoPacing {
                target_hold_p99_ms: 250
            })
        );
    }
}
