//! PostgreSQL back end (shared server, one schema per test).
#![cfg(feature = "postgres")]

mod common;

use std::time::Duration;

use common::{Capture, PgSchema, eventually, pg_url};
use perf_db::{Error, Pool, PoolConfig, PoolConfigBuilder};
use sqlx::Postgres;
use tracing::Level;

async fn pool(schema: &PgSchema, config: PoolConfigBuilder) -> Pool<Postgres> {
    let config = config.url(pg_url()).build().unwrap();
    Pool::connect_with(&config, schema.search_path())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} is unreachable: {e}",
                perf_db::redact_url(&pg_url())
            )
        })
}

/// Runs `sql`, a query returning one value, on `pool` and returns that value.
async fn scalar<T>(pool: &Pool<Postgres>, sql: &'static str) -> T
where
    T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Send + Unpin,
{
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Runs `sql`, a statement without bind values, on `pool`.
async fn execute(pool: &Pool<Postgres>, sql: &'static str) {
    sqlx::query(sql).execute(pool).await.unwrap();
}

/// A fresh schema and a pool on it built from `config`; the schema is dropped with the returned
/// value, after the pool (bindings drop in reverse order).
async fn schema_and_pool(config: PoolConfigBuilder) -> (PgSchema, Pool<Postgres>) {
    let schema = PgSchema::create().await;
    let pool = pool(&schema, config).await;
    (schema, pool)
}

#[tokio::test]
async fn schema_application_name_and_instrumented_queries() {
    let (schema, pool) =
        schema_and_pool(PoolConfig::builder().application_name("perf-db-test")).await;
    execute(
        &pool,
        "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT)",
    )
    .await;
    let path: String = scalar(&pool, "SHOW search_path").await;
    assert_eq!(path, schema.name);
    let app: String = scalar(&pool, "SHOW application_name").await;
    assert_eq!(app, "perf-db-test");
    let timeout: String = scalar(&pool, "SHOW statement_timeout").await;
    assert_eq!(timeout, "30s");
    let mut tx = pool.begin().await.unwrap();
    for i in 0..3_i64 {
        sqlx::query("INSERT INTO items VALUES ($1, $2)")
            .bind(i)
            .bind("x")
            .execute(&mut tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM items")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(names.len(), 3);
    let insert = pool
        .statement_stats("INSERT INTO items VALUES ($1, $2)")
        .unwrap();
    assert_eq!((insert.calls, insert.rows), (3, 3));
    assert_eq!(pool.stats().system, "postgresql");
}

#[tokio::test]
async fn statement_timeout_cancels_pg_sleep() {
    let (_schema, pool) =
        schema_and_pool(PoolConfig::builder().statement_timeout(Some(Duration::from_millis(200))))
            .await;
    let err = sqlx::query("SELECT pg_sleep(5)")
        .execute(&pool)
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string());
    assert_eq!(
        code.as_deref(),
        Some("57014"),
        "query_canceled expected, got {err}"
    );
    let stats = pool.statement_stats("SELECT pg_sleep(5)").unwrap();
    assert_eq!((stats.calls, stats.errors), (1, 1));
    // counted under the `timeout` outcome, not `error`
    let queries = pool.stats().queries;
    assert_eq!((queries.timeouts, queries.errors), (1, 0));
    // sent in the startup packet: the server records the client as its source
    let source: String = scalar(
        &pool,
        "SELECT source FROM pg_settings WHERE name = 'statement_timeout'",
    )
    .await;
    assert_eq!(source, "client");
}

/// Behind PgBouncer (transaction pooling) the startup parameter is refused: `SET` after
/// connecting instead, and the timeout cancels statements the same way.
#[tokio::test]
async fn statement_timeout_set_after_connect_cancels_pg_sleep() {
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .statement_timeout(Some(Duration::from_millis(200)))
            .statement_timeout_mode(perf_db::StatementTimeoutMode::SetAfterConnect)
            .max_connections(2),
    )
    .await;
    let shown: String = scalar(&pool, "SHOW statement_timeout").await;
    assert_eq!(shown, "200ms");
    let source: String = scalar(
        &pool,
        "SELECT source FROM pg_settings WHERE name = 'statement_timeout'",
    )
    .await;
    assert_eq!(source, "session", "set with SET, not in the startup packet");
    // every connection of the pool has it, not only the first
    let mut held = futures::future::try_join_all([pool.acquire(), pool.acquire()])
        .await
        .unwrap();
    for conn in &mut held {
        let err = sqlx::query("SELECT pg_sleep(5)")
            .execute(&mut **conn)
            .await
            .unwrap_err();
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.to_string());
        assert_eq!(
            code.as_deref(),
            Some("57014"),
            "query_canceled expected, got {err}"
        );
    }
    drop(held);
    let stats = pool.statement_stats("SELECT pg_sleep(5)").unwrap();
    assert_eq!((stats.calls, stats.errors), (2, 2));
    let queries = pool.stats().queries;
    assert_eq!((queries.timeouts, queries.errors), (2, 0));
}

/// A statement cancelled by someone else (`pg_cancel_backend`) shares the SQLSTATE `57014` of a
/// statement timeout but is an error, not a timeout.
#[tokio::test]
async fn a_statement_cancelled_by_another_session_is_an_error_not_a_timeout() {
    let (_schema, pool) = schema_and_pool(PoolConfig::builder().max_connections(2)).await;
    let mut victim = pool.acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut victim)
        .await
        .unwrap();
    let sleeping = sqlx::query("SELECT pg_sleep(30)").execute(&mut victim);
    let cancel = async {
        // cancel once the statement is running (the server shows it as active)
        loop {
            let active: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                 WHERE pid = $1 AND state = 'active' AND query = 'SELECT pg_sleep(30)')",
            )
            .bind(pid)
            .fetch_one(&pool)
            .await
            .unwrap();
            if active {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let cancelled: bool = sqlx::query_scalar("SELECT pg_cancel_backend($1)")
            .bind(pid)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(cancelled);
    };
    let (result, ()) = tokio::join!(sleeping, cancel);
    let err = result.unwrap_err();
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("57014"), "{err}");
    drop(victim);
    let queries = pool.stats().queries;
    assert_eq!((queries.timeouts, queries.errors), (0, 1));
}

