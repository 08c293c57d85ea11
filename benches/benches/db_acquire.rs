//! Acquire on a busy PostgreSQL pool: perf-db's idle-window pre-ping (HikariCP style: ping only
//! connections idle longer than 500 ms) against sqlx's default ping on every acquire. Each
//! iteration runs `SELECT 1` from 16 concurrent tasks on a 16-connection pool, so every acquire
//! finds a connection that was used moments ago.
//!
//! Run: `cargo bench -p perf-benches --bench db_acquire -- --warm-up-time 1 --measurement-time 3`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures::future::join_all;
use perf_benches::{multi_thread_runtime, pg_config, pg_pool_options, select1_postgres};
use perf_db::Pool;
use sqlx::Postgres;

fn acquire(c: &mut Criterion) {
    let url = perf_benches::database_url();
    let rt = multi_thread_runtime();
    let (sqlx_pool, ours) = rt.block_on(async {
        // sqlx's defaults: test_before_acquire = true
        let sqlx_pool = pg_pool_options().connect(&url).await.unwrap();
        // ours: test_before_acquire = true with the default 500 ms window
        let config = pg_config(&url).build().unwrap();
        (sqlx_pool, Pool::<Postgres>::connect(&config).await.unwrap())
    });
    let mut group = c.benchmark_group("db_acquire_preping_postgres");
    for tasks in [1_usize, 16] {
        group.bench_with_input(
            BenchmarkId::new("sqlx_ping_every_acquire", tasks),
            &tasks,
            |b, &tasks| {
                b.to_async(&rt)
                    .iter(|| join_all((0..tasks).map(|_| select1_postgres(&sqlx_pool))));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("perf_db_idle_window", tasks),
            &tasks,
            |b, &tasks| {
                b.to_async(&rt)
                    .iter(|| join_all((0..tasks).map(|_| select1_postgres(&ours))));
            },
        );
    }
    group.finish();
    let stats = ours.stats();
    eprintln!(
        "perf_db pre-pings: {} sent, {} skipped (sqlx pinged on every one of its acquires)",
        stats.acquire.pings, stats.acquire.pings_skipped
    );
}

criterion_group!(benches, acquire);
criterion_main!(benches);
