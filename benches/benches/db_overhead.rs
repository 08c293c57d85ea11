//! perf-db instrumentation overhead: `SELECT 1` through `perf_db::Pool` against the raw sqlx pool
//! it wraps, same settings: no pre-ping, no statement timeout (on PostgreSQL it costs the server a
//! timer per statement) and no sqlx statement log on either side, so only the instrumentation
//! differs.
//!
//! - `db_select1_sqlite_memory`: SQLite in memory, one connection; ours with spans off, and with
//!   `query_spans` on under a tracing registry (so the spans are really created).
//! - `db_select1_postgres`: PostgreSQL at 1 and 16 concurrent tasks (16 connections each).
//!
//! Run: `cargo bench -p perf-benches --bench db_overhead -- --warm-up-time 2 --measurement-time 5`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures::future::join_all;
use perf_benches::{
    current_thread_runtime, multi_thread_runtime, pg_config, pg_pool_options, select1_postgres,
    select1_sqlite,
};
use perf_db::{Pool, PoolConfig};
use std::str::FromStr;

use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Postgres, Sqlite};

fn sqlite(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let (raw, ours, ours_spans) = rt.block_on(async {
        // sqlx's per-statement log is off on both sides (perf-db replaces it with its own).
        let raw = PoolOptions::<Sqlite>::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                SqliteConnectOptions::from_str("sqlite::memory:")
                    .unwrap()
                    .disable_statement_logging(),
            )
            .await
            .unwrap();
        let config = |spans| {
            PoolConfig::builder()
                .url("sqlite::memory:")
                .max_connections(1)
                .test_before_acquire(false)
                .statement_timeout(None)
                .query_spans(spans)
                .build()
                .unwrap()
        };
        let ours = Pool::<Sqlite>::connect(&config(false)).await.unwrap();
        let ours_spans = Pool::<Sqlite>::connect(&config(true)).await.unwrap();
        (raw, ours, ours_spans)
    });
    let mut group = c.benchmark_group("db_select1_sqlite_memory");
    group.bench_function("sqlx", |b| {
        b.to_async(&rt).iter(|| select1_sqlite(&raw));
    });
    group.bench_function("perf_db", |b| {
        b.to_async(&rt).iter(|| select1_sqlite(&ours));
    });
    // Spans on: a registry subscriber records them. The peer runs under the same subscriber.
    let subscriber = tracing_subscriber::registry();
    let _guard = tracing::subscriber::set_default(subscriber);
    group.bench_function("sqlx_under_subscriber", |b| {
        b.to_async(&rt).iter(|| select1_sqlite(&raw));
    });
    group.bench_function("perf_db_spans_on", |b| {
        b.to_async(&rt).iter(|| select1_sqlite(&ours_spans));
    });
    group.finish();
}

fn postgres(c: &mut Criterion) {
    let url = perf_benches::database_url();
    let rt = multi_thread_runtime();
    let (raw, ours) = rt.block_on(async {
        let raw = pg_pool_options()
            .test_before_acquire(false)
            .connect_with(
                PgConnectOptions::from_str(&url)
                    .unwrap()
                    .disable_statement_logging(),
            )
            .await
            .unwrap();
        let config = pg_config(&url)
            .test_before_acquire(false)
            .statement_timeout(None)
            .build()
            .unwrap();
        (raw, Pool::<Postgres>::connect(&config).await.unwrap())
    });
    let mut group = c.benchmark_group("db_select1_postgres");
    for tasks in [1_usize, 16] {
        group.bench_with_input(BenchmarkId::new("sqlx", tasks), &tasks, |b, &tasks| {
            b.to_async(&rt)
                .iter(|| join_all((0..tasks).map(|_| select1_postgres(&raw))));
        });
        group.bench_with_input(BenchmarkId::new("perf_db", tasks), &tasks, |b, &tasks| {
            b.to_async(&rt)
                .iter(|| join_all((0..tasks).map(|_| select1_postgres(&ours))));
        });
    }
    group.finish();
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
