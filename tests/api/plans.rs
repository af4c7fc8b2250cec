//! The plan regression test: on a database holding a big, busy hall, no statement on the hold,
//! checkout, release, expiry, refund or reconciliation paths reads more than a few rows, whatever
//! plan the database picks.
//!
//! The statements are the application's own, called through the repository exactly as the use
//! cases call them. What each call read is measured by the database itself within the
//! transaction: PostgreSQL's per-transaction counters of index entries and heap rows scanned
//! (`pg_stat_get_xact_tuples_returned` over every table and index), MariaDB's session
//! `Handler_read_*` counters. A plan that walks the event to find a hold's seats reads tens of
//! thousands of rows; a plan that addresses them by key reads a handful.
//!
//! PostgreSQL is checked under `plan_cache_mode = force_generic_plan` and `force_custom_plan`,
//! for an event the planner's statistics know (after `ANALYZE`) and for one created after the
//! last `ANALYZE` (its statistics say it has no rows: the trap a long sale falls into). SQLite
//! keeps no such counters; it is measured by the long-sale benchmark instead.

use std::sync::Arc;

use boxoffice_domain::{
    account::Role,
    hold::{Hold, HoldStatus},
    new_id,
    time::Timestamp,
};
use boxoffice_store::{
    CategoryRecord, Database, LedgerEntry, LedgerKind, NewEvent, OrderRecord, OrderStatus,
    PaymentRecord, PaymentStatus, Repository, TicketRecord, UserRecord, VenueRecord,
};

use crate::database;

/// Seats in the hall: tens of thousands, as in a stadium.
const SEATS: usize = 30_000;
/// Seats per order and per hold in the fixture's sales.
const PER_ORDER: usize = 4;
/// The most rows one repository call may read. A hold touches at most eight seats; the batches
/// of the sweeper and the reconciler find a few dozen rows in the fixture. Reading the event is
/// reading tens of thousands.
const BOUND: i64 = 200;
/// Buyers of the fixture's sales: a few orders each, as in a real sale, but for the first.
const BUYERS: usize = 400;

#[tokio::test]
async fn no_purchase_path_statement_reads_more_than_a_few_rows_of_a_30000_seat_event_under_any_plan()
 {
    let backend = database::backend();
    if backend == "sqlite" {
        eprintln!("plans: SQLite keeps no read counters; the long-sale benchmark measures it");
        return;
    }
    let url = database::fresh_database_url().await;
    let db = boxoffice_store::connect(&url, 4).await.expect("connect");
    db.migrate().await.expect("migrate");
    let counter = ReadCounter::for_backend(&backend);

    let fixture = Fixture::new(db.clone()).await;
    // A busy first sale: most of the hall sold in orders of four, as the statistics see it.
    let busy = fixture.event(SEATS).await;
    fixture.sell(&busy, 0, SEATS * 4 / 5).await;
    fixture.analyze(&backend).await;
    // The next event of the same venue (the same seat ids), created after that ANALYZE.
    let fresh = fixture.event(SEATS).await;
    fixture.sell(&fresh, 0, SEATS / 10).await;
    fixture.leave_pending_and_expired(&fresh).await;
    fixture.age_changes().await;
    // Aging rewrites every seat, and the versions it replaces stay in the change index until a
    // vacuum. In a sale they are long gone by the time the reconciler looks; here, on a fast
    // machine, the setup's last writes could still be inside the reconciler's 5 s window, and
    // every dead entry there would be counted. Let the window move past them.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    fixture.run_background_tasks(&[&busy, &fresh]).await;

    let mut report = Vec::new();
    let modes: &[Option<&str>] = if backend == "postgres" {
        &[Some("force_generic_plan"), Some("force_custom_plan")]
    } else {
        &[None]
    };
    for mode in modes {
        let probe = Probe {
            db: db.clone(),
            counter: &counter,
            mode: *mode,
            user: &fixture.users[0],
        };
        report.extend(probe.purchase_paths(&fresh, "fresh event").await);
    }
    fixture.analyze(&backend).await;
    for mode in modes {
        let probe = Probe {
            db: db.clone(),
            counter: &counter,
            mode: *mode,
            user: &fixture.users[0],
        };
        report.extend(probe.purchase_paths(&fresh, "analyzed event").await);
        report.extend(probe.purchase_paths(&busy, "busy event").await);
    }

    let too_many: Vec<&Reading> = report.iter().filter(|r| r.rows > BOUND).collect();
    let worst = report.iter().max_by_key(|r| r.rows).expect("readings");
    eprintln!(
        "plans: {} statements measured on {backend}, the most rows read by one was {} ({})",
        report.len(),
        worst.rows,
        worst.label
    );
    assert!(
        too_many.is_empty(),
        "statements that read more than {BOUND} rows of a {SEATS}-seat event:\n{}",
        too_many
            .iter()
            .map(|r| format!("  {} rows: {}", r.rows, r.label))
            .collect::<Vec<_>>()
            .join("\n")
    );
    db.close().await;
}

