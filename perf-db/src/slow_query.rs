//! The slow-query log: one `tracing` event on `perf_db::slow_query` per query at or over the
//! warn threshold (`WARN`) or the error threshold (`ERROR`), with the statement as logs show it
//! and, only with `log_bind_values`, the bind values.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::shared::{QueryGuard, QueryOutcome, Shared};
use crate::statements::truncate;

/// The thresholds and truncation of the slow-query log.
#[derive(Debug)]
pub(crate) struct SlowQueryLog {
    warn: Option<Duration>,
    error: Option<Duration>,
    log_chars: usize,
}

impl SlowQueryLog {
    pub(crate) fn new(warn: Option<Duration>, error: Option<Duration>, log_chars: usize) -> Self {
        Self {
            warn,
            error,
            log_chars,
        }
    }

    /// Logs and counts the query if it was slow; returns whether it was.
    pub(crate) fn record(
        &self,
        shared: &Shared,
        guard: &QueryGuard<'_>,
        elapsed: Duration,
        outcome: QueryOutcome,
    ) -> bool {
        let over = |t: Option<Duration>| t.is_some_and(|t| elapsed >= t);
        let error = over(self.error);
        if !error && !over(self.warn) {
            return false;
        }
        // Formatted only now that the query is known to be slow.
        let bind_values = guard
            .arguments
            .as_ref()
            .map(|arguments| truncate(&format!("{arguments:?}"), self.log_chars));
        let bind_values = bind_values.as_deref();
        let statement = shared.shown(&guard.text);
        let outcome = outcome.label();
        if error {
            shared.counters.slow_error.fetch_add(1, Ordering::Relaxed);
            shared.metrics.slow_error.increment(1);
            tracing::error!(
                target: "perf_db::slow_query",
                pool = %shared.name,
                elapsed_ms = elapsed.as_millis(),
                rows = guard.rows,
                outcome,
                statement,
                bind_values,
                "slow query"
            );
        } else {
            shared.counters.slow_warn.fetch_add(1, Ordering::Relaxed);
            shared.metrics.slow_warn.increment(1);
            tracing::warn!(
                target: "perf_db::slow_query",
                pool = %shared.name,
                elapsed_ms = elapsed.as_millis(),
                rows = guard.rows,
                outcome,
                statement,
                bind_values,
                "slow query"
            );
        }
        true
    }
}
