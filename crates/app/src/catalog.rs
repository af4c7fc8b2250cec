//! The event catalogue: each event's venue layout, categories and prices, read once from the
//! database and kept in memory. An admin's edit bumps the event's revision; the instance that
//! made it forgets the event at once, and every other one within a refresh (see
//! [`Catalog::refresh`]). Nothing is cached for an event that is not found, so one created
//! meanwhile, on any instance, is found next time.
//! The layout and prices are also kept as one document named by the hash of its bytes, compressed
//! once, which a browser or CDN may cache for ever.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use bytes::Bytes;

use crate::compress::{Compressed, Effort, content_tag};
use boxoffice_domain::{
    compact_seats::SeatOrder,
    ids::EventId,
    money::Price,
    time::Timestamp,
    venue::{Layout, SeatPlace},
};
use boxoffice_store::{CategoryRecord, Database, EventRecord, StoreError, StoreResult};

/// Everything about an event that is fixed once it is published.
#[derive(Debug)]
pub struct EventInfo {
    /// The event's id: the record's, typed.
    pub id: EventId,
    /// The event as stored: its id, name, venue, and when its sale opens and it starts.
    pub record: EventRecord,
    /// Its price categories, each with its price.
    pub categories: Vec<CategoryRecord>,
    /// The venue layout with each seat's category filled in.
    pub layout: Layout,
    /// The same, serialised once: every buyer's map asks for it, and a big hall is hundreds of
    /// kilobytes of JSON that never changes.
    pub layout_json: LayoutJson,
    /// The layout and the categories with their prices, at a content-addressed URL.
    pub layout_document: LayoutDocument,
    /// Seat ids in layout order: the order of the compact seat map.
    pub seat_order: Arc<SeatOrder>,
    /// Seat id → category id.
    pub(crate) category_of_seat: HashMap<String, String>,
    /// Category id → price.
    pub(crate) price_of_category: HashMap<String, Price>,
    seat_labels: HashMap<String, String>,
}

/// A layout already serialised; it serialises as itself, without copying the structure.
#[derive(Debug, Clone)]
pub struct LayoutJson(Arc<serde_json::value::RawValue>);

impl LayoutJson {
    pub(crate) fn of(layout: &Layout) -> serde_json::Result<LayoutJson> {
        Ok(LayoutJson(Arc::from(serde_json::value::to_raw_value(
            layout,
        )?)))
    }
}

impl serde::Serialize for LayoutJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The immutable part of an event: its layout and its categories with their prices. An admin's
/// edit of the prices makes a new document, and the URL names the hash of these very bytes, so
/// the URL changes with it and a cached copy is never stale.
#[derive(Debug)]
pub struct LayoutDocument {
    /// Hex of the first 10 bytes of the document's SHA-256: the last segment of its URL, and
    /// its ETag.
    pub hash: String,
    identity: Bytes,
    compressed: tokio::sync::OnceCell<Arc<Compressed>>,
}

impl LayoutDocument {
    fn of(info: &LayoutBody<'_>) -> serde_json::Result<LayoutDocument> {
        let identity = Bytes::from(serde_json::to_vec(info)?);
        Ok(LayoutDocument {
            hash: content_tag(&identity),
            identity,
            compressed: tokio::sync::OnceCell::new(),
        })
    }

    /// The document in every coding, compressed on first use (off the async threads: a big hall
    /// takes brotli a moment) and then shared by every request.
    pub async fn compressed(&self) -> Arc<Compressed> {
        self.compressed
            .get_or_init(|| async {
                let identity = self.identity.clone();
                let work =
                    tokio::task::spawn_blocking(move || Compressed::new(identity, Effort::Once));
                Arc::new(match work.await {
                    Ok(c) => c,
                    // The blocking pool is gone (shutting down): compress here rather than fail.
                    Err(_) => Compressed::new(self.identity.clone(), Effort::Once),
                })
            })
            .await
            .clone()
    }
}

#[derive(serde::Serialize)]
struct LayoutBody<'a> {
    event_id: &'a str,
    categories: Vec<LayoutCategory<'a>>,
    layout: &'a LayoutJson,
}

#[derive(serde::Serialize)]
struct LayoutCategory<'a> {
    id: &'a str,
    name: &'a str,
    price_cents: i64,
    currency: &'a str,
}

