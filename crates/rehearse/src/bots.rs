//! Hostile clients in a rehearsal (`--scenario bots`, or `--guessers`, `--farms`, `--hoarders`):
//! password guessers, account farms and hoarders, each from addresses of its own, driven like
//! scripts (no retries, no human pauses) through the same public API as the crowd. Their answers
//! go to a recorder of their own, so the honest buyers' figures stay the honest buyers', and what
//! they got is kept in a ledger: every seat they held, from when until when.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::{sync::watch, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::{
    api::{Api, Reply, buyer_address},
    buyer::{PASSWORD, seat_ids_of},
    driver::fresh_map,
    record::{Recorder, Step},
    scenario::{Bots, MAX_SEATS_PER_BUYER, Taste},
    seats::Chart,
};
use boxoffice_domain::time::Timestamp;

/// Each farm gives up registering after this many tries.
const FARM_REGISTRATIONS: usize = 200;
/// How many buyers' accounts each guesser goes after.
const VICTIMS_PER_GUESSER: usize = 3;
/// Guesses each guesser keeps in flight: a script does not wait for one answer to send the next.
const GUESSES_IN_FLIGHT: usize = 4;
/// A script is not bound by a human's pace, but by its own round trips; this keeps a few bots
/// from turning a small shared machine's CPU into the thing measured.
const SCRIPT_PAUSE: Duration = Duration::from_millis(20);
/// Bots share of the hall at its fullest, the target the report is judged by.
pub(crate) const TARGET_SHARE: f64 = 0.05;

/// One hold a bot got: how many seats, from when until when (since the rehearsal started).
#[derive(Debug, Clone, Copy)]
struct BotHold {
    seats: u64,
    from: Duration,
    until: Duration,
}

#[derive(Default)]
struct Ledger {
    holds: Vec<BotHold>,
    /// Every answer to a bot's hold, as "status code".
    hold_answers: BTreeMap<String, u64>,
    guesses: u64,
    guesses_wrong: u64,
    guesses_limited: u64,
    guesses_right: u64,
    registrations: u64,
    accounts: u64,
    registrations_limited: u64,
}

/// What every bot shares.
struct Base {
    api: Api,
    chart: Arc<Chart>,
    event_id: String,
    run_id: String,
    recorder: Arc<Recorder>,
    ledger: Mutex<Ledger>,
    opened: watch::Receiver<bool>,
    stop: CancellationToken,
}

/// The bots of one rehearsal, running.
pub(crate) struct Army {
    base: Arc<Base>,
    bots: Bots,
    tasks: JoinSet<()>,
    open: watch::Sender<bool>,
    victims: Vec<(usize, String)>,
}

/// What the bots got, and what it cost the honest buyers.
#[derive(Debug, Clone, Serialize)]
pub struct BotFigures {
    pub bots: Bots,
    /// Distinct addresses the bots came from.
    pub addresses: usize,
    pub(crate) guesses: u64,
    pub(crate) guesses_wrong: u64,
    pub guesses_rate_limited: u64,
    pub guesses_right: u64,
    /// Buyers whose accounts were guessed at, and how many of them signed in with their own
    /// password at the end, from their own address.
    pub victims: usize,
    pub victims_signed_in_after: usize,
    pub(crate) farm_registrations: u64,
    pub farm_accounts: u64,
    pub(crate) farm_registrations_rate_limited: u64,
    pub(crate) holds_granted: u64,
    /// Every answer to a bot's hold, as "status code".
    pub(crate) hold_answers: BTreeMap<String, u64>,
    pub seats_total: usize,
    /// The most seats bots held at one moment of the sale, and that as a share of the hall.
    pub seats_held_peak: u64,
    pub seats_held_peak_share: f64,
    /// Seats held by bots, averaged over the sale.
    pub(crate) seats_held_mean: f64,
    pub(crate) longest_hold_secs: f64,
    /// The honest crowd's answers that a limit refused (429), to be weighed against the above.
    pub honest_rate_limited: u64,
    /// Under [`TARGET_SHARE`] of the hall at every moment.
    pub within_target: bool,
}

