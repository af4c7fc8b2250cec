//! The virtual waiting room per event: who is in line, who is let in and at what pace, and the
//! admission tokens that holds and checkouts check. With Redis the line is shared by every
//! instance (`shared`); without it each process keeps its own (`QueueBook`).
//!
//! A buyer's standing is answered from memory: this instance's copy of the room's figures,
//! refreshed every step, and the buyer's number, which it keeps once it has seen it.
//!
//! When Redis stops answering, the room neither opens the doors nor stops: every instance keeps
//! moving the frontier it last saw at the room's rate, so buyers whose number it knows keep
//! advancing and are let in on time; a buyer it has never seen cannot be given a number and is
//! asked to retry (503). When Redis is back, its frontier catches up by the same rate.

mod shared;
mod step;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::Catalog;
use boxoffice_domain::{
    time::Timestamp,
    waiting_room::{
        AdmissionRefused, AdmissionToken, QueueBook, RoomSettings, Standing, eta_seconds, standing,
    },
};
use boxoffice_store::{Database, StoreResult};
use shared::{Claimed, SharedQueue};

/// Where rooms' settings live in the `settings` table.
const SETTINGS_PREFIX: &str = "waiting_room:";

/// A room's figures as this instance last saw them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// The sale has opened: early arrivals have been given their numbers and the line moves.
    pub opened: bool,
    /// Everyone who has joined the line.
    pub joined: u64,
    /// Numbers up to this one have been let in (the admin's `admitted_total`).
    pub frontier: u64,
    /// Still in line (the admin's `queue_length`).
    pub waiting: u64,
    /// Let in and shopping now, whose admission has not run out: what `max_active` caps.
    pub active: u64,
}

/// A buyer's place, as `POST`/`GET …/queue` answer it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Place {
    /// `waiting` or `admitted`.
    pub status: &'static str,
    /// 1 for the next to be let in; 0 once admitted.
    pub position: u64,
    /// The buyer's number in line once the order is set (after the opening): lower numbers
    /// are let in first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// How many buyers are ahead in line; 0 once admitted.
    pub ahead: u64,
    /// Roughly how many seconds until this buyer is let in, at the room's current rate (and
    /// counting the wait for the opening); 0 once admitted.
    pub eta_seconds: u64,
    /// True until the sale opens: the order of early arrivals is drawn at the opening.
    pub before_opening: bool,
    /// Once admitted: the token to send as `Admission-Token` with holds and checkouts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_token: Option<String>,
    /// RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_expires_at: Option<String>,
}

/// Why the waiting room could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// Redis (the shared line) does not answer, and this instance does not know the buyer's
    /// place from memory: the API answers 503.
    #[error("the shared queue does not answer")]
    Unavailable,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] boxoffice_store::StoreError),
}

/// Why a hold or checkout was turned away at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// No admission token came with the request (403 `admission_required`).
    TokenRequired,
    /// The token is forged, expired, another event's or another buyer's
    /// (403 `invalid_admission`).
    Refused(AdmissionRefused),
}

struct Room {
    settings: RwLock<RoomSettings>,
    opens_ms: i64,
    view: Mutex<View>,
    latencies: Mutex<VecDeque<(i64, u32)>>,
    /// Numbers this instance has handed out or looked up, for answering while Redis is down.
    numbers: Mutex<HashMap<String, u64>>,
    /// Admissions given while Redis was down, so asking again gives the same token.
    offline_admissions: Mutex<HashMap<String, i64>>,
}

#[derive(Debug, Clone, Default)]
struct View {
    figures: Figures,
    rate: u32,
    revision: i64,
    at_ms: i64,
    last_control_ms: i64,
    shared_ok: bool,
    /// (time, frontier) over the last minute, for the admissions-per-minute figure.
    history: VecDeque<(i64, u64)>,
}

impl View {
    /// The frontier now, moved on from the last step at the rate (never past those in line).
    fn frontier_at(&self, now_ms: i64) -> u64 {
        if !self.figures.opened {
            return 0;
        }
        let moved = u64::from(self.rate) * (now_ms - self.at_ms).max(0) as u64 / 60_000;
        (self.figures.frontier + moved).min(self.figures.joined)
    }
}