#[tokio::test]
async fn pre_ping_replaces_a_terminated_connection() {
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .max_connections(1)
            .pre_ping_window(Duration::from_millis(100)),
    )
    .await;
    let pid: i32 = scalar(&pool, "SELECT pg_backend_pid()").await;
    // Reused within the window: no ping.
    let again: i32 = scalar(&pool, "SELECT pg_backend_pid()").await;
    assert_eq!(again, pid);
    let before = pool.stats().acquire;
    assert_eq!(before.pings, 0);
    assert!(before.pings_skipped >= 1);
    // sqlx pings a connection as it returns it to the pool, in a task of its own: wait until
    // the connection is back, or that ping can meet the terminated backend and close it first
    // (a loaded machine showed it), and the acquire below would find no connection to ping.
    let returned = eventually(Duration::from_secs(10), || pool.stats().idle == 1).await;
    assert!(returned, "the connection never came back to the pool");

    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_url())
        .await
        .unwrap();
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(killed);
    tokio::time::sleep(Duration::from_millis(300)).await; // beyond the pre-ping window

    let replaced: i32 = scalar(&pool, "SELECT pg_backend_pid()").await;
    assert_ne!(replaced, pid);
    let stats = pool.stats();
    assert_eq!(stats.connections.ping_failed, 1, "{stats:#?}");
    assert_eq!(stats.acquire.pings, 1);
    assert_eq!(stats.connections.opened, 2);
    assert_eq!(
        stats.queries.errors, 0,
        "the caller never saw the dead connection"
    );
}

