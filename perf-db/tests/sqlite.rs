//! SQLite back end: pragmas, instrumentation, slow-query log, statistics, N+1, EXPLAIN, leaks.
#![cfg(feature = "sqlite")]

mod common;

use std::time::Duration;

use common::{Capture, eventually};
use futures::TryStreamExt;
use perf_db::{Pool, PoolConfig};
use sqlx::{Row, Sqlite};
use tracing::Level;

/// A recursive CTE that keeps SQLite busy for a while (hundreds of milliseconds at 3M rows).
const HEAVY: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
                     SELECT COUNT(*) FROM c";

async fn memory_pool(config: perf_db::PoolConfigBuilder) -> Pool<Sqlite> {
    Pool::connect(&config.url("sqlite::memory:").build().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn wal_pragmas_are_in_effect_on_a_file_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let config = PoolConfig::builder()
        .url(url)
        .sqlite_cache_kib(8192)
        .sqlite_busy_timeout(Duration::from_secs(7))
        .build()
        .unwrap();
    let pool = Pool::<Sqlite>::connect(&config).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(sync, 1, "synchronous=NORMAL");
    let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(cache, -8192);
    let temp: i64 = sqlx::query_scalar("PRAGMA temp_store")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(temp, 2, "temp_store=MEMORY");
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(busy, 7000);
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(
        dir.path().join("app.db-wal").exists(),
        "writes go to the WAL file"
    );
}

#[tokio::test]
async fn memory_database_is_shared_by_the_pool_connections() {
    let pool = memory_pool(PoolConfig::builder().max_connections(3)).await;
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    let mut a = pool.acquire().await.unwrap();
    let mut b = pool.acquire().await.unwrap();
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut a)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&mut b)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn every_query_path_is_counted() {
    let pool = memory_pool(PoolConfig::builder()).await;
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&pool)
        .await
        .unwrap(); // execute
    sqlx::query("INSERT INTO t VALUES (1), (2), (3)")
        .execute(&pool)
        .await
        .unwrap();
    let all = sqlx::query("SELECT x FROM t")
        .fetch_all(&pool)
        .await
        .unwrap(); // fetch_all
    assert_eq!(all.len(), 3);
    let one: i64 = sqlx::query_scalar("SELECT x FROM t WHERE x = $1")
        .bind(2)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 2);
    // a stream dropped after its first row still counts, as cancelled
    {
        let mut rows = sqlx::query("SELECT x FROM t ORDER BY x").fetch(&pool);
        let first = rows.try_next().await.unwrap().unwrap();
        assert_eq!(first.get::<i64, _>(0), 1);
    }
    // connection and transaction
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SELECT 1").fetch_one(&mut conn).await.unwrap();
    drop(conn);
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO t VALUES (4)")
        .execute(&mut tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    // an error is counted as such
    assert!(
        sqlx::query("SELECT * FROM missing")
            .fetch_all(&pool)
            .await
            .is_err()
    );

    let stats = pool.stats();
    assert_eq!(stats.queries.ok, 6, "{stats:#?}");
    assert_eq!(stats.queries.cancelled, 1, "{stats:#?}");
    assert_eq!(stats.queries.errors, 1);
    // rows: 3 inserted + 3 fetched + 1 + 1 (stream) + 1 + 1 inserted
    assert_eq!(stats.queries.rows, 10);
    let streamed = pool.statement_stats("SELECT x FROM t ORDER BY x").unwrap();
    assert_eq!(streamed.calls, 1);
    assert_eq!(streamed.rows, 1);
    let failed = pool.statement_stats("SELECT * FROM missing").unwrap();
    assert_eq!((failed.calls, failed.errors), (1, 1));
    // six queries on the pool, one acquire, one begin
    assert_eq!(stats.acquire.count, 8, "{stats:#?}");
    // the first acquire opened the connection: measured apart from queue wait
    assert!(stats.acquire.connects >= 1, "{stats:#?}");
    assert!(stats.acquire.connect_p95_ms > 0.0);
    assert!(stats.acquire.p99_ms >= stats.acquire.p50_ms);
    assert_eq!(stats.acquire.timeouts, 0);
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["pool"], "default");
    assert_eq!(json["system"], "sqlite");
}