/// Every event's waiting room, as this instance runs it: who is in line, the pace of
/// admissions, and the tokens that holds and checkouts check.
pub struct WaitingRoom {
    catalog: Arc<Catalog>,
    db: Arc<dyn Database>,
    token_key: Vec<u8>,
    pass_key: Vec<u8>,
    admission_ttl: Duration,
    instance: Arc<str>,
    shared: Option<SharedQueue>,
    rooms: RwLock<HashMap<String, Arc<Room>>>,
    local: Mutex<HashMap<String, QueueBook>>,
}

impl WaitingRoom {
    /// Rooms whose tokens are signed with keys derived from `secret` and admit for
    /// `admission_ttl`; with `redis_url` the line is shared by every instance.
    pub fn new(
        db: Arc<dyn Database>,
        catalog: Arc<Catalog>,
        secret: &[u8],
        admission_ttl: Duration,
        instance: Arc<str>,
        redis_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        Ok(WaitingRoom {
            catalog,
            db,
            token_key: crate::security::derive_key(secret, "admission"),
            pass_key: crate::security::derive_key(secret, "queue-pass"),
            admission_ttl,
            instance,
            shared: redis_url.map(SharedQueue::new).transpose()?,
            rooms: RwLock::new(HashMap::new()),
            local: Mutex::new(HashMap::new()),
        })
    }

    fn room(&self, event_id: &str) -> Option<Arc<Room>> {
        self.rooms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(event_id)
            .cloned()
    }

