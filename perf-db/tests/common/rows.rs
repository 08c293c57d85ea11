//! The rows check shared by the back ends' tests: rows a statement returned, or rows it
//! affected when it returned none, never both.

use futures::TryStreamExt as _;
use perf_db::{Backend, Pool};
use sqlx::{AssertSqlSafe, Database, Executor, IntoArguments};

use super::Capture;

/// Creates `table` (and `{table}_2`) on `pool`, runs a write, two reads, DDL and a mixed
/// read-then-write text, and checks the rows counted in `stats()`, the statement statistics and
/// the query spans (`pool` built with `query_spans(true)`, `capture` installed before).
/// `rows_affected` reads the driver's own count from a query result.
pub async fn rows_are_returned_or_affected_never_both<DB>(
    pool: &Pool<DB>,
    capture: &Capture,
    table: &str,
    rows_affected: fn(&DB::QueryResult) -> u64,
) where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
{
    let sql_update = format!("UPDATE {table} SET x = x + 10 WHERE x <= 3");
    let sql_select_all = format!("SELECT x FROM {table}");
    let sql_select_none = format!("SELECT x FROM {table} WHERE x < 0");
    let sql_ddl = format!("CREATE TABLE {table}_2 (y INT)");
    let sql_mixed = format!("SELECT x FROM {table} WHERE x > 10; DELETE FROM {table} WHERE x > 12");
    let sql_setup =
        format!("CREATE TABLE {table} (x INT); INSERT INTO {table} VALUES (1), (2), (3), (4), (5)");
    sqlx::raw_sql(AssertSqlSafe(sql_setup))
        .execute(pool.get_ref())
        .await
        .unwrap();
    // a write first, so a count left over from it would show in the reads below
    let update = sqlx::query(AssertSqlSafe(sql_update.clone()))
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(rows_affected(&update), 3);
    let all = sqlx::query(AssertSqlSafe(sql_select_all.clone()))
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    let none = sqlx::query(AssertSqlSafe(sql_select_none.clone()))
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(none.is_empty());
    sqlx::query(AssertSqlSafe(sql_ddl.clone()))
        .execute(pool)
        .await
        .unwrap();
    // one text, a read of 3 rows then a write of 1 row, streamed
    let steps: Vec<_> = pool
        .fetch_many(sqlx::raw_sql(AssertSqlSafe(sql_mixed.clone())))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(steps.iter().filter(|s| s.is_right()).count(), 3);
    let stats = pool.stats().queries;
    // update 3, select 5, empty select 0, DDL 0, mixed 3 returned + 1 deleted
    assert_eq!(stats.rows, 12, "{stats:#?}");
    let rows_of = |sql: &str| pool.statement_stats(sql).unwrap().rows;
    assert_eq!(rows_of(&sql_update), 3);
    assert_eq!(rows_of(&sql_select_all), 5);
    assert_eq!(rows_of(&sql_select_none), 0);
    assert_eq!(rows_of(&sql_ddl), 0);
    assert_eq!(rows_of(&sql_mixed), 3 + 1);
    let spans: Vec<String> = capture
        .closed_spans()
        .into_iter()
        .filter(|(name, _)| name == "db.query")
        .map(|(_, fields)| fields)
        .collect();
    assert!(spans.iter().any(|f| f.contains("rows=5 ")), "{spans:#?}");
    assert!(
        spans
            .iter()
            .all(|f| !f.contains("rows=10 ") && !f.contains("rows=8 ")),
        "{spans:#?}"
    );
}
