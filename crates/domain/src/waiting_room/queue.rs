//! One event's line kept in process: early arrivals numbered at the opening, the frontier moved
//! at the rate, admissions claimed and finished.

use std::collections::{BTreeSet, HashMap};

use super::{Standing, admissions_due, standing};

/// One event's queue, kept in process when there is no Redis. The Redis scripts in
/// `waiting_room::shared` do the same steps on the shared copy.
#[derive(Debug, Default)]
pub struct QueueBook {
    early: BTreeSet<(u64, String)>,
    early_key: HashMap<String, u64>,
    /// Set at the opening: how many had joined before it (they hold numbers `1..=opened_with`).
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
    /// When the admission runs out.
    pub expires_ms: i64,
    /// When the buyer joined the line, on the first claim only, so the wait is counted once.
    pub waited_since_ms: Option<i64>,
}

/// The counts an admin and `/metrics` see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueFigures {
    /// Everyone who has joined.
    pub joined: u64,
    /// Numbers up to this one have been let in.
    pub frontier: u64,
    /// Still in line.
    pub waiting: u64,
    /// Let in and shopping now.
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

    /// Where `user` stands, if they joined.
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

    /// The line's figures at `now_ms`.
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
#[cfg(test)]
mod tests {
    use super::*;

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
}
