//! The instrumented [`Executor`] implementations for [`Pool`](crate::Pool),
//! [`PoolConnection`](crate::PoolConnection) and [`Transaction`](crate::Transaction).
//!
//! Every query path of sqlx (`fetch`, `fetch_all`, `fetch_one`, `execute`, …) ends in
//! `fetch_many` or `fetch_optional`, so those two are instrumented and the rest use the trait's
//! defaults (the pool also overrides `execute` and `fetch_all` to skip a stream adapter).

mod checked_out;
mod per_query_checkout;

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, TryStreamExt};
use sqlx::error::BoxDynError;
use sqlx::{Arguments as _, Database, Either, Execute, Executor, SqlStr};
use tracing::Instrument;

use crate::Backend;
use crate::shared::{QueryGuard, QueryOutcome, Shared};

/// A query taken apart so its SQL text can be read before it is executed (`Execute::sql`
/// consumes the query), then handed on unchanged.
pub(crate) struct Captured<DB: Database> {
    sql: SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, BoxDynError>>,
    persistent: bool,
}

impl<DB: Database> Captured<DB> {
    pub(crate) fn new<'q, E: Execute<'q, DB>>(mut query: E) -> Self {
        let statement = query.statement().cloned();
        let persistent = query.persistent();
        let arguments = Some(query.take_arguments());
        Self {
            sql: query.sql(),
            statement,
            arguments,
            persistent,
        }
    }

    pub(crate) fn sql_text(&self) -> &str {
        self.sql.as_str()
    }
}

/// Starts the guard of `query`, keeping a copy of its arguments only with `log_bind_values`
/// (and only when there is at least one: sqlx hands empty arguments to queries without binds).
fn start_query<'e, DB: Backend>(shared: &'e Shared, query: &Captured<DB>) -> QueryGuard<'e> {
    let mut guard = shared.start_query(query.sql_text());
    if shared.log_bind_values
        && let Some(Ok(Some(arguments))) = &query.arguments
        && arguments.len() > 0
    {
        guard.arguments = Some(DB::keep_arguments(arguments));
    }
    guard
}

impl<DB: Database> Execute<'_, DB> for Captured<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

type Step<DB> = Either<<DB as Database>::QueryResult, <DB as Database>::Row>;

/// Counts rows and errors as they stream by; the guard records the query when dropped.
///
/// Each statement of the text ends with a `QueryResult`. A statement that returned rows counts
/// those rows, not its `QueryResult`'s rows-affected count (sqlx-postgres reports `n` again from
/// the `SELECT n` command tag); one that returned none counts its rows affected.
struct QueryStream<'e, DB: Database> {
    inner: BoxStream<'e, Result<Step<DB>, sqlx::Error>>,
    guard: QueryGuard<'e>,
    /// Rows returned so far by the statement in progress.
    statement_rows: u64,
    /// Index of the statement in progress within the text.
    statement: u32,
}

impl<DB: Backend> Stream for QueryStream<'_, DB> {
    type Item = Result<Step<DB>, sqlx::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let QueryStream {
            inner,
            guard,
            statement_rows,
            statement,
        } = self.get_mut();
        let entered = guard.span.as_ref().map(tracing::Span::enter);
        let poll = inner.as_mut().poll_next(cx);
        match poll {
            Poll::Ready(Some(Ok(Either::Left(result)))) => {
                if *statement_rows == 0 {
                    guard.rows += DB::rows_affected(&result, guard.is_write(*statement));
                }
                *statement_rows = 0;
                *statement = statement.saturating_add(1);
                Poll::Ready(Some(Ok(Either::Left(result))))
            }
            Poll::Ready(Some(Ok(Either::Right(row)))) => {
                guard.rows += 1;
                *statement_rows += 1;
                Poll::Ready(Some(Ok(Either::Right(row))))
            }
            Poll::Ready(Some(Err(error))) => {
                drop(entered);
                Poll::Ready(Some(Err(guard.fail(error, DB::is_statement_timeout))))
            }
            Poll::Ready(None) => {
                // Read to the end: ok, unless an error came first.
                guard.outcome.get_or_insert(QueryOutcome::Ok);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `fetch_many` on a raw connection, instrumented.
pub(crate) fn fetch_many<'e, 'q: 'e, DB, E>(
    shared: &'e Shared,
    conn: &'e mut DB::Connection,
    query: E,
) -> BoxStream<'e, Result<Step<DB>, sqlx::Error>>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    E: Execute<'q, DB> + 'q,
{
    let query = Captured::new(query);
    let mut guard = start_query(shared, &query);
    let inner = match guard.arm_deadline() {
        None => conn.fetch_many(query),
        // SQLite: the query's progress handler goes in before the statement is sent.
        Some(deadline) => Box::pin(
            futures::stream::once(async move {
                if let Some(arm) = DB::interrupt_unless(&mut *conn, move || deadline.keep_going()) {
                    arm.await?;
                }
                Ok::<_, sqlx::Error>(conn.fetch_many(query))
            })
            .try_flatten(),
        ),
    };
    Box::pin(QueryStream::<DB> {
        inner,
        guard,
        statement_rows: 0,
        statement: 0,
    })
}

/// `fetch_optional` on a raw connection, instrumented. Not boxed: each `Executor` impl boxes
/// once at its edge (the pool's own future already holds this one).
pub(crate) fn fetch_optional<'e, 'q: 'e, DB, E>(
    shared: &'e Shared,
    conn: &'e mut DB::Connection,
    query: E,
) -> impl Future<Output = Result<Option<DB::Row>, sqlx::Error>> + Send + 'e
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    E: Execute<'q, DB> + 'q,
{
    let query = Captured::new(query);
    let mut guard = start_query(shared, &query);
    let deadline = guard.arm_deadline();
    async move {
        // SQLite: the query's progress handler goes in before the statement is sent.
        if let Some(deadline) = deadline
            && let Some(arm) = DB::interrupt_unless(&mut *conn, move || deadline.keep_going())
            && let Err(error) = arm.await
        {
            return Err(guard.fail(error, DB::is_statement_timeout));
        }
        let inner = conn.fetch_optional(query);
        let result = match guard.span.clone() {
            Some(span) => inner.instrument(span).await,
            None => inner.await,
        };
        match result {
            Ok(row) => {
                guard.succeed(u64::from(row.is_some()));
                Ok(row)
            }
            Err(error) => Err(guard.fail(error, DB::is_statement_timeout)),
        }
    }
}
