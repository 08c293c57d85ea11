//! [`InstrumentedConnection`]: what `&mut *conn` and `&mut *tx` give.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::connection::Hold;
use crate::shared::Shared;

/// A checked-out sqlx connection (`C` is `sqlx::pool::PoolConnection<DB>` or
/// `sqlx::Transaction<'_, DB>`) together with its pool's instrumentation.
///
/// It is the `Deref` target of [`PoolConnection`](crate::PoolConnection) and
/// [`Transaction`](crate::Transaction), so the sqlx 0.7+ idiom `&mut *conn` / `&mut *tx` works:
/// `&mut InstrumentedConnection` is an [`Executor`](sqlx::Executor) whose queries are recorded
/// like the pool's. It dereferences in turn to the driver's connection (`PgConnection`,
/// `SqliteConnection`, …), so `&mut *conn` also coerces to `&mut PgConnection` for functions
/// that take one; queries run through that raw reference are **not** instrumented.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let pool = perf_db::Pool::<sqlx::Sqlite>::connect(&perf_db::PoolConfig::default()).await?;
/// let mut conn = pool.acquire().await?;
/// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *conn).await?;
/// let mut tx = pool.begin().await?;
/// let two: i64 = sqlx::query_scalar("SELECT 2").fetch_one(&mut *tx).await?;
/// tx.commit().await?;
/// assert_eq!((one, two), (1, 2));
/// assert_eq!(pool.stats().queries.ok, 2); // both recorded
///
/// // a function written for sqlx's own connection type takes it too (uninstrumented)
/// async fn raw(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<i64> {
///     sqlx::query_scalar("SELECT 3").fetch_one(conn).await
/// }
/// assert_eq!(raw(&mut conn).await?, 3);
/// # Ok::<(), perf_db::Error>(())
/// # }).unwrap();
/// ```
pub struct InstrumentedConnection<C> {
    pub(crate) raw: C,
    pub(crate) shared: Arc<Shared>,
    /// Records the hold time when the connection was checked out through [`sqlx::Acquire`]
    /// (a [`PoolConnection`](crate::PoolConnection) or [`Transaction`](crate::Transaction) keeps
    /// its own).
    pub(crate) hold: Option<Hold>,
}

impl<C> InstrumentedConnection<C> {
    pub(crate) fn new(raw: C, shared: Arc<Shared>) -> Self {
        Self {
            raw,
            shared,
            hold: None,
        }
    }
}

impl<C: Deref> Deref for InstrumentedConnection<C> {
    type Target = C::Target;

    fn deref(&self) -> &C::Target {
        &self.raw
    }
}

impl<C: DerefMut> DerefMut for InstrumentedConnection<C> {
    fn deref_mut(&mut self) -> &mut C::Target {
        &mut self.raw
    }
}

impl<C> fmt::Debug for InstrumentedConnection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedConnection")
            .field("pool", &self.shared.name)
            .finish_non_exhaustive()
    }
}
