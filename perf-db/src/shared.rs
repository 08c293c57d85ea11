//! State shared by a pool, its connections, transactions and in-flight queries, and the
//! per-query recording path.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::field::Empty;

use crate::backend::KeptArguments;
use crate::config::PoolConfig;
use crate::explain;
use crate::histogram::LatencyHistogram;
use crate::leak::LeakTracker;
use crate::n_plus_one;
use crate::normalize::Dialect;
use crate::slow_query::SlowQueryLog;
use crate::statement_deadline::Deadline;
use crate::statements::{StatementRegistry, TextEntry};
use crate::stats::{Counters, Metrics};

/// Runs the plan capture for a slow statement (set only with `auto_explain`).
pub(crate) type Explainer = Box<dyn Fn(Arc<TextEntry>) + Send + Sync>;

pub(crate) struct Shared {
    pub(crate) name: Box<str>,
    pub(crate) system: &'static str,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) slow_queries: SlowQueryLog,
    log_literals: bool,
    /// Whether queries keep a copy of their arguments for the slow-query log.
    pub(crate) log_bind_values: bool,
    pub(crate) query_spans: bool,
    n_plus_one: Option<u32>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) metrics: Arc<Metrics>,
    /// Acquires served by an idle or returned connection without a ping (total = queue wait).
    pub(crate) acquire_served: LatencyHistogram,
    /// Acquires that pinged: their total time, and their time minus the ping.
    pub(crate) acquire_pinged_total: LatencyHistogram,
    pub(crate) acquire_pinged_wait: LatencyHistogram,
    /// Acquires that opened a connection (total time).
    pub(crate) acquire_connect: LatencyHistogram,
    pub(crate) held: LatencyHistogram,
    pub(crate) statements: Arc<StatementRegistry>,
    pub(crate) leaks: Option<LeakTracker>,
    pub(crate) explainer: Option<Explainer>,
    /// The statement timeout perf-db enforces itself (SQLite, whose server has none).
    pub(crate) client_statement_timeout: Option<Duration>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("system", &self.system)
            .finish()
    }
}

impl Shared {
    pub(crate) fn new(
        config: &PoolConfig,
        system: &'static str,
        counters: Arc<Counters>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            name: config.name.clone().into_boxed_str(),
            system,
            max_connections: config.max_connections,
            acquire_timeout: config.acquire_timeout,
            slow_queries: SlowQueryLog::new(
                config.slow_query_warn,
                config.slow_query_error,
                config.statement_log_chars,
            ),
            log_literals: config.log_literals,
            log_bind_values: config.log_bind_values,
            query_spans: config.query_spans,
            n_plus_one: config.n_plus_one_threshold,
            counters,
            metrics,
            acquire_served: LatencyHistogram::new(2),
            acquire_pinged_total: LatencyHistogram::new(2),
            acquire_pinged_wait: LatencyHistogram::new(2),
            acquire_connect: LatencyHistogram::new(2),
            held: LatencyHistogram::new(2),
            statements: Arc::new(StatementRegistry::new(
                config.statement_capacity,
                usize::try_from(config.statement_memory_bytes).unwrap_or(usize::MAX),
                config.statement_log_chars,
                Dialect::of_system(system),
            )),
            leaks: config.leak_detection_threshold.map(LeakTracker::new),
            explainer: None,
            client_statement_timeout: config
                .sqlite_statement_timeout
                .filter(|_| system == "sqlite"),
        }
    }

    /// Starts recording one query: hash + lookup, N+1 check, optional span, first clock read.
    pub(crate) fn start_query(&self, sql: &str) -> QueryGuard<'_> {
        let text = self.statements.lookup(sql);
        if let Some(threshold) = self.n_plus_one {
            n_plus_one::check(self, &text, threshold);
        }
        let span = if self.query_spans {
            let statement = self.shown(&text);
            Some(tracing::info_span!(
                target: "perf_db::query",
                "db.query",
                db.system = self.system,
                db.statement = statement,
                db.pool = &*self.name,
                rows = Empty,
                duration_ms = Empty,
                outcome = Empty,
            ))
        } else {
            None
        };
        QueryGuard {
            shared: self,
            text,
            span,
            arguments: None,
            rows: 0,
            outcome: None,
            deadline: None,
            start: Instant::now(),
        }
    }

    /// The statement as logs show it: normalized, or as written with `log_literals`.
    pub(crate) fn shown<'t>(&self, text: &'t TextEntry) -> &'t str {
        if self.log_literals {
            &text.raw_short
        } else {
            &text.statement.normalized_short
        }
    }

    fn finish(&self, guard: &QueryGuard<'_>, elapsed: Duration) {
        let text = &guard.text;
        let outcome = guard.outcome.unwrap_or(QueryOutcome::Cancelled);
        let failed = matches!(outcome, QueryOutcome::Error | QueryOutcome::Timeout);
        text.statement.record(elapsed, guard.rows, failed);
        let (counter, metric) = match outcome {
            QueryOutcome::Ok => (&self.counters.queries_ok, &self.metrics.queries_ok),
            QueryOutcome::Error => (&self.counters.queries_failed, &self.metrics.queries_error),
            QueryOutcome::Timeout => (
                &self.counters.queries_timed_out,
                &self.metrics.queries_timeout,
            ),
            QueryOutcome::Cancelled => (
                &self.counters.queries_cancelled,
                &self.metrics.queries_cancelled,
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metric.increment(1);
        if guard.rows > 0 {
            self.counters.rows.fetch_add(guard.rows, Ordering::Relaxed);
        }
        self.metrics.query_duration.record(elapsed.as_secs_f64());
        if let Some(span) = &guard.span {
            span.record("rows", guard.rows);
            span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
            span.record("outcome", outcome.label());
        }
        if !self.slow_queries.record(self, guard, elapsed, outcome) {
            return;
        }
        if outcome == QueryOutcome::Ok {
            explain::on_slow_read(self, text);
        }
    }
}

/// Records one query when dropped, so streams dropped early and cancelled futures still count.
#[derive(Debug)]
pub(crate) struct QueryGuard<'a> {
    shared: &'a Shared,
    pub(crate) text: Arc<TextEntry>,
    pub(crate) span: Option<tracing::Span>,
    /// The query's arguments, kept only with `log_bind_values`.
    pub(crate) arguments: Option<KeptArguments>,
    pub(crate) rows: u64,
    /// Set once the database's answer was read to the end or ended in an error; a guard
    /// dropped before that belongs to a cancelled query.
    pub(crate) outcome: Option<QueryOutcome>,
    /// The query's deadline, when perf-db enforces the statement timeout (SQLite).
    pub(crate) deadline: Option<Arc<Deadline>>,
    start: Instant,
}

