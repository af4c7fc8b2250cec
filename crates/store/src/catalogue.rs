//! The catalogue: venues, events, their price categories and seats, and the seats' statuses as
//! the live maps read them.

use super::{
    CategoryRecord, EventRecord, NewEvent, StoreResult, VenueRecord,
    sql::{Dialect, Sql, Tx},
};
use boxoffice_domain::{
    ids::EventId,
    seat::{SeatState, SeatStatus},
    time::Timestamp,
};

/// A seat as read, or as an UPDATE returned it (without its holder, which the caller knows).
#[derive(sqlx::FromRow)]
pub(super) struct SeatRow {
    id: String,
    state: String,
    version: i64,
    #[sqlx(default)]
    holder: Option<String>,
}

impl SeatRow {
    pub(crate) fn into_status(self) -> StoreResult<SeatStatus> {
        Ok(SeatStatus {
            state: SeatState::parse(&self.state)
                .ok_or_else(|| super::corrupt("seat state", &self.state))?,
            seat_id: self.id,
            version: self.version,
            holder: self.holder,
        })
    }
}

fn statuses(rows: Vec<SeatRow>) -> StoreResult<Vec<SeatStatus>> {
    rows.into_iter().map(SeatRow::into_status).collect()
}

impl<D: Dialect> Tx<D> {
    pub(crate) async fn insert_venue(&mut self, v: &VenueRecord) -> StoreResult<()> {
        let q = Sql::new("INSERT INTO venues (id, name, layout, created_at) VALUES (?, ?, ?, ?)");
        let q = q.bind(&v.id).bind(&v.name).bind(&v.layout);
        self.execute(q.bind(v.created_at.millis())).await?;
        Ok(())
    }

    pub(crate) async fn venue_by_id(&mut self, venue_id: &str) -> StoreResult<Option<VenueRecord>> {
        let q = Sql::new("SELECT id, name, layout, created_at FROM venues WHERE id = ?");
        self.optional(q.bind(venue_id)).await
    }

    pub(crate) async fn insert_event(&mut self, e: &NewEvent) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO events (id, venue_id, name, starts_at, sale_opens_at, currency, created_at, \
             published) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let q = q.bind(&e.id).bind(&e.venue_id).bind(&e.name);
        let q = q.bind(e.starts_at.millis()).bind(e.sale_opens_at.millis());
        let q = q.bind(&e.currency).bind(e.created_at.millis());
        self.execute(q.bind(i64::from(e.published))).await?;
        Ok(())
    }

    pub(crate) async fn insert_category(&mut self, c: &CategoryRecord) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO categories (id, event_id, name, price_cents, currency, position) \
             VALUES (?, ?, ?, ?, ?, ?)",
        );
        let q = q.bind(&c.id).bind(&c.event_id).bind(&c.name);
        self.execute(q.bind(c.price_cents).bind(&c.currency).bind(c.position))
            .await?;
        Ok(())
    }

    /// One statement for the whole event (tens of thousands of seats in a large venue) instead of
    /// a round trip per seat: the dialect unrolls the pairs into rows in the database.
    pub(crate) async fn insert_seats(
        &mut self,
        event_id: &EventId,
        seats: &[(String, String)],
        now: Timestamp,
    ) -> StoreResult<()> {
        let q = Sql::new(
            "INSERT INTO seats (event_id, state, version, updated_at, id, category_id) \
             SELECT ?, 'available', 1, ?, ",
        );
        let q = q.bind(event_id).bind(now.millis());
        self.execute(q.with(|q| D::push_seat_rows(q, seats)))
            .await?;
        Ok(())
    }

    pub(crate) async fn count_events(&mut self) -> StoreResult<u64> {
        let n: i64 = self.scalar(Sql::new("SELECT COUNT(*) FROM events")).await?;
        Ok(n as u64)
    }

    pub(crate) async fn event_ids(&mut self) -> StoreResult<Vec<String>> {
        self.column(Sql::new("SELECT id FROM events ORDER BY starts_at, id"))
            .await
    }

    pub(crate) async fn event_by_id(
        &mut self,
        event_id: &EventId,
    ) -> StoreResult<Option<EventRecord>> {
        let q = Sql::new(
            "SELECT e.id, e.name, e.venue_id, v.name AS venue_name, v.layout, e.starts_at, \
             e.sale_opens_at, e.currency, e.published, e.revision \
             FROM events e JOIN venues v ON v.id = e.venue_id \
             WHERE e.id = ?",
        );
        self.optional(q.bind(event_id)).await
    }

    pub(crate) async fn categories_of(
        &mut self,
        event_id: &EventId,
    ) -> StoreResult<Vec<CategoryRecord>> {
        let q = Sql::new(
            "SELECT id, event_id, name, price_cents, currency, position FROM categories \
             WHERE event_id = ? ORDER BY position",
        );
        self.all(q.bind(event_id)).await
    }

    pub(crate) async fn seat_categories(
        &mut self,
        event_id: &EventId,
    ) -> StoreResult<Vec<(String, String)>> {
        let q = Sql::new("SELECT id, category_id FROM seats WHERE event_id = ?");
        self.all(q.bind(event_id)).await
    }

    pub(crate) async fn seat_statuses(
        &mut self,
        event_id: &EventId,
    ) -> StoreResult<Vec<SeatStatus>> {
        let q = Sql::new(format!("SELECT {} WHERE s.event_id = ?", D::SEAT_STATUS));
        statuses(self.all(q.bind(event_id)).await?)
    }

    pub(crate) async fn seat_statuses_of(
        &mut self,
        event_id: &EventId,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let q = Sql::new(format!("SELECT {} WHERE ", D::SEAT_STATUS));
        statuses(self.all(q.seats("s.", event_id, seat_ids)).await?)
    }

    pub(crate) async fn seat_statuses_changed_since(
        &mut self,
        event_id: &EventId,
        since: Timestamp,
    ) -> StoreResult<Vec<SeatStatus>> {
        let q = Sql::new(format!(
            "SELECT {} WHERE s.event_id = ? AND ",
            D::CHANGED_SEAT_STATUS
        ));
        let q = q.bind(event_id).with(|q| D::push_change_window(q, since));
        statuses(self.all(q).await?)
    }
}
