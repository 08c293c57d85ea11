//! The client-side statement timeout of back ends whose server has none (SQLite).
//!
//! SQLite interrupts a running statement when the connection's progress handler returns
//! `false`. sqlx-sqlite runs statements on a worker thread per connection and exposes the
//! handler on `LockedSqliteHandle`, which is reached with `lock_handle()`: a round trip to that
//! thread. sqlx gives no way to tell which connection a `&mut SqliteConnection` is without that
//! round trip (its pool hooks see only the connection's age), so a handler installed once per
//! connection could not be found again to set the next query's deadline. Each query therefore
//! installs its own handler, holding that query's [`Deadline`]: one round trip before the
//! statement is sent (measured in `benches/benches/db_overhead.rs`, see BENCHMARKS.md).
//!
//! The handler returns `false` once, the first time it runs past the deadline, and `true`
//! otherwise; a query that completes disarms it, so statements sent later on the connection
//! outside perf-db (the pool's pings, sqlx's `ROLLBACK`, auto-EXPLAIN) are never interrupted by
//! a deadline that is not theirs. A query dropped before its end stays armed: the statement the
//! caller gave up on is still interrupted at its deadline instead of holding the connection's
//! worker thread for as long as it runs.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Armed: the handler interrupts the statement once the deadline has passed.
const ARMED: u8 = 0;
/// The query completed: the handler lets everything run.
const DISARMED: u8 = 1;
/// The handler interrupted the statement (at most once).
const FIRED: u8 = 2;

/// SQLite virtual-machine instructions between two calls of the progress handler. One call
/// reads the clock (tens of nanoseconds) while a thousand instructions take microseconds, so
/// the check costs well under 1 % of a running statement and overshoots the deadline by
/// microseconds.
#[cfg(feature = "sqlite")]
pub(crate) const PROGRESS_INSTRUCTIONS: i32 = 1_000;

/// One query's deadline, shared by its guard and the progress handler on its connection.
#[derive(Debug)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
    state: AtomicU8,
}

impl Deadline {
    pub(crate) fn new(start: Instant, timeout: Duration) -> Self {
        Self {
            at: start + timeout,
            timeout,
            state: AtomicU8::new(ARMED),
        }
    }

    /// The progress handler: `false` (interrupt) the first time it runs past the deadline while
    /// armed, `true` (go on) otherwise.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn keep_going(&self) -> bool {
        if self.state.load(Ordering::Relaxed) != ARMED || Instant::now() < self.at {
            return true;
        }
        self.state
            .compare_exchange(ARMED, FIRED, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    }

    /// The query completed: statements run later on the connection are not this query's.
    pub(crate) fn disarm(&self) {
        let _ = self
            .state
            .compare_exchange(ARMED, DISARMED, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether the handler interrupted the query's statement.
    pub(crate) fn fired(&self) -> bool {
        self.state.load(Ordering::Relaxed) == FIRED
    }

    /// The error the query returns instead of the driver's "interrupted".
    pub(crate) fn error(&self, interrupted: sqlx::Error) -> sqlx::Error {
        sqlx::Error::Database(Box::new(StatementTimedOut {
            timeout: self.timeout,
            message: format!(
                "statement timeout of {} exceeded: perf-db interrupted the statement ({interrupted})",
                humantime::format_duration(self.timeout)
            ),
        }))
    }
}

/// The error of a SQLite statement that perf-db interrupted because it ran past the pool's
/// [`sqlite_statement_timeout`](crate::PoolConfigBuilder::sqlite_statement_timeout), carried in
/// [`sqlx::Error::Database`]. Its [`code`](sqlx::error::DatabaseError::code) is SQLite's
/// `SQLITE_INTERRUPT` (`"9"`). The query counts under the `timeout` outcome.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let config = perf_db::PoolConfig::builder()
///     .sqlite_statement_timeout(Some(Duration::from_millis(50)))
///     .build()?;
/// let pool = perf_db::Pool::<sqlx::Sqlite>::connect(&config).await?;
/// let forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
///                SELECT count(*) FROM c";
/// let err = sqlx::query(forever).fetch_one(&pool).await.unwrap_err();
/// let timed_out = err
///     .as_database_error()
///     .and_then(|e| e.try_downcast_ref::<perf_db::StatementTimedOut>())
///     .expect("a statement timeout");
/// assert_eq!(timed_out.timeout(), Duration::from_millis(50));
/// assert_eq!(pool.stats().queries.timeouts, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StatementTimedOut {
    timeout: Duration,
    message: String,
}

impl StatementTimedOut {
    /// The statement timeout that was exceeded.
    ///
    /// See [`StatementTimedOut`] for an example.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl sqlx::error::DatabaseError for StatementTimedOut {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed("9"))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_interrupts_once_past_the_deadline_and_never_once_disarmed() {
        let past = Deadline::new(Instant::now(), Duration::ZERO);
        assert!(!past.keep_going(), "past the deadline: interrupt");
        assert!(past.fired());
        assert!(past.keep_going(), "only once");
        past.disarm();
        assert!(past.fired(), "disarming after firing keeps the record");

        let future = Deadline::new(Instant::now(), Duration::from_secs(3600));
        assert!(future.keep_going());
        assert!(!future.fired());

        let done = Deadline::new(Instant::now(), Duration::ZERO);
        done.disarm();
        assert!(
            done.keep_going(),
            "a completed query's deadline interrupts nothing"
        );
        assert!(!done.fired());
    }
}
