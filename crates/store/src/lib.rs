//! Storage: one [`Repository`] trait, its queries written once for every SQL dialect (see
//! [`sql`]). A repository value *is* an open transaction: handlers begin it, call it through
//! `&mut`, and commit it (dropping rolls back).

#[macro_use]
mod sql;
mod accounts;
mod administration;
pub mod audit;
mod catalogue;
mod editing;
mod error;
mod holds;
mod mysql;
mod orders;
mod outbox;
mod params;
mod payments;
mod postgres;
mod records;
mod repository;
mod sqlite;

use async_trait::async_trait;

use error::{corrupt, stored_id};

pub use error::{StoreError, StoreResult};
pub use holds::HoldCounts;
pub use outbox::{ClaimedMail, MailKind, MailOutcome, NewMail};
pub use records::*;

use boxoffice_domain::{
    hold::Hold,
    ids::{EventId, HoldId, OrderId, PaymentId, UserId},
    seat::SeatStatus,
    time::Timestamp,
};

/// The connection pools of one database, whatever its dialect.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// `sqlite`, `postgres` or `mysql`.
    fn dialect(&self) -> &'static str;
    /// A transaction for work that writes.
    async fn begin(&self) -> StoreResult<Box<dyn Repository>>;
    /// A transaction that only reads (SQLite serves these from a separate pool of readers).
    async fn read(&self) -> StoreResult<Box<dyn Repository>>;
    /// A read on connections of its own, for confirming that seats the live map shows taken
    /// are taken: a crowd of refusals never waits for a connection behind the sales.
    async fn refusal_read(&self) -> StoreResult<Box<dyn Repository>>;
    /// The user a live session token (its digest) belongs to, outside any transaction.
    async fn session_user(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>>;
    /// Applies the migrations this database has not had yet.
    async fn migrate(&self) -> StoreResult<()>;
    /// Whether the database answers, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes every pool, waiting for connections in use to come back.
    async fn close(&self);
    /// How full each connection pool is now, for `/metrics`.
    fn pool_stats(&self) -> Vec<PoolStats>;
}

/// One connection pool's occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `main` (PostgreSQL, MySQL), `writer` and `readers` (SQLite), `refusals` (all).
    pub pool: &'static str,
    /// Connections open now, busy or idle.
    pub open: u32,
    /// Open and idle.
    pub idle: u32,
    /// The most it may open.
    pub max: u32,
}

impl PoolStats {
    /// The occupancy of `p`, named `pool`.
    pub fn of<DB: sqlx::Database>(pool: &'static str, p: &sqlx::Pool<DB>) -> Self {
        let open = p.size();
        PoolStats {
            pool,
            open,
            idle: (p.num_idle() as u32).min(open),
            max: p.options().get_max_connections(),
        }
    }

    /// Connections busy now.
    pub fn in_use(&self) -> u32 {
        self.open - self.idle
    }
}

/// Runs `acquire` (taking a connection from `pool`, then its BEGIN) counted in the gauge
/// `boxoffice_db_pool_waiting{pool}`: work queued in front of the database shows there before
/// it shows in latency. Counted until `acquire` finishes or is dropped.
pub(crate) async fn waiting<T>(pool: &'static str, acquire: impl Future<Output = T>) -> T {
    struct Waiting(metrics::Gauge);
    impl Drop for Waiting {
        fn drop(&mut self) {
            self.0.decrement(1.0);
        }
    }
    let gauge = metrics::gauge!("boxoffice_db_pool_waiting", "pool" => pool);
    gauge.increment(1.0);
    let _waiting = Waiting(gauge);
    acquire.await
}

/// Connections kept apart for refusal reads (see `Database::refusal_read`): each such read is
/// one indexed lookup, so two serve a crowd.
const REFUSAL_CONNECTIONS: u32 = 2;

