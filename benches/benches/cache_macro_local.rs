//! `#[cached(local)]` and `#[cached]` on a plain `fn`: a hit (1,000 warm `u64` keys) against the
//! `cached` crate's `#[cached]` on the same function (async, and a plain `fn`) and against our
//! own shared-tier `#[cached]` hit, 1 and 2 threads, in the same run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::{KEYS, current_thread_runtime, on_threads as run};

#[perf_cache::cached(local, prefix = "local-hit")]
async fn ours_local(n: u64) -> u64 {
    n
}

#[perf_cache::cached(prefix = "shared-hit")]
async fn ours_shared(n: u64) -> u64 {
    n
}

#[cached::macros::cached(max_size = 2_000)]
async fn theirs_async(n: u64) -> u64 {
    n
}

#[perf_cache::cached(prefix = "sync-hit")]
fn ours_sync(n: u64) -> u64 {
    n
}

#[cached::macros::cached(max_size = 2_000)]
fn theirs_sync(n: u64) -> u64 {
    n
}

fn setup() {
    current_thread_runtime().block_on(async {
        for n in 0..KEYS {
            ours_local(n).await;
            ours_shared(n).await;
            theirs_async(n).await;
            ours_sync(n);
            theirs_sync(n);
        }
    });
}

fn local_hit(c: &mut Criterion) {
    setup();
    for threads in [1_usize, 2] {
        let mut g = c.benchmark_group(format!("cache_macro_local_hit_{threads}_thread"));
        g.bench_function("perf_cache_local", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(ours_local(black_box(n)).await);
                })
            });
        });
        g.bench_function("perf_cache_shared", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(ours_shared(black_box(n)).await);
                })
            });
        });
        g.bench_function("cached_crate_async", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(theirs_async(black_box(n)).await);
                })
            });
        });
        g.bench_function("perf_cache_sync_fn", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(ours_sync(black_box(n)));
                })
            });
        });
        g.bench_function("cached_crate_sync_fn", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(theirs_sync(black_box(n)));
                })
            });
        });
        g.finish();
    }
}

criterion_group!(benches, local_hit);
criterion_main!(benches);
