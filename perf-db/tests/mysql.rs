//! MySQL/MariaDB back end.
#![cfg(feature = "mysql")]

mod common;

use std::time::Duration;

use common::{Capture, mysql_url, random_suffix};
use perf_db::{Pool, PoolConfig};
use sqlx::MySql;

async fn pool(config: perf_db::PoolConfigBuilder) -> Pool<MySql> {
    let config = config.url(mysql_url()).build().unwrap();
    Pool::connect(&config).await.unwrap_or_else(|e| {
        panic!(
            "MySQL/MariaDB at {} is unreachable: {e}",
            perf_db::redact_url(&mysql_url())
        )
    })
}

#[tokio::test]
async fn statement_timeout_is_applied_to_every_session() {
    let pool =
        pool(PoolConfig::builder().statement_timeout(Some(Duration::from_millis(2500)))).await;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&pool)
        .await
        .unwrap();
    if version.contains("MariaDB") {
        let t: f64 = sqlx::query_scalar("SELECT @@SESSION.max_statement_time")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!((t - 2.5).abs() < 1e-9, "max_statement_time = {t}");
        // and it really interrupts a long statement: ER_STATEMENT_TIMEOUT (1969)
        let err = sqlx::query_scalar::<_, i64>("SELECT SLEEP(10)")
            .fetch_one(&pool)
            .await
            .unwrap_err();
        let number = err
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
            .map(sqlx::mysql::MySqlDatabaseError::number);
        assert_eq!(
            number,
            Some(1969),
            "max_statement_time exceeded expected, got {err}"
        );
        let stats = pool.statement_stats("SELECT SLEEP(10)").unwrap();
        assert_eq!((stats.calls, stats.errors), (1, 1));
        // counted under the `timeout` outcome, not `error`
        let queries = pool.stats().queries;
        assert_eq!((queries.timeouts, queries.errors), (1, 0));
    } else {
        let t: u64 = sqlx::query_scalar("SELECT @@SESSION.max_execution_time")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(t, 2500);
    }
}

