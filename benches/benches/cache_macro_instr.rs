//! Instruction counts of `#[cached]` misses for callgrind, which counts instructions exactly
//! where wall-clock figures on a shared machine drift (the `cache_macro` misses group moved by
//! ±30 % between runs under load). Not a criterion bench: it runs `ROUNDS` rounds of 1,000
//! tasks on a current-thread runtime, each task calling one contender once on its own cold
//! key (a body that yields once, as in `cache_macro`), and only `measured_misses` is meant to
//! be collected:
//!
//! ```text
//! cargo bench -p perf-benches --bench cache_macro_instr --no-run
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_misses*' \
//!     target/release/deps/cache_macro_instr-<hash> --bench ours|cached|by_key|floor
//! ```
//!
//! Contenders: `ours` (perf-cache `#[cached]`, single flight on), `cached` (the `cached`
//! crate's `#[cached]`, its default: no stampede protection), `by_key` (`cached` with
//! `sync_writes = "by_key"`), and `floor` (the same body without any cache: what spawning,
//! running and joining 1,000 tasks costs by itself). Divide the total by the calls printed.
//! `--bench wall` instead prints, for each contender, the fastest of 200 interleaved rounds.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use perf_benches::current_thread_runtime;

#[perf_cache::cached(prefix = "instr-miss")]
async fn ours(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

#[cached::macros::cached(max_size = 10_000)]
async fn theirs(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

#[cached::macros::cached(max_size = 10_000, sync_writes = "by_key")]
async fn theirs_by_key(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

async fn floor(n: u64) -> u64 {
    tokio::task::yield_now().await;
    n
}

const CALLERS: u64 = 1_000;
static NEXT: AtomicU64 = AtomicU64::new(1 << 32);

fn rounds() -> u64 {
    std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// One round: 1,000 tasks, each calling `call` once on its own cold key, all joined.
async fn round<F, Fut>(call: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let base = NEXT.fetch_add(CALLERS, Ordering::Relaxed);
    let handles: Vec<_> = (base..base + CALLERS)
        .map(|n| tokio::spawn(call(n)))
        .collect();
    for (n, h) in (base..).zip(handles) {
        assert_eq!(black_box(h.await.unwrap()), n);
    }
}

#[inline(never)]
fn measured_misses(rt: &tokio::runtime::Runtime, which: &str, rounds: u64) {
    rt.block_on(async {
        for _ in 0..rounds {
            match which {
                "cached" => round(theirs).await,
                "by_key" => round(theirs_by_key).await,
                "floor" => round(floor).await,
                _ => round(ours).await,
            }
        }
    });
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
    let rt = current_thread_runtime();
    if which == "wall" {
        let names = ["ours", "cached", "by_key", "floor"];
        let mut best = [f64::MAX; 4];
        for _ in 0..200 {
            for (i, name) in names.iter().enumerate() {
                let start = std::time::Instant::now();
                measured_misses(&rt, name, 1);
                best[i] = best[i].min(start.elapsed().as_secs_f64() * 1e6);
            }
        }
        for (name, us) in names.iter().zip(best) {
            println!("{name}: fastest round of {CALLERS} misses {us:.0} µs");
        }
        println!("ours / cached = {:.2}", best[0] / best[1]);
        return;
    }
    // One round outside the measured function, so that lazy set-up is not counted.
    measured_misses(&rt, &which, 1);
    let rounds = rounds();
    let start = std::time::Instant::now();
    measured_misses(&rt, &which, rounds);
    println!(
        "{which}: {} calls, {:.0} ns/call wall (2 calls of measured_misses: divide by {})",
        rounds * CALLERS,
        start.elapsed().as_secs_f64() * 1e9 / (rounds * CALLERS) as f64,
        (rounds + 1) * CALLERS
    );
}
