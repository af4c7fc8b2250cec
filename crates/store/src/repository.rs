//! The [`Repository`] of every dialect, its methods written once for all in the aggregate modules.

use async_trait::async_trait;

use super::{
    CategoryRecord, ClaimedMail, EventChange, EventRecord, GateCheckins, HoldCounts,
    IdempotencyRecord, LedgerEntry, MailOutcome, NewEvent, NewMail, OrderRecord, OrderSearch,
    OrderStatus, PaymentRecord, PaymentStatus, Repository, SaleRecord, StoreResult, StoredPayment,
    TicketRecord, UserRecord, VenueRecord, VenueSummary,
    sql::{Dialect, SeatMove, Tx},
};
use boxoffice_domain::{
    account::Role,
    hold::{Hold, HoldStatus},
    ids::{EventId, HoldId, OrderId, PaymentId, UserId},
    seat::{SeatState, SeatStatus},
    time::Timestamp,
};

// One line a method: each hands the call to the aggregate module's method of the same name, or
// to the one that serves several.
#[rustfmt::skip]
#[async_trait]
impl<D: Dialect> Repository for Tx<D> {
    async fn commit(self: Box<Self>) -> StoreResult<()> { self.0.commit().await?; Ok(()) }
    async fn db_now(&mut self) -> StoreResult<Timestamp> { Tx::db_now(self).await }
    async fn setting(&mut self, key: &str) -> StoreResult<Option<String>> { Tx::setting(self, key).await }
    async fn setting_or_insert(&mut self, key: &str, value: &str) -> StoreResult<String> { Tx::setting_or_insert(self, key, value).await }
    async fn put_setting(&mut self, key: &str, value: &str) -> StoreResult<()> { Tx::put_setting(self, key, value).await }
    async fn settings_with_prefix(&mut self, prefix: &str) -> StoreResult<Vec<(String, String)>> { Tx::settings_with_prefix(self, prefix).await }
    async fn insert_user(&mut self, user: &UserRecord) -> StoreResult<()> { Tx::insert_user(self, user).await }
    async fn user_by_email(&mut self, email: &str) -> StoreResult<Option<UserRecord>> { Tx::user_by_email(self, email).await }
    async fn update_user_credentials(&mut self, user: &UserRecord) -> StoreResult<()> { Tx::update_user_credentials(self, user).await }
    async fn insert_session(&mut self, token_hash: &str, user_id: &UserId, now: Timestamp, expires_at: Timestamp) -> StoreResult<()> { Tx::insert_session(self, token_hash, user_id, now, expires_at).await }
    async fn user_for_session(&mut self, token_hash: &str, now: Timestamp) -> StoreResult<Option<UserRecord>> { Tx::user_for_session(self, token_hash, now).await }
    async fn delete_session(&mut self, token_hash: &str) -> StoreResult<()> { Tx::delete_session(self, token_hash).await }
    async fn purge_sessions(&mut self, now: Timestamp) -> StoreResult<u64> { Tx::purge_sessions(self, now).await }
    async fn insert_venue(&mut self, venue: &VenueRecord) -> StoreResult<()> { Tx::insert_venue(self, venue).await }
    async fn venue_by_id(&mut self, venue_id: &str) -> StoreResult<Option<VenueRecord>> { Tx::venue_by_id(self, venue_id).await }
    async fn search_orders(&mut self, search: &OrderSearch) -> StoreResult<Vec<OrderRecord>> { Tx::search_orders(self, search).await }
    async fn users_by_ids(&mut self, user_ids: &[UserId]) -> StoreResult<Vec<UserRecord>> { Tx::users_by_ids(self, user_ids).await }
    async fn users_with_roles(&mut self, roles: &[String]) -> StoreResult<Vec<UserRecord>> { Tx::users_with_roles(self, roles).await }
    async fn venues(&mut self) -> StoreResult<Vec<VenueSummary>> { Tx::venues(self).await }
    async fn event_revisions(&mut self) -> StoreResult<Vec<(String, i64)>> { Tx::event_revisions(self).await }
    async fn lock_event(&mut self, event_id: &EventId) -> StoreResult<bool> { Tx::lock_event(self, event_id).await }
    async fn update_event(&mut self, event: &EventChange) -> StoreResult<bool> { Tx::update_event(self, event).await }
    async fn set_event_published(&mut self, event_id: &EventId, published: bool) -> StoreResult<bool> { Tx::set_event_published(self, event_id, published).await }
    async fn update_category(&mut self, category: &CategoryRecord) -> StoreResult<()> { Tx::update_category(self, category).await }
    async fn delete_categories(&mut self, event_id: &EventId, category_ids: &[String]) -> StoreResult<u64> { Tx::delete_categories(self, event_id, category_ids).await }
    async fn move_free_seats(&mut self, event_id: &EventId, category_id: &str, seat_ids: &[String]) -> StoreResult<u64> { Tx::move_free_seats(self, event_id, category_id, seat_ids).await }
    async fn taken_seats(&mut self, event_id: &EventId) -> StoreResult<Vec<(String, String)>> { Tx::taken_seats(self, event_id).await }
    async fn insert_event(&mut self, event: &NewEvent) -> StoreResult<()> { Tx::insert_event(self, event).await }
    async fn insert_category(&mut self, category: &CategoryRecord) -> StoreResult<()> { Tx::insert_category(self, category).await }
    async fn insert_seats(&mut self, event_id: &EventId, seats: &[(String, String)], now: Timestamp) -> StoreResult<()> { Tx::insert_seats(self, event_id, seats, now).await }
    async fn count_events(&mut self) -> StoreResult<u64> { Tx::count_events(self).await }
    async fn event_ids(&mut self) -> StoreResult<Vec<String>> { Tx::event_ids(self).await }
    async fn event_by_id(&mut self, event_id: &EventId) -> StoreResult<Option<EventRecord>> { Tx::event_by_id(self, event_id).await }
    async fn categories_of(&mut self, event_id: &EventId) -> StoreResult<Vec<CategoryRecord>> { Tx::categories_of(self, event_id).await }
    async fn seat_categories(&mut self, event_id: &EventId) -> StoreResult<Vec<(String, String)>> { Tx::seat_categories(self, event_id).await }
    async fn seat_statuses(&mut self, event_id: &EventId) -> StoreResult<Vec<SeatStatus>> { Tx::seat_statuses(self, event_id).await }
    async fn seat_statuses_of(&mut self, event_id: &EventId, seat_ids: &[String]) -> StoreResult<Vec<SeatStatus>> { Tx::seat_statuses_of(self, event_id, seat_ids).await }
    async fn seat_statuses_changed_since(&mut self, event_id: &EventId, since: Timestamp) -> StoreResult<Vec<SeatStatus>> { Tx::seat_statuses_changed_since(self, event_id, since).await }
    async fn lock_user(&mut self, user_id: &UserId) -> StoreResult<()> { Tx::lock_user(self, user_id).await }
    async fn seats_held_by(&mut self, event_id: &EventId, user_id: &UserId, now: Timestamp) -> StoreResult<u32> { Tx::seats_held(self, user_id, Some(event_id), now).await }
    async fn hold_counts(&mut self, event_id: &EventId, user_id: &UserId, now: Timestamp, made: (Timestamp, u32), let_go_since: Timestamp) -> StoreResult<HoldCounts> { Tx::hold_counts(self, event_id, user_id, now, made, let_go_since).await }
    async fn seats_recently_let_go(&mut self, event_id: &EventId, user_id: &UserId, seat_ids: &[String], since: Timestamp) -> StoreResult<Vec<(String, Timestamp)>> { Tx::seats_recently_let_go(self, event_id, user_id, seat_ids, since).await }
    async fn prunable_holds(&mut self, before: Timestamp, limit: u32) -> StoreResult<Vec<HoldId>> { Tx::prunable_holds(self, before, limit).await }
    async fn delete_ended_holds(&mut self, hold_ids: &[HoldId]) -> StoreResult<u64> { Tx::delete_ended_holds(self, hold_ids).await }
    async fn insert_hold(&mut self, hold: &Hold) -> StoreResult<()> { Tx::insert_hold(self, hold).await }
    async fn take_available_seats(&mut self, event_id: &EventId, hold_id: &HoldId, holder: &UserId, seat_ids: &[String]) -> StoreResult<Vec<SeatStatus>> { Tx::take_available_seats(self, event_id, hold_id, holder, seat_ids).await }
    async fn unavailable_seats(&mut self, event_id: &EventId, seat_ids: &[String], hold_id: Option<&HoldId>) -> StoreResult<Vec<String>> { Tx::unavailable_seats(self, event_id, seat_ids, hold_id).await }
    async fn count_existing_seats(&mut self, event_id: &EventId, seat_ids: &[String]) -> StoreResult<u64> { Tx::count_existing_seats(self, event_id, seat_ids).await }
    async fn hold_by_id(&mut self, hold_id: &HoldId) -> StoreResult<Option<Hold>> { Tx::hold_by_id(self, hold_id).await }
    async fn end_hold(&mut self, hold_id: &HoldId, to: HoldStatus, now: Timestamp) -> StoreResult<bool> { Tx::end_hold(self, hold_id, to, now).await }
    async fn free_held_seats(&mut self, event_id: &EventId, hold_id: &HoldId, seat_ids: &[String]) -> StoreResult<u64> { Tx::return_to_sale(self, SeatMove::Release, (event_id, hold_id, seat_ids), SeatState::Held).await }
    async fn sell_held_seats(&mut self, event_id: &EventId, hold_id: &HoldId, holder: &UserId, seat_ids: &[String]) -> StoreResult<Vec<SeatStatus>> { Tx::sell_held_seats(self, event_id, hold_id, holder, seat_ids).await }
    async fn expired_holds(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<(HoldId, EventId)>> { Tx::expired_holds(self, now, limit).await }
    async fn idempotency_record(&mut self, user_id: &UserId, key: &str) -> StoreResult<Option<IdempotencyRecord>> { Tx::idempotency_record(self, user_id, key).await }
    async fn insert_idempotency_record(&mut self, user_id: &UserId, key: &str, fingerprint: &str, now: Timestamp) -> StoreResult<()> { Tx::insert_idempotency_record(self, user_id, key, fingerprint, now).await }
    async fn complete_idempotency_record(&mut self, user_id: &UserId, key: &str, status: u16, response: &str) -> StoreResult<()> { Tx::complete_idempotency_record(self, user_id, key, status, response).await }
    async fn purge_idempotency_records(&mut self, before: Timestamp) -> StoreResult<u64> { Tx::purge_idempotency_records(self, before).await }
    async fn insert_payment(&mut self, payment: &PaymentRecord) -> StoreResult<()> { Tx::insert_payment(self, payment).await }
    async fn insert_payment_for_new_key(&mut self, payment: &PaymentRecord) -> StoreResult<bool> { Tx::insert_payment_for_new_key(self, payment).await }
    async fn finish_payment(&mut self, payment_id: &PaymentId, status: PaymentStatus, provider_ref: Option<&str>, now: Timestamp) -> StoreResult<()> { Tx::finish_payment(self, payment_id, status, provider_ref, now).await }
    async fn insert_order(&mut self, order: &OrderRecord) -> StoreResult<()> { Tx::insert_order(self, order).await }
    async fn insert_ticket(&mut self, ticket: &TicketRecord) -> StoreResult<()> { Tx::insert_tickets(self, std::slice::from_ref(ticket)).await }
    async fn insert_tickets(&mut self, tickets: &[TicketRecord]) -> StoreResult<()> { Tx::insert_tickets(self, tickets).await }
    async fn record_sale(&mut self, sale: &SaleRecord<'_>) -> StoreResult<()> { Tx::record_sale(self, sale).await }
    async fn insert_ledger_entry(&mut self, entry: &LedgerEntry) -> StoreResult<()> { Tx::insert_ledger_entry(self, entry).await }
    async fn orders_of(&mut self, user_id: &UserId) -> StoreResult<Vec<OrderRecord>> { Tx::orders_of(self, user_id).await }
    async fn order_by_id(&mut self, order_id: &OrderId) -> StoreResult<Option<OrderRecord>> { Tx::order_by_id(self, order_id).await }
    async fn ticket_by_id(&mut self, ticket_id: &str) -> StoreResult<Option<TicketRecord>> { Tx::ticket_by_id(self, ticket_id).await }
    async fn payment_by_id(&mut self, payment_id: &PaymentId) -> StoreResult<Option<StoredPayment>> { Tx::payment_by_id(self, payment_id).await }
    async fn lock_payment(&mut self, payment_id: &PaymentId) -> StoreResult<Option<StoredPayment>> { Tx::lock_payment(self, payment_id).await }
    async fn payment_by_reference(&mut self, provider_ref: &str) -> StoreResult<Option<StoredPayment>> { Tx::payment_by_reference(self, provider_ref).await }
    async fn payment_by_key(&mut self, user_id: &UserId, key: &str) -> StoreResult<Option<StoredPayment>> { Tx::payment_by_key(self, user_id, key).await }
    async fn set_payment_reference(&mut self, payment_id: &PaymentId, provider_ref: &str) -> StoreResult<()> { Tx::set_payment_reference(self, payment_id, provider_ref).await }
    async fn pending_payments(&mut self, before: Timestamp, limit: u32) -> StoreResult<Vec<StoredPayment>> { Tx::pending_payments(self, before, limit).await }
    async fn order_id_for_payment(&mut self, payment_id: &PaymentId) -> StoreResult<Option<OrderId>> { Tx::order_id_for_payment(self, payment_id).await }
    async fn claim_hold_for_order(&mut self, hold_id: &HoldId, now: Timestamp) -> StoreResult<bool> { Tx::claim_hold_for_order(self, hold_id, now).await }
    async fn retry_failed_payment(&mut self, payment_id: &PaymentId, now: Timestamp) -> StoreResult<bool> { Tx::retry_failed_payment(self, payment_id, now).await }
    async fn delete_idempotency_record(&mut self, user_id: &UserId, key: &str) -> StoreResult<()> { Tx::delete_idempotency_record(self, user_id, key).await }
    async fn lock_order(&mut self, order_id: &OrderId) -> StoreResult<Option<OrderRecord>> { Tx::lock_order(self, order_id).await }
    async fn charge_of_order(&mut self, order_id: &OrderId) -> StoreResult<Option<(PaymentId, String)>> { Tx::charge_of_order(self, order_id).await }
    async fn void_tickets(&mut self, order_id: &OrderId, ticket_ids: &[String]) -> StoreResult<u64> { Tx::void_tickets(self, order_id, ticket_ids).await }
    async fn free_sold_seats(&mut self, event_id: &EventId, hold_id: &HoldId, seat_ids: &[String]) -> StoreResult<u64> { Tx::return_to_sale(self, SeatMove::Refund, (event_id, hold_id, seat_ids), SeatState::Sold).await }
    async fn set_order_status(&mut self, order_id: &OrderId, status: OrderStatus) -> StoreResult<()> { Tx::set_order_status(self, order_id, status).await }
    async fn check_in_ticket(&mut self, ticket_id: &str, gate: &str, now: Timestamp) -> StoreResult<bool> { Tx::check_in_ticket(self, ticket_id, gate, now).await }
    async fn record_earlier_scan(&mut self, ticket_id: &str, gate: &str, scanned_at: Timestamp) -> StoreResult<bool> { Tx::record_earlier_scan(self, ticket_id, gate, scanned_at).await }
    async fn checkins_by_gate(&mut self, event_id: &EventId) -> StoreResult<Vec<GateCheckins>> { Tx::checkins_by_gate(self, event_id).await }
    async fn revenue_of_event(&mut self, event_id: &EventId) -> StoreResult<i64> { Tx::revenue_of_event(self, event_id).await }
    async fn set_user_role(&mut self, email: &str, role: Role) -> StoreResult<Option<UserRecord>> { Tx::set_user_role(self, email, role).await }
    async fn queue_mail(&mut self, mail: &NewMail) -> StoreResult<()> { Tx::queue_mail(self, mail).await }
    async fn claim_due_mail(&mut self, lease: &str, lease_ms: i64, limit: u32) -> StoreResult<Vec<ClaimedMail>> { Tx::claim_due_mail(self, lease, lease_ms, limit).await }
    async fn settle_mail(&mut self, id: &str, lease: &str, outcome: &MailOutcome) -> StoreResult<bool> { Tx::settle_mail(self, id, lease, outcome).await }
    async fn unsent_mail(&mut self) -> StoreResult<i64> { Tx::unsent_mail(self).await }
    async fn audit_query(&mut self, sql: &str) -> StoreResult<Vec<String>> { Tx::audit_query(self, sql).await }
}
