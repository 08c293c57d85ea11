//! [`Pool`]: an instrumented sqlx pool.

mod acquire;
mod hooks;
mod lifetime;
mod maintenance;

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection, Database};

use crate::config::PoolConfig;
use crate::histogram::LatencyHistogram;
use crate::shared::{ACQUIRE_PHASES, AcquirePhases, Shared, WaitingGuard};
use crate::stats::{AcquireStats, ConnectionStats, Counters, Metrics, PoolStats, QueryStats};
use crate::{Backend, Error, PoolConnection, Result, StatementStats, Transaction};

/// An instrumented sqlx pool: validated configuration, pool statistics, slow-query log,
/// per-statement statistics, N+1 detection and optional auto-EXPLAIN.
///
/// `&Pool` implements sqlx's [`Executor`](sqlx::Executor), so `sqlx::query(…).fetch_all(&pool)` works
/// unchanged. Clone it to share it (clones share the connections and the statistics).
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use perf_db::{Pool, PoolConfig};
///
/// let config = PoolConfig::builder().url("sqlite::memory:").name("embedded").build()?;
/// let pool = Pool::<sqlx::Sqlite>::connect(&config).await?;
/// let n: i64 = sqlx::query_scalar("SELECT 40 + 2").fetch_one(&pool).await?;
/// assert_eq!(n, 42);
///
/// let stats = pool.stats();
/// assert_eq!(stats.queries.ok, 1);
/// assert_eq!(pool.top_statements(1)[0].statement, "SELECT $1 + $2");
/// # Ok::<(), perf_db::Error>(())
/// # }).unwrap();
/// ```
pub struct Pool<DB: Database> {
    pub(crate) inner: sqlx::Pool<DB>,
    pub(crate) shared: Arc<Shared>,
    /// The maintenance task runs while any clone of this pool is alive.
    maintenance: Arc<maintenance::Maintenance>,
}

impl<DB: Database> Clone for Pool<DB> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            maintenance: Arc::clone(&self.maintenance),
        }
    }
}

impl<DB: Database> fmt::Debug for Pool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.name)
            .field("system", &self.shared.system)
            .field("size", &self.inner.size())
            .field("idle", &self.inner.num_idle())
            .finish_non_exhaustive()
    }
}

impl<DB: Backend> Pool<DB> {
    /// Validates `config` and opens the pool (and its `min_connections`).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], [`Error::UnsupportedUrl`], or the database error if the first
    /// connection cannot be opened.
    pub async fn connect(config: &PoolConfig) -> Result<Self> {
        Self::connect_with(config, |options| options).await
    }

