//! Hit ratios (not times) of perf-cache's two L1 engines, quick_cache (default) and moka
//! (feature `moka`), through the same typed view with the same capacity: on a Zipf(0.9) key
//! stream, and on the same stream polluted in its middle by a one-off scan of keys never seen
//! again. Deterministic (fixed seed); prints one line per engine and stream.
//!
//! Run with `cargo bench -p perf-benches --bench cache_hit_ratio`.

use perf_benches::current_thread_runtime;
use perf_cache::{Backend, Cache, Key, L1Engine};

/// Distinct keys in the Zipf stream.
const UNIVERSE: u64 = 100_000;
/// L1 capacity in entries (1% of the universe).
const CAPACITY: u64 = 1_000;
/// Requests per stream.
const REQUESTS: usize = 400_000;
/// Keys of the one-off scan (each read once, never again), ten times the capacity.
const SCAN: u64 = 10_000;
const EXPONENT: f64 = 0.9;

/// splitmix64: a small, fixed-seed generator so every run sees the same stream.
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// Zipf(`EXPONENT`) over `0..UNIVERSE` by inverse transform on the cumulative weights.
fn zipf_stream(len: usize, seed: u64) -> Vec<u64> {
    let mut cumulative = Vec::new();
    let mut total = 0.0;
    for rank in 1..=UNIVERSE {
        total += 1.0 / (rank as f64).powf(EXPONENT);
        cumulative.push(total);
    }
    let mut rng = SplitMix(seed);
    (0..len)
        .map(|_| {
            let u = rng.next_f64() * total;
            cumulative.partition_point(|&c| c < u) as u64
        })
        .collect()
}

/// Runs the stream through a view (get, and set on a miss, as a loader would); returns the
/// L1 hit ratio.
async fn hit_ratio(engine: L1Engine, stream: &[u64]) -> f64 {
    let backend = Backend::builder()
        .l1_max_entries(CAPACITY)
        .l1_engine(engine)
        .metrics_interval(None)
        .build()
        .await
        .unwrap();
    let cache = Cache::<u64>::builder()
        .prefix("ratio")
        .build_on(&backend)
        .unwrap();
    for &n in stream {
        let key = Key::new(n);
        if cache.get(&key).await.is_none() {
            cache.set(&key, n).await.unwrap();
        }
    }
    let s = cache.stats();
    s.l1.hits as f64 / (s.l1.hits + s.l1.misses) as f64
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` there is nothing to check.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let zipf = zipf_stream(REQUESTS, 42);
    let mut polluted = zipf.clone();
    let middle = polluted.len() / 2;
    polluted.splice(middle..middle, (0..SCAN).map(|i| UNIVERSE + i));
    let rt = current_thread_runtime();
    println!(
        "L1 hit ratio, {REQUESTS} requests, Zipf({EXPONENT}) over {UNIVERSE} keys, capacity {CAPACITY}:"
    );
    for (name, engine) in [
        ("quick_cache", L1Engine::QuickCache),
        ("moka", L1Engine::Moka),
    ] {
        let plain = rt.block_on(hit_ratio(engine, &zipf));
        let scanned = rt.block_on(hit_ratio(engine, &polluted));
        println!(
            "  {name:<12} zipf {:.2}%   zipf + one-off scan of {SCAN} keys {:.2}%",
            plain * 100.0,
            scanned * 100.0
        );
    }
}
