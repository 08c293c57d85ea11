//! Instruction counts of one L1 hit for callgrind, which counts instructions exactly where
//! wall-clock figures on a shared machine drift. Not a criterion bench: it runs a fixed number
//! of hits of one contender on one thread (a current-thread runtime, as in `cache_l1`), and
//! only the function `measured_hits` is meant to be collected:
//!
//! ```text
//! cargo bench -p perf-benches --bench cache_l1_instr --no-run
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_hits*' \
//!     target/release/deps/cache_l1_instr-<hash> --bench ours|quick|cached|macro|key|load
//! ```
//!
//! `--bench min2` does the same on two threads at once.
//! `--bench parts` times the parts of a hit alone (key build, hash, lock, atomics).
//! `--bench min` instead prints, for each contender (`macro` included), the fastest of 300
//! interleaved rounds of 10,000 hits: wall clock least disturbed by other processes.
//!
//! Divide the total by the number of hits printed (`HITS=n` in the environment overrides the
//! 100,000 default). Contenders as in `cache_l1`, each with a key built from a `u64` per hit:
//! `ours` (perf-cache `get` through a typed view), `quick` (raw quick_cache `get`, same `Key`
//! type), `cached` (the `cached` crate's `#[cached]` async fn hit), `macro` (perf-cache's `#[cached]` on the same function), `key` (only
//! `Key::new(n)`, the key build every contender but `cached` pays) and `load` (perf-cache
//! `get_or_load` answered by L1).

use std::hint::black_box;

use perf_benches::{KEYS, current_thread_runtime, l1_contenders};
use perf_cache::Key;

#[cached::macros::cached(max_size = 2_000)]
async fn cached_fn(n: u64) -> u64 {
    n
}

#[perf_cache::cached(prefix = "instr-macro")]
async fn macro_fn(n: u64) -> u64 {
    n
}