    /// Like [`connect`](Self::connect), with a chance to adjust sqlx's connect options (TLS,
    /// extra session parameters, a PostgreSQL `search_path`, …) after `perf-db` applied its own.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let pool = perf_db::Pool::<sqlx::Sqlite>::connect_with(
    ///     &perf_db::PoolConfig::default(),
    ///     |options| options.foreign_keys(true),
    /// )
    /// .await?;
    /// let on: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&pool).await?;
    /// assert_eq!(on, 1);
    /// # Ok::<(), perf_db::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(
        config: &PoolConfig,
        customize: impl FnOnce(
            <DB::Connection as Connection>::Options,
        ) -> <DB::Connection as Connection>::Options,
    ) -> Result<Self> {
        let prepared = Self::prepare(config, customize)?;
        // The first connection can lose the same lock race as an acquire (another process
        // opening the new file): retried the same way.
        let connect = || {
            prepared
                .options
                .clone()
                .connect_with(prepared.connect_options.clone())
        };
        let inner =
            retry_lock_races::<DB, _, _>(Instant::now(), config.acquire_timeout, connect, |_| {})
                .await?;
        Ok(Self::finish(config, inner, prepared))
    }

    /// Creates the pool without opening a connection; the first query connects.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] or [`Error::UnsupportedUrl`].
    pub fn connect_lazy(config: &PoolConfig) -> Result<Self> {
        let prepared = Self::prepare(config, |options| options)?;
        let inner = prepared
            .options
            .clone()
            .connect_lazy_with(prepared.connect_options.clone());
        Ok(Self::finish(config, inner, prepared))
    }

    fn prepare(
        config: &PoolConfig,
        customize: impl FnOnce(
            <DB::Connection as Connection>::Options,
        ) -> <DB::Connection as Connection>::Options,
    ) -> Result<Prepared<DB>> {
        config.validate()?;
        let connect_options = customize(DB::connect_options(config)?)
            // sqlx's own per-statement log would duplicate ours (and its fixed 1 s threshold)
            .disable_statement_logging();
        let counters = Arc::new(Counters::default());
        let metrics = Arc::new(Metrics::new(&config.name));
        metrics.max.set(f64::from(config.max_connections));
        let lifetimes = config
            .max_lifetime
            .map(|max| Arc::new(lifetime::Lifetimes::new(max)));
        let options = hooks::pool_options::<DB>(config, &counters, &metrics, lifetimes.as_ref());
        Ok(Prepared {
            options,
            connect_options,
            counters,
            metrics,
            lifetimes,
        })
    }

    fn finish(config: &PoolConfig, inner: sqlx::Pool<DB>, prepared: Prepared<DB>) -> Self {
        let Prepared {
            counters,
            metrics,
            lifetimes,
            ..
        } = prepared;
        let mut shared = Shared::new(config, DB::SYSTEM, Arc::clone(&counters), metrics);
        shared.explainer = config.auto_explain.then(|| {
            crate::explain::explainer::<DB>(
                inner.clone(),
                &config.name,
                counters,
                Arc::clone(&shared.statements),
            )
        });
        let shared = Arc::new(shared);
        if let Some(threshold) = config.leak_detection_threshold
            && tokio::runtime::Handle::try_current().is_ok()
        {
            crate::leak::spawn_sweeper(Arc::downgrade(&shared), threshold);
        }
        let maintenance = Arc::new(maintenance::Maintenance::start(&inner, &shared, lifetimes));
        tracing::debug!(target: "perf_db::pool", %config, "pool created");
        Self {
            inner,
            shared,
            maintenance,
        }
    }

    /// Checks out a connection, measuring the acquire path and registering the caller's
    /// location for leak detection.
    ///
    /// # Errors
    /// [`Error::AcquireTimeout`] when none becomes available within the acquire timeout (the
    /// message gives the pool's size and the number of waiters), else the database error.
    #[track_caller]
    pub fn acquire(&self) -> impl Future<Output = Result<PoolConnection<DB>>> + Send + '_ {
        let location = Location::caller();
        async move {
            let (conn, acquired_at) = self
                .acquire_raw()
                .await
                .map_err(|e| self.acquire_error(e))?;
            Ok(PoolConnection::new(
                conn,
                Arc::clone(&self.shared),
                Some(location),
                acquired_at,
            ))
        }
    }

    /// Checks out a connection and starts a transaction on it.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire), or the database error if `BEGIN` fails.
    #[track_caller]
    pub fn begin(&self) -> impl Future<Output = Result<Transaction<'static, DB>>> + Send + '_ {
        let location = Location::caller();
        async move {
            let (conn, acquired_at) = self
                .acquire_raw()
                .await
                .map_err(|e| self.acquire_error(e))?;
            let hold = crate::connection::Hold::start(
                Arc::clone(&self.shared),
                Some(location),
                acquired_at,
            );
            let tx = sqlx::Transaction::begin(conn, None).await?;
            Ok(Transaction::new(tx, Arc::clone(&self.shared), Some(hold)))
        }
    }

    /// sqlx's acquire, retried (within the acquire timeout, counted from `start`) when opening
    /// the connection lost a lock race that a retry wins: on SQLite, the first connections to a
    /// new file switching it to WAL together (see `Backend::is_lock_race_at_connect`).
    async fn acquire_retrying_lock_races(
        &self,
        start: Instant,
    ) -> Result<sqlx::pool::PoolConnection<DB>, sqlx::Error> {
        let acquire = || self.inner.acquire();
        retry_lock_races::<DB, _, _>(start, self.shared.acquire_timeout, acquire, |error| {
            tracing::debug!(
                target: "perf_db::pool",
                pool = &*self.shared.name,
                %error,
                "opening a connection lost a lock race; retrying"
            );
        })
        .await
    }

    /// The acquire path shared by [`acquire`](Self::acquire), [`begin`](Self::begin) and the
    /// executor: waiting gauge, total time, and its split into queue wait, ping and connect.
    /// Also returns the instant the connection was acquired, which starts its hold: one clock
    /// read ends the acquire and begins the hold (and the leak record).
    pub(crate) async fn acquire_raw(
        &self,
    ) -> Result<(sqlx::pool::PoolConnection<DB>, Instant), sqlx::Error> {
        let shared = &*self.shared;
        let waiting = WaitingGuard::new(shared);
        let start = Instant::now();
        let (result, ping, connected) = ACQUIRE_PHASES
            .scope(AcquirePhases::default(), async {
                let result = self.acquire_retrying_lock_races(start).await;
                let (ping, connected) = ACQUIRE_PHASES
                    .try_with(|p| (p.ping.get(), p.connected.get()))
                    .unwrap_or_default();
                (result, ping, connected)
            })
            .await;
        let acquired_at = Instant::now();
        let elapsed = acquired_at.saturating_duration_since(start);
        drop(waiting);
        let counters = &shared.counters;
        match &result {
            Ok(_) => {
                counters.acquires.fetch_add(1, Ordering::Relaxed);
                shared
                    .metrics
                    .acquire_duration
                    .record(elapsed.as_secs_f64());
                // One histogram record on the common path; the views are merged in `stats()`.
                if connected {
                    shared.acquire_connect.record(elapsed);
                    shared.metrics.acquire_connect.record(elapsed.as_secs_f64());
                } else if ping.is_zero() {
                    shared.acquire_served.record(elapsed);
                    shared.metrics.acquire_wait.record(elapsed.as_secs_f64());
                } else {
                    let wait = elapsed.saturating_sub(ping);
                    shared.acquire_pinged_total.record(elapsed);
                    shared.acquire_pinged_wait.record(wait);
                    shared.metrics.acquire_wait.record(wait.as_secs_f64());
                }
                self.update_gauges();
            }
            Err(sqlx::Error::PoolTimedOut) => {
                counters.acquire_timeouts.fetch_add(1, Ordering::Relaxed);
                shared.metrics.acquire_timeouts.increment(1);
            }
            Err(_) => {
                counters.acquire_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        result.map(|conn| (conn, acquired_at))
    }
}

/// First and longest pause before retrying an acquire that lost a lock race at connect: the
/// winner's WAL switch takes about a millisecond.
const LOCK_RACE_FIRST_PAUSE: Duration = Duration::from_millis(1);
const LOCK_RACE_MAX_PAUSE: Duration = Duration::from_millis(50);

/// Runs `open` (a connect or an acquire) again, after a pause that doubles up to
/// [`LOCK_RACE_MAX_PAUSE`], for as long as it fails by losing a lock race at connect
/// (`Backend::is_lock_race_at_connect`) and the next pause still ends within `timeout` of
/// `start`; `on_retry` hears each lost race. Any other result is returned as is.
async fn retry_lock_races<DB: Backend, T, Fut>(
    start: Instant,
    timeout: Duration,
    mut open: impl FnMut() -> Fut,
    on_retry: impl Fn(&sqlx::Error),
) -> Result<T, sqlx::Error>
where
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut pause = LOCK_RACE_FIRST_PAUSE;
    loop {
        match open().await {
            Err(error)
                if DB::is_lock_race_at_connect(&error) && start.elapsed() + pause < timeout =>
            {
                on_retry(&error);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LOCK_RACE_MAX_PAUSE);
            }
            other => return other,
        }
    }
}

