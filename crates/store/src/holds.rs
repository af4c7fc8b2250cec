//! Holds: a buyer's claim on seats until checkout, and every statement that moves seats between
//! available, held and sold.

use super::{
    StoreError, StoreResult,
    catalogue::SeatRow,
    sql::{Dialect, SeatMove, Sql, Tx},
};
use boxoffice_domain::{
    hold::{Hold, HoldStatus},
    ids::{EventId, HoldId, UserId},
    seat::{SeatState, SeatStatus},
    time::Timestamp,
};

#[derive(sqlx::FromRow)]
pub(super) struct HoldRow {
    id: String,
    event_id: String,
    user_id: String,
    status: String,
    created_at: i64,
    expires_at: i64,
    /// The hold's seat ids, comma-separated, in the order `ORDER BY seat_id` gives.
    seat_ids: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct HoldCountsRow {
    held_in_event: i64,
    held_in_all: i64,
    holds_since: i64,
    oldest_since: Option<i64>,
    last_let_go: Option<i64>,
}

/// What the hold rules count of one buyer, read in one statement once the buyer is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldCounts {
    /// Seats of the buyer's active holds for this event.
    pub held_in_event: u32,
    /// Seats of the buyer's active holds for every event.
    pub held_in_all: u32,
    /// Holds the buyer made for this event since the time asked about, up to the cap asked
    /// about.
    pub holds_since: u32,
    /// When the oldest of those was made.
    pub oldest_since: Option<Timestamp>,
    /// When the buyer last released a hold for this event, or let one expire, if that was at
    /// the time asked about or later: only then can a seat be cooling down.
    pub last_let_go: Option<Timestamp>,
}

/// A seat as its row lock found it: id, state, hold and version.
pub(super) type LockedSeat = (String, String, Option<String>, i64);

/// The locked seats that an UPDATE conditioned on `from` and `hold_id` changes, as they are
/// after it: where no UPDATE returns its rows, nothing else can have changed them since the lock.
fn changed_from_lock(
    locked: Vec<LockedSeat>,
    from: SeatState,
    hold_id: Option<&HoldId>,
    to: SeatState,
    holder: &UserId,
) -> Vec<SeatStatus> {
    locked
        .into_iter()
        .filter(|(_, state, held_by, _)| {
            state == from.as_str() && held_by.as_deref() == hold_id.map(HoldId::as_str)
        })
        .map(|(seat_id, _, _, version)| SeatStatus {
            seat_id,
            state: to,
            version: version + 1,
            holder: Some(holder.as_str().to_owned()),
        })
        .collect()
}

/// The head of every UPDATE that moves seats to `state`, up to its WHERE.
fn move_seats<D: Dialect>(set: &str) -> Sql<D> {
    Sql::new(format!(
        "UPDATE seats SET {set}, version = version + 1, updated_at = {} WHERE ",
        D::NOW
    ))
}

/// The head of an UPDATE that moves seats to `set` and locks them first, in the one seat order,
/// in its own subquery (where [`Dialect::LOCKS_IN_UPDATE`]): the caller binds `set`'s values,
/// then ends it with [`locked_seats`].
fn move_locked_seats<D: Dialect>(set: &str) -> Sql<D> {
    Sql::new(format!(
        "UPDATE seats SET {set}, version = version + 1, updated_at = {} \
         FROM (SELECT {order} AS locked_key FROM seats WHERE ",
        D::NOW,
        order = D::SEAT_ORDER
    ))
}

/// The rest of [`move_locked_seats`]: which seats it locks, and the join back to them.
fn locked_seats<D: Dialect>(q: Sql<D>, event_id: &EventId, seat_ids: &[String]) -> Sql<D> {
    q.seats("", event_id, seat_ids).then(format!(
        " ORDER BY {order}{lock}) locked WHERE seats.{order} = locked.locked_key AND ",
        order = D::SEAT_ORDER,
        lock = D::FOR_UPDATE
    ))
}

impl<D: Dialect> Tx<D> {
    pub(crate) async fn lock_user(&mut self, user_id: &UserId) -> StoreResult<()> {
        if !D::USER_LOCK.is_empty() {
            let q = Sql::new(format!("SELECT id FROM users WHERE id = ?{}", D::USER_LOCK));
            self.execute(q.bind(user_id)).await?;
        }
        Ok(())
    }

    /// Seats of the buyer's active holds, in one event or (`None`) across all.
    pub(crate) async fn seats_held(
        &mut self,
        user_id: &UserId,
        event_id: Option<&EventId>,
        now: Timestamp,
    ) -> StoreResult<u32> {
        let q = Sql::new("SELECT COUNT(*) FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id ");
        let q = q.then("WHERE h.user_id = ?").bind(user_id);
        let q = match event_id {
            Some(event_id) => q.then(" AND h.event_id = ?").bind(event_id),
            None => q,
        };
        let q = q.then(" AND h.ended_at IS NULL AND h.expires_at > ?");
        let n: i64 = self.scalar(q.bind(now.millis())).await?;
        Ok(n as u32)
    }

