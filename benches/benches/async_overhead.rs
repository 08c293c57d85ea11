//! Per-task overhead of perf-async at a limit of 100 with trivial tasks, against the code a user
//! would otherwise write, measured in the same run on identical inputs:
//!
//! - `async_overhead_local`: `run_parallel` (local mode) vs `futures::stream::iter(..).buffered(100)`,
//!   both on a current-thread runtime, both returning every output in input order.
//! - `async_overhead_spawned`: `Parallel::spawned().run` vs tokio `JoinSet` + `Semaphore` (permit
//!   taken before each spawn), both on a 2-worker runtime, both returning outputs in input order.
//!
//! Run with: `cargo bench -p perf-benches --bench async_overhead`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use perf_async::{Parallel, run_parallel};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const TASKS: usize = 10_000;
const LIMIT: usize = 100;

fn local(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("async_overhead_local");
    group.throughput(Throughput::Elements(TASKS as u64));
    group.bench_function("perf_async_run_parallel", |b| {
        b.to_async(&runtime).iter(|| async {
            let tasks = (0..TASKS).map(|i| async move { black_box(i) });
            let out = run_parallel(tasks, LIMIT).await.unwrap();
            assert_eq!(out.len(), TASKS);
            out
        });
    });
    group.bench_function("futures_buffered", |b| {
        b.to_async(&runtime).iter(|| async {
            let tasks = (0..TASKS).map(|i| async move { black_box(i) });
            let out: Vec<usize> = futures::stream::iter(tasks).buffered(LIMIT).collect().await;
            assert_eq!(out.len(), TASKS);
            out
        });
    });
    group.finish();
}

fn spawned(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let parallel = Parallel::builder().max_concurrent(LIMIT).build().unwrap();
    let mut group = c.benchmark_group("async_overhead_spawned");
    group.throughput(Throughput::Elements(TASKS as u64));
    group.bench_function("perf_async_spawned", |b| {
        b.to_async(&runtime).iter(|| async {
            let tasks = (0..TASKS).map(|i| async move { black_box(i) });
            let out = parallel.spawned().run(tasks).await.unwrap();
            assert_eq!(out.len(), TASKS);
            out
        });
    });
    group.bench_function("tokio_joinset_semaphore", |b| {
        b.to_async(&runtime).iter(|| async {
            let permits = Arc::new(Semaphore::new(LIMIT));
            let mut set = JoinSet::new();
            for i in 0..TASKS {
                let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
                set.spawn(async move {
                    let _permit = permit;
                    (i, black_box(i))
                });
            }
            let mut out = vec![0; TASKS];
            while let Some(joined) = set.join_next().await {
                let (i, value) = joined.unwrap();
                out[i] = value;
            }
            out
        });
    });
    group.finish();
}

criterion_group!(benches, local, spawned);
criterion_main!(benches);