#[tokio::test]
async fn slow_query_log_fires_above_and_not_below_the_threshold() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(
        PoolConfig::builder()
            .slow_query_warn(Some(Duration::from_millis(20)))
            .slow_query_error(Some(Duration::from_secs(600))),
    )
    .await;
    for _ in 0..20 {
        sqlx::query("SELECT 1").fetch_one(&pool).await.unwrap();
    }
    assert!(
        capture.with_target("perf_db::slow_query").is_empty(),
        "{:#?}",
        capture.events()
    );
    let n: i64 = sqlx::query_scalar(HEAVY).fetch_one(&pool).await.unwrap();
    assert_eq!(n, 3_000_000);
    let slow = capture.with_target("perf_db::slow_query");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0].level, Level::WARN);
    // normalized: the literals of the statement are not in the log
    assert!(slow[0].text.contains("x < $3"), "{}", slow[0].text);
    assert!(!slow[0].text.contains("3000000"), "{}", slow[0].text);
    let stats = pool.stats();
    assert_eq!((stats.queries.slow_warn, stats.queries.slow_error), (1, 0));
}

#[tokio::test]
async fn error_threshold_logs_at_error_and_statement_is_truncated() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(
        PoolConfig::builder()
            .slow_query_warn(Some(Duration::from_millis(1)))
            .slow_query_error(Some(Duration::from_millis(2)))
            .statement_log_chars(16)
            .log_literals(true),
    )
    .await;
    sqlx::query_scalar::<_, i64>(HEAVY)
        .fetch_one(&pool)
        .await
        .unwrap();
    let slow = capture.with_target("perf_db::slow_query");
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].level, Level::ERROR);
    assert!(
        slow[0].text.contains("statement=WITH RECURSIVE c…"),
        "{}",
        slow[0].text
    );
}

#[tokio::test]
async fn bind_values_never_reach_the_log() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(
        PoolConfig::builder()
            .slow_query_warn(Some(Duration::from_millis(1)))
            .log_literals(true),
    )
    .await;
    let heavy_with_bind = format!("{HEAVY} WHERE $1 IS NOT NULL");
    let _: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(heavy_with_bind))
        .bind("s3cret-bind-value")
        .fetch_one(&pool)
        .await
        .unwrap();
    let text = capture.all_text();
    assert!(text.contains("slow query"), "{text}");
    assert!(!text.contains("s3cret-bind-value"), "{text}");
}

/// sqlx's own `Debug` of these arguments: what `log_bind_values` puts in the log.
fn sqlite_arguments_debug(values: &[&'static str]) -> String {
    use sqlx::Arguments as _;
    let mut arguments = sqlx::sqlite::SqliteArguments::default();
    for value in values {
        arguments.add(*value).unwrap();
    }
    format!("{arguments:?}")
}

#[tokio::test]
async fn bind_values_are_logged_when_opted_in() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(
        PoolConfig::builder()
            .slow_query_warn(Some(Duration::from_millis(1)))
            .log_bind_values(true),
    )
    .await;
    let heavy_with_bind = format!("{HEAVY} WHERE $1 IS NOT NULL");
    let _: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(heavy_with_bind.clone()))
        .bind("s3cret-bind-value")
        .fetch_one(&pool)
        .await
        .unwrap();
    // through a checked-out connection too
    let mut conn = pool.acquire().await.unwrap();
    let _: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(heavy_with_bind))
        .bind(4_242_424_242_i64)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // a slow query without bind values has no `bind_values` field
    sqlx::query_scalar::<_, i64>(HEAVY)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let slow = capture.with_target("perf_db::slow_query");
    assert_eq!(slow.len(), 3, "{slow:#?}");
    let expected = sqlite_arguments_debug(&["s3cret-bind-value"]);
    assert!(expected.contains("s3cret-bind-value"), "{expected}");
    assert!(
        slow[0].text.contains(&format!("bind_values={expected} ")),
        "{}",
        slow[0].text
    );
    assert!(
        slow[1].text.contains("bind_values=") && slow[1].text.contains("Int64(4242424242)"),
        "{}",
        slow[1].text
    );
    assert!(!slow[2].text.contains("bind_values="), "{}", slow[2].text);
}

