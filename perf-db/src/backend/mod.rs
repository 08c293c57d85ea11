//! The database back ends: how each one is connected, configured and explained.

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use futures::future::BoxFuture;
use sqlx::{Connection, Database};

use crate::{Error, PoolConfig, Result, redact_url};

/// A database [`Pool`](crate::Pool) can instrument: PostgreSQL (feature `postgres`), SQLite
/// (feature `sqlite`) and MySQL/MariaDB (feature `mysql`).
///
/// The trait is sealed; its methods are implementation details.
pub trait Backend: Database + private::Sealed {
    /// The OpenTelemetry `db.system` value: `postgresql`, `sqlite` or `mysql`.
    const SYSTEM: &'static str;

    /// Connect options for `config`: URL plus statement timeout, application name, pragmas.
    #[doc(hidden)]
    fn connect_options(config: &PoolConfig) -> Result<<Self::Connection as Connection>::Options>;

    /// Session settings applied to every new connection.
    #[doc(hidden)]
    fn on_connect<'c>(
        conn: &'c mut Self::Connection,
        config: &'c PoolConfig,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;

    /// Rows affected by one statement that returned no rows; `is_write` says whether that
    /// statement is an `INSERT`/`UPDATE`/`DELETE`/`REPLACE`/`MERGE` (SQLite reports the count of
    /// the connection's last write after any other statement, so only writes are believed there).
    #[doc(hidden)]
    fn rows_affected(result: &Self::QueryResult, is_write: bool) -> u64;

    /// A copy of a query's arguments, kept until the query ends and formatted with `Debug` only
    /// if it is slow (`log_bind_values`).
    #[doc(hidden)]
    fn keep_arguments(arguments: &Self::Arguments) -> KeptArguments;

    /// Installs `keep_going` as the progress handler of `conn` before one query, for back ends
    /// whose server has no statement timeout (SQLite, see `statement_deadline.rs`); `None` where
    /// the server enforces it.
    #[doc(hidden)]
    fn interrupt_unless<'c, F>(
        _conn: &'c mut Self::Connection,
        _keep_going: F,
    ) -> Option<BoxFuture<'c, Result<(), sqlx::Error>>>
    where
        F: FnMut() -> bool + Send + 'static,
    {
        None
    }

    /// Whether an acquire that failed with `error` lost a lock race while opening its connection
    /// and may be retried: nothing ran for the caller, and the connection was discarded.
    #[doc(hidden)]
    fn is_lock_race_at_connect(_error: &sqlx::Error) -> bool {
        false
    }

    /// Whether `error` is the server's own statement-timeout error (the `timeout` outcome).
    #[doc(hidden)]
    fn is_statement_timeout(_error: &sqlx::Error) -> bool {
        false
    }

    /// Captures the plan of `sql` (a plain `SELECT`); `Ok(None)` when the server cannot plan it
    /// without its bind values.
    #[doc(hidden)]
    fn explain(
        pool: sqlx::Pool<Self>,
        sql: String,
        has_params: bool,
    ) -> BoxFuture<'static, Result<Option<String>, sqlx::Error>>;
}

/// A clone of sqlx's arguments for one query, formatted only when the query is slow.
pub(crate) type KeptArguments = Box<dyn std::fmt::Debug + Send + Sync>;

pub(crate) mod private {
    /// Seals [`Backend`](super::Backend).
    pub trait Sealed {}
}

/// The error for a URL the back end cannot parse; the URL is redacted and the parser's message
/// (which may echo the URL) is left out.
#[allow(dead_code)] // unused when no back end feature is enabled
pub(crate) fn bad_url(config: &PoolConfig, system: &str) -> Error {
    Error::InvalidConfig {
        field: "url",
        value: format!("`{}`", redact_url(&config.url)),
        allowed: format!("a valid {system} URL"),
    }
}

/// Rejects URLs of another back end with a message naming the feature to enable.
#[allow(dead_code)]
pub(crate) fn check_scheme(config: &PoolConfig, schemes: &[&str], system: &str) -> Result<()> {
    let url = config.url.trim_start();
    if schemes.iter().any(|s| url.starts_with(s)) {
        return Ok(());
    }
    Err(Error::UnsupportedUrl {
        url: redact_url(url),
        message: format!(
            "a {system} pool needs a URL starting with {}",
            schemes.join(" or ")
        ),
    })
}
