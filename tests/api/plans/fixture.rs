//! The plan test's hall: a stadium-sized venue, events on it, and sales, holds, pending payments
//! and expired holds in the numbers a long sale leaves behind.

use std::sync::Arc;

use boxoffice_domain::{
    account::Role,
    hold::{Hold, HoldStatus},
    ids::{EventId, HoldId, OrderId, PaymentId, UserId},
    new_id,
    time::Timestamp,
};
use boxoffice_store::{
    CategoryRecord, Database, LedgerEntry, LedgerKind, NewEvent, OrderRecord, OrderStatus,
    PaymentRecord, PaymentStatus, TicketRecord, UserRecord, VenueRecord,
};

use super::{
    BUYERS, PER_ORDER,
    probe::{COOLDOWN, HOUR, HOURLY_CAP},
};

/// A big venue's events and the buyer who bought most of them.
pub(super) struct Fixture {
    pub(super) db: Arc<dyn Database>,
    pub(super) users: Vec<UserRecord>,
    pub(super) venue_id: String,
}

pub(super) struct EventFixture {
    pub(super) id: EventId,
    pub(super) seat_ids: Vec<String>,
    /// How many seats, from the first, the fixture sold.
    pub(super) sold: std::sync::Mutex<usize>,
    /// The next seat the probes may hold (each probe takes fresh ones from the end of the hall).
    pub(super) next_free: std::sync::Mutex<usize>,
}

impl EventFixture {
    /// `n` groups of four seats nobody has touched.
    pub(super) fn free_seats(&self, n: usize) -> Vec<Vec<String>> {
        let mut next = self.next_free.lock().unwrap();
        (0..n)
            .map(|_| {
                *next -= PER_ORDER;
                self.seat_ids[*next..*next + PER_ORDER].to_vec()
            })
            .collect()
    }

    pub(super) fn sold_seats(&self, n: usize) -> Vec<String> {
        let sold = *self.sold.lock().unwrap();
        self.seat_ids[sold / 2..sold / 2 + n].to_vec()
    }
}

impl Fixture {
    pub(super) async fn new(db: Arc<dyn Database>) -> Self {
        let now = Timestamp::now();
        let users: Vec<UserRecord> = (0..BUYERS)
            .map(|i| UserRecord {
                id: UserId::generate(),
                email: format!("buyer{i}-{}@example.test", new_id()),
                name: format!("Buyer {i}"),
                role: Role::Buyer,
                password_hash: "not a hash".into(),
                created_at: now,
            })
            .collect();
        let venue_id = new_id();
        let mut tx = db.begin().await.expect("begin");
        for user in &users {
            tx.insert_user(user).await.expect("insert a buyer");
        }
        tx.insert_venue(&VenueRecord {
            id: venue_id.clone(),
            name: "Stadium".into(),
            layout: "{}".into(),
            created_at: now,
        })
        .await
        .expect("insert the venue");
        tx.commit().await.expect("commit");
        Fixture {
            db,
            users,
            venue_id,
        }
    }

    /// A new event of the venue with `seats` seats, ids as a stadium's (`S01-R012-007`).
    pub(super) async fn event(&self, seats: usize) -> EventFixture {
        let now = Timestamp::now();
        let id = EventId::generate();
        let category_id = new_id();
        let seat_ids: Vec<String> = (0..seats)
            .map(|i| format!("S{:02}-R{:03}-{:03}", i / 3000, (i / 100) % 30, i % 100))
            .collect();
        let mut tx = self.db.begin().await.expect("begin");
        tx.insert_event(&NewEvent {
            id: id.clone(),
            venue_id: self.venue_id.clone(),
            name: "Final".into(),
            starts_at: now.plus(std::time::Duration::from_secs(86_400)),
            sale_opens_at: now,
            currency: "EUR".into(),
            created_at: now,
            published: true,
        })
        .await
        .expect("insert the event");
        tx.insert_category(&CategoryRecord {
            id: category_id.clone(),
            event_id: id.to_string(),
            name: "Stand".into(),
            price_cents: 100,
            currency: "EUR".into(),
            position: 0,
        })
        .await
        .expect("insert the category");
        let pairs: Vec<(String, String)> = seat_ids
            .iter()
            .map(|s| (s.clone(), category_id.clone()))
            .collect();
        tx.insert_seats(&id, &pairs, now)
            .await
            .expect("insert the seats");
        tx.commit().await.expect("commit the event");
        EventFixture {
            id,
            next_free: std::sync::Mutex::new(seat_ids.len()),
            seat_ids,
            sold: std::sync::Mutex::new(0),
        }
    }

