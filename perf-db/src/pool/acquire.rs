//! `sqlx::Acquire` for `&Pool`, so APIs written against sqlx's pool take the instrumented one:
//! `sqlx::migrate!().run(&pool)`, `Migrator::run(&pool)`, generic `A: Acquire<'_>` helpers.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::connection::Hold;
use crate::{Backend, InstrumentedConnection, Pool};

/// The connection is an [`InstrumentedConnection`]: the acquire and the hold time are recorded,
/// and queries through `&mut conn` are instrumented. Code generic over `A: Acquire` (sqlx's
/// migrator among it) can only reach the driver's connection (`&mut *conn`), so its queries are
/// not instrumented. `begin` returns sqlx's own `Transaction` (the trait fixes the type), on an
/// acquire that is recorded; its queries are not instrumented: use [`Pool::begin`] for that.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sqlx::Acquire;
///
/// let pool = perf_db::Pool::<sqlx::Sqlite>::connect(&perf_db::PoolConfig::default()).await?;
/// let mut conn = Acquire::acquire(&pool).await?; // the trait, not `Pool::acquire`
/// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await?;
/// assert_eq!(one, 1);
/// assert_eq!(pool.stats().acquire.count, 1);
/// assert_eq!(pool.stats().queries.ok, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
impl<'a, DB: Backend> sqlx::Acquire<'a> for &'a Pool<DB> {
    type Database = DB;
    type Connection = InstrumentedConnection<sqlx::pool::PoolConnection<DB>>;

    fn acquire(self) -> BoxFuture<'a, Result<Self::Connection, sqlx::Error>> {
        async move {
            let (raw, acquired_at) = self.acquire_raw().await?;
            let mut conn = InstrumentedConnection::new(raw, Arc::clone(&self.shared));
            conn.hold = Some(Hold::start(Arc::clone(&self.shared), None, acquired_at));
            Ok(conn)
        }
        .boxed()
    }

    fn begin(self) -> BoxFuture<'a, Result<sqlx::Transaction<'a, DB>, sqlx::Error>> {
        async move {
            let (raw, _) = self.acquire_raw().await?;
            sqlx::Transaction::begin(raw, None).await
        }
        .boxed()
    }
}
