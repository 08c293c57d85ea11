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
    /// A configuration value is outside its allowed range.
    #[error("invalid pool configuration: `{field}` {message}")]
    InvalidConfig {
        /// The offending field, as spelled in [`PoolConfig`](crate::PoolConfig) and its serde form.
        field: &'static str,
        /// What is wrong, including the allowed range.
        message: String,
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

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
