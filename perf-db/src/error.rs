//! The crate's one error type.

use std::time::Duration;

/// Everything that can go wrong in `perf-db`.
///
/// Query errors raised through the wrapped [`Executor`](sqlx::Executor) impls stay
/// [`sqlx::Error`] (the trait fixes that type); this enum is returned by configuration, connecting,
/// acquiring and transactions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value outside its allowed range.
    ///
    /// ```
    /// let err = perf_db::PoolConfig::builder().max_connections(0).build().unwrap_err();
    /// assert!(matches!(
    ///     &err,
    ///     perf_db::Error::InvalidConfig { field: "max_connections", value, allowed }
    ///         if value == "0" && allowed == "1..=10000"
    /// ));
    /// assert_eq!(err.to_string(), "invalid `max_connections`: got 0, allowed: 1..=10000");
    /// ```
    #[error("invalid `{field}`: got {value}, allowed: {allowed}")]
    InvalidConfig {
        /// The option's name as spelled by its builder setter / config field.
        field: &'static str,
        /// The rejected value, rendered (secrets redacted).
        value: String,
        /// What the field accepts, e.g. "1..=10000" or "finite and strictly increasing".
        allowed: String,
    },
    /// An environment variable could not be parsed.
    #[error("environment variable `{var}` is invalid: {message}")]
    InvalidEnv {
        /// The variable name, e.g. `DATABASE_POOL_MAX`.
        var: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The database URL names a back end this build does not support.
    #[error("database URL `{url}` is not supported by this build: {message}")]
    UnsupportedUrl {
        /// The URL with its password redacted.
        url: String,
        /// Which feature to enable or what to fix.
        message: String,
    },
    /// No connection became available within the acquire timeout.
    #[error(
        "pool `{pool}`: timed out after {timeout:?} waiting for a connection \
         ({in_use} in use of {max}, {waiting} waiting)"
    )]
    AcquireTimeout {
        /// The pool name.
        pool: String,
        /// The configured acquire timeout.
        timeout: Duration,
        /// Connections in use when the timeout fired.
        in_use: u32,
        /// The pool's maximum size.
        max: u32,
        /// Acquirers waiting when the timeout fired (including this one).
        waiting: u64,
    },
    /// An error from sqlx or the database.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Lets `?` turn this crate's errors into sqlx's, so code written for sqlx (functions returning
/// `Result<_, sqlx::Error>`) can call [`Pool::acquire`](crate::Pool::acquire) and
/// [`Pool::begin`](crate::Pool::begin). (The other direction, `?` on a query inside a function
/// returning [`perf_db::Result`](Result), works through [`Error::Database`].)
///
/// | `perf_db::Error` | `sqlx::Error` |
/// |---|---|
/// | `Database(e)` | `e` |
/// | `AcquireTimeout { .. }` | `PoolTimedOut` (what sqlx's own pool returns) |
/// | `InvalidConfig`, `InvalidEnv`, `UnsupportedUrl` | `Configuration(the perf-db error)` |
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// async fn count(pool: &perf_db::Pool<sqlx::Sqlite>) -> Result<i64, sqlx::Error> {
///     let mut tx = pool.begin().await?; // perf_db::Error -> sqlx::Error
///     let n = sqlx::query_scalar("SELECT 7").fetch_one(&mut *tx).await?;
///     tx.commit().await?;
///     Ok(n)
/// }
/// let pool = perf_db::Pool::<sqlx::Sqlite>::connect(&perf_db::PoolConfig::default()).await?;
/// assert_eq!(count(&pool).await?, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
impl From<Error> for sqlx::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Database(error) => error,
            Error::AcquireTimeout { .. } => sqlx::Error::PoolTimedOut,
            other => sqlx::Error::Configuration(Box::new(other)),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
