//! The auto-EXPLAIN safety check shared by the back ends' tests.

use std::time::Duration;

use perf_db::{Backend, Pool};
use sqlx::{AssertSqlSafe, Executor};

/// Runs `text` (a slow read, then a write) through `pool`, built with `auto_explain` and a
/// 1 ms warn threshold, waits for any plan capture to end, and checks that the text counted as
/// one slow query and that no plan was captured or even attempted (auto-EXPLAIN refuses a text
/// holding a second statement). The caller then checks that the write ran exactly once.
pub async fn run_a_slow_two_statement_text<DB>(pool: &Pool<DB>, text: String)
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::raw_sql(AssertSqlSafe(text))
        .execute(pool)
        .await
        .unwrap();
    // A capture is counted in flight before the query returns: wait for it to end.
    assert!(
        super::eventually(Duration::from_secs(10), || {
            pool.stats().queries.plans_in_flight == 0
        })
        .await,
        "{:#?}",
        pool.stats().queries
    );
    let stats = pool.stats().queries;
    assert_eq!(
        stats.slow_warn, 1,
        "the text ran over the threshold: {stats:#?}"
    );
    assert_eq!(
        (stats.plans_captured, stats.plans_failed),
        (0, 0),
        "{stats:#?}"
    );
}