impl Army {
    /// Starts the bots: guessers and farms at once (a farm registers before the sale, as real
    /// ones do), holding only once [`Army::open`] says the sale is open. `victims` are the
    /// honest buyers' numbers and e-mail addresses the guessers go after.
    pub(crate) fn start(
        api: &Api,
        chart: Arc<Chart>,
        event_id: &str,
        run_id: &str,
        bots: Bots,
        victims: Vec<(usize, String)>,
        seed: u64,
    ) -> Army {
        let recorder = Arc::new(Recorder::new());
        let (open, opened) = watch::channel(false);
        let base = Arc::new(Base {
            api: api.scripted(recorder.clone()),
            chart,
            event_id: event_id.to_owned(),
            run_id: run_id.to_owned(),
            recorder,
            ledger: Mutex::new(Ledger::default()),
            opened,
            stop: CancellationToken::new(),
        });
        let mut tasks = JoinSet::new();
        let mut rng = StdRng::seed_from_u64(seed ^ 0xb075);
        for g in 0..bots.guessers {
            let mine: Vec<String> = victims
                .iter()
                .skip(g)
                .step_by(bots.guessers.max(1))
                .take(VICTIMS_PER_GUESSER)
                .map(|(_, e)| e.clone())
                .collect();
            let api = base.api.at_address(&format!("198.18.1.{}", g + 1));
            for k in 0..GUESSES_IN_FLIGHT {
                let mut order = mine.clone();
                order.rotate_left(k % mine.len().max(1));
                tasks.spawn(guess(base.clone(), api.clone(), order, rng.random()));
            }
        }
        for f in 0..bots.farms {
            let api = base.api.at_address(&format!("198.18.2.{}", f + 1));
            tasks.spawn(farm(base.clone(), api, f, rng.random()));
        }
        for h in 0..bots.hoarders {
            let api = base.api.at_address(&format!("198.18.3.{}", h + 1));
            tasks.spawn(hoard(base.clone(), api, h, rng.random()));
        }
        Army {
            base,
            bots,
            tasks,
            open,
            victims,
        }
    }

    /// The sale is open: the bots start holding.
    pub(crate) fn open(&self) {
        let _ = self.open.send(true);
    }

    /// Stops the bots and adds up what they got between `opened` and `closed`.
    pub(crate) async fn finish(
        mut self,
        opened: Duration,
        closed: Duration,
        honest_rate_limited: u64,
    ) -> BotFigures {
        self.base.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        let victims_signed_in_after = self.victims_sign_in().await;
        let l = lock(&self.base.ledger);
        let seats_total = self.base.chart.len();
        let (peak, mean) = occupancy(&l.holds, opened, closed.max(opened));
        let share = if seats_total == 0 {
            0.0
        } else {
            peak as f64 / seats_total as f64
        };
        let b = self.bots;
        BotFigures {
            bots: b,
            addresses: b.guessers + b.farms + b.hoarders,
            guesses: l.guesses,
            guesses_wrong: l.guesses_wrong,
            guesses_rate_limited: l.guesses_limited,
            guesses_right: l.guesses_right,
            victims: self.victims.len().min(b.guessers * VICTIMS_PER_GUESSER),
            victims_signed_in_after,
            farm_registrations: l.registrations,
            farm_accounts: l.accounts,
            farm_registrations_rate_limited: l.registrations_limited,
            holds_granted: l.holds.len() as u64,
            hold_answers: l.hold_answers.clone(),
            seats_total,
            seats_held_peak: peak,
            seats_held_peak_share: share,
            seats_held_mean: mean,
            longest_hold_secs: l
                .holds
                .iter()
                .map(|h| h.until.min(closed).saturating_sub(h.from).as_secs_f64())
                .fold(0.0, f64::max),
            honest_rate_limited,
            within_target: share < TARGET_SHARE,
        }
    }

    /// The guessers' victims sign in with their own password from their own address: the
    /// rightful owner must still get in.
    async fn victims_sign_in(&self) -> usize {
        let guessed = self
            .victims
            .len()
            .min(self.bots.guessers * VICTIMS_PER_GUESSER);
        let mut signed_in = 0;
        for (n, email) in self.victims.iter().take(guessed) {
            let api = self.base.api.at_address(&buyer_address(*n));
            let reply = sign_in(&api, email, PASSWORD).await;
            if reply.is_some_and(|r| r.is(200)) {
                signed_in += 1;
            }
        }
        signed_in
    }
}