    /// The room's settings, if an admin ever configured one for this event.
    pub fn settings(&self, event_id: &str) -> Option<RoomSettings> {
        self.room(event_id)
            .map(|r| r.settings.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Whether the event's room is on, so that holds and checkouts need an admission token.
    pub fn is_enabled(&self, event_id: &str) -> bool {
        self.settings(event_id).is_some_and(|s| s.enabled)
    }

    /// The figures for an admin or `/metrics`, from this instance's last step.
    pub fn figures(&self, event_id: &str) -> Figures {
        self.room(event_id)
            .map(|r| r.view.lock().unwrap_or_else(|e| e.into_inner()).figures)
            .unwrap_or_default()
    }

    /// Saves an admin's settings; the other instances pick them up at their next refresh.
    pub async fn configure(&self, event_id: &str, settings: RoomSettings) -> StoreResult<()> {
        let json = serde_json::to_string(&settings).expect("settings serialise");
        let mut tx = self.db.begin().await?;
        tx.put_setting(&format!("{SETTINGS_PREFIX}{event_id}"), &json)
            .await?;
        tx.commit().await?;
        self.install(event_id, settings).await?;
        Ok(())
    }

    async fn install(&self, event_id: &str, settings: RoomSettings) -> StoreResult<()> {
        if let Some(room) = self.room(event_id) {
            *room.settings.write().unwrap_or_else(|e| e.into_inner()) = settings;
            return Ok(());
        }
        let Some(info) = self.catalog.event(event_id).await? else {
            return Ok(());
        };
        let room = Arc::new(Room {
            settings: RwLock::new(settings),
            opens_ms: info.record.sale_opens_at.millis(),
            view: Mutex::new(View::default()),
            latencies: Mutex::new(VecDeque::new()),
            numbers: Mutex::new(HashMap::new()),
            offline_admissions: Mutex::new(HashMap::new()),
        });
        self.rooms
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(event_id.to_owned())
            .or_insert(room);
        Ok(())
    }

    /// Reloads every room's settings from the database (what another instance's admin saved).
    pub async fn refresh(&self) -> StoreResult<()> {
        let mut tx = self.db.read().await?;
        let rows = tx.settings_with_prefix(SETTINGS_PREFIX).await?;
        tx.commit().await?;
        for (key, value) in rows {
            let event_id = &key[SETTINGS_PREFIX.len()..];
            match serde_json::from_str::<RoomSettings>(&value) {
                Ok(settings) => self.install(event_id, settings).await?,
                Err(e) => tracing::warn!(event_id, error = %e, "unreadable waiting-room settings"),
            }
        }
        Ok(())
    }

    /// A signed pass naming the buyer in this event's line, kept by the browser in a cookie, so
    /// that reading one's place needs no session lookup.
    pub fn pass_for(&self, event_id: &str, user_id: &str) -> String {
        let expires = Timestamp::now().plus(Duration::from_secs(86_400)).millis();
        AdmissionToken::new(event_id, user_id, expires, &self.pass_key).sign(&self.pass_key)
    }

    /// The buyer a pass names, if it is genuine, current and for this event.
    pub fn user_of_pass(&self, event_id: &str, pass: &str) -> Option<String> {
        let (payload, _) = pass.split_once('.')?;
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let user = String::from_utf8(payload)
            .ok()?
            .split('|')
            .nth(1)?
            .to_owned();
        AdmissionToken::verify(
            pass,
            &self.pass_key,
            event_id,
            &user,
            Timestamp::now().millis(),
        )
        .ok()
        .map(|t| t.user_id)
    }

    /// Puts the buyer in line (or finds them there) and says where they stand.
    pub async fn join(&self, event_id: &str, user_id: &str) -> Result<Place, RoomError> {
        let Some(room) = self.room(event_id).filter(|r| Self::enabled(r)) else {
            return Ok(open_door());
        };
        let now = Timestamp::now().millis();
        let key: u64 = rand::random();
        let standing = match &self.shared {
            None => self.book(event_id, |b| b.join(user_id, now, room.opens_ms, key)),
            Some(shared) => match shared
                .join(event_id, user_id, now, room.opens_ms, key)
                .await
            {
                Ok(found) => self.remember(&room, user_id, found, now),
                Err(e) => {
                    tracing::debug!(error = %e, "waiting room: Redis did not answer a join");
                    self.offline_standing(&room, user_id, now)?
                }
            },
        };
        self.place_for(event_id, &room, user_id, standing, now)
            .await
    }

    /// Where the buyer stands, or `None` if they are not in line.
    pub async fn place(&self, event_id: &str, user_id: &str) -> Result<Option<Place>, RoomError> {
        let Some(room) = self.room(event_id).filter(|r| Self::enabled(r)) else {
            return Ok(Some(open_door()));
        };
        let now = Timestamp::now().millis();
        let standing = match &self.shared {
            None => {
                let found = self.book(event_id, |b| b.standing(user_id));
                match found {
                    Some(s) => s,
                    None => return Ok(None),
                }
            }
            Some(shared) => {
                let known = room
                    .numbers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(user_id)
                    .copied();
                match known {
                    // Once numbered, a buyer's number never changes: no need to ask Redis.
                    Some(seq) => standing(seq, Self::view(&room).frontier_at(now)),
                    None => match shared.standing(event_id, user_id).await {
                        Ok(Some(found)) => self.remember(&room, user_id, found, now),
                        Ok(None) => return Ok(None),
                        Err(_) => return Err(RoomError::Unavailable),
                    },
                }
            }
        };
        self.place_for(event_id, &room, user_id, standing, now)
            .await
            .map(Some)
    }

    fn enabled(room: &Room) -> bool {
        room.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .enabled
    }

    fn view(room: &Room) -> View {
        room.view.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn book<T>(&self, event_id: &str, f: impl FnOnce(&mut QueueBook) -> T) -> T {
        let mut books = self.local.lock().unwrap_or_else(|e| e.into_inner());
        f(books.entry(event_id.to_owned()).or_default())
    }

    fn remember(&self, room: &Room, user_id: &str, (opened, n): (bool, u64), now: i64) -> Standing {
        if !opened {
            return Standing::BeforeOpening { position: n };
        }
        room.numbers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user_id.to_owned(), n);
        standing(n, Self::view(room).frontier_at(now))
    }

    fn offline_standing(
        &self,
        room: &Room,
        user_id: &str,
        now: i64,
    ) -> Result<Standing, RoomError> {
        let seq = room
            .numbers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user_id)
            .copied()
            .ok_or(RoomError::Unavailable)?;
        Ok(standing(seq, Self::view(room).frontier_at(now)))
    }

    async fn place_for(
        &self,
        event_id: &str,
        room: &Room,
        user_id: &str,
        standing: Standing,
        now: i64,
    ) -> Result<Place, RoomError> {
        let view = Self::view(room);
        let rate = match view.rate {
            // Before the first step the rate is not known yet: use the configured one.
            0 => {
                room.settings
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .admit_per_minute
            }
            r => r,
        };
        let waiting = |position: u64, number: Option<u64>, before_opening: bool| Place {
            status: "waiting",
            position,
            number,
            ahead: position - 1,
            eta_seconds: eta_seconds(position, rate),
            before_opening,
            admission_token: None,
            admission_expires_at: None,
        };
        match standing {
            Standing::BeforeOpening { position } => {
                let until_open = (room.opens_ms - now).max(0) as u64 / 1_000;
                Ok(Place {
                    eta_seconds: until_open + eta_seconds(position - 1, rate),
                    ..waiting(position, None, true)
                })
            }
            Standing::Waiting { ahead, seq } => Ok(waiting(ahead + 1, Some(seq), false)),
            Standing::Admitted { seq } => match self.claim(event_id, room, user_id, now).await? {
                Some(expires) => {
                    let token = AdmissionToken::new(event_id, user_id, expires, &self.token_key);
                    Ok(Place {
                        status: "admitted",
                        position: 0,
                        number: Some(seq),
                        ahead: 0,
                        eta_seconds: 0,
                        before_opening: false,
                        admission_token: Some(token.sign(&self.token_key)),
                        admission_expires_at: Some(Timestamp(expires).to_rfc3339()),
                    })
                }
                // Let in, but the cap on active buyers is full: next as soon as someone finishes.
                None => Ok(waiting(1, Some(seq), false)),
            },
        }
    }

    /// Records the admission; its expiry, or `None` while the cap is full.
    async fn claim(
        &self,
        event_id: &str,
        room: &Room,
        user_id: &str,
        now: i64,
    ) -> Result<Option<i64>, RoomError> {
        let settings = room
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let ttl = self.admission_ttl.as_millis() as i64;
        let claim = match &self.shared {
            None => self
                .book(event_id, |b| {
                    b.claim(user_id, now, ttl, settings.max_active)
                })
                .map(|c| (c.expires_ms, c.waited_since_ms)),
            Some(shared) => match shared
                .claim(event_id, user_id, now, ttl, settings.max_active)
                .await
            {
                Ok(Claimed::Admitted {
                    expires,
                    waited_since,
                }) => Some((expires, waited_since)),
                Ok(Claimed::NotYet) => None,
                Ok(Claimed::NotInLine) => return Err(RoomError::Unavailable),
                Err(_) => {
                    let mut offline = room
                        .offline_admissions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    let expires = *offline.entry(user_id.to_owned()).or_insert(now + ttl);
                    Some((expires, None))
                }
            },
        };
        if let Some((_, Some(since))) = claim {
            metrics::histogram!("boxoffice_waiting_room_wait_seconds", "event_id" => event_id.to_owned())
                .record((now - since).max(0) as f64 / 1_000.0);
        }
        Ok(claim.map(|(expires, _)| expires))
    }

    /// Lets a hold or checkout through, or says why not.
    pub fn check(&self, event_id: &str, user_id: &str, token: Option<&str>) -> Result<(), Door> {
        if !self.is_enabled(event_id) {
            return Ok(());
        }
        let token = token.ok_or(Door::TokenRequired)?;
        AdmissionToken::verify(
            token,
            &self.token_key,
            event_id,
            user_id,
            Timestamp::now().millis(),
        )
        .map(|_| ())
        .map_err(Door::Refused)
    }

    /// The buyer has paid: their place under the cap on active buyers goes to the next in line.
    pub async fn finish(&self, event_id: &str, user_id: &str) {
        if self.room(event_id).is_none() {
            return;
        }
        match &self.shared {
            None => self.book(event_id, |b| b.finish(user_id)),
            Some(shared) => {
                if let Err(e) = shared.finish(event_id, user_id).await {
                    tracing::debug!(error = %e, "waiting room: Redis did not answer a finish");
                }
            }
        }
    }
    /// The rate admissions go at now (the automatic one, in auto mode).
    pub fn current_rate(&self, event_id: &str) -> Option<u32> {
        self.room(event_id).map(|r| Self::view(&r).rate)
    }
}

/// The answer for an event without a room: come in.
fn open_door() -> Place {
    Place {
        status: "admitted",
        position: 0,
        number: None,
        ahead: 0,
        eta_seconds: 0,
        before_opening: false,
        admission_token: None,
        admission_expires_at: None,
    }
}
