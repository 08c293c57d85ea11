//! Pool statistics: live counters, the serializable [`PoolStats`] snapshot, and the metric
//! handles they are mirrored to.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::Label;
use serde::{Deserialize, Serialize};

use crate::histogram::Quantiles;
use crate::late_metrics::{LateCounter, LateGauge, LateHistogram};

/// Counters shared by the pool, its hooks and its connections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queries_ok: AtomicU64,
    pub(crate) queries_failed: AtomicU64,
    pub(crate) queries_cancelled: AtomicU64,
    pub(crate) queries_timed_out: AtomicU64,
    pub(crate) rows: AtomicU64,
    pub(crate) slow_warn: AtomicU64,
    pub(crate) slow_error: AtomicU64,
    pub(crate) acquires: AtomicU64,
    pub(crate) acquire_timeouts: AtomicU64,
    pub(crate) acquire_errors: AtomicU64,
    pub(crate) waiting: AtomicU64,
    pub(crate) opened: AtomicU64,
    pub(crate) recycled: AtomicU64,
    pub(crate) ping_failed: AtomicU64,
    pub(crate) pings: AtomicU64,
    pub(crate) pings_skipped: AtomicU64,
    pub(crate) ping_ns: AtomicU64,
    pub(crate) leaks: AtomicU64,
    pub(crate) n_plus_one: AtomicU64,
    pub(crate) explains: AtomicU64,
    pub(crate) explains_failed: AtomicU64,
    pub(crate) explains_in_flight: AtomicU64,
}

impl Counters {
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A snapshot of one pool, for a JSON statistics endpoint ([`Pool::stats`](crate::Pool::stats)).
///
/// Times are in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// The pool name (the `pool` metric label).
    pub pool: String,
    /// `postgresql`, `sqlite` or `mysql`.
    pub system: String,
    /// Open connections (idle + in use).
    pub size: u32,
    /// Idle connections.
    pub idle: u32,
    /// Connections handed out.
    pub in_use: u32,
    /// The configured maximum.
    pub max_connections: u32,
    /// Tasks currently waiting in `acquire`.
    pub waiting: u64,
    /// The acquire path.
    pub acquire: AcquireStats,
    /// Connection lifecycle.
    pub connections: ConnectionStats,
    /// Queries run through the pool, its connections and transactions.
    pub queries: QueryStats,
}

/// Acquire-path statistics, measured apart from query time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct AcquireStats {
    /// Successful acquires.
    pub count: u64,
    /// Acquires that failed because the acquire timeout passed.
    pub timeouts: u64,
    /// Acquires that failed otherwise (connect errors, pool closed).
    pub errors: u64,
    /// Total acquire time (wait + ping + connect), 50th percentile.
    pub p50_ms: f64,
    /// Total acquire time, 95th percentile.
    pub p95_ms: f64,
    /// Total acquire time, 99th percentile.
    pub p99_ms: f64,
    /// Slowest acquire.
    pub max_ms: f64,
    /// Pure queue wait (acquires served by an existing connection, ping time excluded),
    /// 95th percentile.
    pub wait_p95_ms: f64,
    /// Acquires that had to open a new connection.
    pub connects: u64,
    /// Acquires that opened a connection, 95th percentile of their total time.
    pub connect_p95_ms: f64,
    /// Pre-pings sent (connection idle longer than the pre-ping window).
    pub pings: u64,
    /// Pre-pings skipped because the connection was used within the window.
    pub pings_skipped: u64,
    /// Mean pre-ping round trip.
    pub ping_mean_ms: f64,
}

/// Connection lifecycle counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Connections opened since the pool started.
    pub opened: u64,
    /// Connections closed since the pool started (all reasons).
    pub closed: u64,
    /// Closed because they reached `max_lifetime`.
    pub recycled: u64,
    /// Closed because the pre-ping failed.
    pub ping_failed: u64,
    /// Closed for other reasons (idle timeout, errors, pool shrinking).
    pub closed_other: u64,
    /// Connections held longer than the leak-detection threshold.
    pub leaks_detected: u64,
    /// Time connections were held by callers, 95th percentile.
    pub held_p95_ms: f64,
}

/// Query counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct QueryStats {
    /// Queries that completed without error.
    pub ok: u64,
    /// Queries that returned an error.
    pub errors: u64,
    /// Queries whose future or stream was dropped before the database's answer was read to the
    /// end (a timeout, a `select!` branch that lost, a stream left early). Never explained.
    pub cancelled: u64,
    /// Queries that ran past the statement timeout: interrupted by perf-db on SQLite
    /// (`sqlite_statement_timeout`), cancelled by the server (`statement_timeout`) on PostgreSQL
    /// (`57014` with "statement timeout") and MySQL/MariaDB (errors 3024/1969). Not counted in
    /// `errors`.
    pub timeouts: u64,
    /// Rows returned by row-returning statements plus rows affected by writes (a row that a
    /// write returns, with `RETURNING`, counts once).
    pub rows: u64,
    /// Queries at or above the warn threshold (and below the error one).
    pub slow_warn: u64,
    /// Queries at or above the error threshold.
    pub slow_error: u64,
    /// N+1 warnings emitted.
    pub n_plus_one: u64,
    /// Plans captured by auto-EXPLAIN (a plan the byte budget cannot hold, after evicting
    /// cheaper statements, is captured but not kept).
    pub plans_captured: u64,
    /// Plan captures that failed, including texts the server (or, on SQLite, perf-db) refused
    /// because they hold more than one statement.
    pub plans_failed: u64,
    /// Plan captures started and not finished yet (they run in the background).
    pub plans_in_flight: u64,
    /// Distinct normalized statements tracked.
    pub statements: usize,
    /// Bytes the statement statistics, their captured plans and their text cache hold, as
    /// counted against `statement_memory_bytes`.
    pub statement_bytes: usize,
}