#[tokio::test]
async fn exhaustion_gives_an_acquire_timeout_and_shows_waiters() {
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .max_connections(1)
            .acquire_timeout(Duration::from_millis(400)),
    )
    .await;
    let held = pool.acquire().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.acquire().await.map(drop) })
    };
    assert!(eventually(Duration::from_secs(5), || pool.stats().waiting == 1).await);
    let err = waiter.await.unwrap().unwrap_err();
    match &err {
        Error::AcquireTimeout {
            pool: name,
            timeout,
            in_use,
            max,
            ..
        } => {
            assert_eq!(name, "default");
            assert_eq!(*timeout, Duration::from_millis(400));
            assert_eq!((*in_use, *max), (1, 1));
        }
        other => panic!("expected AcquireTimeout, got {other}"),
    }
    assert!(err.to_string().contains("timed out"), "{err}");
    // the executor path reports sqlx's PoolTimedOut
    let err = sqlx::query("SELECT 1").execute(&pool).await.unwrap_err();
    assert!(matches!(err, sqlx::Error::PoolTimedOut), "{err}");
    let stats = pool.stats();
    assert_eq!(stats.acquire.timeouts, 2);
    assert_eq!(stats.waiting, 0);
    assert_eq!(stats.in_use, 1);
    drop(held);
    execute(&pool, "SELECT 1").await;
}

#[tokio::test]
async fn slow_query_log_levels_and_no_bind_values() {
    let (capture, _guard) = Capture::install();
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .slow_query_warn(Some(Duration::from_millis(100)))
            .slow_query_error(Some(Duration::from_millis(400))),
    )
    .await;
    execute(&pool, "SELECT pg_sleep(0.01)").await;
    assert!(capture.with_target("perf_db::slow_query").is_empty());
    sqlx::query("SELECT pg_sleep(0.15), $1::text")
        .bind("bind-secret-42")
        .execute(&pool)
        .await
        .unwrap();
    execute(&pool, "SELECT pg_sleep(0.5), 'literal-secret'").await;
    let slow = capture.with_target("perf_db::slow_query");
    assert_eq!(slow.len(), 2, "{slow:#?}");
    assert_eq!(slow[0].level, Level::WARN);
    assert!(
        slow[0]
            .text
            .contains("statement=SELECT pg_sleep($2), $1::text"),
        "{}",
        slow[0].text
    );
    assert_eq!(slow[1].level, Level::ERROR);
    let all = capture.all_text();
    assert!(!all.contains("bind-secret-42"), "{all}");
    assert!(!all.contains("literal-secret"), "{all}");
    let stats = pool.stats();
    assert_eq!((stats.queries.slow_warn, stats.queries.slow_error), (1, 1));
}

#[tokio::test]
async fn bind_values_are_logged_when_opted_in() {
    let (capture, _guard) = Capture::install();
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .slow_query_warn(Some(Duration::from_millis(100)))
            .statement_log_chars(1000)
            .log_bind_values(true),
    )
    .await;
    sqlx::query("SELECT pg_sleep(0.15), $1::text")
        .bind("bind-secret-42")
        .execute(&pool)
        .await
        .unwrap();
    // inside a transaction too
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_sleep(0.15), $1::int8")
        .bind(4_242_424_242_i64)
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let slow = capture.with_target("perf_db::slow_query");
    assert_eq!(slow.len(), 2, "{slow:#?}");
    // sqlx's `Debug` of the arguments: parameter types and the encoded bytes of each value
    let mut expected = sqlx::postgres::PgArguments::default();
    sqlx::Arguments::add(&mut expected, "bind-secret-42").unwrap();
    let expected = format!("{expected:?}");
    assert!(
        slow[0].text.contains(&format!("bind_values={expected} ")),
        "{}",
        slow[0].text
    );
    let text_bytes = "bind-secret-42"
        .bytes()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    assert!(slow[0].text.contains(&text_bytes), "{}", slow[0].text);
    let int_bytes = 4_242_424_242_i64
        .to_be_bytes()
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        slow[1].text.contains("bind_values=") && slow[1].text.contains(&int_bytes),
        "{}",
        slow[1].text
    );
}

