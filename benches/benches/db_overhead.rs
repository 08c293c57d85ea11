//! perf-db instrumentation overhead: `SELECT 1` through `perf_db::Pool` against the raw sqlx pool
//! it wraps, same settings: no pre-ping, no statement timeout (on PostgreSQL it costs the server a
//! timer per statement) and no sqlx statement log on either side, so only the instrumentation
//! differs.
//!
//! - `db_select1_sqlite_memory`: SQLite in memory, one connection; ours with spans off, and with
//!   `query_spans` on under a tracing registry (so the spans are really created), and
//!   `perf_db_statement_timeout`: `sqlite_statement_timeout` set, which on SQLite perf-db enforces
//!   itself by installing a progress handler before each query (one round trip to the
//!   connection's worker thread).
//! - `db_fetch_stream_sqlite_memory`: a 100-row result read as a stream (`fetch`), the path
//!   where `&Pool`'s `fetch_many` hands rows from the connection it checked out to the caller
//!   through a generator (`SELECT 1` above goes through `fetch_optional` and never touches it).
//! - `db_select1_postgres`: PostgreSQL at 1 and 16 concurrent tasks (16 connections per pool),
//!   plus `sqlx_control`: a second raw sqlx pool configured exactly like the peer, which shows
//!   how far two identical pools drift apart in the same run (the noise floor of the ratio).
//!   Each timed iteration runs the same iteration on all three pools, in an order that cycles
//!   through every permutation, timing only its own side: all sides run under the same
//!   interleaved load and none always runs after another. Measured one after the other, whichever
//!   side criterion ran second came out up to 7% slower (see the perf-db notes in
//!   `BENCHMARKS.md`).
//!
//! Run: `cargo bench -p perf-benches --bench db_overhead -- --warm-up-time 2 --measurement-time 8`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures::future::join_all;
use perf_benches::{
    current_thread_runtime, multi_thread_runtime, pg_config, pg_pool_options, select1_postgres,
    select1_sqlite,
};
use perf_db::{Pool, PoolConfig};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Postgres, Sqlite};

fn sqlite(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let (raw, ours, ours_spans, ours_timeout) = rt.block_on(async {
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
        let config = |spans, timeout| {
            PoolConfig::builder()
                .url("sqlite::memory:")
                .max_connections(1)
                .test_before_acquire(false)
                .sqlite_statement_timeout(timeout)
                .query_spans(spans)
                .build()
                .unwrap()
        };
        let ours = Pool::<Sqlite>::connect(&config(false, None)).await.unwrap();
        let ours_spans = Pool::<Sqlite>::connect(&config(true, None)).await.unwrap();
        let ours_timeout = Pool::<Sqlite>::connect(&config(false, Some(Duration::from_secs(30))))
            .await
            .unwrap();
        (raw, ours, ours_spans, ours_timeout)
    });
    let mut group = c.benchmark_group("db_select1_sqlite_memory");
    group.bench_function("sqlx", |b| {
        b.to_async(&rt).iter(|| select1_sqlite(&raw));
    });
    group.bench_function("perf_db", |b| {
        b.to_async(&rt).iter(|| select1_sqlite(&ours));
    });
    group.bench_function("perf_db_statement_timeout", |b| {
        b.to_async(&rt).iter(|| select1_sqlite(&ours_timeout));
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
    drop(_guard);
    let mut group = c.benchmark_group("db_fetch_stream_sqlite_memory");
    group.bench_function("sqlx", |b| {
        b.to_async(&rt).iter(|| stream_100_sqlite(&raw));
    });
    group.bench_function("perf_db", |b| {
        b.to_async(&rt).iter(|| stream_100_sqlite(&ours));
    });
    group.bench_function("perf_db_statement_timeout", |b| {
        b.to_async(&rt).iter(|| stream_100_sqlite(&ours_timeout));
    });
    group.finish();
}

/// Reads 100 rows as a stream, one at a time.
async fn stream_100_sqlite<'e, E: sqlx::Executor<'e, Database = Sqlite>>(executor: E) {
    use futures::TryStreamExt;
    let mut rows = sqlx::query(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) \
         SELECT x FROM c",
    )
    .fetch(executor);
    let mut n = 0;
    while rows.try_next().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 100);
}

fn postgres(c: &mut Criterion) {
    let url = perf_benches::database_url();
    let rt = multi_thread_runtime();
    let pools = rt.block_on(async {
        let raw = || async {
            pg_pool_options()
                .test_before_acquire(false)
                .connect_with(
                    PgConnectOptions::from_str(&url)
                        .unwrap()
                        .disable_statement_logging(),
                )
                .await
                .unwrap()
        };
        let config = pg_config(&url)
            .test_before_acquire(false)
            .statement_timeout(None)
            .build()
            .unwrap();
        PgPools {
            raw: raw().await,
            ours: Pool::<Postgres>::connect(&config).await.unwrap(),
            control: raw().await,
        }
    });
    let mut group = c.benchmark_group("db_select1_postgres");
    for tasks in [1_usize, 16] {
        for side in [Side::Sqlx, Side::PerfDb, Side::SqlxControl] {
            group.bench_with_input(BenchmarkId::new(side.name(), tasks), &tasks, |b, &tasks| {
                b.to_async(&rt)
                    .iter_custom(|iters| paired(iters, tasks, side, &pools));
            });
        }
    }
    group.finish();
}

/// The side a paired PostgreSQL benchmark times.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Sqlx,
    PerfDb,
    SqlxControl,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Sqlx => "sqlx",
            Side::PerfDb => "perf_db",
            Side::SqlxControl => "sqlx_control",
        }
    }
}

/// The pools of the PostgreSQL benchmark.
struct PgPools {
    raw: sqlx::PgPool,
    control: sqlx::PgPool,
    ours: Pool<Postgres>,
}

/// Every order of the three sides, cycled through by [`paired`].
const ORDERS: [[Side; 3]; 6] = {
    use Side::{PerfDb as P, Sqlx as S, SqlxControl as C};
    [
        [S, P, C],
        [S, C, P],
        [P, S, C],
        [P, C, S],
        [C, S, P],
        [C, P, S],
    ]
};

/// Runs `iters` iterations of `tasks` concurrent `SELECT 1` on each pool, cycling through the
/// orders of the pools, and returns the time spent on the `timed` side only.
async fn paired(iters: u64, tasks: usize, timed: Side, pools: &PgPools) -> Duration {
    let mut total = Duration::ZERO;
    for (order, _) in ORDERS.iter().cycle().zip(0..iters) {
        for &side in order {
            let start = Instant::now();
            match side {
                Side::Sqlx => {
                    join_all((0..tasks).map(|_| select1_postgres(&pools.raw))).await;
                }
                Side::SqlxControl => {
                    join_all((0..tasks).map(|_| select1_postgres(&pools.control))).await;
                }
                Side::PerfDb => {
                    join_all((0..tasks).map(|_| select1_postgres(&pools.ours))).await;
                }
            }
            if side == timed {
                total += start.elapsed();
            }
        }
    }
    total
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