impl QueryGuard<'_> {
    /// Whether the `index`-th statement of the text is a write (see `Backend::rows_affected`).
    pub(crate) fn is_write(&self, index: u32) -> bool {
        index < 64 && self.text.statement.writes & (1 << index) != 0
    }

    /// Records that a query which returns its result at once succeeded with `rows` rows.
    pub(crate) fn succeed(&mut self, rows: u64) {
        self.rows = rows;
        self.outcome = Some(QueryOutcome::Ok);
    }

    /// A deadline for this query when perf-db enforces the statement timeout, counted from the
    /// query's start.
    pub(crate) fn arm_deadline(&mut self) -> Option<Arc<Deadline>> {
        let timeout = self.shared.client_statement_timeout?;
        let deadline = Arc::new(Deadline::new(self.start, timeout));
        self.deadline = Some(Arc::clone(&deadline));
        Some(deadline)
    }

    /// Records that the query failed with `error`, and returns the error the caller gets: a
    /// statement perf-db interrupted at its deadline becomes
    /// [`StatementTimedOut`](crate::StatementTimedOut); `is_timeout` recognises the server's own.
    pub(crate) fn fail(
        &mut self,
        error: sqlx::Error,
        is_timeout: fn(&sqlx::Error) -> bool,
    ) -> sqlx::Error {
        let (outcome, error) = match &self.deadline {
            Some(deadline) if deadline.fired() => (QueryOutcome::Timeout, deadline.error(error)),
            _ if is_timeout(&error) => (QueryOutcome::Timeout, error),
            _ => (QueryOutcome::Error, error),
        };
        self.outcome = Some(outcome);
        error
    }
}

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryOutcome {
    Ok,
    Error,
    /// The error was the statement timeout (perf-db's on SQLite, the server's else).
    Timeout,
    /// Dropped before the database's answer was read to the end.
    Cancelled,
}

impl QueryOutcome {
    /// `ok`, `error`, `timeout` or `cancelled`: the metric label, span field and log field.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
        }
    }
}

impl Drop for QueryGuard<'_> {
    fn drop(&mut self) {
        if self.outcome.is_some()
            && let Some(deadline) = &self.deadline
        {
            deadline.disarm();
        }
        let elapsed = self.start.elapsed();
        self.shared.finish(self, elapsed);
    }
}

/// What happened inside one `acquire`, written by the pool hooks (which run inside the
/// acquiring task) through a task-local.
#[derive(Debug, Default)]
pub(crate) struct AcquirePhases {
    pub(crate) ping: Cell<Duration>,
    pub(crate) connected: Cell<bool>,
}

tokio::task_local! {
    pub(crate) static ACQUIRE_PHASES: AcquirePhases;
}

/// Keeps the waiting-acquirers count right even when the acquiring future is cancelled.
#[derive(Debug)]
pub(crate) struct WaitingGuard<'a>(&'a Shared);

impl<'a> WaitingGuard<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        shared.counters.waiting.fetch_add(1, Ordering::Relaxed);
        shared.metrics.waiting.increment(1.0);
        Self(shared)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.counters.waiting.fetch_sub(1, Ordering::Relaxed);
        self.0.metrics.waiting.decrement(1.0);
    }
}
