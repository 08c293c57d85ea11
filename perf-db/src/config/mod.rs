//! [`PoolConfig`]: pool sizing, timeouts, pre-ping and instrumentation settings.

mod builder;
pub(crate) mod duration;
mod env;
mod validate;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

pub use builder::PoolConfigBuilder;

use crate::redact_url;

/// Everything needed to open and instrument a [`Pool`](crate::Pool).
///
/// Build it in code with [`PoolConfig::builder`], read it from the environment with
/// [`PoolConfig::from_env`], or deserialize it with serde (durations are written in humantime's
/// forms, `"500ms"`, `"1.5s"`, `"1m30s"`, `"10m"`, `"1h"`, or as a number of seconds; optional
/// ones accept `"off"`; they serialize as humantime writes them, e.g. `"1s 500ms"`). Every way
/// ends in the same [`validate`](PoolConfig::validate), which [`Pool::connect`](crate::Pool::connect)
/// also runs.
///
/// `Debug`, `Display` and `Serialize` redact the password of the URL, so the configuration can be
/// logged or served on a diagnostics endpoint.
///
/// # Defaults and why
///
/// | field | default | reasoning |
/// |---|---|---|
/// | `url` | `sqlite::memory:` | the embedded default; set `DATABASE_URL` in production |
/// | `max_connections` | 10 | HikariCP's default and its sizing rule: `cores * 2 + spindles` is enough for a database server with 4 cores; more connections queue inside the database instead of in the pool |
/// | `min_connections` | 0 | connections open on demand; set it equal to `max_connections` for HikariCP's recommended fixed-size pool |
/// | `acquire_timeout` | 30 s | HikariCP `connectionTimeout`; the seeds' `pool_timeout=30` |
/// | `idle_timeout` | 10 min | HikariCP `idleTimeout` |
/// | `max_lifetime` | 30 min | HikariCP `maxLifetime`: retire connections before network equipment or the server drops them; each connection's lifetime is shortened by up to 2.5 % at random (HikariCP's variance) and idle ones are retired in the background |
/// | `test_before_acquire` | `true` | the seeds' `pool_pre_ping=True` |
/// | `pre_ping_window` | 500 ms | HikariCP `aliveBypassWindowMs`: a connection used less than this long ago is not pinged again |
/// | `statement_timeout` | 30 s | the seeds' `statement_timeout=30s` (PostgreSQL, MariaDB; MySQL: `SELECT`s only; not SQLite) |
/// | `sqlite_statement_timeout` | off | SQLite has no server to enforce a timeout; perf-db can, at one round trip to the connection's thread per query (1.8× the cost of a tiny query), so it is opt-in |
/// | `statement_timeout_mode` | startup parameter | no extra round trip; `SetAfterConnect` behind PgBouncer |
/// | `sqlite_busy_timeout` | 5 s | sqlx's default: how long a SQLite write waits for another connection's lock |
/// | `leak_detection_threshold` | off | HikariCP `leakDetectionThreshold` (off by default there too) |
/// | `slow_query_warn` / `slow_query_error` | 100 ms / 1 s | the seeds' slow-query log and alert thresholds |
/// | `statement_log_chars` | 200 | the seeds' truncation (also applied to bind values) |
/// | `log_literals` / `log_bind_values` | off / off | logs must not leak personal data unless the operator opts in |
/// | `statement_capacity` | 1000 | distinct statements kept (pg_stat_statements keeps 5000 server-wide) |
/// | `statement_memory_bytes` | 16 MiB | statements and cached texts together; 1000 statements take about 5 MiB (a per-statement histogram is about 4 KiB), the rest caches texts |
/// | `n_plus_one_threshold` | 10 | the same statement more than 10 times in one request is almost always a loop |
///
/// # SQLAlchemy knobs of the seeds
///
/// | SQLAlchemy (`create_engine`) | `PoolConfig` | env variable |
/// |---|---|---|
/// | `pool_size=20` + `max_overflow=10` | `max_connections(30)` (sqlx has no overflow: the pool grows to max and shrinks after `idle_timeout`); `min_connections(20)` keeps the 20 warm | `DATABASE_POOL_MAX`, `DATABASE_POOL_MIN` |
/// | `pool_timeout=30` | `acquire_timeout(30 s)` | `DATABASE_POOL_ACQUIRE_TIMEOUT` |
/// | `pool_recycle=3600` | `max_lifetime(1 h)` | `DATABASE_POOL_MAX_LIFETIME` |
/// | `pool_pre_ping=True` | `test_before_acquire(true)` (pings only after `pre_ping_window` idle) | `DATABASE_POOL_PRE_PING` |
/// | `connect_args={"options": "-c statement_timeout=30s"}` | `statement_timeout(30 s)` | `DATABASE_STATEMENT_TIMEOUT` |
///
/// ```
/// use std::time::Duration;
/// use perf_db::PoolConfig;
///
/// // The seeds' SQLAlchemy engine, in Rust.
/// let config = PoolConfig::builder()
///     .url("postgres://app:secret@localhost/app")
///     .max_connections(30)
///     .min_connections(20)
///     .acquire_timeout(Duration::from_secs(30))
///     .max_lifetime(Some(Duration::from_secs(3600)))
///     .test_before_acquire(true)
///     .statement_timeout(Some(Duration::from_secs(30)))
///     .build()?;
/// assert_eq!(config.max_connections(), 30);
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), perf_db::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    #[serde(serialize_with = "serialize_redacted")]
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) max_connections: u32,
    pub(crate) min_connections: u32,
    #[serde(with = "duration::required")]
    pub(crate) acquire_timeout: Duration,
    #[serde(with = "duration::optional")]
    pub(crate) idle_timeout: Option<Duration>,
    #[serde(with = "duration::optional")]
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) test_before_acquire: bool,
    #[serde(with = "duration::required")]
    pub(crate) pre_ping_window: Duration,
    #[serde(with = "duration::optional")]
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) sqlite_statement_timeout: Option<Duration>,
    pub(crate) statement_timeout_mode: StatementTimeoutMode,
    pub(crate) application_name: Option<String>,
    #[serde(with = "duration::optional")]
    pub(crate) leak_detection_threshold: Option<Duration>,
    #[serde(with = "duration::optional")]
    pub(crate) slow_query_warn: Option<Duration>,
    #[serde(with = "duration::optional")]
    pub(crate) slow_query_error: Option<Duration>,
    pub(crate) statement_log_chars: usize,
    pub(crate) log_literals: bool,
    pub(crate) log_bind_values: bool,
    pub(crate) query_spans: bool,
    pub(crate) statement_capacity: usize,
    pub(crate) statement_memory_bytes: u64,
    pub(crate) n_plus_one_threshold: Option<u32>,
    pub(crate) auto_explain: bool,
    pub(crate) sqlite_cache_kib: u32,
    #[serde(with = "duration::required")]
    pub(crate) sqlite_busy_timeout: Duration,
}

