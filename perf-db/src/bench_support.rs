//! Access to the per-statement lookup for the benchmarks (hidden; not a stable API).

use crate::statements::StatementRegistry;

/// The statement registry as the per-query path uses it.
#[derive(Debug)]
pub struct StatementLookup(StatementRegistry);

impl StatementLookup {
    /// A registry holding up to `capacity` statements.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self(StatementRegistry::new(
            capacity,
            usize::MAX,
            200,
            crate::normalize::Dialect::Postgres,
        ))
    }

    /// The per-query work for `sql`: hash and map lookup; normalizes only on first sight.
    /// Returns the length of the cached text, to keep the work observable.
    pub fn lookup(&self, sql: &str) -> usize {
        self.0.lookup(sql).raw.len()
    }
}

/// The per-query bookkeeping of a pool without a database: statement lookup, N+1 check,
/// optional span, two clock reads, counters, histogram and metric records, slow-query check.
#[derive(Debug)]
pub struct QueryRecorder(std::sync::Arc<crate::shared::Shared>);

impl QueryRecorder {
    /// A recorder configured like a pool built from `config`.
    #[must_use]
    pub fn new(config: &crate::PoolConfig) -> Self {
        let counters = std::sync::Arc::new(crate::stats::Counters::default());
        let metrics = std::sync::Arc::new(crate::stats::Metrics::new(config.name()));
        Self(std::sync::Arc::new(crate::shared::Shared::new(
            config, "sqlite", counters, metrics,
        )))
    }

    /// Records one query of `sql` returning `rows` rows, exactly as the executors do.
    pub fn record(&self, sql: &str, rows: u64) {
        let mut guard = self.0.start_query(sql);
        guard.succeed(rows);
    }
}

/// perf-db's per-statement / pool histogram (hdrhistogram behind a mutex), for the histogram
/// design benchmark.
#[derive(Debug)]
pub struct MutexHistogram(crate::histogram::LatencyHistogram);

impl MutexHistogram {
    /// A histogram with `significant_figures` (1 per statement, 2 pool-wide).
    #[must_use]
    pub fn new(significant_figures: u8) -> Self {
        Self(crate::histogram::LatencyHistogram::new(significant_figures))
    }

    /// Records one duration, as the per-query path does.
    pub fn record(&self, duration: std::time::Duration) {
        self.0.record(duration);
    }

    /// `(p50, p95, p99)` in seconds.
    #[must_use]
    pub fn quantiles(&self) -> (f64, f64, f64) {
        let q = self.0.quantiles();
        (q.p50_ms / 1e3, q.p95_ms / 1e3, q.p99_ms / 1e3)
    }

    /// Heap bytes held (fixed at creation).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}
