//! Stampede: 1,000 concurrent callers of one cold key with a 10 ms loader. perf-cache
//! `get_or_load` vs the `cached` crate's `#[cached]` async fn vs the loader alone. Loader runs
//! per stampede are printed after each contender.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::multi_thread_runtime;
use perf_cache::{Cache, Key};

const CALLERS: u64 = 1_000;
const LOADER: Duration = Duration::from_millis(10);

static RUNS: AtomicU64 = AtomicU64::new(0);
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

async fn loader(n: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(LOADER).await;
    n
}

#[cached::macros::cached(max_size = 100_000)]
async fn cached_fn(n: u64) -> u64 {
    loader(n).await
}

async fn stampede<F, Fut>(call: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    let start = Instant::now();
    let handles: Vec<_> = (0..CALLERS).map(|_| tokio::spawn(call(key))).collect();
    for h in handles {
        assert_eq!(h.await.unwrap(), key);
    }
    start.elapsed()
}

fn report(name: &str, stampedes: u64) {
    let runs = RUNS.swap(0, Ordering::Relaxed);
    if let Some(per) = runs.checked_div(stampedes) {
        eprintln!("{name}: {runs} loader runs over {stampedes} stampedes = {per} per stampede");
    }
}

/// Runs `one()` `iters` times on `rt`, one after the other, and sums the durations it returns.
fn total<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, mut one: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Duration>,
{
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += one().await;
        }
        total
    })
}

fn stampedes(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let ours = rt.block_on(async {
        Cache::<u64>::builder()
            .l1_max_entries(100_000)
            .metrics_interval(None)
            .build()
            .await
            .unwrap()
    });
    let mut g = c.benchmark_group("cache_stampede_1000_callers_10ms_loader");
    g.sample_size(10);

    let mut count = 0;
    RUNS.store(0, Ordering::Relaxed);
    g.bench_function("loader_alone", |b| {
        b.iter_custom(|iters| {
            count += iters;
            total(&rt, iters, || async {
                let start = Instant::now();
                tokio::spawn(loader(0)).await.unwrap();
                start.elapsed()
            })
        });
    });
    report("loader_alone", count);

    count = 0;
    g.bench_function("perf_cache_get_or_load", |b| {
        b.iter_custom(|iters| {
            count += iters;
            total(&rt, iters, || {
                stampede(|n| {
                    let ours = ours.clone();
                    async move {
                        ours.get_or_load(&Key::new("scan").arg(n), move || loader(n))
                            .await
                    }
                })
            })
        });
    });
    report("perf_cache_get_or_load", count);

    count = 0;
    g.bench_function("cached_crate", |b| {
        b.iter_custom(|iters| {
            count += iters;
            total(&rt, iters, || stampede(cached_fn))
        });
    });
    report("cached_crate", count);
    g.finish();
}

criterion_group!(benches, stampedes);
criterion_main!(benches);
