//! Where the events go: PostgreSQL (`COPY` or `UNNEST`) or SQLite (multi-row `INSERT`), both
//! through perf-db's instrumented pool.

mod postgres;
mod sqlite;

use std::fmt;
use std::time::Duration;

use perf_db::{PoolConfig, redact_url};

use crate::event::Event;
use crate::turn::Ticket;

pub(crate) use postgres::Postgres;
pub(crate) use sqlite::Sqlite;

/// How a chunk reaches PostgreSQL (`--method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Method {
    /// `COPY … FROM STDIN (FORMAT binary)`: no text parsing on the server (the default: the
    /// fastest measured, see the crate docs).
    CopyBinary,
    /// `COPY … FROM STDIN (FORMAT text)`.
    CopyText,
    /// `INSERT … SELECT * FROM UNNEST($1::timestamptz[], …)`: one statement per chunk with one
    /// array per column.
    Unnest,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CopyBinary => "copy-binary",
            Self::CopyText => "copy-text",
            Self::Unnest => "unnest",
        })
    }
}

/// What happened to a chunk's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Committed, with this many rows.
    Committed(u64),
    /// Rolled back because an earlier chunk failed.
    RolledBack,
}

/// An error with the context of what was being done. Database URLs in it are redacted.
#[derive(Debug)]
pub(crate) struct StoreError(pub(crate) String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Adds what was being done to an error.
pub(crate) fn context<E: fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |error| StoreError(format!("{what}: {error}"))
}

/// The database of one run.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// PostgreSQL.
    Postgres(Postgres),
    /// SQLite (the embedded default).
    Sqlite(Sqlite),
}

impl Store {
    /// Connects to `url` (`postgres://`, `postgresql://` or `sqlite:`) with a pool of
    /// `connections`.
    pub(crate) async fn connect(
        url: &str,
        connections: u32,
        method: Method,
    ) -> Result<Self, StoreError> {
        let config = PoolConfig::builder()
            .url(url)
            .name("event-ingest")
            .max_connections(connections)
            // A chunk of a few thousand rows takes milliseconds; on a loaded machine it can wait
            // behind the others far longer than the 30 s default allows a statement.
            .statement_timeout(Some(Duration::from_secs(600)))
            // Chunks are slow statements by design; the per-event comparison is not.
            .slow_query_warn(None)
            .slow_query_error(None)
            .build()
            .map_err(context("invalid database configuration"))?;
        let redacted = redact_url(url);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = perf_db::Pool::<sqlx::Postgres>::connect(&config)
                .await
                .map_err(|e| StoreError(format!("cannot connect to {redacted}: {e}")))?;
            Ok(Self::Postgres(Postgres::new(pool, method)))
        } else if url.starts_with("sqlite:") {
            let pool = perf_db::Pool::<sqlx::Sqlite>::connect(&config)
                .await
                .map_err(|e| StoreError(format!("cannot open {redacted}: {e}")))?;
            Ok(Self::Sqlite(Sqlite::new(pool)))
        } else {
            Err(StoreError(format!(
                "unsupported database URL {redacted}: use postgres://… or sqlite://…"
            )))
        }
    }

    /// The back end and method, for the start-up line.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Postgres(pg) => format!("PostgreSQL, {}", pg.method()),
            Self::Sqlite(_) => "SQLite, multi-row INSERT".to_owned(),
        }
    }

    /// Creates `table` and its indexes if absent.
    pub(crate) async fn create_table(&self, table: &str) -> Result<(), StoreError> {
        match self {
            Self::Postgres(pg) => pg.create_table(table).await,
            Self::Sqlite(lite) => lite.create_table(table).await,
        }
    }

    /// Drops `table` (the comparison's scratch table).
    pub(crate) async fn drop_table(&self, table: &str) -> Result<(), StoreError> {
        match self {
            Self::Postgres(pg) => pg.drop_table(table).await,
            Self::Sqlite(lite) => lite.drop_table(table).await,
        }
    }

    /// Writes one chunk into `events` in one transaction that commits when `ticket`'s turn
    /// comes.
    pub(crate) async fn write_chunk(
        &self,
        events: &[Event<'_>],
        ticket: Ticket,
    ) -> Result<Written, StoreError> {
        match self {
            Self::Postgres(pg) => pg.write_chunk(events, ticket).await,
            Self::Sqlite(lite) => lite.write_chunk(events, ticket).await,
        }
    }

    /// Inserts `events` into `table` one `INSERT` per event, each its own transaction (what
    /// `--compare` measures).
    pub(crate) async fn insert_one_by_one(
        &self,
        table: &str,
        events: &[Event<'_>],
    ) -> Result<(), StoreError> {
        match self {
            Self::Postgres(pg) => pg.insert_one_by_one(table, events).await,
            Self::Sqlite(lite) => lite.insert_one_by_one(table, events).await,
        }
    }

    /// Closes the pool.
    pub(crate) async fn close(&self) {
        match self {
            Self::Postgres(pg) => pg.close().await,
            Self::Sqlite(lite) => lite.close().await,
        }
    }
}

/// The indexes of `table` (seed 001's three on `events`), created with the table, before any
/// row is loaded, as a running service has them.
pub(crate) fn index_statements(table: &str) -> [String; 3] {
    [
        format!(
            "CREATE INDEX IF NOT EXISTS ix_{table}_org_ts_severity ON {table} (organization_id, ts, severity)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS ix_{table}_org_src_ip ON {table} (organization_id, src_ip)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS ix_{table}_source_type_ts ON {table} (source_type, ts) WHERE deleted_at IS NULL"
        ),
    ]
}
