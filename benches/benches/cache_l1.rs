//! L1 hit latency: perf-cache `get` vs raw moka `get` (String key built with `format!`, and our
//! `Key` type) vs the `cached` crate's `#[cached]` async fn hit. The key is built from a `u64`
//! inside the timed loop for every contender; 1,000 warm keys, `u64` values.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perf_cache::{Cache, Key};

const KEYS: u64 = 1_000;

#[cached::macros::cached(max_size = 2_000)]
async fn cached_fn(n: u64) -> u64 {
    n
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

struct Contenders {
    ours: Cache<u64>,
    moka_string: moka::future::Cache<String, u64>,
    moka_key: moka::future::Cache<Key, u64>,
}

fn setup() -> Contenders {
    runtime().block_on(async {
        let ours = Cache::<u64>::builder()
            .l1_max_entries(10_000)
            .metrics_interval(None)
            .build()
            .await
            .unwrap();
        let moka_string = moka::future::Cache::new(10_000);
        let moka_key = moka::future::Cache::new(10_000);
        for n in 0..KEYS {
            ours.set(&Key::new("user").arg(n), n).await.unwrap();
            moka_string.insert(format!("user:{n}"), n).await;
            moka_key.insert(Key::new("user").arg(n), n).await;
            cached_fn(n).await;
        }
        ours.run_pending_tasks().await;
        moka_string.run_pending_tasks().await;
        moka_key.run_pending_tasks().await;
        Contenders {
            ours,
            moka_string,
            moka_key,
        }
    })
}

/// Runs `op(i)` `iters` times on each of `threads` threads (own current-thread runtime each),
/// returning the slowest thread's time.
fn run<F, Fut>(threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Sync,
    Fut: std::future::Future<Output = ()>,
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, op) = (&barrier, &op);
                s.spawn(move || {
                    let rt = runtime();
                    barrier.wait();
                    let start = Instant::now();
                    rt.block_on(async {
                        for i in 0..iters {
                            op((i + t as u64 * 7) % KEYS).await;
                        }
                    });
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

fn l1_hit(c: &mut Criterion) {
    let k = &setup();
    for threads in [1_usize, 2] {
        let mut g = c.benchmark_group(format!("cache_l1_hit_{threads}_thread"));
        g.bench_function("perf_cache_get", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.ours.get(&Key::new("user").arg(black_box(n))).await);
                })
            });
        });
        g.bench_function("moka_get_string_key", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.moka_string.get(&format!("user:{}", black_box(n))).await);
                })
            });
        });
        g.bench_function("moka_get_same_key_type", |b| {
            b.iter_custom(|iters| {
                run(threads, iters, |n| async move {
                    black_box(k.moka_key.get(&Key::new("user").arg(black_box(n))).await);
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
