//! The PostgreSQL dialect (14+): one pool of connections at the default READ COMMITTED level.
//! Statements about particular seats find them by `seat_key` alone (see [`seat_keys`] and
//! migration 0002), so that no plan can read the whole event to find a hold's seats; the plan
//! regression test (`tests/api/plans.rs`) holds every statement on the purchase paths to that.

use std::{str::FromStr, time::Duration};

use futures_util::future::BoxFuture;
use sqlx::{
    Postgres, QueryBuilder,
    postgres::{PgConnectOptions, PgQueryResult},
};

use super::{
    REFUSAL_CONNECTIONS, StoreResult,
    sql::{Dialect, Pools, Sql, migrate_atomically, pool_options},
};
use boxoffice_domain::{
    ids::{EventId, HoldId},
    time::Timestamp,
};

const MIGRATIONS: &[(i64, &str)] = &migrations!("postgres");

/// The advisory lock that lets only one instance migrate at a time (any constant both agree on).
const MIGRATION_LOCK: i64 = 0x626f_786f_6666_6963; // "boxoffic"

pub(super) async fn connect(url: &str, pool_size: u32) -> StoreResult<Pools<Postgres>> {
    // Every statement on the purchase paths addresses its rows by key, so one generic plan per
    // connection serves them all. Left to choose, PostgreSQL plans the seat updates afresh on
    // every call (their array parameters make a custom plan look cheaper): in the purchase
    // benchmark, planning was over a quarter of the time spent in statements (pg_stat_statements,
    // BENCHMARKS.md section l). The plan regression test
    // (`tests/api/plans.rs`) holds every such statement to a few rows under generic plans too.
    let options = PgConnectOptions::from_str(url)?
        .application_name("boxoffice")
        .options([("plan_cache_mode", "force_generic_plan")]);
    let pool = pool_options(pool_size.max(1))
        .connect_with(options.clone())
        .await?;
    let refusals = pool_options(REFUSAL_CONNECTIONS).connect_lazy_with(options);
    // Reads see one snapshot for the whole transaction, as SQLite's readers do: the audit, for
    // one, describes a single moment. Safe at REPEATABLE READ because they never write.
    let begins = [
        None,
        Some("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        Some("BEGIN ISOLATION LEVEL READ COMMITTED, READ ONLY"),
    ];
    Ok(Pools::new(
        [pool.clone(), pool, refusals],
        begins,
        ["main", "main", "refusals"],
    ))
}

/// The seats' unique keys (`event_id/seat_id`, as the generated column `seat_key` spells them),
/// sorted: the order in which every statement locks several seats.
fn seat_keys(event_id: &EventId, seat_ids: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = seat_ids
        .iter()
        .map(|id| format!("{event_id}/{id}"))
        .collect();
    keys.sort_unstable();
    keys
}

impl Dialect for Postgres {
    const LABEL: &'static str = "postgres";
    /// `clock_timestamp()` is the time of the statement, not of the start of its transaction as
    /// `now()` would be.
    const NOW: &'static str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
    /// NO KEY UPDATE serialises the buyer's holds just as well as FOR UPDATE, but does not block
    /// the key-share locks that foreign keys take on the user's row (a session or an order being
    /// inserted for the same buyer meanwhile).
    const USER_LOCK: &'static str = " FOR NO KEY UPDATE";
    /// The holder is a scalar subquery, not a join, so that it is always one primary-key lookup
    /// per seat read: a join leaves the planner free to hash the whole `holds` table (every hold
    /// of every sale) to answer for a handful of seats.
    const SEAT_STATUS: &'static str = "s.id, s.state, s.version, \
        (SELECT h.user_id FROM holds h WHERE h.id = s.hold_id) AS holder FROM seats s";
    const SEAT_ORDER: &'static str = "seat_key";
    /// `UPDATE … FROM (SELECT … ORDER BY seat_key FOR UPDATE)`: the subquery's rows are locked in
    /// its order before the update joins them.
    const LOCKS_IN_UPDATE: bool = true;
    const CHAINS_WRITES: bool = true;
    const SEAT_ID_LIST: &'static str = "string_agg(seat_id, ',' ORDER BY seat_id)";

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn push_in<T: AsRef<str>>(q: &mut QueryBuilder<Self>, column: &str, ids: &[T]) {
        q.push(format_args!("{column} = ANY("));
        q.push_bind(
            ids.iter()
                .map(|id| id.as_ref().to_owned())
                .collect::<Vec<_>>(),
        );
        q.push(")");
    }

    fn push_seats(
        q: &mut QueryBuilder<Self>,
        alias: &str,
        event_id: &EventId,
        seat_ids: &[String],
    ) {
        q.push(format_args!("{alias}seat_key = ANY("));
        q.push_bind(seat_keys(event_id, seat_ids));
        q.push(")");
    }

    /// The two columns go as arrays, which `unnest` zips into rows.
    fn push_seat_rows(q: &mut QueryBuilder<Self>, seats: &[(String, String)]) {
        let (ids, categories): (Vec<String>, Vec<String>) = seats.iter().cloned().unzip();
        q.push("s.id, s.category_id FROM unnest(");
        q.push_bind(ids);
        q.push("::text[], ");
        q.push_bind(categories);
        q.push("::text[]) AS s (id, category_id)");
    }

    fn push_hold_seats(
        q: &mut QueryBuilder<Self>,
        hold_id: &HoldId,
        event_id: &EventId,
        seats: &[String],
    ) {
        q.push("SELECT ");
        q.push_bind(hold_id.as_str().to_owned());
        q.push(", ");
        q.push_bind(event_id.as_str().to_owned());
        q.push(", unnest(");
        q.push_bind(seats.to_vec());
        q.push("::text[])");
    }

    /// Bounded on both sides (the upper bound an hour ahead, which no change passes): a generic
    /// plan then estimates a narrow range of the change index, where `>= $2` alone would be a
    /// third of the event and invite a scan of it every second.
    fn push_change_window(q: &mut QueryBuilder<Self>, since: Timestamp) {
        q.push("s.updated_at >= ");
        q.push_bind(since.millis());
        q.push(" AND s.updated_at < ");
        q.push_bind(since.plus(Duration::from_secs(3_600)).millis());
    }

    /// Two instances starting together on an empty database: the second waits for the first's
    /// advisory lock, then finds the migrations applied.
    fn migrate(db: &Pools<Self>) -> BoxFuture<'_, StoreResult<()>> {
        let lock = Sql::new("SELECT pg_advisory_xact_lock(?)").bind(MIGRATION_LOCK);
        let table = "CREATE TABLE IF NOT EXISTS schema_migrations \
                     (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
        Box::pin(migrate_atomically(db, Some(lock), table, MIGRATIONS))
    }
}