/// Opens the database a URL names (`sqlite:`, `postgres://`/`postgresql://`,
/// `mysql://`/`mariadb://`), creating the SQLite file if needed.
pub async fn connect(url: &str, pool_size: u32) -> StoreResult<std::sync::Arc<dyn Database>> {
    if url.starts_with("sqlite:") {
        return Ok(std::sync::Arc::new(sqlite::connect(url, pool_size).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(
            postgres::connect(url, pool_size).await?,
        ));
    }
    if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        return Ok(std::sync::Arc::new(mysql::connect(url, pool_size).await?));
    }
    Err(StoreError::UnsupportedUrl(redact(url)))
}

/// The same server's URL for another database: `scheme://user@host:port/old?query` →
/// `scheme://user@host:port/new?query`. Tests, rehearsals and benchmarks make fresh databases
/// this way.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[authority_end..]
        .find('/')
        .map(|i| i + authority_end)
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..path_start])
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Every query the application makes, inside one transaction.
#[async_trait]
pub trait Repository: Send {
    /// Commits the transaction; dropping the repository instead rolls it back.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
    /// The database's clock in milliseconds: the one clock all instances agree on.
    async fn db_now(&mut self) -> StoreResult<Timestamp>;

    // Settings.
    /// The setting stored under `key`.
    async fn setting(&mut self, key: &str) -> StoreResult<Option<String>>;
    /// Stores `value` unless the key exists; returns the value that is stored now.
    async fn setting_or_insert(&mut self, key: &str, value: &str) -> StoreResult<String>;
    /// Sets `key` to `value`, replacing what was there.
    async fn put_setting(&mut self, key: &str, value: &str) -> StoreResult<()>;
    /// Every setting whose key starts with `prefix` (which holds no LIKE wildcards).
    async fn settings_with_prefix(&mut self, prefix: &str) -> StoreResult<Vec<(String, String)>>;