#[tokio::test]
async fn auto_explain_captures_a_json_plan() {
    let (capture, _guard) = Capture::install();
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .auto_explain(true)
            .slow_query_warn(Some(Duration::from_millis(50))),
    )
    .await;
    execute(&pool, "CREATE TABLE t (x INT)").await;
    execute(&pool, "INSERT INTO t VALUES (1)").await;
    let slow = "SELECT pg_sleep(0.1), x FROM t";
    sqlx::query(slow).fetch_all(&pool).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || pool
            .statement_stats(slow)
            .and_then(|s| s.plan)
            .is_some())
        .await,
        "{:#?}",
        capture.with_target("perf_db::explain")
    );
    let plan = pool.statement_stats(slow).unwrap().plan.unwrap();
    let json: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert!(json[0]["Plan"]["Node Type"].is_string(), "{plan}");
    // a slow write is never explained
    let write = "INSERT INTO t SELECT 1 FROM pg_sleep(0.1)";
    sqlx::query(write).execute(&pool).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pool.statement_stats(write).unwrap().plan.is_none());
    let rows: i64 = scalar(&pool, "SELECT COUNT(*) FROM t").await;
    assert_eq!(rows, 2, "the write ran exactly once");
}

#[tokio::test]
async fn prepared_statements_and_describe_go_through_the_wrappers() {
    use sqlx::{Executor, Statement};
    let (_schema, pool) = schema_and_pool(PoolConfig::builder()).await;
    let statement = (&pool)
        .prepare(sqlx::SqlStr::from_static("SELECT $1::int4 + 1"))
        .await
        .unwrap();
    assert_eq!(statement.columns().len(), 1);
    // A query built from a prepared statement carries it through the capture step.
    let two: i32 = statement
        .query_scalar()
        .bind(1_i32)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(two, 2);
    let mut conn = pool.acquire().await.unwrap();
    let described = (&mut conn)
        .describe(sqlx::SqlStr::from_static("SELECT 1::int8 AS n"))
        .await
        .unwrap();
    assert_eq!(described.columns().len(), 1);
    let stats = pool.statement_stats("SELECT $1::int4 + 1").unwrap();
    assert_eq!((stats.calls, stats.rows), (1, 1));
}

/// Creates `f` (one path with a backslash) and `counters` (one row, `n = 0`) in the test schema.
async fn backslash_and_counter_tables(pool: &Pool<Postgres>) {
    sqlx::raw_sql(
        r"CREATE TABLE f (p TEXT); INSERT INTO f VALUES ('a\b');
          CREATE TABLE counters (n INT); INSERT INTO counters VALUES (0);",
    )
    .execute(pool.get_ref())
    .await
    .unwrap();
}

/// A multi-statement text whose first statement is a slow read with a backslash literal (a
/// complete string with `standard_conforming_strings`) and whose second increments the counter.
const SELECT_THEN_UPDATE: &str =
    r"SELECT replace(p,'\','/'), pg_sleep(0.02) FROM f; UPDATE counters SET n = n + 1";

#[tokio::test]
async fn auto_explain_never_runs_the_second_statement_of_a_slow_text() {
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .auto_explain(true)
            .slow_query_warn(Some(Duration::from_millis(1)))
            .slow_query_error(None),
    )
    .await;
    backslash_and_counter_tables(&pool).await;
    // the simple-query protocol: both statements run, once
    common::explain::run_a_slow_two_statement_text::<Postgres>(&pool, SELECT_THEN_UPDATE.into())
        .await;
    let n: i32 = sqlx::query_scalar("SELECT n FROM counters")
        .fetch_one(pool.get_ref())
        .await
        .unwrap();
    assert_eq!(n, 1, "the UPDATE ran exactly once");
}

