//! [`Transaction`]: a database transaction whose queries are instrumented.

use std::fmt;
use std::sync::Arc;

use sqlx::Database;

use crate::InstrumentedConnection;
use crate::connection::Hold;
use crate::shared::Shared;

/// A transaction from [`Pool::begin`](crate::Pool::begin) or
/// [`PoolConnection::begin`](crate::PoolConnection::begin).
///
/// Use `&mut tx` or, as with sqlx 0.7+, `&mut *tx` as the executor (`*tx` is an
/// [`InstrumentedConnection`]). Like sqlx's, a transaction dropped without
/// [`commit`](Self::commit) is rolled back.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let pool = perf_db::Pool::<sqlx::Sqlite>::connect(&perf_db::PoolConfig::default()).await?;
/// sqlx::query("CREATE TABLE t (x INTEGER)").execute(&pool).await?;
/// let mut tx = pool.begin().await?;
/// sqlx::query("INSERT INTO t VALUES (1)").execute(&mut tx).await?;
/// tx.commit().await?;
/// let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&pool).await?;
/// assert_eq!(n, 1);
/// # Ok::<(), perf_db::Error>(())
/// # }).unwrap();
/// ```
pub struct Transaction<'c, DB: Database> {
    pub(crate) tx: InstrumentedConnection<sqlx::Transaction<'c, DB>>,
    hold: Option<Hold>,
}

impl<'c, DB: Database> Transaction<'c, DB> {
    pub(crate) fn new(
        tx: sqlx::Transaction<'c, DB>,
        shared: Arc<Shared>,
        hold: Option<Hold>,
    ) -> Self {
        Self {
            tx: InstrumentedConnection::new(tx, shared),
            hold,
        }
    }

    /// Commits the transaction.
    ///
    /// # Errors
    /// The database error if `COMMIT` fails.
    pub async fn commit(self) -> crate::Result<()> {
        let Self { tx, hold, .. } = self;
        let result = tx.raw.commit().await;
        drop(hold);
        Ok(result?)
    }

    /// Rolls the transaction back.
    ///
    /// # Errors
    /// The database error if `ROLLBACK` fails.
    pub async fn rollback(self) -> crate::Result<()> {
        let Self { tx, hold, .. } = self;
        let result = tx.raw.rollback().await;
        drop(hold);
        Ok(result?)
    }

    /// Starts a nested transaction (a savepoint); its queries are instrumented too.
    ///
    /// # Errors
    /// The database error if `SAVEPOINT` fails.
    pub async fn begin(&mut self) -> crate::Result<Transaction<'_, DB>> {
        let tx = sqlx::Acquire::begin(&mut self.tx.raw).await?;
        Ok(Transaction::new(tx, Arc::clone(&self.tx.shared), None))
    }

    /// The underlying sqlx transaction. Queries run on it are **not** instrumented.
    pub fn as_raw(&mut self) -> &mut sqlx::Transaction<'c, DB> {
        &mut self.tx.raw
    }
}

impl<DB: Database> fmt::Debug for Transaction<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("pool", &self.tx.shared.name)
            .finish_non_exhaustive()
    }
}

impl<'c, DB: Database> std::ops::Deref for Transaction<'c, DB> {
    type Target = InstrumentedConnection<sqlx::Transaction<'c, DB>>;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl<DB: Database> std::ops::DerefMut for Transaction<'_, DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}