/// One repository call and the rows it read.
struct Reading {
    label: String,
    rows: i64,
}

/// Reads the database's own count of rows read so far by this transaction (PostgreSQL) or
/// session (MariaDB).
enum ReadCounter {
    Postgres,
    /// MariaDB's `SHOW STATUS` reads rows of its own; `overhead` is that count, measured.
    MySql,
}

impl ReadCounter {
    fn for_backend(backend: &str) -> Self {
        match backend {
            "postgres" => ReadCounter::Postgres,
            "mysql" => ReadCounter::MySql,
            other => panic!("no read counter for {other}"),
        }
    }

    async fn rows_read(&self, tx: &mut dyn Repository) -> i64 {
        match self {
            ReadCounter::Postgres => {
                let rows = tx
                    .audit_query(
                        "SELECT COALESCE(SUM(pg_stat_get_xact_tuples_returned(c.oid)), 0)::text \
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')",
                    )
                    .await
                    .expect("read PostgreSQL's counters");
                rows[0].parse().expect("a count")
            }
            ReadCounter::MySql => {
                let rows = tx
                    .audit_query(
                        "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
                         WHERE VARIABLE_NAME LIKE 'HANDLER_READ%'",
                    )
                    .await
                    .expect("read MariaDB's counters");
                rows.iter()
                    .map(|r| {
                        let (_, value) = r.rsplit_once('/').expect("name/value");
                        value.parse::<i64>().expect("a count")
                    })
                    .sum()
            }
        }
    }
}

/// Calls the use cases' statements in their order and measures each.
struct Probe<'a> {
    db: Arc<dyn Database>,
    counter: &'a ReadCounter,
    mode: Option<&'a str>,
    user: &'a UserRecord,
}

/// Measures one call: `$tx` is the probe's transaction, `$call` an expression using it.
macro_rules! measured {
    ($probe:expr, $readings:expr, $tx:expr, $what:expr, $call:expr) => {{
        let before = $probe.counter.rows_read(&mut *$tx).await;
        let out = $call;
        let after = $probe.counter.rows_read(&mut *$tx).await;
        let overhead = $probe.overhead(&mut *$tx).await;
        $readings.push(Reading {
            label: format!("{} ({})", $what, $probe.context()),
            rows: after - before - overhead,
        });
        out
    }};
}