impl EventInfo {
    pub(crate) fn build(
        id: EventId,
        record: EventRecord,
        categories: Vec<CategoryRecord>,
        seat_categories: Vec<(String, String)>,
    ) -> StoreResult<Self> {
        let mut layout: Layout = serde_json::from_str(&record.venue_layout).map_err(|e| {
            StoreError::Corrupt(format!("layout of venue {}: {e}", record.venue_id))
        })?;
        let category_of_seat: HashMap<String, String> = seat_categories.into_iter().collect();
        let mut seat_labels = HashMap::new();
        for section in &mut layout.sections {
            for row in &mut section.rows {
                for seat in &mut row.seats {
                    seat.category_id = category_of_seat.get(&seat.id).cloned();
                    seat_labels.insert(seat.id.clone(), describe(&section.name, &row.label, seat));
                }
            }
        }
        let price_of_category = categories
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    Price {
                        cents: c.price_cents,
                        currency: c.currency.clone(),
                    },
                )
            })
            .collect();
        let corrupt = |e: serde_json::Error| {
            StoreError::Corrupt(format!("layout of venue {}: {e}", record.venue_id))
        };
        let layout_json = LayoutJson::of(&layout).map_err(corrupt)?;
        let layout_document = LayoutDocument::of(&LayoutBody {
            event_id: &record.id,
            categories: categories
                .iter()
                .map(|c| LayoutCategory {
                    id: &c.id,
                    name: &c.name,
                    price_cents: c.price_cents,
                    currency: &c.currency,
                })
                .collect(),
            layout: &layout_json,
        })
        .map_err(corrupt)?;
        let seat_order = Arc::new(SeatOrder {
            layout_hash: layout_document.hash.clone(),
            seat_ids: layout.seats().map(|(_, _, s)| s.id.clone()).collect(),
        });
        Ok(EventInfo {
            id,
            record,
            categories,
            layout,
            layout_json,
            layout_document,
            seat_order,
            category_of_seat,
            price_of_category,
            seat_labels,
        })
    }

    /// Where the layout document is served; its last segment is the document's hash.
    pub fn layout_url(&self) -> String {
        format!(
            "/api/v1/events/{}/layout/{}",
            self.record.id, self.layout_document.hash
        )
    }

    /// "Stalls, row C, seat 14": how a seat is named on a ticket.
    pub fn seat_label(&self, seat_id: &str) -> String {
        self.seat_labels
            .get(seat_id)
            .cloned()
            .unwrap_or_else(|| seat_id.to_owned())
    }

    /// Where the event's sale stands at `now`, with `seats_available` seats still free.
    pub fn status(&self, now: Timestamp, seats_available: u64) -> EventStatus {
        EventStatus::at(
            now,
            self.record.sale_opens_at,
            self.record.starts_at,
            seats_available,
        )
    }
}

fn describe(section: &str, row: &str, seat: &SeatPlace) -> String {
    format!("{section}, row {row}, seat {}", seat.label)
}

/// Where an event's sale stands: the `status` of the event list and of an event, in snake_case
/// (`scheduled`, `on_sale`, `sold_out`, `ended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The sale has not opened yet.
    Scheduled,
    /// The sale is open and seats are free.
    OnSale,
    /// The sale is open but no seat is free.
    SoldOut,
    /// The event has started: no more sales.
    Ended,
}

impl EventStatus {
    pub(crate) fn at(
        now: Timestamp,
        sale_opens_at: Timestamp,
        starts_at: Timestamp,
        seats_available: u64,
    ) -> Self {
        if now >= starts_at {
            EventStatus::Ended
        } else if now < sale_opens_at {
            EventStatus::Scheduled
        } else if seats_available == 0 {
            EventStatus::SoldOut
        } else {
            EventStatus::OnSale
        }
    }
}

/// The events this instance knows, each read from the database once and then kept in memory.
pub struct Catalog {
    db: Arc<dyn Database>,
    events: RwLock<HashMap<String, Arc<EventInfo>>>,
}

impl Catalog {
    /// An empty catalogue, which reads events from `db` as they are asked for.
    pub fn new(db: Arc<dyn Database>) -> Self {
        Catalog {
            db,
            events: RwLock::new(HashMap::new()),
        }
    }