#[tokio::test]
async fn bind_values_are_truncated_like_the_statement() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(
        PoolConfig::builder()
            .slow_query_warn(Some(Duration::from_millis(1)))
            .statement_log_chars(40)
            .log_bind_values(true),
    )
    .await;
    const LONG: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
    let _: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("{HEAVY} WHERE $1 IS NOT NULL")))
        .bind(LONG)
        .fetch_one(&pool)
        .await
        .unwrap();
    let slow = capture.with_target("perf_db::slow_query");
    assert_eq!(slow.len(), 1, "{slow:#?}");
    let full = sqlite_arguments_debug(&[LONG]);
    let cut: String = full.chars().take(40).collect();
    assert!(
        slow[0].text.contains(&format!("bind_values={cut}… ")),
        "{}",
        slow[0].text
    );
    assert!(!slow[0].text.contains(LONG), "{}", slow[0].text);
}

#[tokio::test]
async fn top_statements_are_ordered_by_total_time() {
    let pool = memory_pool(PoolConfig::builder()).await;
    for _ in 0..3 {
        sqlx::query_scalar::<_, i64>(HEAVY)
            .fetch_one(&pool)
            .await
            .unwrap();
    }
    for i in 0..5 {
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {i}")))
            .fetch_one(&pool)
            .await
            .unwrap();
    }
    let top = pool.top_statements(10);
    assert_eq!(top.len(), 2, "{top:#?}");
    assert!(top[0].statement.starts_with("WITH RECURSIVE"));
    assert_eq!(top[0].calls, 3);
    assert_eq!(top[1].statement, "SELECT $1");
    assert_eq!(top[1].calls, 5);
    assert!(top[0].total_ms >= top[1].total_ms);
    assert!(top[0].min_ms <= top[0].mean_ms && top[0].mean_ms <= top[0].max_ms);
    assert!(top[0].p95_ms > 0.0);
    assert_eq!(pool.top_statements(1).len(), 1);
}

#[tokio::test]
async fn n_plus_one_warns_once_per_span() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(PoolConfig::builder().n_plus_one_threshold(Some(10))).await;
    async fn request(pool: &Pool<Sqlite>, n: i64) {
        for i in 0..n {
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {i} AS id")))
                .fetch_one(pool)
                .await
                .unwrap();
        }
    }
    use tracing::Instrument;
    request(&pool, 25)
        .instrument(tracing::info_span!("GET /orders"))
        .await;
    request(&pool, 10)
        .instrument(tracing::info_span!("GET /ok"))
        .await; // at the threshold: fine
    request(&pool, 11)
        .instrument(tracing::info_span!("GET /users"))
        .await;
    request(&pool, 30).await; // outside any span: not a request
    let warnings = capture.with_target("perf_db::n_plus_one");
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].text.contains("span=GET /orders"),
        "{}",
        warnings[0].text
    );
    assert!(
        warnings[0].text.contains("count=11"),
        "{}",
        warnings[0].text
    );
    assert!(
        warnings[0].text.contains("statement=SELECT $1 AS id"),
        "{}",
        warnings[0].text
    );
    assert!(
        warnings[1].text.contains("span=GET /users"),
        "{}",
        warnings[1].text
    );
    assert_eq!(pool.stats().queries.n_plus_one, 2);
}

#[tokio::test]
async fn auto_explain_captures_a_slow_select_and_never_a_write() {
    let pool = memory_pool(
        PoolConfig::builder()
            .auto_explain(true)
            .slow_query_warn(Some(Duration::from_millis(5))),
    )
    .await;
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query_scalar::<_, i64>(HEAVY)
        .fetch_one(&pool)
        .await
        .unwrap();
    let captured = eventually(Duration::from_secs(10), || {
        pool.statement_stats(HEAVY).and_then(|s| s.plan).is_some()
    })
    .await;
    assert!(captured, "no plan captured");
    let plan = pool.statement_stats(HEAVY).unwrap().plan.unwrap();
    assert!(
        plan.contains("SCAN") || plan.contains("CO-ROUTINE"),
        "{plan}"
    );
    // a slow write is not explained (and not re-run)
    let insert = "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT x FROM c";
    sqlx::query(insert).execute(&pool).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pool.statement_stats(insert).unwrap().plan.is_none());
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 300_000, "the write ran exactly once");
    assert_eq!(pool.stats().queries.plans_captured, 1);
}