#[tokio::test]
async fn the_server_refuses_an_explain_holding_two_commands() {
    let (_schema, pool) = schema_and_pool(PoolConfig::builder()).await;
    backslash_and_counter_tables(&pool).await;
    // Straight to the back end, past the lexer: the prepared statement is the guard.
    let error = <Postgres as perf_db::Backend>::explain(
        pool.get_ref().clone(),
        SELECT_THEN_UPDATE.into(),
        false,
    )
    .await
    .unwrap_err();
    let code = error.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("42601"), "{error}");
    let n: i32 = scalar(&pool, "SELECT n FROM counters").await;
    assert_eq!(n, 0, "nothing ran");
    let plan = <Postgres as perf_db::Backend>::explain(
        pool.get_ref().clone(),
        r"SELECT replace(p,'\','/') FROM f".into(),
        false,
    )
    .await
    .unwrap()
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(json[0]["Plan"]["Node Type"], "Seq Scan", "{plan}");
}

#[tokio::test]
async fn a_statement_with_parameters_is_planned_generically_from_postgres_16() {
    let (_schema, pool) = schema_and_pool(PoolConfig::builder()).await;
    backslash_and_counter_tables(&pool).await;
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(pool.get_ref())
        .await
        .unwrap();
    let plan = <Postgres as perf_db::Backend>::explain(
        pool.get_ref().clone(),
        "SELECT p FROM f WHERE p = $1 AND length(p) > $2".into(),
        true,
    )
    .await
    .unwrap();
    if version < 160_000 {
        assert_eq!(plan, None, "GENERIC_PLAN needs PostgreSQL 16");
    } else {
        let plan = plan.expect("a generic plan");
        let json: serde_json::Value = serde_json::from_str(&plan).unwrap();
        assert_eq!(json[0]["Plan"]["Node Type"], "Seq Scan", "{plan}");
    }
}

#[tokio::test]
async fn rows_are_rows_returned_or_rows_affected_never_both() {
    let (capture, _guard) = Capture::install();
    let (_schema, pool) = schema_and_pool(PoolConfig::builder().query_spans(true)).await;
    common::rows::rows_are_returned_or_affected_never_both::<Postgres>(
        &pool,
        &capture,
        "t",
        sqlx::postgres::PgQueryResult::rows_affected,
    )
    .await;
}

#[tokio::test]
async fn a_query_dropped_before_it_ends_is_cancelled_and_never_explained() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let (capture, _guard) = Capture::install();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let schema = PgSchema::create().await;
    let url = pg_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let config = PoolConfig::builder()
        .url(format!(
            "{url}{separator}options=-c%20search_path%3D{}",
            schema.name
        ))
        .name("cancelling")
        .auto_explain(true)
        .query_spans(true)
        .slow_query_warn(Some(Duration::from_millis(1)))
        .slow_query_error(None)
        .build()
        .unwrap();
    // Metric handles bind to the recorder current when the pool is created.
    let pool = metrics::with_local_recorder(&recorder, || Pool::<Postgres>::connect_lazy(&config))
        .unwrap();
    let slow = "SELECT pg_sleep(5)";
    // through `fetch_many` (execute) and through `fetch_optional` (fetch_optional)
    let timeout = Duration::from_millis(300);
    let executed = tokio::time::timeout(timeout, sqlx::query(slow).execute(&pool)).await;
    assert!(executed.is_err(), "pg_sleep(5) ended within {timeout:?}");
    let fetched = tokio::time::timeout(timeout, sqlx::query(slow).fetch_optional(&pool)).await;
    assert!(fetched.is_err(), "pg_sleep(5) ended within {timeout:?}");
    // one query that completes (not a read, so its own slowness starts no capture)
    execute(&pool, "SET TIME ZONE 'UTC'").await;

    let stats = pool.stats().queries;
    assert_eq!(
        (stats.ok, stats.errors, stats.cancelled),
        (1, 0, 2),
        "{stats:#?}"
    );
    // the cancelled runs were over the threshold, yet no plan capture started
    assert_eq!(
        (
            stats.plans_in_flight,
            stats.plans_captured,
            stats.plans_failed
        ),
        (0, 0, 0),
        "{stats:#?}"
    );
    let statement = pool.statement_stats(slow).unwrap();
    assert_eq!(
        (statement.calls, statement.errors, statement.plan),
        (2, 0, None)
    );
    let cancelled: Vec<String> = capture
        .closed_spans()
        .into_iter()
        .filter(|(name, fields)| name == "db.query" && fields.contains("pg_sleep"))
        .map(|(_, fields)| fields)
        .collect();
    assert_eq!(cancelled.len(), 2, "{cancelled:#?}");
    assert!(
        cancelled.iter().all(|f| f.contains("outcome=cancelled")),
        "{cancelled:#?}"
    );
    let snapshot = snapshotter.snapshot().into_vec();
    let count = |outcome: &str| {
        common::metrics::find(&snapshot, "db_queries_total", &[("outcome", outcome)])
    };
    assert_eq!(count("cancelled"), Some(&DebugValue::Counter(2)));
    assert_eq!(count("ok"), Some(&DebugValue::Counter(1)));
    drop(pool);
}