impl AcquireStats {
    pub(crate) fn fill(&mut self, total: Quantiles, wait: Quantiles, connect: Quantiles) {
        self.p50_ms = total.p50_ms;
        self.p95_ms = total.p95_ms;
        self.p99_ms = total.p99_ms;
        self.max_ms = total.max_ms;
        self.wait_p95_ms = wait.p95_ms;
        self.connects = connect.count;
        self.connect_p95_ms = connect.p95_ms;
    }
}

/// Metric handles, registered once per pool so the per-query path does no label work.
///
/// They bind to the recorder installed when the pool is created, or, when none is, to the one
/// installed later, at their first use after it (see `late_metrics.rs`).
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) queries_ok: LateCounter,
    pub(crate) queries_error: LateCounter,
    pub(crate) queries_cancelled: LateCounter,
    pub(crate) queries_timeout: LateCounter,
    pub(crate) query_duration: LateHistogram,
    pub(crate) slow_warn: LateCounter,
    pub(crate) slow_error: LateCounter,
    pub(crate) idle: LateGauge,
    pub(crate) in_use: LateGauge,
    pub(crate) max: LateGauge,
    pub(crate) waiting: LateGauge,
    pub(crate) acquire_duration: LateHistogram,
    pub(crate) acquire_wait: LateHistogram,
    pub(crate) acquire_ping: LateHistogram,
    pub(crate) acquire_connect: LateHistogram,
    pub(crate) acquire_timeouts: LateCounter,
    pub(crate) opened: LateCounter,
    pub(crate) closed_recycled: LateCounter,
    pub(crate) closed_ping_failed: LateCounter,
    pub(crate) closed_other: LateCounter,
    pub(crate) held: LateHistogram,
    pub(crate) n_plus_one: LateCounter,
    pub(crate) leaks: LateCounter,
}

impl Metrics {
    pub(crate) fn new(pool: &str) -> Self {
        if !crate::late_metrics::recorder_installed() {
            tracing::debug!(
                target: "perf_db::pool",
                pool,
                "no metrics recorder installed yet: the pool's metrics are registered when one is"
            );
        }
        let labels = |extra: &[(&'static str, &'static str)]| {
            let mut labels = vec![Label::new("pool", pool.to_owned())];
            labels.extend(extra.iter().map(|(k, v)| Label::new(*k, *v)));
            labels
        };
        let counter =
            |name, extra: &[(&'static str, &'static str)]| LateCounter::new(name, labels(extra));
        let gauge =
            |name, extra: &[(&'static str, &'static str)]| LateGauge::new(name, labels(extra));
        let histogram =
            |name, extra: &[(&'static str, &'static str)]| LateHistogram::new(name, labels(extra));
        let phase = |p| histogram("db_pool_acquire_phase_seconds", &[("phase", p)]);
        let closed = |reason| counter("db_pool_connections_closed_total", &[("reason", reason)]);
        Self {
            queries_ok: counter("db_queries_total", &[("outcome", "ok")]),
            queries_error: counter("db_queries_total", &[("outcome", "error")]),
            queries_cancelled: counter("db_queries_total", &[("outcome", "cancelled")]),
            queries_timeout: counter("db_queries_total", &[("outcome", "timeout")]),
            query_duration: histogram("db_query_duration_seconds", &[]),
            slow_warn: counter("db_slow_queries_total", &[("level", "warn")]),
            slow_error: counter("db_slow_queries_total", &[("level", "error")]),
            idle: gauge("db_pool_connections", &[("state", "idle")]),
            in_use: gauge("db_pool_connections", &[("state", "in_use")]),
            max: gauge("db_pool_max_connections", &[]),
            waiting: gauge("db_pool_waiting", &[]),
            acquire_duration: histogram("db_pool_acquire_duration_seconds", &[]),
            acquire_wait: phase("wait"),
            acquire_ping: phase("ping"),
            acquire_connect: phase("connect"),
            acquire_timeouts: counter("db_pool_acquire_timeouts_total", &[]),
            opened: counter("db_pool_connections_opened_total", &[]),
            closed_recycled: closed("recycled"),
            closed_ping_failed: closed("ping_failed"),
            closed_other: closed("other"),
            held: histogram("db_connection_held_seconds", &[]),
            n_plus_one: counter("db_n_plus_one_total", &[]),
            leaks: counter("db_connection_leaks_total", &[]),
        }
    }
}