/// A captured plan counts in the statement byte budget: the same statements on a pool without
/// auto-EXPLAIN hold exactly the plan's bytes less (`stats().queries.statement_bytes`).
#[tokio::test]
async fn a_captured_plan_counts_in_the_statement_bytes() {
    let builder = || {
        PoolConfig::builder()
            .slow_query_warn(Some(Duration::from_millis(5)))
            .statement_memory_bytes(1 << 20)
    };
    let with_plans = memory_pool(builder().auto_explain(true)).await;
    let without = memory_pool(builder()).await;
    for pool in [&with_plans, &without] {
        sqlx::query_scalar::<_, i64>(HEAVY)
            .fetch_one(pool)
            .await
            .unwrap();
    }
    let captured = eventually(Duration::from_secs(10), || {
        with_plans.stats().queries.plans_captured == 1
            && with_plans.stats().queries.plans_in_flight == 0
    })
    .await;
    assert!(captured, "no plan captured");
    let plan = with_plans.statement_stats(HEAVY).unwrap().plan.unwrap();
    assert!(without.statement_stats(HEAVY).unwrap().plan.is_none());
    assert_eq!(
        with_plans.stats().queries.statement_bytes,
        without.stats().queries.statement_bytes + plan.len()
    );
}

#[tokio::test]
async fn query_spans_carry_system_statement_rows_and_outcome() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(PoolConfig::builder().query_spans(true).max_connections(1)).await;
    sqlx::query("SELECT 1 UNION ALL SELECT 2")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        sqlx::query("SELECT * FROM nowhere")
            .fetch_optional(&pool)
            .await
            .is_err()
    );
    // sqlx-sqlite's worker keeps the span of the last command it ran until it runs the next one
    sqlx::query("SELECT 3").fetch_all(&pool).await.unwrap();
    let spans: Vec<(String, String)> = capture
        .closed_spans()
        .into_iter()
        .filter(|(name, _)| name == "db.query")
        .collect();
    assert!(spans.len() >= 2, "{spans:#?}");
    let ok = &spans[0].1;
    assert!(ok.contains("db.system=sqlite"), "{ok}");
    assert!(
        ok.contains("db.statement=SELECT $1 UNION ALL SELECT $2"),
        "{ok}"
    );
    assert!(ok.contains("rows=2"), "{ok}");
    assert!(ok.contains("outcome=ok"), "{ok}");
    assert!(ok.contains("duration_ms="), "{ok}");
    let failed = &spans[1].1;
    assert!(
        failed.contains("db.statement=SELECT * FROM nowhere"),
        "{failed}"
    );
    assert!(failed.contains("outcome=error"), "{failed}");
}

#[tokio::test]
async fn no_spans_unless_asked() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(PoolConfig::builder()).await;
    sqlx::query("SELECT 1").fetch_all(&pool).await.unwrap();
    assert!(
        capture
            .closed_spans()
            .iter()
            .all(|(name, _)| name != "db.query")
    );
}