/// How the PostgreSQL `statement_timeout` reaches the server.
///
/// ```
/// use perf_db::{PoolConfig, StatementTimeoutMode};
///
/// // behind PgBouncer in transaction pooling mode, which refuses the startup parameter
/// let config = PoolConfig::builder()
///     .url("postgres://app@pgbouncer:6432/app")
///     .statement_timeout_mode(StatementTimeoutMode::SetAfterConnect)
///     .build()?;
/// assert_eq!(config.statement_timeout_mode(), StatementTimeoutMode::SetAfterConnect);
/// # Ok::<(), perf_db::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatementTimeoutMode {
    /// Sent in the startup packet (`options=-c statement_timeout=…`): no extra round trip. The
    /// default. PgBouncer refuses unknown startup parameters (`unsupported startup parameter:
    /// options`) unless they are listed in its `ignore_startup_parameters` (then it drops them).
    #[default]
    StartupParameter,
    /// `SET statement_timeout = …` on each new connection, one round trip at connect. Works
    /// through PgBouncer. In PgBouncer's *transaction* pooling mode a session `SET` stays on the
    /// server connection that ran it, which later transactions of this client may not use; for a
    /// guarantee there, set it on the server side (`ALTER ROLE app SET statement_timeout =
    /// '30s'`) and turn it off here.
    SetAfterConnect,
}