    // Accounts and sessions.
    /// Inserts a new account; a taken e-mail is a conflict.
    async fn insert_user(&mut self, user: &UserRecord) -> StoreResult<()>;
    /// The account with this (lower-cased) e-mail.
    async fn user_by_email(&mut self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Replaces the account's name, password hash and role.
    async fn update_user_credentials(&mut self, user: &UserRecord) -> StoreResult<()>;
    /// Stores a session under the digest of its token.
    async fn insert_session(
        &mut self,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// The account a live session belongs to.
    async fn user_for_session(
        &mut self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserRecord>>;
    /// Ends a session (signing out).
    async fn delete_session(&mut self, token_hash: &str) -> StoreResult<()>;
    /// Deletes expired sessions; returns how many.
    async fn purge_sessions(&mut self, now: Timestamp) -> StoreResult<u64>;

    // Venues, events, categories and seats.
    /// Inserts a checked venue.
    async fn insert_venue(&mut self, venue: &VenueRecord) -> StoreResult<()>;
    /// The venue with this id.
    async fn venue_by_id(&mut self, venue_id: &str) -> StoreResult<Option<VenueRecord>>;
    /// Orders as an admin searches them, newest first, with their tickets.
    async fn search_orders(&mut self, search: &OrderSearch) -> StoreResult<Vec<OrderRecord>>;
    /// The accounts with these ids.
    async fn users_by_ids(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<UserRecord>>;
    /// Every account with one of these roles, by role then e-mail.
    async fn users_with_roles(&mut self, roles: &[String]) -> StoreResult<Vec<UserRecord>>;
    /// Every venue, newest first, with how many events it has.
    async fn venues(&mut self) -> StoreResult<Vec<VenueSummary>>;
    /// Every event's id with its revision, which grows with each edit.
    async fn event_revisions(&mut self) -> StoreResult<Vec<(String, i64)>>;
    /// Locks the event's row for the rest of the transaction; whether it exists.
    async fn lock_event(&mut self, event_id: &EventId) -> StoreResult<bool>;
    /// Changes the event's name, times and currency and bumps its revision; whether it exists.
    async fn update_event(&mut self, event: &EventChange) -> StoreResult<bool>;
    /// Publishes the event or makes it a draft, and bumps its revision; whether it exists.
    async fn set_event_published(
        &mut self,
        event_id: &EventId,
        published: bool,
    ) -> StoreResult<bool>;
    /// Changes a category's name, price, currency and position.
    async fn update_category(&mut self, category: &CategoryRecord) -> StoreResult<()>;
    /// Deletes the event's categories with these ids (no seat may still be in them).
    async fn delete_categories(
        &mut self,
        event_id: &EventId,
        category_ids: &[String],
    ) -> StoreResult<u64>;
    /// Puts these seats of the event in the category, each only if it is available; how many moved.
    async fn move_free_seats(
        &mut self,
        event_id: &EventId,
        category_id: &str,
        seat_ids: &[String],
    ) -> StoreResult<u64>;
    /// The event's held and sold seats with their category ids.
    async fn taken_seats(&mut self, event_id: &EventId) -> StoreResult<Vec<(String, String)>>;
    /// Inserts an event; its categories and seats follow.
    async fn insert_event(&mut self, event: &NewEvent) -> StoreResult<()>;
    /// Inserts one price category of an event.
    async fn insert_category(&mut self, category: &CategoryRecord) -> StoreResult<()>;
    /// Every seat of a new event, available, at version 1, in a few statements whatever the
    /// venue's size.
    async fn insert_seats(
        &mut self,
        event_id: &EventId,
        seats: &[(String, String)],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// How many events exist.
    async fn count_events(&mut self) -> StoreResult<u64>;
    /// Every event's id, soonest first: the catalogue has the rest in memory, so listing events
    /// does not re-read every venue's layout (megabytes for a stadium).
    async fn event_ids(&mut self) -> StoreResult<Vec<String>>;
    /// The event with its venue.
    async fn event_by_id(&mut self, event_id: &EventId) -> StoreResult<Option<EventRecord>>;
    /// The event's categories, in the order buyers see them.
    async fn categories_of(&mut self, event_id: &EventId) -> StoreResult<Vec<CategoryRecord>>;
    /// Seat id → category id, for pricing and for drawing the map.
    async fn seat_categories(&mut self, event_id: &EventId) -> StoreResult<Vec<(String, String)>>;
    /// Every seat of the event as it is now.
    async fn seat_statuses(&mut self, event_id: &EventId) -> StoreResult<Vec<SeatStatus>>;
    /// These seats of the event as they are now.
    async fn seat_statuses_of(
        &mut self,
        event_id: &EventId,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>>;
    /// Seats whose last change the database stamped at or after `since` (its own clock).
    async fn seat_statuses_changed_since(
        &mut self,
        event_id: &EventId,
        since: Timestamp,
    ) -> StoreResult<Vec<SeatStatus>>;

    // Holds.
    /// Serialises one buyer's concurrent holds so that the per-user limit cannot be raced.
    async fn lock_user(&mut self, user_id: &UserId) -> StoreResult<()>;
    /// Seats of the buyer's active holds for the event; "active" read as in
    /// [`Repository::end_hold`].
    async fn seats_held_by(
        &mut self,
        event_id: &EventId,
        user_id: &UserId,
        now: Timestamp,
    ) -> StoreResult<u32>;
    /// What the hold rules count of the buyer, in one statement: seats held in the event and in
    /// all events ("active" as in [`Repository::seats_held_by`]), the holds made in the event at
    /// `made.0` or later (counted up to `made.1`) with the oldest of them, and the last hold let
    /// go at `let_go_since` or later.
    async fn hold_counts(
        &mut self,
        event_id: &EventId,
        user_id: &UserId,
        now: Timestamp,
        made: (Timestamp, u32),
        let_go_since: Timestamp,
    ) -> StoreResult<HoldCounts>;
    /// Which of `seat_ids` the buyer released or let expire in the event at `since` or later, each
    /// with when it last did: the cool-down.
    async fn seats_recently_let_go(
        &mut self,
        event_id: &EventId,
        user_id: &UserId,
        seat_ids: &[String],
        since: Timestamp,
    ) -> StoreResult<Vec<(String, Timestamp)>>;
    /// Up to `limit` released or expired holds that ended before `before` and that no payment
    /// refers to: those retention may delete.
    async fn prunable_holds(&mut self, before: Timestamp, limit: u32) -> StoreResult<Vec<HoldId>>;
    /// Deletes these ended holds and their seat rows; returns how many holds went.
    async fn delete_ended_holds(&mut self, hold_ids: &[HoldId]) -> StoreResult<u64>;
    /// Inserts a hold; its seats are taken separately.
    async fn insert_hold(&mut self, hold: &Hold) -> StoreResult<()>;
    /// The one conditional update that takes seats: only those still available change. The caller
    /// rolls back unless it took all of them. Dialects with row locks lock the
    /// requested seats in id order first, as every statement that locks several seats does, so
    /// that concurrent transactions never deadlock on seats.
    ///
    /// Returns the seats it took as they are now (for the live maps), `holder` being the hold's
    /// buyer, so that no second query has to read them back.
    async fn take_available_seats(
        &mut self,
        event_id: &EventId,
        hold_id: &HoldId,
        holder: &UserId,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>>;
    /// Of `seat_ids`, those taken by anyone but `hold_id` (the hold being attempted; `None`
    /// before there is one, when every taken seat counts).
    async fn unavailable_seats(
        &mut self,
        event_id: &EventId,
        seat_ids: &[String],
        hold_id: Option<&HoldId>,
    ) -> StoreResult<Vec<String>>;
    /// How many of `seat_ids` exist in the event.
    async fn count_existing_seats(
        &mut self,
        event_id: &EventId,
        seat_ids: &[String],
    ) -> StoreResult<u64>;
    /// The hold with this id, with its seats.
    async fn hold_by_id(&mut self, hold_id: &HoldId) -> StoreResult<Option<Hold>>;
    /// Moves an active hold to `to` (released, expired or converted); false if it was not active.
    /// A hold is active exactly while it has no `ended_at` (every transition sets it, and the
    /// audit checks it): the statement tests that column, which no index has, so that the only
    /// way to the row is the primary key. Tested on `status`, a planner whose statistics say no
    /// hold is active could walk the status index and its dead entries instead.
    async fn end_hold(
        &mut self,
        hold_id: &HoldId,
        to: boxoffice_domain::hold::HoldStatus,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Returns the hold's held seats to sale. `seat_ids` are the hold's own (from
    /// [`Repository::hold_by_id`]): seats are addressed by primary key, never found by scanning
    /// the event for the hold, so the cost does not grow with the size of the hall.
    async fn free_held_seats(
        &mut self,
        event_id: &EventId,
        hold_id: &HoldId,
        seat_ids: &[String],
    ) -> StoreResult<u64>;
    /// Marks the hold's held seats sold; returns them as they are now, as
    /// [`Repository::take_available_seats`] does. `seat_ids` as for
    /// [`Repository::free_held_seats`].
    async fn sell_held_seats(
        &mut self,
        event_id: &EventId,
        hold_id: &HoldId,
        holder: &UserId,
        seat_ids: &[String],
    ) -> StoreResult<Vec<SeatStatus>>;
    /// Up to `limit` active holds past their expiry, as (hold id, event id).
    async fn expired_holds(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(HoldId, EventId)>>;

    // Checkout.
    /// What was recorded for this buyer's idempotency key.
    async fn idempotency_record(
        &mut self,
        user_id: &UserId,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>>;
    /// Records the first request made with a key, before it is processed.
    async fn insert_idempotency_record(
        &mut self,
        user_id: &UserId,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Stores the response to replay for the key.
    async fn complete_idempotency_record(
        &mut self,
        user_id: &UserId,
        key: &str,
        status: u16,
        response: &str,
    ) -> StoreResult<()>;
    /// Deletes keys recorded before `before`; returns how many.
    async fn purge_idempotency_records(&mut self, before: Timestamp) -> StoreResult<u64>;
    /// Records a pending payment attempt.
    async fn insert_payment(&mut self, payment: &PaymentRecord) -> StoreResult<()>;
    /// Inserts the payment unless one with its `(user, idempotency key)` exists, and says whether
    /// it did; then the caller reads that one ([`Repository::payment_by_key`]). A first attempt,
    /// the common case, costs the one statement. Where the dialect cannot tell which unique key
    /// refused the row (MariaDB), a payment already in flight for the hold also answers false.
    async fn insert_payment_for_new_key(&mut self, payment: &PaymentRecord) -> StoreResult<bool>;
    /// Sets what became of a payment attempt.
    async fn finish_payment(
        &mut self,
        payment_id: &PaymentId,
        status: PaymentStatus,
        provider_ref: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Inserts a paid order (without its tickets).
    async fn insert_order(&mut self, order: &OrderRecord) -> StoreResult<()>;
    /// Inserts one ticket of an order.
    async fn insert_ticket(&mut self, ticket: &TicketRecord) -> StoreResult<()>;
    /// An order's tickets in one statement.
    async fn insert_tickets(&mut self, tickets: &[TicketRecord]) -> StoreResult<()>;
    /// Writes a sale's order and tickets, ends its payment as succeeded, records its charge,
    /// stores the answer its key replays and queues its confirmation when there is one: one
    /// statement where the dialect can chain writes.
    async fn record_sale(&mut self, sale: &SaleRecord<'_>) -> StoreResult<()>;
    /// Records a movement of money.
    async fn insert_ledger_entry(&mut self, entry: &LedgerEntry) -> StoreResult<()>;
    /// The buyer's orders with their tickets, newest first.
    async fn orders_of(&mut self, user_id: &UserId) -> StoreResult<Vec<OrderRecord>>;
    /// The order with its tickets.
    async fn order_by_id(&mut self, order_id: &OrderId) -> StoreResult<Option<OrderRecord>>;
    /// The ticket with this id.
    async fn ticket_by_id(&mut self, ticket_id: &str) -> StoreResult<Option<TicketRecord>>;

    // Payments after checkout: webhooks and reconciliation.
    /// The payment attempt with this id.
    async fn payment_by_id(&mut self, payment_id: &PaymentId)
    -> StoreResult<Option<StoredPayment>>;
    /// The payment, locked until the transaction ends: settling it twice at once is impossible.
    async fn lock_payment(&mut self, payment_id: &PaymentId) -> StoreResult<Option<StoredPayment>>;
    /// The payment attempt the provider knows by `provider_ref`.
    async fn payment_by_reference(
        &mut self,
        provider_ref: &str,
    ) -> StoreResult<Option<StoredPayment>>;
    /// The buyer's payment attempt made with this idempotency key.
    async fn payment_by_key(
        &mut self,
        user_id: &UserId,
        key: &str,
    ) -> StoreResult<Option<StoredPayment>>;
    /// Records the provider's intent id for the payment.
    async fn set_payment_reference(
        &mut self,
        payment_id: &PaymentId,
        provider_ref: &str,
    ) -> StoreResult<()>;
    /// Pending payments created before `before`, oldest first.
    async fn pending_payments(
        &mut self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<StoredPayment>>;
    /// The order a payment paid for, once it exists.
    async fn order_id_for_payment(
        &mut self,
        payment_id: &PaymentId,
    ) -> StoreResult<Option<OrderId>>;
    /// Converts a hold whatever became of it meanwhile (a payment that succeeded late keeps its
    /// seats if it can); false only if it was converted already.
    async fn claim_hold_for_order(&mut self, hold_id: &HoldId, now: Timestamp)
    -> StoreResult<bool>;
    /// Makes a failed attempt (nothing charged) pending again for a retry with the same key;
    /// false if it was not failed. A conflict means another attempt for the hold is in flight.
    async fn retry_failed_payment(
        &mut self,
        payment_id: &PaymentId,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Forgets an idempotency key whose request took no effect, so that a retry starts afresh.
    async fn delete_idempotency_record(&mut self, user_id: &UserId, key: &str) -> StoreResult<()>;

    // Administration and the door.
    /// The order with its tickets, locked until the transaction ends, so that two refunds of one
    /// order run one after the other.
    async fn lock_order(&mut self, order_id: &OrderId) -> StoreResult<Option<OrderRecord>>;
    /// The order's captured charge: its payment id and the provider's reference.
    async fn charge_of_order(
        &mut self,
        order_id: &OrderId,
    ) -> StoreResult<Option<(PaymentId, String)>>;
    /// Voids those of `ticket_ids` that belong to the order and are still valid; returns how many.
    async fn void_tickets(&mut self, order_id: &OrderId, ticket_ids: &[String])
    -> StoreResult<u64>;
    /// Returns seats sold through `hold_id` to sale; returns how many. Locks them in id order
    /// first, like every statement that locks several seats.
    async fn free_sold_seats(
        &mut self,
        event_id: &EventId,
        hold_id: &HoldId,
        seat_ids: &[String],
    ) -> StoreResult<u64>;
    /// Sets what became of an order after a refund.
    async fn set_order_status(
        &mut self,
        order_id: &OrderId,
        status: OrderStatus,
    ) -> StoreResult<()>;
    /// Records a ticket's first scan, at `gate`; false when it was scanned before or is void.
    async fn check_in_ticket(
        &mut self,
        ticket_id: &str,
        gate: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Records a scan made offline as the ticket's first scan unless one at least as early is
    /// recorded; false then, and for a void ticket.
    async fn record_earlier_scan(
        &mut self,
        ticket_id: &str,
        gate: &str,
        scanned_at: Timestamp,
    ) -> StoreResult<bool>;
    /// The event's valid tickets grouped by the gate of their first scan, as (gate, tickets,
    /// tickets checked in): the group without a gate holds the tickets not scanned yet, and
    /// those checked in before gates existed.
    async fn checkins_by_gate(&mut self, event_id: &EventId) -> StoreResult<Vec<GateCheckins>>;
    /// The prices of the event's valid tickets, summed: revenue net of refunds.
    async fn revenue_of_event(&mut self, event_id: &EventId) -> StoreResult<i64>;
    /// Gives the account with this e-mail a role; `None` when there is no such account.
    async fn set_user_role(
        &mut self,
        email: &str,
        role: boxoffice_domain::account::Role,
    ) -> StoreResult<Option<UserRecord>>;

    // The e-mail outbox.
    /// Queues a message to the account `mail.user_id`, in this transaction.
    async fn queue_mail(&mut self, mail: &NewMail) -> StoreResult<()>;
    /// Claims up to `limit` messages that are due, for `lease_ms` of the database's clock, under
    /// `lease` (a token of this claim's own). No other claim takes them until the lease runs out.
    async fn claim_due_mail(
        &mut self,
        lease: &str,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedMail>>;
    /// Records what became of an attempt; false when `lease` no longer holds the message.
    async fn settle_mail(
        &mut self,
        id: &str,
        lease: &str,
        outcome: &MailOutcome,
    ) -> StoreResult<bool>;
    /// How many messages are neither sent nor given up on.
    async fn unsent_mail(&mut self) -> StoreResult<i64>;

    /// Runs one audit query: each row names something that breaks an invariant.
    async fn audit_query(&mut self, sql: &str) -> StoreResult<Vec<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_replaces_only_the_name() {
        assert_eq!(
            replace_database("postgres://u@h:5432/postgres?sslmode=disable", "bo_x"),
            "postgres://u@h:5432/bo_x?sslmode=disable"
        );
        assert_eq!(
            replace_database("mysql://root@127.0.0.1", "bo_x"),
            "mysql://root@127.0.0.1/bo_x"
        );
    }
}