    /// The event, from memory after its first read; `None` if it does not exist (and then
    /// nothing is kept, so an event created meanwhile is found next time). `event_id` is an
    /// [`EventId`] or the text of one: text that is not a well-formed id names no event.
    pub async fn event(
        &self,
        event_id: &(impl AsRef<str> + ?Sized),
    ) -> StoreResult<Option<Arc<EventInfo>>> {
        let event_id = event_id.as_ref();
        if let Some(e) = self
            .events
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(event_id)
        {
            return Ok(Some(e.clone()));
        }
        let Some(id) = EventId::parse(event_id) else {
            return Ok(None);
        };
        let mut tx = self.db.read().await?;
        let Some(record) = tx.event_by_id(&id).await? else {
            return Ok(None);
        };
        let categories = tx.categories_of(&id).await?;
        let seat_categories = tx.seat_categories(&id).await?;
        tx.commit().await?;
        let info = Arc::new(EventInfo::build(id, record, categories, seat_categories)?);
        // Compress the layout now, in the background: the page asks for it right after the
        // event, and the crowd of an opening should find it ready.
        let warm = info.clone();
        tokio::spawn(async move {
            warm.layout_document.compressed().await;
        });
        self.events
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event_id.to_owned(), info.clone());
        Ok(Some(info))
    }

    /// Drops what is known of the event, so that the next request reads it again: after an edit
    /// on this instance.
    pub fn forget(&self, event_id: &str) {
        self.events
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(event_id);
    }

    /// Drops every event whose revision in the database is not the one read: an edit made on
    /// another instance. One small query of every event's id and revision, whatever the
    /// traffic; returns how many were dropped.
    pub async fn refresh(&self) -> StoreResult<usize> {
        let mut tx = self.db.read().await?;
        let revisions: HashMap<String, i64> = tx.event_revisions().await?.into_iter().collect();
        tx.commit().await?;
        let mut events = self.events.write().unwrap_or_else(|e| e.into_inner());
        let before = events.len();
        events.retain(|id, info| revisions.get(id) == Some(&info.record.revision));
        Ok(before - events.len())
    }

    /// All events, in start order. The ids come from the database, so an event created on any
    /// instance is listed at once; what is known of each comes from memory after its first read.
    pub async fn all(&self) -> StoreResult<Vec<Arc<EventInfo>>> {
        let mut tx = self.db.read().await?;
        let ids = tx.event_ids().await?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = self.event(&id).await? {
                out.push(e);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_layout_document_is_compressed_once_and_named_by_the_hash_of_its_bytes() {
        let layout = LayoutJson::of(&boxoffice_domain::venue::demo_hall()).unwrap();
        let doc = LayoutDocument::of(&LayoutBody {
            event_id: "e",
            categories: vec![LayoutCategory {
                id: "c",
                name: "Premium",
                price_cents: 8900,
                currency: "EUR",
            }],
            layout: &layout,
        })
        .unwrap();
        let first = doc.compressed().await;
        assert!(
            Arc::ptr_eq(&first, &doc.compressed().await),
            "one compression, shared"
        );
        assert_eq!(doc.hash, content_tag(&first.identity));
        assert_eq!(first.tag, doc.hash);
        let body: serde_json::Value = serde_json::from_slice(&first.identity).unwrap();
        assert_eq!(body["categories"][0]["price_cents"], 8900);
        assert_eq!(
            body["layout"]["sections"][0]["rows"][0]["seats"][0]["id"],
            "A-1"
        );
        assert!(first.brotli.len() < first.identity.len() / 5);
    }

    #[test]
    fn an_event_is_scheduled_then_on_sale_then_sold_out_or_ended() {
        let (opens, starts) = (Timestamp(100), Timestamp(200));
        assert_eq!(
            EventStatus::at(Timestamp(50), opens, starts, 10),
            EventStatus::Scheduled
        );
        assert_eq!(
            EventStatus::at(Timestamp(100), opens, starts, 10),
            EventStatus::OnSale
        );
        assert_eq!(
            EventStatus::at(Timestamp(150), opens, starts, 0),
            EventStatus::SoldOut
        );
        assert_eq!(
            EventStatus::at(Timestamp(200), opens, starts, 10),
            EventStatus::Ended
        );
    }
}
