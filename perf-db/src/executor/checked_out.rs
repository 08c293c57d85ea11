//! `Executor` for the wrappers that hold one checked-out connection: [`PoolConnection`] and
//! [`Transaction`], and the [`InstrumentedConnection`] they dereference to (`&mut *conn`). Both record every query against the pool's shared state and delegate the
//! rest to the inner sqlx connection; they differ only in where those two parts live.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::{Database, Describe, Either, Execute, Executor, SqlStr};

use crate::{Backend, InstrumentedConnection, PoolConnection, Transaction};

/// Implements `Executor` for `&mut $wrapper`. `$parts` destructures the wrapper into
/// `(shared, connection)`: the pool's shared state and the inner sqlx connection guard.
/// (A blanket impl over a helper trait is not possible: `Executor` is foreign and `&mut T` would
/// leave `T` uncovered.)
macro_rules! checked_out_executor {
    ($wrapper:ty, |$this:ident| $parts:expr, |$conn_of:ident| $conn:expr) => {
        impl<'c, DB> Executor<'c> for &'c mut $wrapper
        where
            DB: Backend,
            for<'a> &'a mut DB::Connection: Executor<'a, Database = DB>,
        {
            type Database = DB;

            fn fetch_many<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
            where
                'c: 'e,
                E: 'q + Execute<'q, DB>,
            {
                let $this = self;
                let (shared, conn) = $parts;
                super::fetch_many::<DB, E>(shared, &mut **conn, query)
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
            where
                'c: 'e,
                E: 'q + Execute<'q, DB>,
            {
                let $this = self;
                let (shared, conn) = $parts;
                Box::pin(super::fetch_optional::<DB, E>(shared, &mut **conn, query))
            }

            fn prepare_with<'e>(
                self,
                sql: SqlStr,
                parameters: &'e [<DB as Database>::TypeInfo],
            ) -> BoxFuture<'e, Result<<DB as Database>::Statement, sqlx::Error>>
            where
                'c: 'e,
            {
                let $conn_of = self;
                (&mut *$conn).prepare_with(sql, parameters)
            }

            fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, sqlx::Error>>
            where
                'c: 'e,
            {
                let $conn_of = self;
                (&mut *$conn).describe(sql)
            }
        }
    };
}

checked_out_executor!(
    PoolConnection<DB>,
    |this| {
        let InstrumentedConnection { raw, shared, .. } = &mut this.conn;
        (&*shared, raw)
    },
    |this| this.conn.raw
);

checked_out_executor!(
    Transaction<'_, DB>,
    |this| {
        let InstrumentedConnection { raw, shared, .. } = &mut this.tx;
        (&*shared, raw)
    },
    |this| this.tx.raw
);

// What `&mut *conn` and `&mut *tx` give (the sqlx 0.7+ idiom).
checked_out_executor!(
    InstrumentedConnection<sqlx::pool::PoolConnection<DB>>,
    |this| {
        let InstrumentedConnection { raw, shared, .. } = this;
        (&*shared, raw)
    },
    |this| this.raw
);

checked_out_executor!(
    InstrumentedConnection<sqlx::Transaction<'_, DB>>,
    |this| {
        let InstrumentedConnection { raw, shared, .. } = this;
        (&*shared, raw)
    },
    |this| this.raw
);