/// Connections of the pool's own application name, as the server sees them.
async fn backend_pids(application_name: &str) -> Vec<i32> {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_url())
        .await
        .unwrap();
    sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid")
        .bind(application_name)
        .fetch_all(&mut admin)
        .await
        .unwrap()
}

/// The pool's maintenance task does not keep the pool alive: once the last `Pool` handle is
/// dropped, its connections close.
#[tokio::test]
async fn dropping_the_pool_stops_its_maintenance_and_closes_its_connections() {
    let app = format!("perf-db-drop-{}", &common::random_suffix()[..8]);
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .application_name(&app)
            .max_connections(2),
    )
    .await;
    let clone = pool.clone();
    let held = futures::future::try_join_all([pool.acquire(), clone.acquire()])
        .await
        .unwrap();
    drop(held);
    assert_eq!(backend_pids(&app).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(1500)).await; // at least one maintenance run
    drop(pool);
    drop(clone);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let left = loop {
        let left = backend_pids(&app).await;
        if left.is_empty() || std::time::Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        left.is_empty(),
        "connections still open after the pool was dropped: {left:?}"
    );
}

/// An idle pool past `max_lifetime` has its connections replaced in the background, with no
/// acquire: the server sees new backends, the statistics count the recycling. (The shortest
/// allowed lifetime is 30 s, so this test waits that long once.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_max_lifetime_are_replaced_without_an_acquire() {
    let app = format!("perf-db-recycle-{}", &common::random_suffix()[..8]);
    let (_schema, pool) = schema_and_pool(
        PoolConfig::builder()
            .application_name(&app)
            .max_connections(3)
            .max_lifetime(Some(Duration::from_secs(30)))
            .idle_timeout(None),
    )
    .await;
    let burst = futures::future::try_join_all((0..3).map(|_| pool.acquire()))
        .await
        .unwrap();
    drop(burst);
    let first = backend_pids(&app).await;
    assert_eq!(first.len(), 3);
    let opened = pool.stats().connections.opened;
    assert_eq!(opened, 3);

    // Nothing touches the pool from here on: only the server and `stats()` are asked.
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    let now = loop {
        let now = backend_pids(&app).await;
        let replaced = now.len() == 3 && now.iter().all(|pid| !first.contains(pid));
        if replaced || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        now.len() == 3 && now.iter().all(|pid| !first.contains(pid)),
        "backends before {first:?}, after {now:?}"
    );
    let stats = pool.stats();
    assert_eq!(
        stats.acquire.count, 3,
        "no acquire after the burst: {stats:#?}"
    );
    assert_eq!(stats.connections.recycled, 3, "{stats:#?}");
    assert_eq!(stats.connections.opened, 6, "{stats:#?}");
    assert_eq!(stats.connections.closed, 3, "{stats:#?}");
    assert_eq!((stats.size, stats.idle), (3, 3), "{stats:#?}");
}
