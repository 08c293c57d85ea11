//! SQLite statement timeout: perf-db interrupts a statement that runs past `sqlite_statement_timeout`
//! through SQLite's progress handler, one handler per query.
#![cfg(feature = "sqlite")]

use std::time::Duration;

use perf_db::{Pool, PoolConfig, StatementTimedOut};
use sqlx::Sqlite;

/// A statement that never ends: the recursive CTE has no bound and `count(*)` yields no row
/// before it is done.
const FOREVER: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

/// A statement that ends, after many progress-handler calls (millions of VM instructions).
const LONG: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) \
                    SELECT count(*) FROM c";

/// Bounds a step that would hang forever on code without the timeout, so the test fails rather
/// than hangs; not a latency assertion.
const HANG_GUARD: Duration = Duration::from_secs(60);

async fn pool(timeout: Duration) -> (tempfile::TempDir, Pool<Sqlite>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("timeout.db").display());
    let config = PoolConfig::builder()
        .url(url)
        .max_connections(1)
        .sqlite_statement_timeout(Some(timeout))
        .build()
        .unwrap();
    (dir, Pool::connect(&config).await.unwrap())
}

fn timed_out(err: &sqlx::Error) -> &StatementTimedOut {
    err.as_database_error()
        .and_then(|e| e.try_downcast_ref::<StatementTimedOut>())
        .unwrap_or_else(|| panic!("a statement timeout expected, got {err}"))
}

async fn run<F: Future>(step: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, step)
        .await
        .expect("the statement was not interrupted")
}

#[tokio::test]
async fn a_runaway_statement_is_interrupted_on_every_query_path_and_the_connection_lives_on() {
    let timeout = Duration::from_millis(100);
    let (_dir, pool) = pool(timeout).await;

    // fetch_one (the executors' fetch_optional path)
    let err = run(sqlx::query(FOREVER).fetch_one(&pool))
        .await
        .unwrap_err();
    let e = timed_out(&err);
    assert_eq!(e.timeout(), timeout);
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("9"),
        "SQLITE_INTERRUPT"
    );
    assert!(
        err.to_string().contains("statement timeout of 100ms"),
        "{err}"
    );

    // execute (fetch_many path)
    let err = run(sqlx::query(FOREVER).execute(&pool)).await.unwrap_err();
    timed_out(&err);

    // inside a transaction, through `&mut *tx`; the connection stays usable afterwards
    let mut tx = pool.begin().await.unwrap();
    let err = run(sqlx::query(FOREVER).fetch_all(&mut *tx))
        .await
        .unwrap_err();
    timed_out(&err);
    drop(tx);

    // the one connection of the pool answers the next query, and it is still the same one
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);

    let stats = pool.stats();
    assert_eq!(stats.connections.opened, 1, "no connection was replaced");
    assert_eq!(stats.queries.timeouts, 3);
    assert_eq!(
        stats.queries.errors, 0,
        "timeouts are not counted as errors"
    );
    let forever = pool.statement_stats(FOREVER).unwrap();
    assert_eq!((forever.calls, forever.errors), (3, 3));
}

/// A completed query disarms its handler: a statement sent on the connection later outside
/// perf-db (here on the raw connection, long after the 1 ms deadline) runs to its end.
#[tokio::test]
async fn a_completed_query_never_interrupts_a_later_statement() {
    let (_dir, pool) = pool(Duration::from_millis(1)).await;
    let mut conn = pool.acquire().await.unwrap();
    // too few VM instructions to call the handler: completes, then disarms its deadline
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    // the previous query's handler is still installed; its deadline has long passed
    let n: i64 = sqlx::query_scalar(LONG)
        .fetch_one(conn.as_raw())
        .await
        .unwrap();
    assert_eq!(n, 1_000_000);
    assert_eq!(pool.stats().queries.timeouts, 0);
}

/// A query whose caller gives up (its future dropped) is still interrupted at its deadline, so
/// the statement does not hold the connection's worker thread forever.
#[tokio::test]
async fn a_dropped_runaway_query_is_still_interrupted_and_frees_the_connection() {
    let (_dir, pool) = pool(Duration::from_millis(300)).await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(20),
        sqlx::query(FOREVER).fetch_one(&pool),
    )
    .await;
    assert!(gave_up.is_err(), "FOREVER returned: {gave_up:?}");
    // the only connection runs FOREVER until it is interrupted; then it serves this query
    let one: i64 = run(sqlx::query_scalar("SELECT 1").fetch_one(&pool))
        .await
        .unwrap();
    assert_eq!(one, 1);
    let queries = pool.stats().queries;
    assert_eq!((queries.cancelled, queries.timeouts), (1, 0));
}

/// Without a statement timeout nothing is armed: a statement longer than any small timeout
/// runs to its end.
#[tokio::test]
async fn no_statement_timeout_interrupts_nothing() {
    let config = PoolConfig::builder()
        .url("sqlite::memory:")
        .build()
        .unwrap();
    // Off by default on SQLite (its cost is one round trip per query), whatever the
    // server-side `statement_timeout` says.
    assert_eq!(config.sqlite_statement_timeout(), None);
    assert_eq!(config.statement_timeout(), Some(Duration::from_secs(30)));
    let pool = Pool::<Sqlite>::connect(&config).await.unwrap();
    let n: i64 = sqlx::query_scalar(LONG).fetch_one(&pool).await.unwrap();
    assert_eq!(n, 1_000_000);
    assert_eq!(pool.stats().queries.timeouts, 0);
}
