//! The measuring side of the plan test: the database's own count of rows read, and each
//! purchase-path statement called through the repository with what it read.

use std::sync::Arc;

use boxoffice_domain::{
    hold::{Hold, HoldStatus},
    ids::PaymentId,
    new_id,
    time::Timestamp,
};
use boxoffice_store::{
    Database, LedgerKind, MailKind, MailOutcome, NewMail, OrderStatus, PaymentRecord,
    PaymentStatus, Repository, SaleRecord, UserRecord,
};

/// The windows the hold rules count over, as the server's defaults have them.
pub(super) const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);
pub(super) const COOLDOWN: std::time::Duration = std::time::Duration::from_secs(30);
pub(super) const HOURLY_CAP: u32 = 30;

use super::fixture::{EventFixture, ledger, new_hold, order_for};

/// One repository call and the rows it read.
pub(super) struct Reading {
    pub(super) label: String,
    pub(super) rows: i64,
}

/// Reads the database's own count of rows read so far by this transaction (PostgreSQL) or
/// session (MariaDB).
pub(super) enum ReadCounter {
    Postgres,
    /// MariaDB's `SHOW STATUS` reads rows of its own; `overhead` is that count, measured.
    MySql,
}

impl ReadCounter {
    pub(super) fn for_backend(backend: &str) -> Self {
        match backend {
            "postgres" => ReadCounter::Postgres,
            "mysql" => ReadCounter::MySql,
            other => panic!("no read counter for {other}"),
        }
    }

    pub(super) async fn rows_read(&self, tx: &mut dyn Repository) -> i64 {
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
pub(super) struct Probe<'a> {
    pub(super) db: Arc<dyn Database>,
    pub(super) counter: &'a ReadCounter,
    pub(super) mode: Option<&'a str>,
    pub(super) user: &'a UserRecord,
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
    pub(super) fn context(&self) -> String {
        self.mode.unwrap_or("MariaDB").to_owned()
    }

    pub(super) async fn begin(&self) -> Box<dyn Repository> {
        let mut tx = self.db.begin().await.expect("begin");
        if let Some(mode) = self.mode {
            tx.audit_query(&format!("SET LOCAL plan_cache_mode = {mode}"))
                .await
                .expect("set the plan cache mode");
        }
        tx
    }

    /// What reading the counters itself reads, measured by reading them twice.
    pub(super) async fn overhead(&self, tx: &mut dyn Repository) -> i64 {
        let a = self.counter.rows_read(tx).await;
        let b = self.counter.rows_read(tx).await;
        b - a
    }

    /// Hold, checkout, refund; hold and release; hold and expire; the reconcilers: every
    /// statement, in the order the use cases run them.
    pub(super) async fn purchase_paths(&self, event: &EventFixture, which: &str) -> Vec<Reading> {
        let mut r = Vec::new();
        let at = |what: &str| format!("{what} on the {which}");
        let now = Timestamp::now();
        let free = event.free_seats(3);

        // Hold, as POST /holds does it (the cheap refusal first).
        let hold = new_hold(event, &self.user.id, free[0].clone(), now);
        let mut tx = self.begin().await;
        let taken_ids = event.sold_seats(2);
        measured!(self, r, tx, at("unavailable_seats (cheap refusal)"), {
            tx.unavailable_seats(&event.id, &taken_ids, None)
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
        measured!(self, r, tx, at("hold_counts"), {
            tx.hold_counts(
                &event.id,
                &self.user.id,
                now,
                (now.minus(HOUR), HOURLY_CAP),
                now.minus(COOLDOWN),
            )
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
            tx.unavailable_seats(&event.id, &hold.seat_ids, Some(&hold.id))
                .await
                .unwrap()
        });
        tx.commit().await.expect("commit the hold");

        // Checkout and settlement.
        let key = new_id();
        let payment = PaymentRecord {
            id: PaymentId::generate(),
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
        let mut again = payment.clone();
        again.id = PaymentId::generate();
        measured!(self, r, tx, at("insert_payment_for_new_key (key taken)"), {
            tx.insert_payment_for_new_key(&again).await.unwrap()
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
        let charge = ledger(&payment, Some(&order.id), LedgerKind::Charge, now);
        // With e-mail on, the sale also queues its confirmation, its recipient read by key.
        let mail = NewMail {
            id: new_id(),
            kind: MailKind::OrderConfirmation,
            order_id: Some(order.id.to_string()),
            user_id: hold.user_id.to_string(),
            payload: "{}".into(),
            created_at: now,
        };
        measured!(self, r, tx, at("record_sale"), {
            tx.record_sale(&SaleRecord {
                order: &order,
                provider_ref: Some(&intent),
                charge: &charge,
                idempotency_key: &key,
                answer: (201, "{}"),
                now,
                mail: Some(&mail),
            })
            .await
            .unwrap()
        });
        measured!(self, r, tx, at("finish_payment"), {
            tx.finish_payment(&payment.id, PaymentStatus::Succeeded, Some(&intent), now)
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

        // The e-mail sender's pass: claim what is due, mark the confirmation sent.
        let lease = new_id();
        let mut tx = self.begin().await;
        let claimed = measured!(self, r, tx, at("claim_due_mail (sender)"), {
            tx.claim_due_mail(&lease, 60_000, 20).await.unwrap()
        });
        assert!(
            claimed.iter().any(|m| m.id == mail.id),
            "the confirmation is due"
        );
        measured!(self, r, tx, at("settle_mail (sender)"), {
            tx.settle_mail(&mail.id, &lease, &MailOutcome::Sent { at: now })
                .await
                .unwrap()
        });
        tx.commit().await.expect("commit the sender's pass");

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
    pub(super) async fn hold(&self, event: &EventFixture, seats: &[String], at: Timestamp) -> Hold {
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