/// The most seats held at once within [opened, closed], and the mean over that time.
fn occupancy(holds: &[BotHold], opened: Duration, closed: Duration) -> (u64, f64) {
    let mut edges: Vec<(Duration, i64)> = Vec::new();
    for h in holds {
        let (from, until) = (h.from.max(opened), h.until.min(closed));
        if from < until {
            edges.push((from, h.seats as i64));
            edges.push((until, -(h.seats as i64)));
        }
    }
    // Ends before starts at the same instant: a seat let go and taken again is not two.
    edges.sort_by_key(|(at, delta)| (*at, *delta));
    let (mut now, mut peak, mut area, mut last) = (0i64, 0i64, 0.0, opened);
    for (at, delta) in edges {
        area += now as f64 * (at - last).as_secs_f64();
        last = at;
        now += delta;
        peak = peak.max(now);
    }
    let span = (closed - opened).as_secs_f64();
    let mean = if span > 0.0 { area / span } else { 0.0 };
    (peak.max(0) as u64, mean)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Base {
    async fn wait_for_opening(&self) -> bool {
        let mut opened = self.opened.clone();
        tokio::select! {
            r = opened.wait_for(|open| *open) => r.is_ok(),
            () = self.stop.cancelled() => false,
        }
    }

    /// Sleeps, or returns false when the bots are stopped first.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.stop.cancelled() => false,
        }
    }

    /// Registers `email` and signs it in; the token, or the answer that refused it.
    async fn account(&self, api: &Api, email: &str) -> Result<String, Option<Reply>> {
        let body = json!({ "email": email, "password": PASSWORD, "name": "Bot" });
        let registered = api
            .call(
                Step::Register,
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(&body),
                None,
            )
            .await;
        match &registered {
            Some(r) if r.is(201) => {}
            _ => return Err(registered),
        }
        let login = sign_in(api, email, PASSWORD).await;
        match login {
            Some(r) if r.is(200) => r.body["token"].as_str().map(str::to_owned).ok_or(Some(r)),
            other => Err(other),
        }
    }

    /// Holds as many of the best free seats as one account may (`avoid` first excluded);
    /// the hold's id and seats, or how long to wait before trying again.
    async fn grab(
        &self,
        api: &Api,
        token: &str,
        avoid: &[String],
        rng: &mut StdRng,
    ) -> Result<(String, Vec<String>), Duration> {
        let Some((map, _)) = fresh_map(api, &self.chart, &self.event_id).await else {
            return Err(Duration::from_millis(500));
        };
        let picked = self.chart.choose(
            MAX_SEATS_PER_BUYER,
            Taste::BestFirst,
            false,
            |i| map.is_free(i) && !avoid.iter().any(|a| a == self.chart.id(i)),
            rng,
        );
        if picked.is_empty() {
            return Err(Duration::from_secs(1));
        }
        let seat_ids: Vec<&str> = picked.iter().map(|i| self.chart.id(*i)).collect();
        let path = format!("/api/v1/events/{}/holds", self.event_id);
        let body = json!({ "seat_ids": seat_ids });
        let Some(reply) = api
            .call(
                Step::Hold,
                Method::POST,
                &path,
                Some(token),
                Some(&body),
                None,
            )
            .await
        else {
            return Err(Duration::from_millis(500));
        };
        let answer = format!("{} {}", reply.status, reply.code())
            .trim()
            .to_owned();
        *lock(&self.ledger).hold_answers.entry(answer).or_default() += 1;
        if !reply.is(201) {
            let wait = reply.body["error"]["details"]["retry_after_seconds"]
                .as_u64()
                .map_or(Duration::from_millis(250), Duration::from_secs);
            return Err(wait.min(Duration::from_secs(5)));
        }
        let hold = &reply.body["hold"];
        let lifetime = lifetime(hold).unwrap_or(Duration::from_secs(600));
        let seats = seat_ids_of(hold);
        let from = self.recorder.now();
        lock(&self.ledger).holds.push(BotHold {
            seats: seats.len() as u64,
            from,
            until: from + lifetime,
        });
        Ok((hold["id"].as_str().unwrap_or_default().to_owned(), seats))
    }

    /// Lets a hold go early (the ledger's entry ends now).
    async fn release(&self, api: &Api, token: &str, hold_id: &str) {
        let path = format!("/api/v1/holds/{hold_id}");
        let reply = api
            .call(
                Step::Release,
                Method::DELETE,
                &path,
                Some(token),
                None,
                None,
            )
            .await;
        if reply.is_some_and(|r| r.is(204)) {
            let now = self.recorder.now();
            let mut l = lock(&self.ledger);
            // The newest entry still running is this hold's (each bot account has one at a time).
            if let Some(h) = l.holds.iter_mut().rev().find(|h| h.until > now) {
                h.until = now;
            }
        }
    }
}

/// One sign-in attempt, answered as it comes.
async fn sign_in(api: &Api, email: &str, password: &str) -> Option<Reply> {
    let body = json!({ "email": email, "password": password });
    api.call(
        Step::Login,
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(&body),
        None,
    )
    .await
}

/// The hold's lifetime, by the server's own two timestamps.
fn lifetime(hold: &Value) -> Option<Duration> {
    let created = Timestamp::parse_rfc3339(hold["created_at"].as_str()?)?;
    let expires = Timestamp::parse_rfc3339(hold["expires_at"].as_str()?)?;
    u64::try_from(expires.millis() - created.millis())
        .ok()
        .map(Duration::from_millis)
}