    /// Sells seats `from..to` in orders of four, through the same statements as a sale, many
    /// orders to a transaction.
    pub(super) async fn sell(&self, event: &EventFixture, from: usize, to: usize) {
        let now = Timestamp::now();
        for batch in event.seat_ids[from..to].chunks(PER_ORDER * 250) {
            let mut tx = self.db.begin().await.expect("begin");
            for (n, seats) in batch.chunks(PER_ORDER).enumerate() {
                // A quarter of the orders are the probe's own buyer's (an agency, a box office):
                // what one buyer's statements read must not grow with their history.
                let user = &self.users[if n % 4 == 0 { 0 } else { n % BUYERS }];
                let hold = new_hold(event, &user.id, seats.to_vec(), now);
                let payment = PaymentRecord {
                    id: PaymentId::generate(),
                    hold_id: hold.id.clone(),
                    user_id: user.id.clone(),
                    idempotency_key: new_id(),
                    amount_cents: 100 * seats.len() as i64,
                    currency: "EUR".into(),
                    provider: "sandbox".into(),
                    card_last4: "4242".into(),
                    created_at: now,
                };
                // As the hold path does: each buyer's new hold counts what the caps count first.
                tx.hold_counts(
                    &event.id,
                    &user.id,
                    now,
                    (now.minus(HOUR), HOURLY_CAP),
                    now.minus(COOLDOWN),
                )
                .await
                .expect("counts");
                tx.insert_hold(&hold).await.expect("hold");
                tx.take_available_seats(&event.id, &hold.id, &hold.user_id, &hold.seat_ids)
                    .await
                    .expect("take");
                tx.insert_payment(&payment).await.expect("payment");
                tx.claim_hold_for_order(&hold.id, now).await.expect("claim");
                tx.sell_held_seats(&event.id, &hold.id, &hold.user_id, &hold.seat_ids)
                    .await
                    .expect("sell");
                let order = order_for(&hold, &payment, now);
                tx.insert_order(&order).await.expect("order");
                for t in &order.tickets {
                    tx.insert_ticket(t).await.expect("ticket");
                }
                let intent = format!("pi_{}", payment.id);
                tx.finish_payment(&payment.id, PaymentStatus::Succeeded, Some(&intent), now)
                    .await
                    .expect("finish");
                tx.insert_ledger_entry(&ledger(&payment, Some(&order.id), LedgerKind::Charge, now))
                    .await
                    .expect("ledger");
            }
            tx.commit().await.expect("commit a batch of sales");
        }
        *event.sold.lock().unwrap() = to;
    }

    /// A sale in progress also has holds that wait for the sweeper and payments that wait for
    /// the bank.
    pub(super) async fn leave_pending_and_expired(&self, event: &EventFixture) {
        let past = Timestamp::now().minus(std::time::Duration::from_secs(3_600));
        let mut tx = self.db.begin().await.expect("begin");
        for (n, seats) in event.free_seats(20).into_iter().enumerate() {
            let user = &self.users[n % BUYERS];
            let hold = new_hold(event, &user.id, seats, past);
            tx.insert_hold(&hold).await.expect("hold");
            tx.take_available_seats(&event.id, &hold.id, &hold.user_id, &hold.seat_ids)
                .await
                .expect("take");
            tx.insert_payment(&PaymentRecord {
                id: PaymentId::generate(),
                hold_id: hold.id.clone(),
                user_id: user.id.clone(),
                idempotency_key: new_id(),
                amount_cents: 400,
                currency: "EUR".into(),
                provider: "sandbox".into(),
                card_last4: "4242".into(),
                created_at: past,
            })
            .await
            .expect("payment");
        }
        tx.commit().await.expect("commit");
    }