#[tokio::test]
async fn metrics_are_emitted_through_the_facade() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let config = PoolConfig::builder()
        .url("sqlite::memory:")
        .name("metered")
        .max_connections(2)
        .slow_query_warn(Some(Duration::from_millis(5)))
        .slow_query_error(None)
        .build()
        .unwrap();
    // Handles bind to the recorder current when the pool is created.
    let pool =
        metrics::with_local_recorder(&recorder, || Pool::<Sqlite>::connect_lazy(&config)).unwrap();
    for _ in 0..3 {
        sqlx::query("SELECT 1").fetch_one(&pool).await.unwrap();
    }
    assert!(sqlx::query("SELECT nope").fetch_one(&pool).await.is_err());
    sqlx::query_scalar::<_, i64>(HEAVY)
        .fetch_one(&pool)
        .await
        .unwrap();
    let stats = pool.stats();
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, label: Option<(&str, &str)>| {
        let labels: Vec<_> = [("pool", "metered")].into_iter().chain(label).collect();
        common::metrics::find(&snapshot, name, &labels)
            .unwrap_or_else(|| panic!("{name} {label:?} not emitted"))
    };
    assert_eq!(
        find("db_queries_total", Some(("outcome", "ok"))),
        &DebugValue::Counter(4)
    );
    assert_eq!(
        find("db_queries_total", Some(("outcome", "error"))),
        &DebugValue::Counter(1)
    );
    assert_eq!(
        find("db_slow_queries_total", Some(("level", "warn"))),
        &DebugValue::Counter(1)
    );
    // the connection may not be back in the pool before the next acquire: 1 or 2 opened
    assert_eq!(
        find("db_pool_connections_opened_total", None),
        &DebugValue::Counter(stats.connections.opened)
    );
    assert!(stats.connections.opened >= 1);
    assert_eq!(
        find("db_pool_max_connections", None),
        &DebugValue::Gauge(2.0.into())
    );
    assert_eq!(
        find("db_pool_waiting", None),
        &DebugValue::Gauge(0.0.into())
    );
    match find("db_query_duration_seconds", None) {
        DebugValue::Histogram(values) => assert_eq!(values.len(), 5),
        other => panic!("{other:?}"),
    }
    match find("db_pool_acquire_duration_seconds", None) {
        DebugValue::Histogram(values) => assert_eq!(values.len(), 5),
        other => panic!("{other:?}"),
    }
    match find("db_connection_held_seconds", None) {
        DebugValue::Histogram(values) => assert_eq!(values.len(), 5),
        other => panic!("{other:?}"),
    }
    for name in ["db_pool_acquire_timeouts_total", "db_n_plus_one_total"] {
        assert_eq!(find(name, None), &DebugValue::Counter(0));
    }
    find("db_pool_connections", Some(("state", "idle")));
    find("db_pool_connections", Some(("state", "in_use")));
    find(
        "db_pool_connections_closed_total",
        Some(("reason", "other")),
    );
    find("db_pool_acquire_phase_seconds", Some(("phase", "wait")));
}

#[tokio::test]
async fn leaked_connection_is_reported_once_with_its_acquire_location() {
    let (capture, _guard) = Capture::install();
    let pool =
        memory_pool(PoolConfig::builder().leak_detection_threshold(Some(Duration::from_secs(2))))
            .await;
    let conn = pool.acquire().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    drop(conn);
    let short = pool.acquire().await.unwrap();
    drop(short);
    let leaks = capture.with_target("perf_db::leak");
    assert_eq!(leaks.len(), 1, "{leaks:#?}");
    assert!(
        leaks[0].text.contains("tests/sqlite.rs"),
        "{}",
        leaks[0].text
    );
    assert_eq!(pool.stats().connections.leaks_detected, 1);
}

#[tokio::test]
async fn a_url_of_another_back_end_is_refused_with_the_password_redacted() {
    let config = PoolConfig::builder()
        .url("postgres://app:hunter2@db/app")
        .build()
        .unwrap();
    let err = Pool::<Sqlite>::connect(&config).await.unwrap_err();
    assert!(
        matches!(err, perf_db::Error::UnsupportedUrl { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("sqlite:") && !text.contains("hunter2"),
        "{text}"
    );
}

/// The shortest allowed lifetime is 30 s, so this test waits that long once.
#[tokio::test]
async fn connections_are_recycled_at_max_lifetime_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("recycle.db").display());
    let config = PoolConfig::builder()
        .url(url)
        .max_connections(1)
        .max_lifetime(Some(Duration::from_secs(30)))
        .idle_timeout(None)
        .build()
        .unwrap();
    let pool = Pool::<Sqlite>::connect(&config).await.unwrap();
    sqlx::query("SELECT 1").fetch_one(&pool).await.unwrap();
    tokio::time::sleep(Duration::from_secs(31)).await;
    sqlx::query("SELECT 1").fetch_one(&pool).await.unwrap();
    let stats = pool.stats();
    assert_eq!(stats.connections.recycled, 1, "{stats:#?}");
    assert_eq!(stats.connections.opened, 2);
    assert_eq!(stats.connections.closed, 1);
    assert_eq!(stats.connections.closed_other, 0);
}

