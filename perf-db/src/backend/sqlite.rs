use std::str::FromStr;

use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteQueryResult, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite};

use super::{Backend, bad_url, check_scheme, private};
use crate::{PoolConfig, Result};

impl private::Sealed for Sqlite {}

impl Backend for Sqlite {
    const SYSTEM: &'static str = "sqlite";

    /// The seeds' embedded defaults: WAL journal, `synchronous=NORMAL` (durable at checkpoints,
    /// safe with WAL), a page cache of `sqlite_cache_kib`, temporary tables in memory, and
    /// `sqlite_busy_timeout` as busy timeout. (`sqlite_statement_timeout` is enforced by perf-db's
    /// executors, see `interrupt_unless`.)
    fn connect_options(config: &PoolConfig) -> Result<SqliteConnectOptions> {
        check_scheme(config, &["sqlite:"], "SQLite")?;
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|_| bad_url(config, "SQLite"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("cache_size", format!("-{}", config.sqlite_cache_kib))
            .pragma("temp_store", "MEMORY")
            .busy_timeout(config.sqlite_busy_timeout);
        Ok(options)
    }

    fn on_connect<'c>(
        _conn: &'c mut SqliteConnection,
        _config: &'c PoolConfig,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async { Ok(()) })
    }

    /// One round trip to the connection's worker thread (`lock_handle`) to install the query's
    /// handler; see `statement_deadline.rs` for why it cannot be installed once per connection.
    fn interrupt_unless<'c, F>(
        conn: &'c mut SqliteConnection,
        keep_going: F,
    ) -> Option<BoxFuture<'c, Result<(), sqlx::Error>>>
    where
        F: FnMut() -> bool + Send + 'static,
    {
        Some(Box::pin(async move {
            let mut handle = conn.lock_handle().await?;
            handle
                .set_progress_handler(crate::statement_deadline::PROGRESS_INSTRUCTIONS, keep_going);
            Ok(())
        }))
    }

    /// `SQLITE_BUSY` (primary code 5, any extended code) while connecting. Connections opened
    /// together on a brand-new file all switch it to WAL, which takes an exclusive lock; SQLite
    /// answers one of them `SQLITE_BUSY` at once, without the busy timeout, because waiting
    /// could deadlock. Once the file is in WAL mode the switch is a no-op, so a retry succeeds.
    fn is_lock_race_at_connect(error: &sqlx::Error) -> bool {
        error
            .as_database_error()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<u32>().ok())
            .is_some_and(|code| code & 0xff == 5)
    }

    /// `sqlite3_changes()` is the count of the connection's most recent `INSERT`, `UPDATE` or
    /// `DELETE`; reads and DDL leave it as it was, so sqlx reports a stale count for them.
    fn rows_affected(result: &SqliteQueryResult, is_write: bool) -> u64 {
        if is_write { result.rows_affected() } else { 0 }
    }

    fn keep_arguments(arguments: &<Sqlite as sqlx::Database>::Arguments) -> super::KeptArguments {
        Box::new(arguments.clone())
    }

    /// sqlx-sqlite runs every statement of a text, prepared or not (it prepares the next one
    /// from the tail of the previous), and SQLite cannot be asked to refuse a tail through safe
    /// code; so a text in which SQLite's own token rules find a `;` followed by anything is
    /// refused here, before it reaches the connection.
    fn explain(
        pool: sqlx::Pool<Self>,
        sql: String,
        _has_params: bool,
    ) -> BoxFuture<'static, Result<Option<String>, sqlx::Error>> {
        Box::pin(async move {
            if !crate::normalize::is_one_statement(&sql, crate::normalize::Dialect::Sqlite) {
                return Err(sqlx::Error::InvalidArgument(
                    "auto-EXPLAIN refuses a text holding more than one statement".into(),
                ));
            }
            // Unbound parameters are NULL: the plan is fixed at prepare time anyway.
            let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .persistent(false)
                .fetch_all(&pool)
                .await?;
            let mut plan = String::new();
            for row in rows {
                if !plan.is_empty() {
                    plan.push('\n');
                }
                plan.push_str(&row.try_get::<String, _>("detail")?);
            }
            Ok(Some(plan))
        })
    }
}
