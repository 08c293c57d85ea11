//! [`PoolConfigBuilder`].

use std::time::Duration;

use super::{PoolConfig, StatementTimeoutMode};
use crate::Result;

/// Builds a [`PoolConfig`]; every setter documents its default. [`build`](Self::build) validates.
///
/// ```
/// use std::time::Duration;
/// let config = perf_db::PoolConfig::builder()
///     .url("sqlite::memory:")
///     .name("embedded")
///     .max_connections(4)
///     .slow_query_warn(Some(Duration::from_millis(50)))
///     .build()?;
/// assert_eq!(config.name(), "embedded");
/// # Ok::<(), perf_db::Error>(())
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct PoolConfigBuilder {
    config: PoolConfig,
}

impl PoolConfigBuilder {
    pub(super) fn new(config: PoolConfig) -> Self {
        Self { config }
    }

    /// Database URL: `postgres://…`, `mysql://…`/`mariadb://…`, `sqlite::memory:`,
    /// `sqlite://path/to/file.db`. Default: `sqlite::memory:`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.config.url = url.into();
        self
    }
    /// Pool name: the `pool` label of every metric. Default: `default`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }
    /// Maximum connections, 1..=10000. Default: 10.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.config.max_connections = max;
        self
    }
    /// Connections kept open when idle, 0..=`max_connections`. Default: 0.
    pub fn min_connections(mut self, min: u32) -> Self {
        self.config.min_connections = min;
        self
    }
    /// Acquire timeout, 250 ms..=1 h. Default: 30 s.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.config.acquire_timeout = timeout;
        self
    }
    /// Idle timeout, at least 10 s and below `max_lifetime`, or `None`. Default: 10 min.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }
    /// Maximum connection age (recycling), at least 30 s, or `None`. Default: 30 min.
    ///
    /// Each connection gets its own lifetime, drawn from `max_lifetime - 2.5 %..=max_lifetime`
    /// (HikariCP's variance), so connections opened together are not all replaced at once. An
    /// idle connection is retired in the background when its lifetime passes (the pool's
    /// maintenance task checks once a second and opens its replacement), one in use when it is
    /// returned.
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.config.max_lifetime = lifetime;
        self
    }
    /// Ping idle connections before handing them out. Default: `true`.
    pub fn test_before_acquire(mut self, test: bool) -> Self {
        self.config.test_before_acquire = test;
        self
    }
    /// Skip the pre-ping for connections idle less than this, 0..=1 min (0 pings on every
    /// acquire, like sqlx). Default: 500 ms.
    pub fn pre_ping_window(mut self, window: Duration) -> Self {
        self.config.pre_ping_window = window;
        self
    }
    /// Server-side statement timeout, 1 ms..=24 h, or `None`. Default: 30 s.
    ///
    /// - PostgreSQL: `statement_timeout`, sent as a startup parameter or with `SET` (see
    ///   [`statement_timeout_mode`](Self::statement_timeout_mode)); a statement over it fails
    ///   with SQLSTATE `57014` (`query_canceled`).
    /// - MariaDB: `max_statement_time` for the session, every statement.
    /// - MySQL: `max_execution_time` for the session, which MySQL applies to read-only `SELECT`
    ///   statements only; inserts, updates, deletes and DDL are not bounded (MySQL has no
    ///   session setting that is).
    /// - SQLite (no server): not applied; see
    ///   [`sqlite_statement_timeout`](Self::sqlite_statement_timeout).
    ///
    /// A statement over the timeout counts under the `timeout` outcome
    /// ([`QueryStats::timeouts`](crate::QueryStats::timeouts), `db_queries_total{outcome="timeout"}`).
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.statement_timeout = timeout;
        self
    }
    /// SQLite statement timeout, 1 ms..=24 h, or `None`. Default: `None` (opt-in).
    ///
    /// SQLite has no server to enforce a timeout, so perf-db does: before each query it
    /// installs a progress handler on the connection (`LockedSqliteHandle::set_progress_handler`)
    /// that interrupts the statement once it runs past the timeout; the query fails with
    /// [`StatementTimedOut`](crate::StatementTimedOut) (code `SQLITE_INTERRUPT`) and the
    /// connection stays usable. An interrupted write inside an explicit transaction rolls the
    /// transaction back (SQLite's rule). Installing the handler is one round trip to the
    /// connection's worker thread per query (sqlx offers no cheaper way to reach it): +19 µs on
    /// an in-memory `SELECT 1` on a quiet machine (1.8× perf-db without it), several times that
    /// when the CPUs are saturated (see BENCHMARKS.md). That is why it is off by default: turn
    /// it on where a runaway query (a user-supplied filter, a recursive CTE) is a real risk.
    /// Statements run on the raw connection (`as_raw`) are not bounded. The SQLite lock wait is
    /// [`sqlite_busy_timeout`](Self::sqlite_busy_timeout), a separate option.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = perf_db::PoolConfig::builder()
    ///     .url("sqlite::memory:")
    ///     .sqlite_statement_timeout(Some(Duration::from_secs(5)))
    ///     .build()?;
    /// assert_eq!(config.sqlite_statement_timeout(), Some(Duration::from_secs(5)));
    /// # Ok::<(), perf_db::Error>(())
    /// ```
    pub fn sqlite_statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.sqlite_statement_timeout = timeout;
        self
    }
    /// How PostgreSQL receives the statement timeout: as a startup parameter (no round trip) or
    /// with `SET` after connecting, for PgBouncer, which refuses the startup parameter in
    /// transaction pooling mode. Default: [`StatementTimeoutMode::StartupParameter`].
    pub fn statement_timeout_mode(mut self, mode: StatementTimeoutMode) -> Self {
        self.config.statement_timeout_mode = mode;
        self
    }
    /// How long SQLite waits for a lock held by another connection before failing with
    /// `SQLITE_BUSY` (`PRAGMA busy_timeout`), 0..=1 h. Default: 5 s (sqlx's).
    pub fn sqlite_busy_timeout(mut self, timeout: Duration) -> Self {
        self.config.sqlite_busy_timeout = timeout;
        self
    }
    /// Application name reported to PostgreSQL, at most 63 bytes. Default: none.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.config.application_name = Some(name.into());
        self
    }
    /// Leak detection threshold, at least 2 s, or `None`. Default: `None`.
    pub fn leak_detection_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.config.leak_detection_threshold = threshold;
        self
    }
    /// Slow-query `WARN` threshold, at least 1 ms, or `None`. Default: 100 ms.
    pub fn slow_query_warn(mut self, threshold: Option<Duration>) -> Self {
        self.config.slow_query_warn = threshold;
        self
    }
    /// Slow-query `ERROR` threshold, not below the warn threshold, or `None`. Default: 1 s.
    pub fn slow_query_error(mut self, threshold: Option<Duration>) -> Self {
        self.config.slow_query_error = threshold;
        self
    }
    /// Statement truncation in logs and spans, 16..=100000 characters. Default: 200.
    pub fn statement_log_chars(mut self, chars: usize) -> Self {
        self.config.statement_log_chars = chars;
        self
    }
    /// Log statements as written, literals included, instead of normalized (literals replaced
    /// by `$n`). Bind values are not logged by this switch (see
    /// [`log_bind_values`](Self::log_bind_values)). Default: `false`.
    pub fn log_literals(mut self, log: bool) -> Self {
        self.config.log_literals = log;
        self
    }
    /// Add the query's bind values to each slow-query log event, as field `bind_values`,
    /// truncated to [`statement_log_chars`](Self::statement_log_chars). Default: `false`.
    ///
    /// **Warning:** bind values are where personal data (e-mail addresses, names, tokens,
    /// password hashes) usually travels; with this on they reach your logs and everything that
    /// collects them. Turn it on only where such logs are allowed, e.g. while investigating one
    /// slow query, and prefer [`log_literals`](Self::log_literals) or the normalized statement
    /// otherwise.
    ///
    /// The text is the `Debug` form of sqlx's arguments for the back end:
    /// - SQLite: the values themselves (`Text("…")`, `Int64(42)`, `Null`, …);
    /// - PostgreSQL and MySQL/MariaDB: the parameter types and the binary wire encoding of the
    ///   values as a list of bytes, not readable text: sqlx 0.9 keeps only the encoded buffer
    ///   (fields private, no accessor), so a text value shows as its UTF-8 bytes and an integer
    ///   as its bytes (big-endian on PostgreSQL, little-endian on MySQL).
    ///
    /// Cost: off, nothing changes on the query path (no clone, no formatting). On, each query
    /// that has bind values clones sqlx's argument buffer once before it runs (SQLite: a vector
    /// of reference-counted values; PostgreSQL/MySQL: one copy of the encoded bytes) and keeps
    /// the clone until the query ends; only a query that turns out slow formats it. The clone
    /// is needed because sqlx hands the arguments to the connection by value and never gives
    /// them back, so they cannot be read after the query without keeping a copy.
    ///
    /// ```
    /// // e.g. while investigating one slow query on a staging system
    /// let config = perf_db::PoolConfig::builder()
    ///     .url("sqlite::memory:")
    ///     .log_bind_values(true)
    ///     .build()?;
    /// assert!(config.log_bind_values());
    /// # Ok::<(), perf_db::Error>(())
    /// ```
    pub fn log_bind_values(mut self, log: bool) -> Self {
        self.config.log_bind_values = log;
        self
    }
    /// Run each query inside a `db.query` tracing span. Default: `false`.
    pub fn query_spans(mut self, spans: bool) -> Self {
        self.config.query_spans = spans;
        self
    }
    /// Distinct statements tracked, 1..=100000. Default: 1000.
    pub fn statement_capacity(mut self, capacity: usize) -> Self {
        self.config.statement_capacity = capacity;
        self
    }
    /// Memory budget of the per-statement statistics and their text cache, in bytes,
    /// 65536..=17179869184 (64 KiB to 16 GiB). Default: 16 MiB. The registry counts what it
    /// holds (entries, texts, histograms, captured plans) and makes room by clearing its text
    /// cache, then by evicting the statements with the least total time;
    /// `stats().queries.statement_bytes` shows the count.
    ///
    /// ```
    /// let config = perf_db::PoolConfig::builder().statement_memory_bytes(4 << 20).build()?;
    /// assert_eq!(config.statement_memory_bytes(), 4 << 20);
    /// assert!(perf_db::PoolConfig::builder().statement_memory_bytes(1024).build().is_err());
    /// # Ok::<(), perf_db::Error>(())
    /// ```
    pub fn statement_memory_bytes(mut self, bytes: u64) -> Self {
        self.config.statement_memory_bytes = bytes;
        self
    }
    /// N+1 warning threshold, at least 1, or `None`. Default: 10.
    pub fn n_plus_one_threshold(mut self, threshold: Option<u32>) -> Self {
        self.config.n_plus_one_threshold = threshold;
        self
    }
    /// Capture the plan of the first slow run of each SELECT. Default: `false`.
    pub fn auto_explain(mut self, explain: bool) -> Self {
        self.config.auto_explain = explain;
        self
    }
    /// SQLite page cache in KiB, 64..=16777216. Default: 65536 (64 MiB).
    pub fn sqlite_cache_kib(mut self, kib: u32) -> Self {
        self.config.sqlite_cache_kib = kib;
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming the first field out of range.
    pub fn build(self) -> Result<PoolConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}