    /// The buyer's [`HoldCounts`] for `event_id`: holds made since `since`, counted up to
    /// `made_cap` (the rule only asks whether the cap is reached; 0 is no cap, and nothing is
    /// counted), and holds let go since `let_go_since`. One statement where there were four: it
    /// runs on every hold. Each part reads an index of just what it counts, so a buyer's long
    /// history (an agency's thousands of orders) costs it nothing: the active holds by a partial
    /// index, the holds made newest first by time and no further than the cap, the holds let go
    /// by a partial index.
    pub(crate) async fn hold_counts(
        &mut self,
        event_id: &EventId,
        user_id: &UserId,
        now: Timestamp,
        (since, made_cap): (Timestamp, u32),
        let_go_since: Timestamp,
    ) -> StoreResult<HoldCounts> {
        const ACTIVE: &str = "SELECT COUNT(*) FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id \
             WHERE h.user_id = ? AND h.ended_at IS NULL AND h.expires_at > ?";
        // When the cap is reached, the oldest of the newest `made_cap` holds is the one whose
        // hour ends first: the wait the rule answers with.
        let made = if made_cap == 0 {
            format!(
                "CAST(0 AS {b}) AS holds_since, CAST(NULL AS {b}) AS oldest_since",
                b = D::BIGINT
            )
        } else {
            "made.holds_since, made.oldest_since".to_owned()
        };
        let from = if made_cap == 0 {
            ""
        } else {
            " FROM (SELECT COUNT(*) AS holds_since, MIN(created_at) AS oldest_since FROM \
             (SELECT created_at FROM holds WHERE user_id = ? AND event_id = ? AND created_at >= ? \
              ORDER BY created_at DESC LIMIT ?) newest) made"
        };
        let q = Sql::new(format!(
            "SELECT ({ACTIVE} AND h.event_id = ?) AS held_in_event, ({ACTIVE}) AS held_in_all, \
             {made}, \
             (SELECT MAX(ended_at) FROM holds WHERE user_id = ? AND event_id = ? \
              AND status IN ('released', 'expired') AND ended_at >= ?) AS last_let_go{from}"
        ));
        let q = q.bind(user_id).bind(now.millis()).bind(event_id);
        let q = q.bind(user_id).bind(now.millis());
        let q = q.bind(user_id).bind(event_id).bind(let_go_since.millis());
        let q = if made_cap == 0 {
            q
        } else {
            let q = q.bind(user_id).bind(event_id).bind(since.millis());
            q.bind(i64::from(made_cap))
        };
        let row: HoldCountsRow = self.one(q).await?;
        Ok(HoldCounts {
            held_in_event: row.held_in_event as u32,
            held_in_all: row.held_in_all as u32,
            holds_since: row.holds_since as u32,
            oldest_since: row.oldest_since.map(Timestamp),
            last_let_go: row.last_let_go.map(Timestamp),
        })
    }

