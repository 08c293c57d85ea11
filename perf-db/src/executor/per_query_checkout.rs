//! `Executor` for [`&Pool`](crate::Pool): each query checks a connection out for itself (the
//! acquire measured, the hold recorded) and returns it when the query ends.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, TryStreamExt};
use sqlx::{Database, Describe, Either, Execute, Executor, SqlStr};

use crate::connection::QueryHold;
use crate::{Backend, Pool};
use sqlx_core::ext::async_stream::TryAsyncStream;

/// A connection the pool checked out for one query, returned (and its hold recorded) on drop.
struct QueryConnection<'p, DB: Database> {
    conn: sqlx::pool::PoolConnection<DB>,
    _hold: QueryHold<'p>,
}

impl<DB: Backend> Pool<DB> {
    /// A connection for one query: acquire measured, hold time recorded, no leak tracking.
    async fn query_connection(&self) -> Result<QueryConnection<'_, DB>, sqlx::Error> {
        let (conn, acquired_at) = self.acquire_raw().await?;
        Ok(QueryConnection {
            conn,
            _hold: QueryHold::new(&self.shared, acquired_at),
        })
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
        // The stream owns its connection while rows borrowing it are yielded: sqlx's own
        // generator (the one its pool uses; sqlx pins sqlx-core to its own version, so this
        // moves in lockstep with sqlx). It replaced a hand-written copy of the same design.
        Box::pin(TryAsyncStream::new(move |yielder| async move {
            let mut conn = self.query_connection().await?;
            let mut rows = super::fetch_many::<DB, E>(&self.shared, &mut conn.conn, query);
            while let Some(step) = rows.try_next().await? {
                yielder.r#yield(step).await;
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
            super::fetch_optional::<DB, E>(&self.shared, &mut conn.conn, query).await
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
            super::fetch_many::<DB, E>(&self.shared, &mut conn.conn, query)
                .try_filter_map(|step| async move {
                    Ok(match step {
                        Either::Left(result) => Some(result),
                        Either::Right(_) => None,
                    })
                })
                .try_collect()
                .await
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
            super::fetch_many::<DB, E>(&self.shared, &mut conn.conn, query)
                .try_filter_map(|step| async move {
                    Ok(match step {
                        Either::Left(_) => None,
                        Either::Right(row) => Some(row),
                    })
                })
                .try_collect()
                .await
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
            (&mut *conn.conn).prepare_with(sql, parameters).await
        }
        .boxed()
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        async move {
            let mut conn = self.query_connection().await?;
            (&mut *conn.conn).describe(sql).await
        }
        .boxed()
    }
}
