//! `#[cached]`: a hit through the macro vs a hand-written `get_or_load` on a view vs raw
//! quick_cache `get` with the same key type vs the `cached` crate's `#[cached]` on the same
//! function (1 and 2 threads, 1,000 warm `u64` keys); and 1,000 concurrent misses on distinct
//! cold keys (a body that yields once), ours vs a hand-written `get_or_load` vs the `cached`
//! crate without and with its stampede protection (`sync_writes`), and the body with no cache
//! (the floor: spawning, running and joining the tasks), 2 worker threads; and the same misses
//! with a body that waits 1 ms (a database round trip's stand-in), where a lock held across
//! the body shows.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::{KEYS, current_thread_runtime, multi_thread_runtime, on_threads as run};
use perf_cache::{Backend, Cache, Key};

#[perf_cache::cached(prefix = "macro-hit")]
async fn ours(n: u64) -> u64 {
    n
}

#[cached::macros::cached(max_size = 2_000)]
async fn theirs(n: u64) -> u64 {
    n
}

#[perf_cache::cached(prefix = "macro-miss")]
async fn ours_miss(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

#[cached::macros::cached(max_size = 10_000)]
async fn theirs_miss(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

/// The same body with no cache at all: what spawning, running and joining the 1,000 tasks
/// costs by itself, the floor under every contender of the misses group.
async fn uncached_body(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

/// `cached` with its stampede protection: one lock held across the body.
#[cached::macros::cached(max_size = 10_000, sync_writes = "default")]
async fn theirs_miss_sync(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

/// `cached` with per-key stampede protection (lock buckets).
#[cached::macros::cached(max_size = 10_000, sync_writes = "by_key")]
async fn theirs_miss_by_key(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

/// A body that waits 1 ms (a database round trip's stand-in), for the group where a lock
/// held across the body shows.
const SLOW_BODY: Duration = Duration::from_millis(1);

#[perf_cache::cached(prefix = "macro-miss-slow")]
async fn ours_slow(n: u64) -> u64 {
    tokio::time::sleep(SLOW_BODY).await;
    n
}

#[cached::macros::cached(max_size = 10_000)]
async fn theirs_slow(n: u64) -> u64 {
    tokio::time::sleep(SLOW_BODY).await;
    n
}

#[cached::macros::cached(max_size = 10_000, sync_writes = "default")]
async fn theirs_slow_sync(n: u64) -> u64 {
    tokio::time::sleep(SLOW_BODY).await;
    n
}

#[cached::macros::cached(max_size = 10_000, sync_writes = "by_key")]
async fn theirs_slow_by_key(n: u64) -> u64 {
    tokio::time::sleep(SLOW_BODY).await;
    n
}

async fn uncached_slow(n: u64) -> u64 {
    tokio::time::sleep(SLOW_BODY).await;
    n
}

fn hand_view() -> &'static Cache<u64> {
    static VIEW: std::sync::OnceLock<Cache<u64>> = std::sync::OnceLock::new();
    VIEW.get_or_init(|| {
        Cache::<u64>::builder()
            .prefix("hand-miss")
            .build_on(Backend::default_backend())
            .unwrap()
    })
}

async fn hand_miss(n: u64) -> u64 {
    hand_view()
        .get_or_load(&Key::new(n), move || async move {
            tokio::task::yield_now().await;
            n
        })
        .await
}

struct Contenders {
    view: Cache<u64>,
    quick: quick_cache::sync::Cache<Key, u64>,
}

fn setup() -> Contenders {
    current_thread_runtime().block_on(async {
        let view = Cache::<u64>::builder()
            .prefix("hand")
            .build_on(Backend::default_backend())
            .unwrap();
        let quick = quick_cache::sync::Cache::<Key, u64>::new(10_000);
        for n in 0..KEYS {
            ours(n).await;
            theirs(n).await;
            view.get_or_load(&Key::new(n), move || async move { n })
                .await;
            quick.insert(Key::new(n), n);
        }
        Contenders { view, quick }
    })
}

fn macro_hit(c: &mut Criterion) {
    let k = &setup();
    for threads in [1_usize, 2] {
        let mut g = c.benchmark_group(format!("cache_macro_hit_{threads}_thread"));
        g.bench_function("perf_cache_macro", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(ours(black_box(n)).await);
                })
            });
        });
        g.bench_function("perf_cache_get_or_load_by_hand", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    let n = black_box(n);
                    black_box(
                        k.view
                            .get_or_load(&Key::new(n), move || async move { n })
                            .await,
                    );
                })
            });
        });
        g.bench_function("quick_cache_get_same_key_type", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.quick.get(&Key::new(black_box(n))));
                })
            });
        });
        g.bench_function("cached_crate_macro", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(theirs(black_box(n)).await);
                })
            });
        });
        g.finish();
    }
}

const CALLERS: u64 = 1_000;
static NEXT: AtomicU64 = AtomicU64::new(1 << 32);

/// 1,000 tasks, each calling `call` once on its own cold key; the wall time until all answered.
async fn distinct_misses<F, Fut>(call: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let base = NEXT.fetch_add(CALLERS, Ordering::Relaxed);
    let start = std::time::Instant::now();
    let handles: Vec<_> = (base..base + CALLERS)
        .map(|n| tokio::spawn(call(n)))
        .collect();
    for (n, h) in (base..).zip(handles) {
        assert_eq!(h.await.unwrap(), n);
    }
    start.elapsed()
}

/// `iters` rounds of [`distinct_misses`] on `rt`, their wall times summed.
fn timed_misses<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Copy,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += distinct_misses(call).await;
        }
        total
    })
}

fn concurrent_misses(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let mut g = c.benchmark_group("cache_macro_1000_concurrent_distinct_misses");
    g.sample_size(20);
    g.bench_function("perf_cache_macro", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, ours_miss))
    });
    g.bench_function("perf_cache_get_or_load_by_hand", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, hand_miss))
    });
    g.bench_function("cached_crate_macro", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, theirs_miss))
    });
    g.bench_function("cached_crate_macro_sync_writes", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, theirs_miss_sync))
    });
    g.bench_function("cached_crate_macro_sync_writes_by_key", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, theirs_miss_by_key))
    });
    g.bench_function("no_cache_body_alone", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, uncached_body))
    });
    g.finish();
}

/// The same 1,000 distinct cold keys with a body that waits 1 ms: every contender with
/// stampede protection is compared as it ships (ours per key by default; `cached`'s
/// `sync_writes = "default"` holds one lock across the body, `"by_key"` one per key bucket).
fn concurrent_slow_misses(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let mut g = c.benchmark_group("cache_macro_1000_concurrent_distinct_misses_1ms_body");
    g.sample_size(10);
    g.bench_function("perf_cache_macro", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, ours_slow))
    });
    g.bench_function("cached_crate_macro", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, theirs_slow))
    });
    g.bench_function("cached_crate_macro_sync_writes", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, theirs_slow_sync))
    });
    g.bench_function("cached_crate_macro_sync_writes_by_key", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, theirs_slow_by_key))
    });
    g.bench_function("no_cache_body_alone", |b| {
        b.iter_custom(|iters| timed_misses(&rt, iters, uncached_slow))
    });
    g.finish();
}

criterion_group!(
    benches,
    macro_hit,
    concurrent_misses,
    concurrent_slow_misses
);
criterion_main!(benches);