#[tokio::test]
async fn queries_are_instrumented() {
    let pool = pool(PoolConfig::builder().name("maria")).await;
    let table = format!("perf_db_test_{}", random_suffix());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for id in 0..3_i64 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} VALUES (?)"
        )))
        .bind(id)
        .execute(&mut tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {table} ORDER BY id"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(ids, vec![0, 1, 2]);
    let insert = pool
        .statement_stats(&format!("INSERT INTO {table} VALUES (?)"))
        .unwrap();
    assert_eq!((insert.calls, insert.rows), (3, 3));
    let stats = pool.stats();
    assert_eq!(stats.system, "mysql");
    assert_eq!(stats.pool, "maria");
    assert_eq!(stats.queries.ok, 5);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn auto_explain_captures_a_plan() {
    let pool = pool(
        PoolConfig::builder()
            .auto_explain(true)
            .slow_query_warn(Some(Duration::from_millis(50))),
    )
    .await;
    let slow = "SELECT SLEEP(0.1) AS slept";
    sqlx::query(slow).fetch_all(&pool).await.unwrap();
    let captured = common::eventually(Duration::from_secs(10), || {
        pool.statement_stats(slow).and_then(|s| s.plan).is_some()
    })
    .await;
    assert!(captured, "no plan captured");
    let plan = pool.statement_stats(slow).unwrap().plan.unwrap();
    let json: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert!(json.get("query_block").is_some(), "{plan}");
}

#[tokio::test]
async fn bind_values_are_logged_only_when_opted_in() {
    let (capture, _guard) = common::Capture::install();
    for opt_in in [false, true] {
        let pool = pool(
            PoolConfig::builder()
                .slow_query_warn(Some(Duration::from_millis(50)))
                .statement_log_chars(1000)
                .log_bind_values(opt_in),
        )
        .await;
        sqlx::query("SELECT SLEEP(0.1), ?")
            .bind("mysql-bind-secret")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let slow = capture.with_target("perf_db::slow_query");
    assert_eq!(slow.len(), 2, "{slow:#?}");
    // sqlx's `Debug` of MySqlArguments: types and the encoded bytes of the value
    let bytes = "mysql-bind-secret"
        .bytes()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    assert!(!slow[0].text.contains("bind_values="), "{}", slow[0].text);
    assert!(!slow[0].text.contains(&bytes), "{}", slow[0].text);
    assert!(
        slow[1].text.contains("bind_values=MySqlArguments") && slow[1].text.contains(&bytes),
        "{}",
        slow[1].text
    );
}

/// Tables `<prefix>_f` (one path with a backslash) and `<prefix>_counters` (one row, `n = 0`),
/// dropped when the returned value is dropped.
struct BackslashAndCounter {
    prefix: String,
}

impl BackslashAndCounter {
    async fn create(pool: &Pool<MySql>) -> Self {
        let prefix = format!("perf_db_test_{}", random_suffix());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            r"CREATE TABLE {prefix}_f (p TEXT); INSERT INTO {prefix}_f VALUES ('a\\b');
              CREATE TABLE {prefix}_counters (n INT); INSERT INTO {prefix}_counters VALUES (0);"
        )))
        .execute(pool.get_ref())
        .await
        .unwrap();
        Self { prefix }
    }

    /// A multi-statement text whose first statement is a slow read with backslash escapes in
    /// both quote styles (`"a\""` is one string in MySQL) and whose second increments the
    /// counter.
    fn select_then_update(&self) -> String {
        let prefix = &self.prefix;
        format!(
            r#"SELECT replace(p,'\\','/'), "a\"" AS q, SLEEP(0.02) FROM {prefix}_f; UPDATE {prefix}_counters SET n = n + 1"#
        )
    }

    async fn counter(&self, pool: &Pool<MySql>) -> i32 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT n FROM {}_counters",
            self.prefix
        )))
        .fetch_one(pool.get_ref())
        .await
        .unwrap()
    }

    async fn drop_tables(self, pool: &Pool<MySql>) {
        let prefix = &self.prefix;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP TABLE {prefix}_f; DROP TABLE {prefix}_counters"
        )))
        .execute(pool.get_ref())
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn auto_explain_never_runs_the_second_statement_of_a_slow_text() {
    let pool = pool(
        PoolConfig::builder()
            .auto_explain(true)
            .slow_query_warn(Some(Duration::from_millis(1)))
            .slow_query_error(None),
    )
    .await;
    let tables = BackslashAndCounter::create(&pool).await;
    // a text query: the server runs both statements, once
    common::explain::run_a_slow_two_statement_text::<MySql>(&pool, tables.select_then_update())
        .await;
    assert_eq!(
        tables.counter(&pool).await,
        1,
        "the UPDATE ran exactly once"
    );
    tables.drop_tables(&pool).await;
}

#[tokio::test]
async fn the_server_refuses_an_explain_holding_two_statements() {
    let pool = pool(PoolConfig::builder()).await;
    let tables = BackslashAndCounter::create(&pool).await;
    // Straight to the back end, past the lexer: the prepared statement is the guard.
    let result = <MySql as perf_db::Backend>::explain(
        pool.get_ref().clone(),
        tables.select_then_update(),
        false,
    )
    .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(tables.counter(&pool).await, 0, "nothing ran");
    tables.drop_tables(&pool).await;
}

#[tokio::test]
async fn rows_are_rows_returned_or_rows_affected_never_both() {
    let (capture, _guard) = Capture::install();
    let table = format!("perf_db_test_{}", random_suffix());
    let pool = pool(PoolConfig::builder().query_spans(true)).await;
    common::rows::rows_are_returned_or_affected_never_both::<MySql>(
        &pool,
        &capture,
        &table,
        sqlx::mysql::MySqlQueryResult::rows_affected,
    )
    .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP TABLE {table}; DROP TABLE {table}_2"
    )))
    .execute(pool.get_ref())
    .await
    .unwrap();
}
