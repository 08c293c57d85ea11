use std::str::FromStr;

use futures::future::BoxFuture;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlQueryResult};
use sqlx::{AssertSqlSafe, MySql, Row};

use super::{Backend, bad_url, check_scheme, private};
use crate::{PoolConfig, Result};

impl private::Sealed for MySql {}

impl Backend for MySql {
    const SYSTEM: &'static str = "mysql";

    fn connect_options(config: &PoolConfig) -> Result<MySqlConnectOptions> {
        check_scheme(config, &["mysql:", "mariadb:"], "MySQL/MariaDB")?;
        MySqlConnectOptions::from_str(&config.url).map_err(|_| bad_url(config, "MySQL/MariaDB"))
    }

    /// MySQL has `max_execution_time` (milliseconds, read-only `SELECT`s only: MySQL bounds
    /// no other statement); MariaDB has `max_statement_time` (seconds, every statement). The
    /// server tells which one it is.
    fn on_connect<'c>(
        conn: &'c mut MySqlConnection,
        config: &'c PoolConfig,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let Some(timeout) = config.statement_timeout else {
                return Ok(());
            };
            let version: String = sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(&mut *conn)
                .await?;
            let set = if version.contains("MariaDB") {
                format!(
                    "SET SESSION max_statement_time = {:.3}",
                    timeout.as_secs_f64()
                )
            } else {
                format!("SET SESSION max_execution_time = {}", timeout.as_millis())
            };
            sqlx::raw_sql(AssertSqlSafe(set))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// MySQL's `ER_QUERY_TIMEOUT` (3024) and MariaDB's `ER_STATEMENT_TIMEOUT` (1969).
    fn is_statement_timeout(error: &sqlx::Error) -> bool {
        error
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
            .is_some_and(|e| matches!(e.number(), 1969 | 3024))
    }

    fn rows_affected(result: &MySqlQueryResult, _is_write: bool) -> u64 {
        result.rows_affected()
    }

    fn keep_arguments(arguments: &<MySql as sqlx::Database>::Arguments) -> super::KeptArguments {
        Box::new(arguments.clone())
    }

    /// Sent as one prepared statement (`COM_STMT_PREPARE`), which the server refuses when the
    /// text holds more than one statement.
    fn explain(
        pool: sqlx::Pool<Self>,
        sql: String,
        has_params: bool,
    ) -> BoxFuture<'static, Result<Option<String>, sqlx::Error>> {
        Box::pin(async move {
            if has_params {
                // MySQL cannot EXPLAIN a `?` statement without its values.
                return Ok(None);
            }
            let row = sqlx::query(AssertSqlSafe(format!("EXPLAIN FORMAT=JSON {sql}")))
                .persistent(false)
                .fetch_one(&pool)
                .await?;
            Ok(Some(row.try_get_unchecked::<String, _>(0)?))
        })
    }
}
