//! `batch_process` (sliding window) against two peers at equal concurrency, on heavy-tailed
//! task durations: 1 % of the items (every 100th) sleep 50 ms, the others 1 ms (tokio sleeps, so
//! the work is waiting, as for I/O). Same items, same processor, same runtime, same run.
//!
//! - the seed's barrier-per-batch algorithm (`for chunk in items.chunks(n) { join_all(chunk) }`),
//!   which waits for the slowest item of every batch;
//! - the fair peer: `futures`' `buffer_unordered(n)` (also a sliding window) with each output
//!   tagged by its index and sorted back into input order at the end, the natural way to get
//!   ordered results from `futures` without `buffered`'s head-of-line blocking.
//!
//! Run with: `cargo bench -p perf-benches --bench async_heavy_tail`

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use perf_async::batch_process;

const ITEMS: usize = 500;
const CONCURRENCY: usize = 25;

async fn process(i: usize) -> usize {
    let ms = if i % 100 == 37 { 50 } else { 1 };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    i
}

fn heavy_tail(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let items: Vec<usize> = (0..ITEMS).collect();
    let mut group = c.benchmark_group("async_heavy_tail");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("perf_async_batch_process", |b| {
        b.to_async(&runtime).iter(|| async {
            let out = batch_process(items.iter().copied(), CONCURRENCY, process)
                .await
                .unwrap();
            assert_eq!(out.len(), ITEMS);
            out
        });
    });
    group.bench_function("seed_barrier_per_batch", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut out = Vec::with_capacity(ITEMS);
            for chunk in items.chunks(CONCURRENCY) {
                out.extend(futures::future::join_all(chunk.iter().copied().map(process)).await);
            }
            assert_eq!(out.len(), ITEMS);
            out
        });
    });
    group.bench_function("futures_buffer_unordered_reordered", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut indexed: Vec<(usize, usize)> =
                futures::stream::iter(items.iter().copied().enumerate())
                    .map(|(index, item)| async move { (index, process(item).await) })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            indexed.sort_unstable_by_key(|&(index, _)| index);
            let out: Vec<usize> = indexed.into_iter().map(|(_, value)| value).collect();
            assert_eq!(out.len(), ITEMS);
            out
        });
    });
    group.finish();
}

criterion_group!(benches, heavy_tail);
criterion_main!(benches);