impl std::str::FromStr for StatementTimeoutMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "startup_parameter" | "startup" => Ok(Self::StartupParameter),
            "set_after_connect" | "set" => Ok(Self::SetAfterConnect),
            _ => Err(format!(
                "`{text}` is not a statement timeout mode (startup_parameter or set_after_connect)"
            )),
        }
    }
}

fn serialize_redacted<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            url: "sqlite::memory:".to_owned(),
            name: "default".to_owned(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            test_before_acquire: true,
            pre_ping_window: Duration::from_millis(500),
            statement_timeout: Some(Duration::from_secs(30)),
            sqlite_statement_timeout: None,
            statement_timeout_mode: StatementTimeoutMode::StartupParameter,
            application_name: None,
            leak_detection_threshold: None,
            slow_query_warn: Some(Duration::from_millis(100)),
            slow_query_error: Some(Duration::from_secs(1)),
            statement_log_chars: 200,
            log_literals: false,
            log_bind_values: false,
            query_spans: false,
            statement_capacity: 1000,
            statement_memory_bytes: 16 << 20,
            n_plus_one_threshold: Some(10),
            auto_explain: false,
            sqlite_cache_kib: 64 * 1024,
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

impl PoolConfig {
    /// Starts a builder holding the defaults listed on [`PoolConfig`].
    pub fn builder() -> PoolConfigBuilder {
        PoolConfigBuilder::new(Self::default())
    }

    /// Turns this configuration back into a builder, to change a few fields.
    pub fn into_builder(self) -> PoolConfigBuilder {
        PoolConfigBuilder::new(self)
    }

    /// The database URL (unredacted: handle with care; use [`redact_url`] before logging it).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The pool name used as the `pool` label of every metric and in log lines.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Maximum number of connections.
    #[must_use]
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }
    /// Connections kept open even when idle.
    #[must_use]
    pub fn min_connections(&self) -> u32 {
        self.min_connections
    }
    /// How long an acquirer waits for a connection before failing.
    #[must_use]
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }
    /// Idle connections above `min_connections` are closed after this long.
    #[must_use]
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
    /// Connections are closed (recycled) after this age, less a random 0–2.5 % per connection.
    #[must_use]
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }
    /// Whether an idle connection is pinged before it is handed out.
    #[must_use]
    pub fn test_before_acquire(&self) -> bool {
        self.test_before_acquire
    }
    /// Connections idle for less than this are handed out without a ping.
    #[must_use]
    pub fn pre_ping_window(&self) -> Duration {
        self.pre_ping_window
    }
    /// Server-side statement timeout: PostgreSQL `statement_timeout`, MariaDB
    /// `max_statement_time` (every statement), MySQL `max_execution_time` (read-only `SELECT`s
    /// only: MySQL has no timeout for writes). Not used by SQLite (see
    /// [`sqlite_statement_timeout`](Self::sqlite_statement_timeout)).
    #[must_use]
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }
    /// SQLite statement timeout enforced by perf-db, or `None` (the default); see
    /// [`PoolConfigBuilder::sqlite_statement_timeout`].
    #[must_use]
    pub fn sqlite_statement_timeout(&self) -> Option<Duration> {
        self.sqlite_statement_timeout
    }
    /// How the PostgreSQL statement timeout is sent (startup parameter or `SET`).
    #[must_use]
    pub fn statement_timeout_mode(&self) -> StatementTimeoutMode {
        self.statement_timeout_mode
    }
    /// How long SQLite waits for a lock held by another connection before `SQLITE_BUSY`.
    #[must_use]
    pub fn sqlite_busy_timeout(&self) -> Duration {
        self.sqlite_busy_timeout
    }
    /// The application name reported to the server (PostgreSQL `application_name`).
    #[must_use]
    pub fn application_name(&self) -> Option<&str> {
        self.application_name.as_deref()
    }
    /// A connection held longer than this logs one leak warning.
    #[must_use]
    pub fn leak_detection_threshold(&self) -> Option<Duration> {
        self.leak_detection_threshold
    }
    /// Queries at least this slow are logged at `WARN`.
    #[must_use]
    pub fn slow_query_warn(&self) -> Option<Duration> {
        self.slow_query_warn
    }
    /// Queries at least this slow are logged at `ERROR`.
    #[must_use]
    pub fn slow_query_error(&self) -> Option<Duration> {
        self.slow_query_error
    }
    /// Statements in logs and spans are truncated to this many characters.
    #[must_use]
    pub fn statement_log_chars(&self) -> usize {
        self.statement_log_chars
    }
    /// Whether logs show the statement as written (with its literals) instead of normalized.
    #[must_use]
    pub fn log_literals(&self) -> bool {
        self.log_literals
    }
    /// Whether slow-query log events carry the query's bind values (off by default: they may
    /// hold personal data; see [`PoolConfigBuilder::log_bind_values`]).
    #[must_use]
    pub fn log_bind_values(&self) -> bool {
        self.log_bind_values
    }
    /// Whether each query runs inside a `db.query` tracing span.
    #[must_use]
    pub fn query_spans(&self) -> bool {
        self.query_spans
    }
    /// Maximum number of distinct statements tracked.
    #[must_use]
    pub fn statement_capacity(&self) -> usize {
        self.statement_capacity
    }
    /// Memory budget of the per-statement statistics and their text cache, in bytes.
    #[must_use]
    pub fn statement_memory_bytes(&self) -> u64 {
        self.statement_memory_bytes
    }
    /// N+1 warning threshold (runs of one statement within one request span).
    #[must_use]
    pub fn n_plus_one_threshold(&self) -> Option<u32> {
        self.n_plus_one_threshold
    }
    /// Whether the plan of the first slow run of each SELECT is captured.
    #[must_use]
    pub fn auto_explain(&self) -> bool {
        self.auto_explain
    }
    /// SQLite page cache size in KiB (`PRAGMA cache_size = -N`).
    #[must_use]
    pub fn sqlite_cache_kib(&self) -> u32 {
        self.sqlite_cache_kib
    }
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("url", &redact_url(&self.url))
            .field("name", &self.name)
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("test_before_acquire", &self.test_before_acquire)
            .field("pre_ping_window", &self.pre_ping_window)
            .field("statement_timeout", &self.statement_timeout)
            .field("sqlite_statement_timeout", &self.sqlite_statement_timeout)
            .field("statement_timeout_mode", &self.statement_timeout_mode)
            .field("application_name", &self.application_name)
            .field("leak_detection_threshold", &self.leak_detection_threshold)
            .field("slow_query_warn", &self.slow_query_warn)
            .field("slow_query_error", &self.slow_query_error)
            .field("statement_log_chars", &self.statement_log_chars)
            .field("log_literals", &self.log_literals)
            .field("log_bind_values", &self.log_bind_values)
            .field("query_spans", &self.query_spans)
            .field("statement_capacity", &self.statement_capacity)
            .field("statement_memory_bytes", &self.statement_memory_bytes)
            .field("n_plus_one_threshold", &self.n_plus_one_threshold)
            .field("auto_explain", &self.auto_explain)
            .field("sqlite_cache_kib", &self.sqlite_cache_kib)
            .field("sqlite_busy_timeout", &self.sqlite_busy_timeout)
            .finish()
    }
}

impl fmt::Display for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool `{}` at {} ({}..={} connections, acquire timeout {:?})",
            self.name,
            redact_url(&self.url),
            self.min_connections,
            self.max_connections,
            self.acquire_timeout
        )
    }
}