#[tokio::test]
async fn nested_transactions_are_savepoints_and_instrumented() {
    let pool = memory_pool(PoolConfig::builder()).await;
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut tx)
        .await
        .unwrap();
    {
        let mut inner = tx.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut inner)
            .await
            .unwrap();
        inner.rollback().await.unwrap();
    }
    tx.commit().await.unwrap();
    let rows: Vec<i64> = sqlx::query_scalar("SELECT x FROM t")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows, vec![1]);
    assert_eq!(
        pool.statement_stats("INSERT INTO t VALUES (1)")
            .unwrap()
            .calls,
        2
    );
}

/// Creates `f` (one path with a backslash) and `counters` (one row, `n = 0`).
async fn backslash_and_counter_tables(pool: &Pool<Sqlite>) {
    sqlx::raw_sql(
        r"CREATE TABLE f (p TEXT); INSERT INTO f VALUES ('a\b');
          CREATE TABLE counters (n INTEGER); INSERT INTO counters VALUES (0);",
    )
    .execute(pool.get_ref())
    .await
    .unwrap();
}

async fn counter(pool: &Pool<Sqlite>) -> i64 {
    sqlx::query_scalar("SELECT n FROM counters")
        .fetch_one(pool.get_ref())
        .await
        .unwrap()
}

/// A multi-statement text whose first statement is a slow read with a backslash literal (a
/// complete string in SQLite) and whose second increments the counter.
const SELECT_THEN_UPDATE: &str = r"SELECT replace(p,'\','/'),
    (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT COUNT(*) FROM c)
    FROM f; UPDATE counters SET n = n + 1";

#[tokio::test]
async fn auto_explain_never_runs_the_second_statement_of_a_slow_text() {
    let pool = memory_pool(
        PoolConfig::builder()
            .auto_explain(true)
            .slow_query_warn(Some(Duration::from_millis(1)))
            .slow_query_error(None),
    )
    .await;
    backslash_and_counter_tables(&pool).await;
    common::explain::run_a_slow_two_statement_text::<Sqlite>(&pool, SELECT_THEN_UPDATE.into())
        .await;
    assert_eq!(counter(&pool).await, 1, "the UPDATE ran exactly once");
}

#[tokio::test]
async fn the_sqlite_explain_refuses_a_text_with_a_tail() {
    let pool = memory_pool(PoolConfig::builder()).await;
    backslash_and_counter_tables(&pool).await;
    // Every text hides its second statement from a lexer that gets one SQLite token rule wrong;
    // sqlx would run the tail, so the check before sending is the only guard.
    let texts = [
        SELECT_THEN_UPDATE,
        r"SELECT $a$; UPDATE counters SET n = n + 1; SELECT $a$",
        r"SELECT [a'b] FROM (SELECT 1 AS [a'b]); UPDATE counters SET n = n + 1; SELECT 'x'",
        r"SELECT `a'b` FROM (SELECT 1 AS `a'b`); UPDATE counters SET n = n + 1; SELECT 'x'",
        "SELECT 1 -- a comment\n; UPDATE counters SET n = n + 1",
        "SELECT 1 /* a comment */; UPDATE counters SET n = n + 1",
    ];
    for text in texts {
        let result =
            <Sqlite as perf_db::Backend>::explain(pool.get_ref().clone(), text.into(), false).await;
        assert!(result.is_err(), "explained {text:?}: {result:?}");
        assert_eq!(counter(&pool).await, 0, "{text:?} ran its tail");
    }
    // one statement (trailing `;` and comments included) is explained
    for text in [
        r"SELECT replace(p,'\','/') FROM f",
        "SELECT p FROM f; ",
        "SELECT p FROM f; -- done",
    ] {
        let plan =
            <Sqlite as perf_db::Backend>::explain(pool.get_ref().clone(), text.into(), false)
                .await
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(plan.is_some_and(|p| p.contains("SCAN")), "{text:?}");
    }
    assert_eq!(counter(&pool).await, 0);
}