struct Prepared<DB: Database> {
    options: sqlx::pool::PoolOptions<DB>,
    connect_options: <DB::Connection as Connection>::Options,
    counters: Arc<Counters>,
    metrics: Arc<Metrics>,
    lifetimes: Option<Arc<lifetime::Lifetimes>>,
}

impl<DB: Database> Pool<DB> {
    fn acquire_error(&self, error: sqlx::Error) -> Error {
        match error {
            sqlx::Error::PoolTimedOut => {
                let size = self.inner.size();
                let idle = u32::try_from(self.inner.num_idle()).unwrap_or(u32::MAX);
                Error::AcquireTimeout {
                    pool: self.shared.name.to_string(),
                    timeout: self.shared.acquire_timeout,
                    in_use: size.saturating_sub(idle),
                    max: self.shared.max_connections,
                    waiting: Counters::get(&self.shared.counters.waiting) + 1,
                }
            }
            other => Error::Database(other),
        }
    }

    fn update_gauges(&self) -> (u32, u32) {
        maintenance::refresh_gauges(&self.inner, &self.shared)
    }

    /// The pool name (the `pool` label of its metrics).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// A snapshot of the pool for a statistics endpoint; also refreshes the gauges and the
    /// `closed_total{reason="other"}` counter of the metrics facade. (The gauges are also
    /// refreshed on every acquire and, while the pool lives, at least once a second by its
    /// maintenance task, so they fall back to idle after a burst without anyone calling this.)
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let (size, idle) = self.update_gauges();
        let shared = &*self.shared;
        let c = &*shared.counters;
        let get = Counters::get;
        let opened = get(&c.opened);
        let closed = opened.saturating_sub(u64::from(size));
        let recycled = get(&c.recycled);
        let ping_failed = get(&c.ping_failed);
        let closed_other = maintenance::refresh_closed_other(shared, size);
        let pings = get(&c.pings);
        let mut acquire = AcquireStats {
            count: get(&c.acquires),
            timeouts: get(&c.acquire_timeouts),
            errors: get(&c.acquire_errors),
            pings,
            pings_skipped: get(&c.pings_skipped),
            #[allow(clippy::cast_precision_loss)]
            ping_mean_ms: if pings == 0 {
                0.0
            } else {
                get(&c.ping_ns) as f64 / pings as f64 / 1_000_000.0
            },
            ..AcquireStats::default()
        };
        acquire.fill(
            LatencyHistogram::merged(&[
                &shared.acquire_served,
                &shared.acquire_pinged_total,
                &shared.acquire_connect,
            ]),
            LatencyHistogram::merged(&[&shared.acquire_served, &shared.acquire_pinged_wait]),
            shared.acquire_connect.quantiles(),
        );
        PoolStats {
            pool: shared.name.to_string(),
            system: shared.system.to_owned(),
            size,
            idle,
            in_use: size - idle,
            max_connections: shared.max_connections,
            waiting: get(&c.waiting),
            acquire,
            connections: ConnectionStats {
                opened,
                closed,
                recycled,
                ping_failed,
                closed_other,
                leaks_detected: get(&c.leaks),
                held_p95_ms: shared.held.quantiles().p95_ms,
            },
            queries: QueryStats {
                ok: get(&c.queries_ok),
                errors: get(&c.queries_failed),
                cancelled: get(&c.queries_cancelled),
                timeouts: get(&c.queries_timed_out),
                rows: get(&c.rows),
                slow_warn: get(&c.slow_warn),
                slow_error: get(&c.slow_error),
                n_plus_one: get(&c.n_plus_one),
                plans_captured: get(&c.explains),
                plans_failed: get(&c.explains_failed),
                plans_in_flight: get(&c.explains_in_flight),
                statements: shared.statements.len(),
                statement_bytes: shared.statements.memory_bytes(),
            },
        }
    }

    /// The `n` statements with the most total execution time, largest first.
    #[must_use]
    pub fn top_statements(&self, n: usize) -> Vec<StatementStats> {
        self.shared.statements.top(n)
    }

    /// Statistics of the statement `sql` normalizes to, if it ran since the last reset.
    #[must_use]
    pub fn statement_stats(&self, sql: &str) -> Option<StatementStats> {
        self.shared.statements.get(sql)
    }

    /// Forgets all per-statement statistics (like `pg_stat_statements_reset()`).
    pub fn reset_statements(&self) {
        self.shared.statements.reset();
    }

    /// The wrapped sqlx pool. Queries run on it directly are **not** instrumented.
    #[must_use]
    pub fn get_ref(&self) -> &sqlx::Pool<DB> {
        &self.inner
    }

    /// Unwraps the sqlx pool (the statistics stay with the other clones of this `Pool`).
    #[must_use]
    pub fn into_inner(self) -> sqlx::Pool<DB> {
        self.inner
    }

    /// Closes every connection and waits for checked-out ones to come back.
    pub async fn close(&self) {
        self.inner.close().await;
    }
}
