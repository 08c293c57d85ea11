//! Loader timeouts: what a cold-key load costs when it may outlive its caller (a hard timeout
//! runs the load in a task of its own) against the inline load of `get_or_load`, and that the
//! hit path of `get_or_load_with` is `get_or_load`'s. L1 only, a loader that returns at once,
//! a new key per load; all contenders in the same run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::multi_thread_runtime;
use perf_cache::{Cache, Key, LoadOptions};

static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

fn timeouts(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let cache = rt.block_on(async {
        Cache::<u64>::builder()
            .l1_max_entries(100_000)
            .metrics_interval(None)
            .build()
            .await
            .unwrap()
    });
    // A soft timeout needs the stale window.
    let stale_cache = rt.block_on(async {
        Cache::<u64>::builder()
            .l1_max_entries(100_000)
            .stale_if_error(Duration::from_secs(60))
            .metrics_interval(None)
            .build()
            .await
            .unwrap()
    });
    let hard = LoadOptions::default().hard_timeout(Duration::from_secs(1));
    let soft_hard = LoadOptions::default()
        .soft_timeout(Duration::from_millis(500))
        .hard_timeout(Duration::from_secs(1));

    let mut g = c.benchmark_group("cache_load_timeouts_cold_key");
    g.bench_function("get_or_load_inline", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                    let v = cache
                        .get_or_load(&Key::new(n), move || async move { n })
                        .await;
                    assert_eq!(v, n);
                }
                start.elapsed()
            })
        });
    });
    g.bench_function("get_or_load_with_no_timeout", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                    let v = cache
                        .get_or_load_with(
                            &Key::new(n),
                            LoadOptions::default(),
                            move || async move { n },
                        )
                        .await;
                    assert_eq!(v.ok(), Some(n));
                }
                start.elapsed()
            })
        });
    });
    for (name, cache, options) in [
        ("hard_timeout_detached", &cache, &hard),
        (
            "soft_and_hard_detached_stale_window",
            &stale_cache,
            &soft_hard,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                        let v = cache
                            .get_or_load_with(
                                &Key::new(n),
                                options.clone(),
                                move || async move { n },
                            )
                            .await;
                        assert_eq!(v.ok(), Some(n));
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("cache_load_timeouts_l1_hit");
    let key = Key::new("hot");
    rt.block_on(cache.set(&key, 7)).unwrap();
    g.bench_function("get_or_load", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let v = cache.get_or_load(&key, || async { 0 }).await;
                    assert_eq!(v, 7);
                }
                start.elapsed()
            })
        });
    });
    g.bench_function("get_or_load_with_hard_timeout", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let v = cache
                        .get_or_load_with(&key, hard.clone(), || async { 0 })
                        .await;
                    assert_eq!(v.ok(), Some(7));
                }
                start.elapsed()
            })
        });
    });
    g.finish();
}

criterion_group!(benches, timeouts);
criterion_main!(benches);
