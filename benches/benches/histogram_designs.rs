//! The workspace's two histogram designs side by side (issue 10 item 12):
//!
//! - perf-db's `LatencyHistogram`: an `hdrhistogram` behind a `Mutex`, cumulative since the pool
//!   started, integer microseconds; 1 significant figure per statement, 2 for the pool-wide ones;
//! - perf-metrics' windowed histogram: lock-free, sharded per core (up to 4), log-linear buckets
//!   over a sliding window (the recorder's defaults: 60 s in 6 slots), seconds as `f64`.
//!
//! Rows: one record on one thread; one record on each of two threads recording into the same
//! histogram at once (wall time of a round of `iters` records per thread / `iters`, the two
//! threads started by a barrier; thread start-up is included and amortized over the round).
//! Before the timed rows it prints each design's quantile error on 100 000 log-uniform latencies
//! from 100 µs to 10 s, against the exact quantiles, and the bytes each one holds.
//!
//! Run: `cargo bench -p perf-benches --bench histogram_designs -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perf_db::__MutexHistogram as MutexHistogram;
use perf_metrics::__WindowHistogram as WindowHistogram;

const SAMPLES: usize = 100_000;
const WINDOW: Duration = Duration::from_secs(60);
const SLOTS: usize = 6;

/// Deterministic log-uniform latencies from 100 µs to 10 s (xorshift64).
fn latencies() -> Vec<Duration> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    (0..SAMPLES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            #[allow(clippy::cast_precision_loss)]
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            Duration::from_secs_f64(1e-4 * 1e5_f64.powf(unit))
        })
        .collect()
}

fn exact(sorted: &[f64], q: f64) -> f64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// Prints the quantile errors and memory of each design (not timed).
fn report_accuracy_and_memory(values: &[Duration]) {
    let mut sorted: Vec<f64> = values.iter().map(Duration::as_secs_f64).collect();
    sorted.sort_by(f64::total_cmp);
    let truth = [0.5, 0.95, 0.99].map(|q| exact(&sorted, q));
    let error = |got: (f64, f64, f64)| {
        let got = [got.0, got.1, got.2];
        let e: Vec<String> = got
            .iter()
            .zip(truth)
            .map(|(g, t)| format!("{:+.2}%", (g - t) / t * 100.0))
            .collect();
        e.join(" / ")
    };
    for figures in [1, 2] {
        let h = MutexHistogram::new(figures);
        for v in values {
            h.record(*v);
        }
        println!(
            "histogram_designs: hdrhistogram+Mutex, {figures} significant figure(s): p50/p95/p99 error {}, {} heap bytes (fixed)",
            error(h.quantiles()),
            h.heap_bytes()
        );
    }
    let w = WindowHistogram::new(WINDOW, SLOTS);
    for v in values {
        w.record(v.as_secs_f64());
    }
    println!(
        "histogram_designs: windowed lock-free ({} s / {SLOTS} slots): p50/p95/p99 error {}, {} bytes for the series with these values in one slot and shard (more as other slots and shards fill)",
        WINDOW.as_secs(),
        error(w.quantiles()),
        w.memory_bytes()
    );
}

fn histogram_designs(c: &mut Criterion) {
    let values = latencies();
    report_accuracy_and_memory(&values);
    let seconds: Vec<f64> = values.iter().map(Duration::as_secs_f64).collect();

    let mut group = c.benchmark_group("histogram_record_1_thread");
    for figures in [1, 2] {
        let h = MutexHistogram::new(figures);
        let mut i = 0;
        group.bench_function(format!("hdrhistogram_mutex_{figures}sf"), |b| {
            b.iter(|| {
                i = (i + 1) % SAMPLES;
                h.record(black_box(values[i]));
            });
        });
    }
    let w = WindowHistogram::new(WINDOW, SLOTS);
    let mut i = 0;
    group.bench_function("windowed_lock_free", |b| {
        b.iter(|| {
            i = (i + 1) % SAMPLES;
            w.record(black_box(seconds[i]));
        });
    });
    group.finish();

    let mut group = c.benchmark_group("histogram_record_2_threads");
    for figures in [1, 2] {
        let h = MutexHistogram::new(figures);
        group.bench_function(format!("hdrhistogram_mutex_{figures}sf"), |b| {
            b.iter_custom(|iters| two_threads(iters, |i| h.record(values[i % SAMPLES])));
        });
    }
    let w = WindowHistogram::new(WINDOW, SLOTS);
    group.bench_function("windowed_lock_free", |b| {
        b.iter_custom(|iters| two_threads(iters, |i| w.record(seconds[i % SAMPLES])));
    });
    group.finish();
}

/// Wall time of two threads each calling `record` `iters` times at once.
fn two_threads(iters: u64, record: impl Fn(usize) + Sync) -> Duration {
    let n = usize::try_from(iters).unwrap_or(usize::MAX);
    let start = Barrier::new(3);
    std::thread::scope(|scope| {
        for offset in [0, SAMPLES / 2] {
            let (start, record) = (&start, &record);
            scope.spawn(move || {
                start.wait();
                for i in 0..n {
                    record(black_box(i + offset));
                }
            });
        }
        start.wait();
        Instant::now()
    })
    .elapsed()
}

criterion_group!(benches, histogram_designs);
criterion_main!(benches);