    /// Moves every change an hour back, so that only the probes' own changes are recent, as
    /// in a sale where the reconciler's window holds the last few seconds.
    pub(super) async fn age_changes(&self) {
        let mut tx = self.db.begin().await.expect("begin");
        tx.audit_query("UPDATE seats SET updated_at = updated_at - 3600000")
            .await
            .expect("age the changes");
        tx.commit().await.expect("commit");
    }

    /// The periodic tasks have been running all along (the sweeper, the payment reconciler and
    /// each instance's live-map reconciler): their last pass is behind this one, as in a sale.
    pub(super) async fn run_background_tasks(&self, events: &[&EventFixture]) {
        let now = Timestamp::now();
        let mut tx = self.db.begin().await.expect("begin");
        tx.expired_holds(now, 100).await.expect("sweeper");
        tx.pending_payments(now, 100)
            .await
            .expect("payment reconciler");
        for event in events {
            tx.seat_statuses_changed_since(&event.id, now.minus(std::time::Duration::from_secs(5)))
                .await
                .expect("live-map reconciler");
        }
        tx.commit().await.expect("commit");
    }

    /// Refreshes the planner's statistics of every table, as autovacuum would mid-sale.
    pub(super) async fn analyze(&self, backend: &str) {
        let sql = match backend {
            "postgres" => "ANALYZE".to_owned(),
            _ => "ANALYZE TABLE users, events, categories, seats, holds, hold_seats, \
                  idempotency_keys, payments, orders, tickets, ledger"
                .to_owned(),
        };
        let mut tx = self.db.begin().await.expect("begin");
        tx.audit_query(&sql).await.expect("analyze");
        tx.commit().await.expect("commit");
    }
}

/// An active hold of these seats, made at `at`, with the server's default time to live.
pub(super) fn new_hold(
    event: &EventFixture,
    user_id: &UserId,
    seat_ids: Vec<String>,
    at: Timestamp,
) -> Hold {
    Hold {
        id: HoldId::generate(),
        event_id: event.id.clone(),
        user_id: user_id.clone(),
        seat_ids,
        status: HoldStatus::Active,
        created_at: at,
        expires_at: at.plus(std::time::Duration::from_secs(600)),
    }
}

pub(super) fn order_for(hold: &Hold, payment: &PaymentRecord, now: Timestamp) -> OrderRecord {
    let id = OrderId::generate();
    OrderRecord {
        id: id.clone(),
        user_id: hold.user_id.clone(),
        hold_id: hold.id.clone(),
        event_id: hold.event_id.clone(),
        payment_id: payment.id.clone(),
        status: OrderStatus::Paid,
        total_cents: payment.amount_cents,
        currency: "EUR".into(),
        created_at: now,
        tickets: hold
            .seat_ids
            .iter()
            .map(|seat| TicketRecord {
                id: new_id(),
                order_id: id.clone(),
                event_id: hold.event_id.clone(),
                seat_id: seat.clone(),
                price_cents: 100,
                code: new_id(),
                valid: true,
                checked_in_at: None,
                checked_in_gate: None,
                created_at: now,
            })
            .collect(),
    }
}

pub(super) fn ledger(
    payment: &PaymentRecord,
    order_id: Option<&OrderId>,
    kind: LedgerKind,
    now: Timestamp,
) -> LedgerEntry {
    LedgerEntry {
        id: new_id(),
        payment_id: payment.id.clone(),
        order_id: order_id.cloned(),
        kind,
        amount_cents: payment.amount_cents,
        currency: payment.currency.clone(),
        provider_ref: format!("pi_{}", payment.id),
        created_at: now,
    }
}
