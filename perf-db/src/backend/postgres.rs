use std::str::FromStr;

use futures::future::BoxFuture;
use sqlx::postgres::{PgArgumentBuffer, PgConnectOptions, PgConnection, PgQueryResult, PgTypeInfo};
use sqlx::{AssertSqlSafe, Either, Executor, Postgres, Row, SqlSafeStr, Statement};

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

    /// SQLSTATE `57014` (`query_canceled`) is also what `pg_cancel_backend` raises; the server
    /// tells the two apart only in the message.
    fn is_statement_timeout(error: &sqlx::Error) -> bool {
        error.as_database_error().is_some_and(|e| {
            e.code().as_deref() == Some("57014") && e.message().contains("statement timeout")
        })
    }

    fn rows_affected(result: &PgQueryResult, _is_write: bool) -> u64 {
        result.rows_affected()
    }

    fn keep_arguments(arguments: &<Postgres as sqlx::Database>::Arguments) -> super::KeptArguments {
        Box::new(arguments.clone())
    }

    /// Sent as one prepared statement (extended protocol): PostgreSQL refuses to parse a text
    /// holding more than one command, so a second statement can never run, whatever the
    /// client-side lexer made of the text.
    fn explain(
        pool: sqlx::Pool<Self>,
        sql: String,
        has_params: bool,
    ) -> BoxFuture<'static, Result<Option<String>, sqlx::Error>> {
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            if !has_params {
                let row = sqlx::query(AssertSqlSafe(format!("EXPLAIN (FORMAT JSON) {sql}")))
                    .persistent(false)
                    .fetch_one(&mut *conn)
                    .await?;
                return Ok(Some(row.try_get_unchecked::<String, _>(0)?));
            }
            // Planning a statement with `$n` needs PostgreSQL 16's GENERIC_PLAN.
            let version: String = sqlx::query_scalar("SHOW server_version_num")
                .fetch_one(&mut *conn)
                .await?;
            if version.parse::<u32>().unwrap_or(0) < 160_000 {
                return Ok(None);
            }
            // The extended protocol wants a value for every `$n` even with GENERIC_PLAN, which
            // ignores them: bind a NULL of each type the server inferred.
            let text = format!("EXPLAIN (FORMAT JSON, GENERIC_PLAN) {sql}");
            let statement = (&mut *conn)
                .prepare(AssertSqlSafe(text.clone()).into_sql_str())
                .await?;
            let types: Vec<PgTypeInfo> = match statement.parameters() {
                Some(Either::Left(types)) => types.to_vec(),
                _ => Vec::new(),
            };
            let mut query = sqlx::query(AssertSqlSafe(text)).persistent(false);
            for type_info in types {
                query = query.bind(TypedNull(type_info));
            }
            let row = query.fetch_one(&mut *conn).await?;
            Ok(Some(row.try_get_unchecked::<String, _>(0)?))
        })
    }
}

/// A NULL bind value of a type known only at run time.
#[derive(Debug)]
struct TypedNull(PgTypeInfo);

impl sqlx::Type<Postgres> for TypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("unknown")
    }
}

impl sqlx::Encode<'_, Postgres> for TypedNull {
    fn encode_by_ref(
        &self,
        _: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.0.clone())
    }
}