fn hits() -> u64 {
    std::env::var("HITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

#[inline(never)]
fn measured_hits(
    rt: &tokio::runtime::Runtime,
    which: &str,
    k: &perf_benches::L1Contenders,
    hits: u64,
) {
    rt.block_on(async {
        match which {
            "quick" => {
                for i in 0..hits {
                    black_box(k.quick_key.get(&Key::new(black_box(i % KEYS))));
                }
            }
            "cached" => {
                for i in 0..hits {
                    black_box(cached_fn(black_box(i % KEYS)).await);
                }
            }
            "macro" => {
                for i in 0..hits {
                    black_box(macro_fn(black_box(i % KEYS)).await);
                }
            }
            "load" => {
                for i in 0..hits {
                    let n = black_box(i % KEYS);
                    black_box(
                        k.ours
                            .get_or_load(&Key::new(n), move || async move { n })
                            .await,
                    );
                }
            }
            "key" => {
                for i in 0..hits {
                    black_box(Key::new(black_box(i % KEYS)));
                }
            }
            _ => {
                for i in 0..hits {
                    black_box(k.ours.get(&Key::new(black_box(i % KEYS))).await);
                }
            }
        }
    });
}

/// Wall clock on a loaded machine: many short interleaved rounds of every contender; the
/// fastest round of each is the one least disturbed by other processes.
fn min_of_rounds(rt: &tokio::runtime::Runtime, k: &perf_benches::L1Contenders) {
    const PER_ROUND: u64 = 10_000;
    let names = ["ours", "quick", "cached", "key", "load", "macro"];
    let mut best = [f64::MAX; 6];
    for _ in 0..300 {
        for (i, name) in names.iter().enumerate() {
            let start = std::time::Instant::now();
            measured_hits(rt, name, k, PER_ROUND);
            let ns = start.elapsed().as_secs_f64() * 1e9 / PER_ROUND as f64;
            best[i] = best[i].min(ns);
        }
    }
    for (name, ns) in names.iter().zip(best) {
        println!("{name}: fastest round {ns:.1} ns/hit");
    }
    println!("ours / cached = {:.2}", best[0] / best[2]);
    println!(
        "macro / quick = {:.2}, macro / cached = {:.2}",
        best[5] / best[1],
        best[5] / best[2]
    );
}

/// `min_of_rounds` on two threads at once (each with its own current-thread runtime, started
/// together by a barrier for every round). A round lasts from the first thread's start to
/// the last thread's end, so a round in which the threads ran one after the other (not at
/// once) counts double and is never the fastest.
fn min_of_rounds_two_threads(k: &perf_benches::L1Contenders) {
    use std::time::Instant;
    const PER_ROUND: u64 = 10_000;
    const ROUNDS: usize = 300;
    let names = ["ours", "quick", "cached", "key", "load"];
    let barrier = std::sync::Barrier::new(2);
    let per_thread: Vec<Vec<[(Instant, Instant); 5]>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    let rt = current_thread_runtime();
                    let mut rounds = Vec::with_capacity(ROUNDS);
                    for _ in 0..ROUNDS {
                        let mut times = [(Instant::now(), Instant::now()); 5];
                        for (i, name) in names.iter().enumerate() {
                            barrier.wait();
                            let start = Instant::now();
                            measured_hits(&rt, name, k, PER_ROUND);
                            times[i] = (start, Instant::now());
                        }
                        rounds.push(times);
                    }
                    rounds
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut best = [f64::MAX; 5];
    for (a, b) in per_thread[0].iter().zip(&per_thread[1]) {
        for i in 0..5 {
            let span = a[i].1.max(b[i].1) - a[i].0.min(b[i].0);
            best[i] = best[i].min(span.as_secs_f64() * 1e9 / PER_ROUND as f64);
        }
    }
    for (name, ns) in names.iter().zip(best) {
        println!("{name}: fastest round on 2 threads {ns:.1} ns/hit");
    }
    println!("ours / cached = {:.2}", best[0] / best[2]);
}

/// The fastest of 300 rounds of 10,000 runs of `op`, in ns per run.
fn fastest(mut op: impl FnMut(u64)) -> f64 {
    const PER_ROUND: u64 = 10_000;
    let mut best = f64::MAX;
    for _ in 0..300 {
        let start = std::time::Instant::now();
        for i in 0..PER_ROUND {
            op(i % KEYS);
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / PER_ROUND as f64);
    }
    best
}

/// The parts an L1 hit is made of, each alone, timed like `min_of_rounds` (the loop's own
/// cost included in each).
fn parts() {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    let keys: Vec<Key> = (0..KEYS).map(Key::new).collect();
    let lock = std::sync::RwLock::new(0_u64);
    let counter = AtomicU64::new(0);
    let value: std::sync::Arc<dyn std::any::Any + Send + Sync> = std::sync::Arc::new(1_u64);
    let rows: [(&str, f64); 6] = [
        (
            "empty loop",
            fastest(|n| {
                black_box(n);
            }),
        ),
        (
            "key build Key::new(n)",
            fastest(|n| {
                black_box(Key::new(black_box(n)));
            }),
        ),
        (
            "foldhash of the key bytes",
            fastest(|n| {
                let mut h = foldhash::fast::FixedState::with_seed(7).build_hasher();
                h.write(black_box(&keys[usize::try_from(n).unwrap()]).as_bytes());
                black_box(h.finish());
            }),
        ),
        (
            "RwLock read + unlock",
            fastest(|n| {
                black_box(*lock.read().unwrap() + n);
            }),
        ),
        (
            "atomic fetch_add (a shared counter stripe)",
            fastest(|n| {
                counter.fetch_add(black_box(n), Ordering::Relaxed);
            }),
        ),
        (
            "Arc<dyn Any> clone + drop (the hit before this change)",
            fastest(|n| {
                black_box(std::sync::Arc::clone(black_box(&value)));
                black_box(n);
            }),
        ),
    ];
    let owned = fastest(|n| {
        counter.store(
            counter.load(Ordering::Relaxed) + black_box(n),
            Ordering::Relaxed,
        );
    });
    for (name, ns) in rows {
        println!("{name}: {ns:.1} ns");
    }
    println!("relaxed load + store (an owned counter stripe): {owned:.1} ns");
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` there is nothing to check.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let which = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .cloned()
        .unwrap_or_else(|| "ours".to_owned());
    if which == "parts" {
        parts();
        return;
    }
    let rt = current_thread_runtime();
    let k = rt.block_on(l1_contenders(|n| async move {
        cached_fn(n).await;
        macro_fn(n).await;
    }));
    if which == "min" {
        min_of_rounds(&rt, &k);
        return;
    }
    if which == "min2" {
        min_of_rounds_two_threads(&k);
        return;
    }
    // Every key once outside the measured function, so that lazy set-up is not counted.
    measured_hits(&rt, &which, &k, KEYS);
    let hits = hits();
    let start = std::time::Instant::now();
    measured_hits(&rt, &which, &k, hits);
    let took = start.elapsed();
    println!(
        "{which}: {hits} hits, {:.1} ns/hit wall (2 calls of measured_hits: divide by {})",
        took.as_secs_f64() * 1e9 / hits as f64,
        hits + KEYS
    );
}