impl Probe<'_> {
    fn context(&self) -> String {
        self.mode.unwrap_or("MariaDB").to_owned()
    }

    async fn begin(&self) -> Box<dyn Repository> {
        let mut tx = self.db.begin().await.expect("begin");
        if let Some(mode) = self.mode {
            tx.audit_query(&format!("SET LOCAL plan_cache_mode = {mode}"))
                .await
                .expect("set the plan cache mode");
        }
        tx
    }

    /// What reading the counters itself reads, measured by reading them twice.
    async fn overhead(&self, tx: &mut dyn Repository) -> i64 {
        let a = self.counter.rows_read(tx).await;
        let b = self.counter.rows_read(tx).await;
        b - a
    }

    /// Hold, checkout, refund; hold and release; hold and expire; the reconcilers: every
    /// statement, in the order the use cases run them.
    async fn purchase_paths(&self, event: &EventFixture, which: &str) -> Vec<Reading> {
        let mut r = Vec::new();
        let at = |what: &str| format!("{what} on the {which}");
        let now = Timestamp::now();
        let free = event.free_seats(3);

        // Hold, as POST /holds does it (the cheap refusal first).
        let hold = new_hold(event, &self.user.id, free[0].clone(), now);
        let mut tx = self.begin().await;
        let taken_ids = event.sold_seats(2);
        measured!(self, r, tx, at("unavailable_seats (cheap refusal)"), {
            tx.unavailable_seats(&event.id, &taken_ids, "")
                .await
                .unwrap()
        });
        measured!(self, r, tx, at("count_existing_seats"), {
            tx.count_existing_seats(&event.id, &hold.seat_ids)
                .await
                .unwrap()
        });
        measured!(self, r, tx, at("lock_user"), {
            tx.lock_user(&self.user.id).await.unwrap()
        });
        measured!(self, r, tx, at("seats_held_by"), {
            tx.seats_held_by(&event.id, &self.user.id, now)
                .await
                .unwrap()
        });
        measured!(self, r, tx, at("insert_hold"), {
            tx.insert_hold(&hold).await.unwrap()
        });
        let taken = measured!(self, r, tx, at("take_available_seats"), {
            tx.take_available_seats(&event.id, &hold.id, &hold.user_id, &hold.seat_ids)
                .await
                .unwrap()
        });
        assert_eq!(taken.len(), hold.seat_ids.len(), "the fixture's free seats");
        measured!(self, r, tx, at("unavailable_seats (refused hold)"), {
            tx.unavailable_seats(&event.id, &hold.seat_ids, &hold.id)
                .await
                .unwrap()
        });
        tx.commit().await.expect("commit the hold");

        // Checkout and settlement.
        let key = new_id();
        let payment = PaymentRecord {
            id: new_id(),
            hold_id: hold.id.clone(),
            user_id: self.user.id.clone(),
            idempotency_key: key.clone(),
            amount_cents: 100 * hold.seat_ids.len() as i64,
            currency: "EUR".into(),
            provider: "sandbox".into(),
            card_last4: "4242".into(),
            created_at: now,
        };
        let mut tx = self.begin().await;
        measured!(self, r, tx, at("insert_idempotency_record"), {
            tx.insert_idempotency_record(&self.user.id, &key, "fp", now)
                .await
                .unwrap()
        });
        measured!(self, r, tx, at("idempotency_record"), {
            tx.idempotency_record(&self.user.id, &key).await.unwrap()
        });
        measured!(self, r, tx, at("hold_by_id"), {
            tx.hold_by_id(&hold.id).await.unwrap()
        });
        measured!(self, r, tx, at("payment_by_key"), {
            tx.payment_by_key(&self.user.id, &key).await.unwrap()
        });
        measured!(self, r, tx, at("insert_payment"), {
            tx.insert_payment(&payment).await.unwrap()
        });
        tx.commit().await.expect("commit the payment attempt");
        let intent = format!("pi_{}", new_id());
        let mut tx = self.begin().await;
        measured!(self, r, tx, at("lock_payment"), {
            tx.lock_payment(&payment.id).await.unwrap()
        });
        measured!(self, r, tx, at("set_payment_reference"), {
            tx.set_payment_reference(&payment.id, &intent)
                .await
                .unwrap()
        });
        measured!(self, r, tx, at("claim_hold_for_order"), {
            tx.claim_hold_for_order(&hold.id, now).await.unwrap()
        });
        let sold = measured!(self, r, tx, at("sell_held_seats"), {
            tx.sell_held_seats(&event.id, &hold.id, &hold.user_id, &hold.seat_ids)
                .await
                .unwrap()
        });
        assert_eq!(sold.len(), hold.seat_ids.len(), "the hold's seats are sold");
        let order = order_for(&hold, &payment, now);
        measured!(self, r, tx, at("insert_order"), {
            tx.insert_order(&order).await.unwrap()
        });
        for t in &order.tickets {
            measured!(self, r, tx, at("insert_ticket"), {
                tx.insert_ticket(t).await.unwrap()
            });
        }
        measured!(self, r, tx, at("finish_payment"), {
            tx.finish_payment(&payment.id, PaymentStatus::Succeeded, Some(&intent), now)
                .await
                .unwrap()
        });
        measured!(self, r, tx, at("insert_ledger_entry (charge)"), {
            tx.insert_ledger_entry(&ledger(&payment, Some(&order.id), LedgerKind::Charge, now))
                .await
                .unwrap()
        });
        measured!(self, r, tx, at("complete_idempotency_record"), {
            tx.complete_idempotency_record(&self.user.id, &key, 201, "{}")
                .await
                .unwrap()
        });
        tx.commit().await.expect("commit the sale");

        // What the webhook, the payment reconciler and the buyer's pages read.
        let mut tx = self.begin().await;
        measured!(self, r, tx, at("payment_by_reference (webhook)"), {
            tx.payment_by_reference(&intent).await.unwrap()
        });
        measured!(self, r, tx, at("payment_by_id"), {
            tx.payment_by_id(&payment.id).await.unwrap()
        });
        measured!(self, r, tx, at("order_id_for_payment"), {
            tx.order_id_for_payment(&payment.id).await.unwrap()
        });
        measured!(self, r, tx, at("pending_payments (reconciler)"), {
            tx.pending_payments(now, 100).await.unwrap()
        });
        measured!(self, r, tx, at("order_by_id"), {
            tx.order_by_id(&order.id).await.unwrap()
        });
        measured!(
            self,
            r,
            tx,
            at("seat_statuses_changed_since (live map reconciler)"),
            {
                tx.seat_statuses_changed_since(
                    &event.id,
                    now.minus(std::time::Duration::from_secs(5)),
                )
                .await
                .unwrap()
            }
        );
        measured!(self, r, tx, at("seat_statuses_of"), {
            tx.seat_statuses_of(&event.id, &hold.seat_ids)
                .await
                .unwrap()
        });
        tx.commit().await.expect("commit the reads");

        // Refund, as the admin's refund does it.
        let mut tx = self.begin().await;
        measured!(self, r, tx, at("lock_order"), {
            tx.lock_order(&order.id).await.unwrap()
        });
        measured!(self, r, tx, at("charge_of_order"), {
            tx.charge_of_order(&order.id).await.unwrap()
        });
        measured!(self, r, tx, at("insert_ledger_entry (refund)"), {
            tx.insert_ledger_entry(&ledger(&payment, Some(&order.id), LedgerKind::Refund, now))
                .await
                .unwrap()
        });
        let ticket_ids: Vec<String> = order.tickets.iter().map(|t| t.id.clone()).collect();
        measured!(self, r, tx, at("void_tickets"), {
            tx.void_tickets(&order.id, &ticket_ids).await.unwrap()
        });
        let freed = measured!(self, r, tx, at("free_sold_seats"), {
            tx.free_sold_seats(&event.id, &hold.id, &hold.seat_ids)
                .await
                .unwrap()
        });
        assert_eq!(
            freed,
            hold.seat_ids.len() as u64,
            "the refund frees the seats"
        );
        measured!(self, r, tx, at("set_order_status"), {
            tx.set_order_status(&order.id, OrderStatus::Refunded)
                .await
                .unwrap()
        });
        tx.commit().await.expect("commit the refund");

        // Hold and release.
        let released = self.hold(event, &free[1], now).await;
        let mut tx = self.begin().await;
        measured!(self, r, tx, at("end_hold (release)"), {
            tx.end_hold(&released.id, HoldStatus::Released, now)
                .await
                .unwrap()
        });
        let n = measured!(self, r, tx, at("free_held_seats (release)"), {
            tx.free_held_seats(&event.id, &released.id, &released.seat_ids)
                .await
                .unwrap()
        });
        assert_eq!(
            n,
            released.seat_ids.len() as u64,
            "the release frees the seats"
        );
        tx.commit().await.expect("commit the release");

        // Hold and expire, as the sweeper does it.
        let expired = self
            .hold(
                event,
                &free[2],
                now.minus(std::time::Duration::from_secs(601)),
            )
            .await;
        let mut tx = self.begin().await;
        let batch = measured!(self, r, tx, at("expired_holds (sweeper)"), {
            tx.expired_holds(now, 100).await.unwrap()
        });
        assert!(batch.iter().any(|(id, _)| *id == expired.id));
        measured!(self, r, tx, at("end_hold (expiry)"), {
            tx.end_hold(&expired.id, HoldStatus::Expired, now)
                .await
                .unwrap()
        });
        let n = measured!(self, r, tx, at("free_held_seats (expiry)"), {
            tx.free_held_seats(&event.id, &expired.id, &expired.seat_ids)
                .await
                .unwrap()
        });
        assert_eq!(
            n,
            expired.seat_ids.len() as u64,
            "the sweeper frees the seats"
        );
        tx.commit().await.expect("commit the expiry");
        r
    }

    /// A hold on these seats, created at `at` (unmeasured: its statements are measured above).
    async fn hold(&self, event: &EventFixture, seats: &[String], at: Timestamp) -> Hold {
        let hold = new_hold(event, &self.user.id, seats.to_vec(), at);
        let mut tx = self.db.begin().await.expect("begin");
        tx.insert_hold(&hold).await.expect("insert a hold");
        let taken = tx
            .take_available_seats(&event.id, &hold.id, &hold.user_id, &hold.seat_ids)
            .await
            .expect("take seats");
        assert_eq!(taken.len(), seats.len());
        tx.commit().await.expect("commit a hold");
        hold
    }
}

