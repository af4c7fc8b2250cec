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

mod fixture;
mod probe;

use fixture::Fixture;
use probe::{Probe, ReadCounter, Reading};

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