#[tokio::test]
async fn rows_are_rows_returned_or_rows_affected_never_both() {
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(PoolConfig::builder().query_spans(true).max_connections(1)).await;
    common::rows::rows_are_returned_or_affected_never_both::<Sqlite>(
        &pool,
        &capture,
        "t",
        sqlx::sqlite::SqliteQueryResult::rows_affected,
    )
    .await;
}

#[tokio::test]
async fn generated_batch_inserts_are_one_statement_within_the_memory_budget() {
    const BUDGET: u64 = 256 << 10;
    let pool = memory_pool(PoolConfig::builder().statement_memory_bytes(BUDGET)).await;
    sqlx::query("CREATE TABLE events (id INTEGER PRIMARY KEY, payload TEXT)")
        .execute(pool.get_ref())
        .await
        .unwrap();
    let mut id = 0;
    for batch in 0..1000 {
        let rows = 1 + batch % 50;
        let values: Vec<String> = (0..rows)
            .map(|_| {
                id += 1;
                format!("({id}, '{}')", "p".repeat(100))
            })
            .collect();
        let sql = format!(
            "INSERT INTO events (id, payload) VALUES {}",
            values.join(", ")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
        let held = pool.stats().queries.statement_bytes;
        assert!(held as u64 <= BUDGET, "batch {batch}: {held} bytes");
    }
    let top = pool.top_statements(10);
    assert_eq!(top.len(), 1, "{top:#?}");
    assert_eq!(
        top[0].statement,
        "INSERT INTO events (id, payload) VALUES (...)"
    );
    assert_eq!((top[0].calls, top[0].rows), (1000, id));
}

#[tokio::test]
async fn n_plus_one_counts_per_request_scope_under_a_long_lived_span() {
    use tracing::Instrument;
    let (capture, _guard) = Capture::install();
    let pool = memory_pool(PoolConfig::builder().n_plus_one_threshold(Some(3))).await;
    async fn queries(pool: &Pool<Sqlite>, n: i64) {
        for i in 0..n {
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {i} AS id")))
                .fetch_one(pool)
                .await
                .unwrap();
        }
    }
    // an instrumented `main` that lives as long as the process
    async {
        for request in 0..3 {
            queries(&pool, 5)
                .instrument(tracing::info_span!(
                    "GET /orders",
                    perf.request_scope = true,
                    request
                ))
                .await;
        }
        // a job worker marks its job; the queries run in a nested, unmarked span
        async {
            queries(&pool, 4)
                .instrument(tracing::info_span!("load"))
                .await
        }
        .instrument(tracing::info_span!("job", perf.request_scope = true))
        .await;
        // a marked scope under the threshold
        queries(&pool, 3)
            .instrument(tracing::info_span!("GET /ok", perf.request_scope = true))
            .await;
    }
    .instrument(tracing::info_span!("main"))
    .await;
    // no marker anywhere: the root span is the request
    queries(&pool, 4)
        .instrument(tracing::info_span!("GET /legacy"))
        .await;
    let warnings = capture.with_target("perf_db::n_plus_one");
    let spans: Vec<&str> = warnings
        .iter()
        .map(|w| {
            let start = w.text.find("span=").unwrap() + "span=".len();
            let end = w.text[start..].find(" count=").unwrap() + start;
            &w.text[start..end]
        })
        .collect();
    assert_eq!(
        spans,
        [
            "GET /orders",
            "GET /orders",
            "GET /orders",
            "job",
            "GET /legacy"
        ],
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().all(|w| w.text.contains("count=4")),
        "{warnings:#?}"
    );
    assert_eq!(pool.stats().queries.n_plus_one, 5);
}

/// The `db_pool_connections{state}` gauges follow releases: after a burst they return to idle
/// without any acquire or `stats()` call (the pool's maintenance task refreshes them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_gauges_return_to_idle_after_a_burst() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = tempfile::tempdir().unwrap();
    let config = PoolConfig::builder()
        .url(format!(
            "sqlite://{}",
            dir.path().join("gauges.db").display()
        ))
        .name("gauges")
        .max_connections(4)
        .build()
        .unwrap();
    let pool =
        metrics::with_local_recorder(&recorder, || Pool::<Sqlite>::connect_lazy(&config)).unwrap();
    // One snapshot per look: the debugging recorder resets gauges to 0 when it reads them.
    let gauges = || {
        let snapshot = snapshotter.snapshot().into_vec();
        let read = |state: &str| {
            let labels = [("pool", "gauges"), ("state", state)];
            common::metrics::find(&snapshot, "db_pool_connections", &labels).map(
                |value| match value {
                    DebugValue::Gauge(v) => v.into_inner(),
                    other => panic!("{other:?}"),
                },
            )
        };
        (read("idle"), read("in_use"))
    };
    let burst = futures::future::try_join_all((0..4).map(|_| pool.acquire()))
        .await
        .unwrap();
    drop(burst);
    let mut seen = Vec::new();
    let back = eventually(Duration::from_secs(10), || {
        let now = gauges();
        seen.push(now);
        now == (Some(4.0), Some(0.0))
    })
    .await;
    assert!(
        back,
        "(idle, in_use) seen after the burst: {:?}",
        &seen[..seen.len().min(5)]
    );
    // the pool was idle the whole time: nobody acquired or asked for stats after the burst of 4
    // (four first connections to a new file: see sqlite_first_connect.rs)
    assert_eq!(pool.stats().acquire.count, 4);
}

