//! Access to the windowed histogram for the benchmarks (hidden; not a stable API).

use std::time::{Duration, Instant};

use crate::window::{WindowConfig, WindowedHistogram};

/// The lock-free windowed histogram every perf-metrics histogram series feeds.
#[derive(Debug)]
pub struct WindowHistogram(WindowedHistogram);

impl WindowHistogram {
    /// A histogram over `window` split into `slots` slots (the recorder's defaults: 60 s, 6).
    #[must_use]
    pub fn new(window: Duration, slots: usize) -> Self {
        Self(WindowedHistogram::new(
            WindowConfig::new(window, slots),
            Instant::now(),
        ))
    }

    /// Records one value in seconds, as the recorder does.
    pub fn record(&self, seconds: f64) {
        self.0.record(seconds);
    }

    /// `(p50, p95, p99)` in seconds over the window.
    #[must_use]
    pub fn quantiles(&self) -> (f64, f64, f64) {
        let s = self.0.stats(Instant::now());
        (
            s.p50.unwrap_or(0.0),
            s.p95.unwrap_or(0.0),
            s.p99.unwrap_or(0.0),
        )
    }

    /// Bytes of counter storage held so far.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.0.memory_bytes()
    }
}
