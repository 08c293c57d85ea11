//! A small latency histogram (microsecond resolution) shared between threads.
//!
//! Why not perf-metrics' lock-free windowed histogram (the workspace's other design)? The two
//! answer different questions: these are cumulative since the pool started (like
//! `pg_stat_statements`) and one exists per tracked statement, under a byte budget; perf-metrics'
//! slides over a time window and is sharded per core. `benches/benches/histogram_designs.rs`
//! (BENCHMARKS.md, "histogram designs") measured, on 100 000 log-uniform latencies from 100 µs
//! to 10 s: this one at 1 significant figure holds 3.7 KiB, fixed, with p50/p95/p99 within 3 %;
//! the windowed one 17 KiB with those values in one slot and shard (it grows as other slots and
//! shards fill: at most about 78 KiB with the recorder's defaults on this 2-core machine), within
//! 1.6 %. A record costs 36 ns here against 19 ns there on one
//! thread, and 44 ns against 26 ns with two threads recording into one histogram (2 cores,
//! loaded machine). The record is not the per-query bottleneck (a query is microseconds), the
//! memory per statement is what the budget bounds, and perf-db would have to depend on
//! perf-metrics (or both on a new crate) to share it; so both designs stay.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest value tracked exactly: one hour in microseconds; slower values saturate.
const MAX_MICROS: u64 = 3_600_000_000;

/// Latency quantiles in milliseconds, as served by the statistics types.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Quantiles {
    pub(crate) count: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

#[derive(Debug)]
pub(crate) struct LatencyHistogram {
    inner: Mutex<Histogram<u64>>,
}

impl LatencyHistogram {
    /// `significant_figures` 1 keeps a per-statement histogram at a few KiB (about 6% error);
    /// 2 is used for the pool-wide ones.
    pub(crate) fn new(significant_figures: u8) -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_MICROS, significant_figures)
            .expect("constant histogram bounds are valid");
        Self {
            inner: Mutex::new(histogram),
        }
    }

    pub(crate) fn record(&self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_record(micros);
    }

    pub(crate) fn quantiles(&self) -> Quantiles {
        let h = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if h.is_empty() {
            return Quantiles::default();
        }
        Quantiles {
            count: h.len(),
            p50_ms: to_ms(h.value_at_quantile(0.50)),
            p95_ms: to_ms(h.value_at_quantile(0.95)),
            p99_ms: to_ms(h.value_at_quantile(0.99)),
            max_ms: to_ms(h.max()),
        }
    }

    /// Quantiles of several histograms taken together.
    pub(crate) fn merged(parts: &[&LatencyHistogram]) -> Quantiles {
        let Some((first, rest)) = parts.split_first() else {
            return Quantiles::default();
        };
        let mut all = first
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for part in rest {
            let h = part.inner.lock().unwrap_or_else(PoisonError::into_inner);
            // Same bounds everywhere, so adding cannot fail; saturate rather than panic.
            let _ = all.add(&*h);
        }
        Self {
            inner: Mutex::new(all),
        }
        .quantiles()
    }

    /// Heap bytes of the counts array (fixed once the histogram is created).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .distinct_values()
            * size_of::<u64>()
    }

    pub(crate) fn p95_ms(&self) -> f64 {
        let h = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if h.is_empty() {
            0.0
        } else {
            to_ms(h.value_at_quantile(0.95))
        }
    }
}

#[allow(clippy::cast_precision_loss)] // microsecond counts far below 2^52
fn to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}
