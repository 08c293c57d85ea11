//! SQLite: each chunk is one transaction of multi-row `INSERT`s. SQLite has one writer, so a
//! chunk waits for its turn *before* `BEGIN` (parsing still runs in parallel); waiting after it,
//! as PostgreSQL does, would hold the write lock the earlier chunk needs.

use sqlx::AssertSqlSafe;

use super::{StoreError, Written, context, index_statements};
use crate::event::{COLUMNS, Event};
use crate::turn::{Ticket, Turn};

/// Rows per `INSERT` statement: 7 parameters each, well under SQLite's 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// The SQLite side of a run.
#[derive(Debug, Clone)]
pub(crate) struct Sqlite {
    pool: perf_db::Pool<sqlx::Sqlite>,
}

impl Sqlite {
    pub(super) fn new(pool: perf_db::Pool<sqlx::Sqlite>) -> Self {
        Self { pool }
    }

    pub(super) async fn create_table(&self, table: &str) -> Result<(), StoreError> {
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id INTEGER PRIMARY KEY,
                ts TEXT NOT NULL,
                organization_id INTEGER NOT NULL,
                source_type TEXT NOT NULL,
                src_ip TEXT NOT NULL,
                dst_ip TEXT NOT NULL,
                severity TEXT NOT NULL,
                message TEXT NOT NULL,
                deleted_at TEXT
            )"
        );
        sqlx::query(AssertSqlSafe(create))
            .execute(&self.pool)
            .await
            .map_err(context("cannot create the events table"))?;
        for index in index_statements(table) {
            sqlx::query(AssertSqlSafe(index))
                .execute(&self.pool)
                .await
                .map_err(context("cannot create an index"))?;
        }
        Ok(())
    }

    pub(super) async fn drop_table(&self, table: &str) -> Result<(), StoreError> {
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
            .execute(&self.pool)
            .await
            .map_err(context("cannot drop the comparison table"))?;
        Ok(())
    }

    pub(super) async fn write_chunk(
        &self,
        events: &[Event<'_>],
        ticket: Ticket,
    ) -> Result<Written, StoreError> {
        if ticket.wait().await == Turn::RollBack {
            ticket.rolled_back();
            return Ok(Written::RolledBack);
        }
        let mut tx = self.pool.begin().await.map_err(context("BEGIN failed"))?;
        let mut rows = 0;
        let mut ts = Vec::with_capacity(ROWS_PER_STATEMENT);
        for part in events.chunks(ROWS_PER_STATEMENT) {
            ts.clear();
            ts.extend(part.iter().map(|event| {
                let mut text = String::with_capacity(28);
                event.write_ts(&mut text);
                text
            }));
            let mut query = sqlx::query(AssertSqlSafe(insert_statement("events", part.len())));
            for (event, ts) in part.iter().zip(&ts) {
                query = query
                    .bind(ts.as_str())
                    .bind(event.organization_id)
                    .bind(&*event.source_type)
                    .bind(event.src_ip.to_string())
                    .bind(event.dst_ip.to_string())
                    .bind(event.severity)
                    .bind(&*event.message);
            }
            rows += query
                .execute(&mut *tx)
                .await
                .map_err(context("INSERT failed"))?
                .rows_affected();
        }
        tx.commit().await.map_err(context("COMMIT failed"))?;
        ticket.committed(rows);
        Ok(Written::Committed(rows))
    }

    pub(super) async fn insert_one_by_one(
        &self,
        table: &str,
        events: &[Event<'_>],
    ) -> Result<(), StoreError> {
        let statement = insert_statement(table, 1);
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(context("cannot acquire a connection"))?;
        let mut ts = String::with_capacity(32);
        for event in events {
            ts.clear();
            event.write_ts(&mut ts);
            sqlx::query(AssertSqlSafe(statement.as_str()))
                .bind(ts.as_str())
                .bind(event.organization_id)
                .bind(&*event.source_type)
                .bind(event.src_ip.to_string())
                .bind(event.dst_ip.to_string())
                .bind(event.severity)
                .bind(&*event.message)
                .execute(&mut *conn)
                .await
                .map_err(context("INSERT failed"))?;
        }
        Ok(())
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

/// `INSERT INTO table (…) VALUES (?, …), …` for `rows` rows.
fn insert_statement(table: &str, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({COLUMNS}) VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?)");
    }
    sql
}
