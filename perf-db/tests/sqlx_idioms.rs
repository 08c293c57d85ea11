//! What sqlx users write, on the instrumented types: `&mut *conn` / `&mut *tx`, `sqlx::Acquire`
//! (migrations), `?` across perf-db and sqlx errors.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::time::Duration;

use common::{PgSchema, pg_url};
use perf_db::{Pool, PoolConfig};
use sqlx::{Acquire, Postgres, Sqlite};

async fn sqlite_pool() -> Pool<Sqlite> {
    Pool::connect(
        &PoolConfig::builder()
            .url("sqlite::memory:")
            .build()
            .unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn deref_idiom_runs_instrumented_queries_on_connections_and_transactions() {
    let pool = sqlite_pool().await;
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut *conn)
        .await
        .unwrap();
    {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        let mut nested = tx.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (3)")
            .execute(&mut *nested)
            .await
            .unwrap();
        nested.commit().await.unwrap();
        tx.commit().await.unwrap();
    }
    drop(conn);
    let mut tx = pool.begin().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n, 3);
    for (sql, calls) in [
        ("CREATE TABLE t (x INTEGER)", 1),
        ("INSERT INTO t VALUES (1)", 3), // the three inserts normalize alike
        ("SELECT COUNT(*) FROM t", 1),
    ] {
        let stats = pool
            .statement_stats(sql)
            .unwrap_or_else(|| panic!("{sql} not recorded"));
        assert_eq!(stats.calls, calls, "{sql}");
    }
    assert_eq!(pool.stats().queries.ok, 5);
}

/// A function written for sqlx's own connection type takes `&mut *conn` (deref coercion).
#[tokio::test]
async fn deref_idiom_coerces_to_the_driver_connection() {
    async fn on_raw(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT 41 + 1").fetch_one(conn).await
    }
    let pool = sqlite_pool().await;
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(on_raw(&mut conn).await.unwrap(), 42);
    let mut tx = pool.begin().await.unwrap();
    assert_eq!(on_raw(&mut tx).await.unwrap(), 42);
}

fn write_migrations(dir: &std::path::Path) {
    std::fs::write(
        dir.join("0001_create_items.sql"),
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
    )
    .unwrap();
    std::fs::write(
        dir.join("0002_seed_items.sql"),
        "INSERT INTO items (id, name) VALUES (1, 'one'), (2, 'two');",
    )
    .unwrap();
}

#[tokio::test]
async fn migrator_runs_on_the_instrumented_sqlite_pool() {
    let dir = tempfile::tempdir().unwrap();
    write_migrations(dir.path());
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    let pool = sqlite_pool().await;
    migrator.run(&pool).await.unwrap();
    migrator.run(&pool).await.unwrap(); // applied once
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM items ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(names, ["one", "two"]);
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied, 2);
    assert!(
        pool.stats().acquire.count >= 2,
        "the migrator acquired through the pool"
    );
}

#[tokio::test]
async fn migrator_runs_on_the_instrumented_postgres_pool() {
    let schema = PgSchema::create().await;
    let dir = tempfile::tempdir().unwrap();
    write_migrations(dir.path());
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    let config = PoolConfig::builder().url(pg_url()).build().unwrap();
    let pool = Pool::<Postgres>::connect_with(&config, schema.search_path())
        .await
        .unwrap();
    migrator.run(&pool).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM items ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(names, ["one", "two"]);
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied, 2);
    drop(pool);
}

/// Generic helpers over `sqlx::Acquire` take the instrumented pool; their acquire is recorded
/// (their queries reach the driver's connection, so they are not: documented on the impl).
#[tokio::test]
async fn generic_acquire_helpers_take_the_pool() {
    async fn one<'a, A: Acquire<'a, Database = Sqlite>>(a: A) -> sqlx::Result<i64> {
        let mut conn = a.acquire().await?;
        sqlx::query_scalar("SELECT 1").fetch_one(&mut *conn).await
    }
    let pool = sqlite_pool().await;
    assert_eq!(one(&pool).await.unwrap(), 1);
    assert_eq!(pool.stats().acquire.count, 1);
    // the concrete connection type is instrumented through `&mut conn`
    let mut conn = Acquire::acquire(&pool).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
    drop(conn);
    assert_eq!(pool.statement_stats("SELECT 1").unwrap().calls, 1);
    assert_eq!(pool.stats().acquire.count, 2);
    let mut tx = Acquire::begin(&pool).await.unwrap();
    sqlx::query("SELECT 2").execute(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(pool.stats().acquire.count, 3);
}

/// `?` works from perf-db's acquire/begin into a function returning `sqlx::Error`, and from
/// sqlx's queries into one returning `perf_db::Error`.
#[tokio::test]
async fn question_mark_crosses_both_error_types() {
    async fn sqlx_style(pool: &Pool<Sqlite>) -> Result<i64, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let mut tx = pool.begin().await?;
        let a: i64 = sqlx::query_scalar("SELECT 20")
            .fetch_one(&mut *conn)
            .await?;
        let b: i64 = sqlx::query_scalar("SELECT 22").fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(a + b)
    }
    async fn perf_db_style(pool: &Pool<Sqlite>) -> perf_db::Result<i64> {
        let mut conn = pool.acquire().await?;
        Ok(sqlx::query_scalar("SELECT 42")
            .fetch_one(&mut *conn)
            .await?)
    }
    let pool = sqlite_pool().await;
    assert_eq!(sqlx_style(&pool).await.unwrap(), 42);
    assert_eq!(perf_db_style(&pool).await.unwrap(), 42);

    // the mapping: an acquire timeout is sqlx's PoolTimedOut, bad configuration its
    // Configuration error, a database error itself
    let config = PoolConfig::builder()
        .url("sqlite::memory:")
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(250))
        .build()
        .unwrap();
    let small = Pool::<Sqlite>::connect(&config).await.unwrap();
    let held = small.acquire().await.unwrap();
    let timeout: sqlx::Error = small.acquire().await.unwrap_err().into();
    assert!(matches!(timeout, sqlx::Error::PoolTimedOut), "{timeout:?}");
    drop(held);
    let invalid: sqlx::Error = PoolConfig::builder()
        .max_connections(0)
        .build()
        .unwrap_err()
        .into();
    match invalid {
        sqlx::Error::Configuration(inner) => {
            assert_eq!(
                inner.to_string(),
                "invalid `max_connections`: got 0, allowed: 1..=10000"
            );
        }
        other => panic!("{other:?}"),
    }
    let db: sqlx::Error = perf_db::Error::from(sqlx::Error::RowNotFound).into();
    assert!(matches!(db, sqlx::Error::RowNotFound), "{db:?}");
}
