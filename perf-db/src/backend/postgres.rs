use std::str::FromStr;

use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgQueryResult};
use sqlx::{AssertSqlSafe, Postgres, Row};

use super::{Backend, bad_url, check_scheme, private};
use crate::{PoolConfig, Result, StatementTimeoutMode};

impl private::Sealed for Postgres {}

impl Backend for Postgres {
    const SYSTEM: &'static str = "postgresql";

    fn connect_options(config: &PoolConfig) -> Result<PgConnectOptions> {
        check_scheme(config, &["postgres:", "postgresql:"], "PostgreSQL")?;
        let mut options =
            PgConnectOptions::from_str(&config.url).map_err(|_| bad_url(config, "PostgreSQL"))?;
        if let Some(name) = &config.application_name {
            options = options.application_name(name);
        }
        if let Some(timeout) = config.statement_timeout
            && config.statement_timeout_mode == StatementTimeoutMode::StartupParameter
        {
            // A startup parameter: set before the first query, no extra round trip.
            options =
                options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
        }
        Ok(options)
    }

    /// With [`StatementTimeoutMode::SetAfterConnect`] (PgBouncer), the statement timeout.
    fn on_connect<'c>(
        conn: &'c mut PgConnection,
        config: &'c PoolConfig,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            if let Some(timeout) = config.statement_timeout
                && config.statement_timeout_mode == StatementTimeoutMode::SetAfterConnect
            {
                let set = format!("SET statement_timeout = '{}ms'", timeout.as_millis());
                sqlx::raw_sql(AssertSqlSafe(set))
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        })
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn keep_arguments(arguments: &<Postgres as sqlx::Database>::Arguments) -> super::KeptArguments {
        Box::new(arguments.clone())
    }

    fn explain(
        pool: sqlx::Pool<Self>,
        sql: String,
        has_params: bool,
    ) -> BoxFuture<'static, Result<Option<String>, sqlx::Error>> {
        Box::pin(async move {
            let options = if has_params {
                // Planning a statement with `$n` needs PostgreSQL 16's GENERIC_PLAN.
                let version: String = sqlx::query_scalar("SHOW server_version_num")
                    .fetch_one(&pool)
                    .await?;
                if version.parse::<u32>().unwrap_or(0) < 160_000 {
                    return Ok(None);
                }
                "FORMAT JSON, GENERIC_PLAN"
            } else {
                "FORMAT JSON"
            };
            let row = sqlx::raw_sql(AssertSqlSafe(format!("EXPLAIN ({options}) {sql}")))
                .fetch_one(&pool)
                .await?;
            Ok(Some(row.try_get_unchecked::<String, _>(0)?))
        })
    }
}