/// A pool built before the metrics recorder is installed does not record nothing: its handles
/// bind when a recorder appears, replaying counts and gauge values kept until then.
#[test]
fn a_pool_built_before_the_recorder_records_once_one_is_installed() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = PoolConfig::builder()
        .url("sqlite::memory:")
        .name("late-recorder")
        .max_connections(3)
        .build()
        .unwrap();
    // no recorder on this thread, none installed globally in this test binary
    let pool = runtime.block_on(Pool::<Sqlite>::connect(&config)).unwrap();
    runtime.block_on(async {
        for _ in 0..2 {
            sqlx::query("SELECT 1").fetch_one(&pool).await.unwrap();
        }
    });
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            sqlx::query("SELECT 1").fetch_one(&pool).await.unwrap();
        });
        let _ = pool.stats(); // e.g. a statistics endpoint; the maintenance task does it too
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, label: Option<(&str, &str)>| {
        let labels: Vec<_> = [("pool", "late-recorder")]
            .into_iter()
            .chain(label)
            .collect();
        common::metrics::find(&snapshot, name, &labels)
    };
    assert_eq!(
        find("db_queries_total", Some(("outcome", "ok"))),
        Some(&DebugValue::Counter(3)),
        "the two queries run before the recorder are kept, the third is added"
    );
    assert_eq!(
        find("db_pool_max_connections", None),
        Some(&DebugValue::Gauge(3.0.into())),
        "a gauge set before the recorder is replayed"
    );
    // samples before the recorder are dropped; the one after it is recorded
    match find("db_query_duration_seconds", None) {
        Some(DebugValue::Histogram(values)) => assert_eq!(values.len(), 1),
        other => panic!("{other:?}"),
    }
}

/// The SQLite busy timeout is its own option: it no longer takes the statement timeout.
#[tokio::test]
async fn busy_timeout_is_separate_from_the_statement_timeout() {
    let busy = |pool: Pool<Sqlite>| async move {
        sqlx::query_scalar::<_, i64>("PRAGMA busy_timeout")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let default = memory_pool(PoolConfig::builder()).await;
    assert_eq!(busy(default).await, 5_000);
    let set = memory_pool(
        PoolConfig::builder()
            .sqlite_statement_timeout(Some(Duration::from_millis(250)))
            .sqlite_busy_timeout(Duration::from_millis(1500)),
    )
    .await;
    assert_eq!(busy(set).await, 1_500);
    let from_env = PoolConfig::from_lookup(|k| match k {
        "DATABASE_URL" => Some("sqlite::memory:".to_owned()),
        "DATABASE_SQLITE_BUSY_TIMEOUT" => Some("2.5s".to_owned()),
        _ => None,
    })
    .unwrap();
    assert_eq!(from_env.sqlite_busy_timeout(), Duration::from_millis(2500));
    let pool = Pool::<Sqlite>::connect(&from_env).await.unwrap();
    assert_eq!(busy(pool).await, 2_500);
}
