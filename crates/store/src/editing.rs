//! The organiser's edits of the catalogue: the venues' list, an event's own row, its categories,
//! which seats are in which category, publishing, and the revisions that tell every instance's
//! catalogue an event changed.

use super::{
    CategoryRecord, EventChange, StoreResult, VenueSummary,
    sql::{Dialect, Sql, Tx},
};
use boxoffice_domain::ids::EventId;

/// Seats moved between categories per statement: far below every dialect's limit of bound
/// parameters, whatever the venue's size.
const SEATS_PER_STATEMENT: usize = 5_000;

impl<D: Dialect> Tx<D> {
    pub(crate) async fn venues(&mut self) -> StoreResult<Vec<VenueSummary>> {
        let q = Sql::new(
            "SELECT v.id, v.name, v.created_at, \
             (SELECT COUNT(*) FROM events e WHERE e.venue_id = v.id) AS events \
             FROM venues v ORDER BY v.created_at DESC, v.id",
        );
        self.all(q).await
    }

    pub(crate) async fn event_revisions(&mut self) -> StoreResult<Vec<(String, i64)>> {
        self.all(Sql::new("SELECT id, revision FROM events")).await
    }

    /// Locks the event's row until the transaction ends, so that two edits of one event take
    /// turns (SQLite's writer is alone already). Whether the event exists.
    pub(crate) async fn lock_event(&mut self, event_id: &EventId) -> StoreResult<bool> {
        let q = Sql::new(format!(
            "SELECT id FROM events WHERE id = ?{}",
            D::FOR_UPDATE
        ));
        let found: Option<(String,)> = self.optional(q.bind(event_id)).await?;
        Ok(found.is_some())
    }

    pub(crate) async fn update_event(&mut self, e: &EventChange) -> StoreResult<bool> {
        let q = Sql::new(
            "UPDATE events SET name = ?, starts_at = ?, sale_opens_at = ?, currency = ?, \
             revision = revision + 1 WHERE id = ?",
        );
        let q = q.bind(&e.name).bind(e.starts_at.millis());
        let q = q.bind(e.sale_opens_at.millis()).bind(&e.currency);
        Ok(self.execute(q.bind(&e.id)).await? == 1)
    }

    pub(crate) async fn set_event_published(
        &mut self,
        event_id: &EventId,
        published: bool,
    ) -> StoreResult<bool> {
        let q = Sql::new("UPDATE events SET published = ?, revision = revision + 1 WHERE id = ?");
        Ok(self
            .execute(q.bind(i64::from(published)).bind(event_id))
            .await?
            == 1)
    }

    pub(crate) async fn update_category(&mut self, c: &CategoryRecord) -> StoreResult<()> {
        let q = Sql::new(
            "UPDATE categories SET name = ?, price_cents = ?, currency = ?, position = ? \
             WHERE id = ? AND event_id = ?",
        );
        let q = q.bind(&c.name).bind(c.price_cents).bind(&c.currency);
        self.execute(q.bind(c.position).bind(&c.id).bind(&c.event_id))
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_categories(
        &mut self,
        event_id: &EventId,
        category_ids: &[String],
    ) -> StoreResult<u64> {
        if category_ids.is_empty() {
            return Ok(0);
        }
        let q = Sql::new("DELETE FROM categories WHERE event_id = ? AND ");
        self.execute(q.bind(event_id).list("id", category_ids))
            .await
    }

    /// Puts the seats in the category, each only while it is available; returns how many moved.
    pub(crate) async fn move_free_seats(
        &mut self,
        event_id: &EventId,
        category_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<u64> {
        let mut moved = 0;
        for chunk in seat_ids.chunks(SEATS_PER_STATEMENT) {
            let q = Sql::new("UPDATE seats SET category_id = ? WHERE ");
            let q = q.bind(category_id).seats("", event_id, chunk);
            moved += self.execute(q.then(" AND state = 'available'")).await?;
        }
        Ok(moved)
    }

    /// The event's held and sold seats, each with its category.
    pub(crate) async fn taken_seats(
        &mut self,
        event_id: &EventId,
    ) -> StoreResult<Vec<(String, String)>> {
        let q = Sql::new(
            "SELECT id, category_id FROM seats WHERE event_id = ? AND state <> 'available'",
        );
        self.all(q.bind(event_id)).await
    }
}
