//! Cluster-wide single-flight: what the lease costs and what it saves, in one run.
//!
//! - `cold_miss`: one caller, a fresh key per iteration, an instant loader, L1 + Redis:
//!   `SingleFlight::Process` (L2 `GET`, generation `GET`, fill script) vs
//!   `SingleFlight::Cluster` (the same plus the lease script before the loader and the
//!   compare-and-delete after the store).
//! - `two_instances`: two backends on one Redis, one caller each on the same fresh key, a 5 ms
//!   loader: with `Process` both instances run it; with `Cluster` one does and the other
//!   polls for its value. Loader runs per iteration are printed after each contender.
//!
//! Run with `cargo bench -p perf-benches --bench cache_lease` (Redis at `REDIS_URL`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::multi_thread_runtime;
use perf_cache::{Cache, Key, SingleFlight};

static RUNS: AtomicU64 = AtomicU64::new(0);
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

async fn cache(ns: &str, mode: SingleFlight) -> Cache<u64> {
    Cache::<u64>::builder()
        .namespace(ns)
        .redis_url(perf_benches::redis_url())
        .require_l2(true)
        .l1_max_entries(100_000)
        .l2_ttl(Duration::from_secs(30))
        .metrics_interval(None)
        .single_flight(mode)
        .build()
        .await
        .expect("Redis at REDIS_URL")
}

fn report(name: &str, iterations: u64) {
    let runs = RUNS.swap(0, Ordering::Relaxed);
    if iterations > 0 {
        #[allow(clippy::cast_precision_loss)]
        let per = runs as f64 / iterations as f64;
        eprintln!(
            "{name}: {runs} loader runs over {iterations} iterations = {per:.2} per iteration"
        );
    }
}

fn lease(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let pid = std::process::id();
    let modes = [
        ("process", SingleFlight::Process),
        ("cluster", SingleFlight::Cluster),
    ];

    let mut g = c.benchmark_group("cache_lease_cold_miss");
    for (name, mode) in modes {
        let ns = format!("bench-lease-miss-{name}-{pid}");
        let cache = rt.block_on(cache(&ns, mode));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                        let v = cache
                            .get_or_load(&Key::new("k").arg(n), move || async move { n })
                            .await;
                        assert_eq!(v, n);
                    }
                    start.elapsed()
                })
            });
        });
        assert!(
            rt.block_on(async { cache.invalidate_all().await })
                .is_complete()
        );
    }
    g.finish();

    let mut g = c.benchmark_group("cache_lease_two_instances_5ms_loader");
    g.sample_size(20);
    for (name, mode) in modes {
        let ns = format!("bench-lease-two-{name}-{pid}");
        let (a, b) = rt.block_on(async { (cache(&ns, mode).await, cache(&ns, mode).await) });
        let mut iterations = 0;
        RUNS.store(0, Ordering::Relaxed);
        g.bench_function(name, |bench| {
            bench.iter_custom(|iters| {
                iterations += iters;
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let key = Key::new("k").arg(NEXT_KEY.fetch_add(1, Ordering::Relaxed));
                        let load = || async {
                            RUNS.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            1
                        };
                        let (x, y) =
                            tokio::join!(a.get_or_load(&key, load), b.get_or_load(&key, load));
                        assert_eq!((x, y), (1, 1));
                    }
                    start.elapsed()
                })
            });
        });
        report(name, iterations);
        assert!(
            rt.block_on(async { a.invalidate_all().await })
                .is_complete()
        );
    }
    g.finish();
}

/// Interleaved rounds (the order alternating each round) of 200 cold misses per contender, so
/// that drift under a loaded machine hits both alike: the median per-miss time of each and
/// the median of the per-round ratios, printed.
fn lease_paired(_: &mut Criterion) {
    const ROUNDS: usize = 31;
    const MISSES: u64 = 200;
    let rt = multi_thread_runtime();
    let pid = std::process::id();
    let (process, cluster) = rt.block_on(async {
        (
            cache(
                &format!("bench-lease-paired-p-{pid}"),
                SingleFlight::Process,
            )
            .await,
            cache(
                &format!("bench-lease-paired-c-{pid}"),
                SingleFlight::Cluster,
            )
            .await,
        )
    });
    let run = |cache: &Cache<u64>| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..MISSES {
                let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                let v = cache
                    .get_or_load(&Key::new("k").arg(n), move || async move { n })
                    .await;
                assert_eq!(v, n);
            }
            start.elapsed() / u32::try_from(MISSES).unwrap_or(u32::MAX)
        })
    };
    let (mut p, mut c, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (tp, tc) = if round % 2 == 0 {
            let tp = run(&process);
            (tp, run(&cluster))
        } else {
            let tc = run(&cluster);
            (run(&process), tc)
        };
        p.push(tp);
        c.push(tc);
        ratios.push(tc.as_secs_f64() / tp.as_secs_f64());
    }
    p.sort_unstable();
    c.sort_unstable();
    ratios.sort_unstable_by(f64::total_cmp);
    let mid = ROUNDS / 2;
    eprintln!(
        "cache_lease paired cold miss ({ROUNDS} rounds x {MISSES}): process median {:?}, cluster median {:?}, median ratio {:.2} (p10 {:.2}, p90 {:.2})",
        p[mid],
        c[mid],
        ratios[mid],
        ratios[ROUNDS / 10],
        ratios[ROUNDS * 9 / 10]
    );
    for cache in [&process, &cluster] {
        assert!(
            rt.block_on(async { cache.invalidate_all().await })
                .is_complete()
        );
    }
}

criterion_group!(benches, lease, lease_paired);
criterion_main!(benches);
