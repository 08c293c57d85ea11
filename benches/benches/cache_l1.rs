//! L1 hit latency: perf-cache `get` through a typed view on a shared backend (quick_cache
//! engine, and the moka engine) vs raw quick_cache and moka (sync and future; `String` key
//! from `to_string`, or our `Key` type) vs the `cached` crate's `#[cached]` async fn hit. The
//! key is built from a `u64` inside the timed loop for every contender (`Key::new(n)`: a view
//! supplies its own prefix); 1,000 warm keys, `u64` values.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::{
    L1Contenders, current_thread_runtime, l1_contenders, on_threads as run, view_of,
};
use perf_cache::Key;

#[cached::macros::cached(max_size = 2_000)]
async fn cached_fn(n: u64) -> u64 {
    n
}

fn setup() -> L1Contenders {
    current_thread_runtime().block_on(l1_contenders(cached_fn))
}

fn l1_hit(c: &mut Criterion) {
    let k = &setup();
    for threads in [1_usize, 2] {
        let mut g = c.benchmark_group(format!("cache_l1_hit_{threads}_thread"));
        g.bench_function("perf_cache_get", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.ours.get(&Key::new(black_box(n))).await);
                })
            });
        });
        g.bench_function("perf_cache_get_100_views", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(
                        k.hundred_views[view_of(n)]
                            .get(&Key::new(black_box(n)))
                            .await,
                    );
                })
            });
        });
        g.bench_function("perf_cache_get_or_load_hit", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(
                        k.ours
                            .get_or_load(&Key::new(black_box(n)), move || async move { n })
                            .await,
                    );
                })
            });
        });
        g.bench_function("perf_cache_get_moka_engine", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.ours_moka.get(&Key::new(black_box(n))).await);
                })
            });
        });
        g.bench_function("quick_cache_get_same_key_type", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.quick_key.get(&Key::new(black_box(n))));
                })
            });
        });
        g.bench_function("moka_sync_get_same_key_type", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.moka_sync_key.get(&Key::new(black_box(n))));
                })
            });
        });
        g.bench_function("moka_get_string_key", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.moka_string.get(&black_box(n).to_string()).await);
                })
            });
        });
        g.bench_function("moka_get_same_key_type", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.moka_key.get(&Key::new(black_box(n))).await);
                })
            });
        });
        g.bench_function("cached_crate_hit", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(cached_fn(black_box(n)).await);
                })
            });
        });
        g.finish();
    }
}

criterion_group!(benches, l1_hit);
criterion_main!(benches);