/// A big venue's events and the buyer who bought most of them.
struct Fixture {
    db: Arc<dyn Database>,
    users: Vec<UserRecord>,
    venue_id: String,
}

struct EventFixture {
    id: String,
    seat_ids: Vec<String>,
    /// How many seats, from the first, the fixture sold.
    sold: std::sync::Mutex<usize>,
    /// The next seat the probes may hold (each probe takes fresh ones from the end of the hall).
    next_free: std::sync::Mutex<usize>,
}

impl EventFixture {
    /// `n` groups of four seats nobody has touched.
    fn free_seats(&self, n: usize) -> Vec<Vec<String>> {
        let mut next = self.next_free.lock().unwrap();
        (0..n)
            .map(|_| {
                *next -= PER_ORDER;
                self.seat_ids[*next..*next + PER_ORDER].to_vec()
            })
            .collect()
    }

    fn sold_seats(&self, n: usize) -> Vec<String> {
        let sold = *self.sold.lock().unwrap();
        self.seat_ids[sold / 2..sold / 2 + n].to_vec()
    }
}

impl Fixture {
    async fn new(db: Arc<dyn Database>) -> Self {
        let now = Timestamp::now();
        let users: Vec<UserRecord> = (0..BUYERS)
            .map(|i| UserRecord {
                id: new_id(),
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
    async fn event(&self, seats: usize) -> EventFixture {
        let now = Timestamp::now();
        let id = new_id();
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
        })
        .await
        .expect("insert the event");
        tx.insert_category(&CategoryRecord {
            id: category_id.clone(),
            event_id: id.clone(),
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
    async fn sell(&self, event: &EventFixture, from: usize, to: usize) {
        let now = Timestamp::now();
        for batch in event.seat_ids[from..to].chunks(PER_ORDER * 250) {
            let mut tx = self.db.begin().await.expect("begin");
            for (n, seats) in batch.chunks(PER_ORDER).enumerate() {
                // A quarter of the orders are the probe's own buyer's (an agency, a box office):
                // what one buyer's statements read must not grow with their history.
                let user = &self.users[if n % 4 == 0 { 0 } else { n % BUYERS }];
                let hold = new_hold(event, &user.id, seats.to_vec(), now);
                let payment = PaymentRecord {
                    id: new_id(),
                    hold_id: hold.id.clone(),
                    user_id: user.id.clone(),
                    idempotency_key: new_id(),
                    amount_cents: 100 * seats.len() as i64,
                    currency: "EUR".into(),
                    provider: "sandbox".into(),
                    card_last4: "4242".into(),
                    created_at: now,
                };
                // As the hold path does: each buyer's new hold reads their active ones first.
                tx.seats_held_by(&event.id, &user.id, now)
                    .await
                    .expect("held");
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
    async fn leave_pending_and_expired(&self, event: &EventFixture) {
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
                id: new_id(),
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
    async fn age_changes(&self) {
        let mut tx = self.db.begin().await.expect("begin");
        tx.audit_query("UPDATE seats SET updated_at = updated_at - 3600000")
            .await
            .expect("age the changes");
        tx.commit().await.expect("commit");
    }

    /// The periodic tasks have been running all along (the sweeper, the payment reconciler and
    /// each instance's live-map reconciler): their last pass is behind this one, as in a sale.
    async fn run_background_tasks(&self, events: &[&EventFixture]) {
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
    async fn analyze(&self, backend: &str) {
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
fn new_hold(event: &EventFixture, user_id: &str, seat_ids: Vec<String>, at: Timestamp) -> Hold {
    Hold {
        id: new_id(),
        event_id: event.id.clone(),
        user_id: user_id.to_owned(),
        seat_ids,
        status: HoldStatus::Active,
        created_at: at,
        expires_at: at.plus(std::time::Duration::from_secs(600)),
    }
}

fn order_for(hold: &Hold, payment: &PaymentRecord, now: Timestamp) -> OrderRecord {
    let id = new_id();
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
                created_at: now,
            })
            .collect(),
    }
}

fn ledger(
    payment: &PaymentRecord,
    order_id: Option<&str>,
    kind: LedgerKind,
    now: Timestamp,
) -> LedgerEntry {
    LedgerEntry {
        id: new_id(),
        payment_id: payment.id.clone(),
        order_id: order_id.map(str::to_owned),
        kind,
        amount_cents: payment.amount_cents,
        currency: payment.currency.clone(),
        provider_ref: format!("pi_{}", payment.id),
        created_at: now,
    }
}
