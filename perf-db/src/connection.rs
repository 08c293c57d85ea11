//! [`PoolConnection`]: a pooled connection whose queries are instrumented.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use sqlx::Database;
use std::time::Instant;

use crate::InstrumentedConnection;
use crate::shared::Shared;

/// A connection checked out of a [`Pool`](crate::Pool).
///
/// Use `&mut conn` or, as with sqlx 0.7+, `&mut *conn` as the executor:
/// `sqlx::query(…).fetch_all(&mut *conn)`. Queries are recorded exactly like queries on the pool
/// (`*conn` is an [`InstrumentedConnection`]). Dropping it returns the connection to the pool and records
/// how long it was held. [`as_raw`](Self::as_raw) gives the sqlx connection for APIs that need
/// it; queries run on it directly are not instrumented.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let pool = perf_db::Pool::<sqlx::Sqlite>::connect(&perf_db::PoolConfig::default()).await?;
/// let mut conn = pool.acquire().await?;
/// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await?;
/// assert_eq!(one, 1);
/// # Ok::<(), perf_db::Error>(())
/// # }).unwrap();
/// ```
pub struct PoolConnection<DB: Database> {
    pub(crate) conn: InstrumentedConnection<sqlx::pool::PoolConnection<DB>>,
    pub(crate) hold: Hold,
}

/// Records hold time (and leak bookkeeping) when dropped, i.e. when the connection goes back.
#[derive(Debug)]
pub(crate) struct Hold {
    pub(crate) shared: Arc<Shared>,
    since: Instant,
    leak_id: Option<u64>,
}

impl Hold {
    /// A hold that began at `since`: the instant the pool handed the connection out. (The leak
    /// tracker keeps its own tokio clock, so leak tests can run on paused time.)
    pub(crate) fn start(
        shared: Arc<Shared>,
        location: Option<&'static Location<'static>>,
        since: Instant,
    ) -> Self {
        let leak_id = match (&shared.leaks, location) {
            (Some(tracker), Some(location)) => Some(tracker.register(location)),
            _ => None,
        };
        Self {
            shared,
            since,
            leak_id,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let shared = &*self.shared;
        record_hold(shared, self.since);
        if let (Some(tracker), Some(id)) = (&shared.leaks, self.leak_id.take()) {
            tracker.release(id, shared);
        }
    }
}

fn record_hold(shared: &Shared, since: Instant) {
    let held = since.elapsed();
    shared.held.record(held);
    shared.metrics.held.record(held.as_secs_f64());
}

/// The hold of a connection the pool checked out for one query of its own: borrows the pool's
/// state instead of sharing it, and needs no leak bookkeeping.
#[derive(Debug)]
pub(crate) struct QueryHold<'a> {
    shared: &'a Shared,
    since: Instant,
}

impl<'a> QueryHold<'a> {
    pub(crate) fn new(shared: &'a Shared, since: Instant) -> Self {
        Self { shared, since }
    }
}

impl Drop for QueryHold<'_> {
    fn drop(&mut self) {
        record_hold(self.shared, self.since);
    }
}

impl<DB: Database> PoolConnection<DB> {
    pub(crate) fn new(
        conn: sqlx::pool::PoolConnection<DB>,
        shared: Arc<Shared>,
        location: Option<&'static Location<'static>>,
        acquired_at: Instant,
    ) -> Self {
        Self {
            conn: InstrumentedConnection::new(conn, Arc::clone(&shared)),
            hold: Hold::start(shared, location, acquired_at),
        }
    }

    /// The underlying sqlx connection. Queries run on it are **not** instrumented.
    pub fn as_raw(&mut self) -> &mut DB::Connection {
        &mut self.conn.raw
    }

    /// Starts a transaction on this connection; its queries are instrumented.
    ///
    /// # Errors
    /// The database error if `BEGIN` fails.
    pub async fn begin(&mut self) -> crate::Result<crate::Transaction<'_, DB>> {
        let tx = sqlx::Transaction::begin(&mut *self.conn.raw, None).await?;
        Ok(crate::Transaction::new(
            tx,
            Arc::clone(&self.hold.shared),
            None,
        ))
    }
}

impl<DB: Database> fmt::Debug for PoolConnection<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConnection")
            .field("pool", &self.hold.shared.name)
            .field("held_for", &self.hold.since.elapsed())
            .finish_non_exhaustive()
    }
}

impl<DB: Database> std::ops::Deref for PoolConnection<DB> {
    type Target = InstrumentedConnection<sqlx::pool::PoolConnection<DB>>;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<DB: Database> std::ops::DerefMut for PoolConnection<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}