/// Wrong passwords for `victims`, round and round, until stopped.
async fn guess(base: Arc<Base>, api: Api, victims: Vec<String>, seed: u64) {
    if victims.is_empty() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for email in victims.iter().cycle() {
        let password = format!("guess-{:016x}", rng.random::<u64>());
        let reply = sign_in(&api, email, &password).await;
        {
            let mut l = lock(&base.ledger);
            l.guesses += 1;
            match reply.as_ref().map(|r| r.status) {
                Some(200) => l.guesses_right += 1,
                Some(401) => l.guesses_wrong += 1,
                Some(429) => l.guesses_limited += 1,
                _ => {}
            }
        }
        if !base.pause(SCRIPT_PAUSE).await {
            return;
        }
    }
}

/// Registers accounts from one address as fast as the server lets it, and once the sale opens
/// holds all each account may, again whenever a hold has run out.
async fn farm(base: Arc<Base>, api: Api, f: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut accounts: Vec<(String, Duration)> = Vec::new();
    let mut tried = 0;
    loop {
        if tried < FARM_REGISTRATIONS {
            tried += 1;
            let email = format!("bot-farm-{}-{f}-{tried}@example.com", base.run_id);
            let made = base.account(&api, &email).await;
            let mut l = lock(&base.ledger);
            l.registrations += 1;
            match made {
                Ok(token) => {
                    l.accounts += 1;
                    accounts.push((token, Duration::ZERO));
                }
                Err(Some(r)) if r.is(429) => l.registrations_limited += 1,
                Err(_) => {}
            }
        }
        if *base.opened.borrow() {
            for (token, free_at) in &mut accounts {
                if base.recorder.now() < *free_at {
                    continue;
                }
                *free_at = match base.grab(&api, token, &[], &mut rng).await {
                    Ok(_) => lock(&base.ledger)
                        .holds
                        .last()
                        .map_or(Duration::ZERO, |h| h.until),
                    Err(wait) => base.recorder.now() + wait,
                };
            }
        }
        if !base.pause(SCRIPT_PAUSE).await {
            return;
        }
    }
}

/// One account that holds all it may and never pays: just before each hold runs out it lets
/// the seats go and takes them straight back (which the cool-down is there to stop), else the
/// best seats left.
async fn hoard(base: Arc<Base>, api: Api, h: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let email = format!("bot-hoarder-{}-{h}@example.com", base.run_id);
    let Ok(token) = base.account(&api, &email).await else {
        return;
    };
    if !base.wait_for_opening().await {
        return;
    }
    let mut holding: Option<(String, Vec<String>, Duration)> = None;
    loop {
        match holding.take() {
            Some((id, seats, until)) if base.recorder.now() + Duration::from_secs(2) >= until => {
                base.release(&api, &token, &id).await;
                // The same seats at once, or the best others the cool-down leaves.
                let again = base.grab(&api, &token, &[], &mut rng).await;
                holding = match again {
                    Ok(held) => Some(with_end(&base, held)),
                    Err(_) => match base.grab(&api, &token, &seats, &mut rng).await {
                        Ok(held) => Some(with_end(&base, held)),
                        Err(_) => None,
                    },
                };
            }
            Some(kept) => holding = Some(kept),
            None => {
                if let Ok(held) = base.grab(&api, &token, &[], &mut rng).await {
                    holding = Some(with_end(&base, held));
                }
            }
        }
        if !base.pause(Duration::from_millis(250)).await {
            return;
        }
    }
}

fn with_end(base: &Base, (id, seats): (String, Vec<String>)) -> (String, Vec<String>, Duration) {
    let until = lock(&base.ledger)
        .holds
        .last()
        .map_or(Duration::ZERO, |h| h.until);
    (id, seats, until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(seats: u64, from: u64, until: u64) -> BotHold {
        BotHold {
            seats,
            from: Duration::from_secs(from),
            until: Duration::from_secs(until),
        }
    }

    #[test]
    fn the_peak_counts_holds_that_overlap_and_not_one_that_follows_another() {
        let holds = [hold(8, 0, 10), hold(8, 5, 15), hold(4, 10, 20)];
        let (peak, mean) = occupancy(&holds, Duration::ZERO, Duration::from_secs(20));
        assert_eq!(
            peak, 16,
            "0–10 and 5–15 overlap; 10–20 starts as the first ends"
        );
        // (8·10 + 8·10 + 4·10) / 20
        assert!((mean - 10.0).abs() < 1e-9, "{mean}");
    }

    #[test]
    fn only_the_sale_counts() {
        let holds = [hold(8, 0, 100)];
        let (peak, mean) = occupancy(&holds, Duration::from_secs(50), Duration::from_secs(60));
        assert_eq!(peak, 8);
        assert!((mean - 8.0).abs() < 1e-9);
        assert_eq!(
            occupancy(&[], Duration::ZERO, Duration::from_secs(1)),
            (0, 0.0)
        );
    }
}
