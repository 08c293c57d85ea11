use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, TryStreamExt};
use sqlx::{Database, Describe, Either, Execute, Executor, SqlStr};

use super::generator::Generator;
use crate::{Backend, Pool, PoolConnection};

impl<DB> Pool<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// A connection for one query: acquire measured, hold time recorded, no leak tracking.
    async fn query_connection(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        let conn = self.acquire_raw().await?;
        Ok(PoolConnection::new(
            conn,
            std::sync::Arc::clone(&self.shared),
            None,
        ))
    }
}

impl<'p, DB> Executor<'p> for &'p Pool<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        Box::pin(Generator::new(move |out| async move {
            let mut conn = self.query_connection().await?;
            let mut rows = (&mut conn).fetch_many(query);
            while let Some(step) = rows.try_next().await? {
                out.send(step).await;
            }
            Ok(())
        }))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        async move {
            let mut conn = self.query_connection().await?;
            (&mut conn).fetch_optional(query).await
        }
        .boxed()
    }

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<DB::QueryResult, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        async move {
            let mut conn = self.query_connection().await?;
            (&mut conn).execute(query).await
        }
        .boxed()
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        async move {
            let mut conn = self.query_connection().await?;
            (&mut conn).fetch_all(query).await
        }
        .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [<DB as Database>::TypeInfo],
    ) -> BoxFuture<'e, Result<<DB as Database>::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        async move {
            let mut conn = self.query_connection().await?;
            conn.as_raw().prepare_with(sql, parameters).await
        }
        .boxed()
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        async move {
            let mut conn = self.query_connection().await?;
            conn.as_raw().describe(sql).await
        }
        .boxed()
    }
}