    pub(crate) async fn seats_recently_let_go(
        &mut self,
        event_id: &EventId,
        user_id: &UserId,
        seat_ids: &[String],
        since: Timestamp,
    ) -> StoreResult<Vec<(String, Timestamp)>> {
        let q = Sql::new(
            "SELECT hs.seat_id, MAX(h.ended_at) FROM holds h JOIN hold_seats hs ON hs.hold_id = h.id \
             WHERE h.user_id = ? AND h.event_id = ? AND h.status IN ('released', 'expired') \
             AND h.ended_at >= ? AND ",
        );
        let q = q.bind(user_id).bind(event_id).bind(since.millis());
        let q = q.list("hs.seat_id", seat_ids);
        let rows: Vec<(String, i64)> = self
            .all(q.then(" GROUP BY hs.seat_id ORDER BY hs.seat_id"))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(seat, ended)| (seat, Timestamp(ended)))
            .collect())
    }

    pub(crate) async fn prunable_holds(
        &mut self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<HoldId>> {
        let q = Sql::new(
            "SELECT h.id FROM holds h WHERE h.status IN ('released', 'expired') AND h.ended_at < ? \
             AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.hold_id = h.id) \
             ORDER BY h.ended_at LIMIT ?",
        );
        let ids: Vec<String> = self
            .column(q.bind(before.millis()).bind(i64::from(limit)))
            .await?;
        ids.into_iter()
            .map(|id| super::stored_id(HoldId::parse, id))
            .collect()
    }

    pub(crate) async fn delete_ended_holds(&mut self, hold_ids: &[HoldId]) -> StoreResult<u64> {
        if hold_ids.is_empty() {
            return Ok(0);
        }
        let q = Sql::new("DELETE FROM hold_seats WHERE ").list("hold_id", hold_ids);
        self.execute(q).await?;
        let q = Sql::new("DELETE FROM holds WHERE ").list("id", hold_ids);
        self.execute(q.then(" AND status IN ('released', 'expired')"))
            .await
    }

    pub(crate) async fn insert_hold(&mut self, h: &Hold) -> StoreResult<()> {
        let head = if D::CHAINS_WRITES {
            "WITH new_hold AS ("
        } else {
            ""
        };
        let q = Sql::new(format!(
            "{head}INSERT INTO holds (id, event_id, user_id, status, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)"
        ));
        let q = q.bind(&h.id).bind(&h.event_id).bind(&h.user_id);
        let q = q.bind(h.status.as_str()).bind(h.created_at.millis());
        let q = q.bind(h.expires_at.millis());
        // One statement for all the seats, chained to the hold's where the dialect can: a hold
        // is on every buyer's path.
        let q = if D::CHAINS_WRITES {
            q.then(") ")
        } else {
            self.execute(q).await?;
            Sql::new("")
        };
        let q = q.then("INSERT INTO hold_seats (hold_id, event_id, seat_id) ");
        self.execute(q.with(|q| D::push_hold_seats(q, &h.id, &h.event_id, &h.seat_ids)))
            .await?;
        Ok(())
    }

    pub(crate) async fn hold_by_id(&mut self, hold_id: &HoldId) -> StoreResult<Option<Hold>> {
        // The hold and its seats in one statement: it is read on every checkout.
        let q = Sql::new(format!(
            "SELECT id, event_id, user_id, status, created_at, expires_at, \
             (SELECT {} FROM hold_seats WHERE hold_id = holds.id) AS seat_ids \
             FROM holds WHERE id = ?",
            D::SEAT_ID_LIST
        ));
        let Some(row) = self.optional::<HoldRow>(q.bind(hold_id)).await? else {
            return Ok(None);
        };
        let seat_ids: Vec<String> = row
            .seat_ids
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Some(Hold {
            status: HoldStatus::parse(&row.status)
                .ok_or_else(|| super::corrupt("hold status", &row.status))?,
            id: super::stored_id(HoldId::parse, row.id)?,
            event_id: super::stored_id(EventId::parse, row.event_id)?,
            user_id: super::stored_id(UserId::parse, row.user_id)?,
            seat_ids,
            created_at: Timestamp(row.created_at),
            expires_at: Timestamp(row.expires_at),
        }))
    }

    pub(crate) async fn end_hold(
        &mut self,
        hold_id: &HoldId,
        to: HoldStatus,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let q =
            Sql::new("UPDATE holds SET status = ?, ended_at = ? WHERE id = ? AND ended_at IS NULL");
        let n = self
            .execute(q.bind(to.as_str()).bind(now.millis()).bind(hold_id))
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn claim_hold_for_order(
        &mut self,
        hold_id: &HoldId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let q = Sql::new(
            "UPDATE holds SET status = 'converted', ended_at = ? \
             WHERE id = ? AND status <> 'converted'",
        );
        Ok(self.execute(q.bind(now.millis()).bind(hold_id)).await? == 1)
    }

    pub(crate) async fn expired_holds(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(HoldId, EventId)>> {
        let q = Sql::new(
            "SELECT id, event_id FROM holds WHERE status = 'active' AND expires_at <= ? \
             ORDER BY expires_at LIMIT ?",
        );
        let rows: Vec<(String, String)> = self
            .all(q.bind(now.millis()).bind(i64::from(limit)))
            .await?;
        rows.into_iter()
            .map(|(hold, event)| {
                Ok((
                    super::stored_id(HoldId::parse, hold)?,
                    super::stored_id(EventId::parse, event)?,
                ))
            })
            .collect()
    }

    pub(crate) async fn unavailable_seats(
        &mut self,
        event_id: &EventId,
        seat_ids: &[String],
        hold_id: Option<&HoldId>,
    ) -> StoreResult<Vec<String>> {
        let q = Sql::new("SELECT id FROM seats WHERE ").seats("", event_id, seat_ids);
        // A seat that is not available always has a hold (a check constraint says so).
        let q = q.then(" AND state <> 'available'");
        let q = match hold_id {
            Some(hold_id) => q.then(" AND hold_id <> ?").bind(hold_id),
            None => q,
        };
        self.column(q.then(" ORDER BY id")).await
    }

    pub(crate) async fn count_existing_seats(
        &mut self,
        event_id: &EventId,
        seat_ids: &[String],
    ) -> StoreResult<u64> {
        let q = Sql::new("SELECT COUNT(*) FROM seats WHERE ").seats("", event_id, seat_ids);
        let n: i64 = self.scalar(q).await?;
        Ok(n as u64)
    }

    /// Locks the seats in the one order every multi-seat lock follows, so that concurrent
    /// transactions wait for each other instead of deadlocking. Where no UPDATE returns its rows,
    /// the lock reads them: nothing else can change them until this transaction ends, so what the
    /// UPDATE that follows changes can be told from them.
    async fn lock_seats(
        &mut self,
        change: SeatMove,
        event_id: &EventId,
        seat_ids: &[String],
    ) -> StoreResult<Vec<LockedSeat>> {
        if !D::locks_first(change) {
            return Ok(Vec::new());
        }
        let columns = if D::RETURNING {
            "1"
        } else {
            "id, state, hold_id, version"
        };
        let q = Sql::new(format!("SELECT {columns} FROM seats WHERE "));
        let q = q.seats("", event_id, seat_ids);
        let q = q.then(format!(" ORDER BY {}{}", D::SEAT_ORDER, D::FOR_UPDATE));
        if D::RETURNING {
            self.execute(q).await?;
            return Ok(Vec::new());
        }
        self.all(q).await
    }

    /// Runs a seat UPDATE and returns the seats it changed as they are now, `holder` holding them.
    async fn changed_seats(
        &mut self,
        update: Sql<D>,
        locked: Vec<LockedSeat>,
        (from, hold_id, to): (SeatState, Option<&HoldId>, SeatState),
        holder: &UserId,
    ) -> StoreResult<Vec<SeatStatus>> {
        if D::RETURNING {
            let rows: Vec<SeatRow> = self
                .all(update.then(" RETURNING id, state, version"))
                .await?;
            return rows
                .into_iter()
                .map(|r| {
                    let mut seat = r.into_status()?;
                    seat.holder = Some(holder.as_str().to_owned());
                    Ok(seat)
                })
                .collect();
        }
        let n = self.execute(update).await?;
        let changed = changed_from_lock(locked, from, hold_id, to, holder);
        // The connection counts found rows, not changed ones, and `version` changes anyway: this
        // is the number of seats moved, which the lock said it would be.
        if n != changed.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "moved {n} seats to {} where the lock promised {}",
                to.as_str(),
                changed.len()
            )));
        }
        Ok(changed)
    }

    pub(crate) async fn take_available_seats(
        &mut self,
        event_id: &EventId,
        hold_id: &HoldId,
        holder: &UserId,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let change = (SeatState::Available, None, SeatState::Held);
        if D::LOCKS_IN_UPDATE && D::locks_first(SeatMove::Take) {
            let q = move_locked_seats::<D>("state = 'held', hold_id = ?").bind(hold_id);
            let q = locked_seats(q, event_id, seat_ids).then("state = 'available'");
            return self.changed_seats(q, Vec::new(), change, holder).await;
        }
        let locked = self.lock_seats(SeatMove::Take, event_id, seat_ids).await?;
        let q = move_seats::<D>("state = 'held', hold_id = ?").bind(hold_id);
        let q = q
            .seats("", event_id, seat_ids)
            .then(" AND state = 'available'");
        self.changed_seats(q, locked, change, holder).await
    }

    pub(crate) async fn sell_held_seats(
        &mut self,
        event_id: &EventId,
        hold_id: &HoldId,
        holder: &UserId,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>> {
        let change = (SeatState::Held, Some(hold_id), SeatState::Sold);
        if D::LOCKS_IN_UPDATE && D::locks_first(SeatMove::Sell) {
            let q = locked_seats(move_locked_seats::<D>("state = 'sold'"), event_id, seat_ids);
            let q = q.then("hold_id = ? AND state = 'held'").bind(hold_id);
            return self.changed_seats(q, Vec::new(), change, holder).await;
        }
        let locked = self.lock_seats(SeatMove::Sell, event_id, seat_ids).await?;
        let q = move_seats::<D>("state = 'sold'").seats("", event_id, seat_ids);
        let q = q.then(" AND hold_id = ? AND state = 'held'").bind(hold_id);
        self.changed_seats(q, locked, change, holder).await
    }

    /// Makes the hold's seats that are still in `from` available again (a release, an expiry or
    /// a refund).
    pub(crate) async fn return_to_sale(
        &mut self,
        change: SeatMove,
        (event_id, hold_id, seat_ids): (&EventId, &HoldId, &[String]),
        from: SeatState,
    ) -> StoreResult<u64> {
        self.lock_seats(change, event_id, seat_ids).await?;
        let q = move_seats::<D>("state = 'available', hold_id = NULL");
        let q = q
            .seats("", event_id, seat_ids)
            .then(" AND hold_id = ? AND state = ?");
        self.execute(q.bind(hold_id).bind(from.as_str())).await
    }
}
