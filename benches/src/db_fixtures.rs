//! Set-up shared by the perf-db benchmarks (`db_acquire`, `db_overhead`).

use perf_db::PoolConfigBuilder;
use sqlx::{Executor, Postgres, Sqlite};

/// Connections in the PostgreSQL pools of both sides (also their minimum, so all are open).
pub const PG_CONNECTIONS: u32 = 16;

/// A perf-db pool configuration for `url` with `PG_CONNECTIONS` connections, all opened up
/// front; the caller adds the settings it compares and builds it.
pub fn pg_config(url: &str) -> PoolConfigBuilder {
    perf_db::PoolConfig::builder()
        .url(url.to_owned())
        .max_connections(PG_CONNECTIONS)
        .min_connections(PG_CONNECTIONS)
}

/// A raw sqlx PostgreSQL pool option set with `PG_CONNECTIONS` connections, all opened up front.
#[must_use]
pub fn pg_pool_options() -> sqlx::pool::PoolOptions<Postgres> {
    sqlx::pool::PoolOptions::<Postgres>::new()
        .max_connections(PG_CONNECTIONS)
        .min_connections(PG_CONNECTIONS)
}

/// Runs `SELECT 1` on a PostgreSQL executor.
///
/// # Panics
///
/// Panics when the query fails.
pub async fn select1_postgres<'e, E: Executor<'e, Database = Postgres>>(executor: E) {
    let _: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(executor)
        .await
        .unwrap();
}

/// Runs `SELECT 1` on a SQLite executor.
///
/// # Panics
///
/// Panics when the query fails.
pub async fn select1_sqlite<'e, E: Executor<'e, Database = Sqlite>>(executor: E) {
    let _: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(executor)
        .await
        .unwrap();
}
