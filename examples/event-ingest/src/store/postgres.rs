//! PostgreSQL: each chunk is one `COPY … FROM STDIN` (binary or text) or one `UNNEST` insert, in
//! its own transaction, committed in input order.

use sqlx::AssertSqlSafe;

use super::{Method, StoreError, Written, context, index_statements};
use crate::event::{COLUMNS, COPY_BINARY_HEADER, COPY_BINARY_TRAILER, Event};
use crate::turn::{Ticket, Turn};

/// The PostgreSQL side of a run.
#[derive(Debug, Clone)]
pub(crate) struct Postgres {
    pool: perf_db::Pool<sqlx::Postgres>,
    method: Method,
}

impl Postgres {
    pub(super) fn new(pool: perf_db::Pool<sqlx::Postgres>, method: Method) -> Self {
        Self { pool, method }
    }

    pub(super) fn method(&self) -> Method {
        self.method
    }

    pub(super) async fn create_table(&self, table: &str) -> Result<(), StoreError> {
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                ts TIMESTAMPTZ NOT NULL,
                organization_id BIGINT NOT NULL,
                source_type TEXT NOT NULL,
                src_ip INET NOT NULL,
                dst_ip INET NOT NULL,
                severity TEXT NOT NULL,
                message TEXT NOT NULL,
                deleted_at TIMESTAMPTZ
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
        // Encode before taking a connection: the connection is held only while rows travel.
        let payload = match self.method {
            Method::CopyBinary => Payload::Copy(encode_binary(events)),
            Method::CopyText => Payload::Copy(encode_text(events)),
            Method::Unnest => Payload::Unnest(Columns::new(events)),
        };
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(context("cannot acquire a connection"))?;
        let mut tx = conn.begin().await.map_err(context("BEGIN failed"))?;
        let rows = match payload {
            Payload::Copy(bytes) => {
                let format = if self.method == Method::CopyBinary {
                    "binary"
                } else {
                    "text"
                };
                let statement = format!("COPY events ({COLUMNS}) FROM STDIN (FORMAT {format})");
                let mut copy = tx
                    .as_raw()
                    .copy_in_raw(&statement)
                    .await
                    .map_err(context("COPY failed to start"))?;
                if let Err(error) = copy.send(bytes).await {
                    let _ = copy.abort("send failed").await;
                    return Err(context("COPY failed")(error));
                }
                copy.finish().await.map_err(context("COPY failed"))?
            }
            Payload::Unnest(columns) => columns.insert(&mut tx).await?,
        };
        match ticket.wait().await {
            Turn::Commit => {
                tx.commit().await.map_err(context("COMMIT failed"))?;
                ticket.committed(rows);
                Ok(Written::Committed(rows))
            }
            Turn::RollBack => {
                tx.rollback().await.map_err(context("ROLLBACK failed"))?;
                ticket.rolled_back();
                Ok(Written::RolledBack)
            }
        }
    }

    pub(super) async fn insert_one_by_one(
        &self,
        table: &str,
        events: &[Event<'_>],
    ) -> Result<(), StoreError> {
        let statement = format!(
            "INSERT INTO {table} ({COLUMNS}) VALUES ($1::timestamptz, $2, $3, $4::inet, $5::inet, $6, $7)"
        );
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

enum Payload {
    Copy(Vec<u8>),
    Unnest(Columns),
}

fn encode_binary(events: &[Event<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(COPY_BINARY_HEADER.len() + events.len() * 160);
    out.extend_from_slice(COPY_BINARY_HEADER);
    for event in events {
        event.write_copy_binary(&mut out);
    }
    out.extend_from_slice(COPY_BINARY_TRAILER);
    out
}

fn encode_text(events: &[Event<'_>]) -> Vec<u8> {
    let mut out = String::with_capacity(events.len() * 160);
    for event in events {
        event.write_copy_text(&mut out);
    }
    out.into_bytes()
}

/// One array per column, for `UNNEST`.
struct Columns {
    ts: Vec<String>,
    organization_id: Vec<i64>,
    source_type: Vec<String>,
    src_ip: Vec<String>,
    dst_ip: Vec<String>,
    severity: Vec<&'static str>,
    message: Vec<String>,
}

impl Columns {
    fn new(events: &[Event<'_>]) -> Self {
        let mut columns = Self {
            ts: Vec::with_capacity(events.len()),
            organization_id: Vec::with_capacity(events.len()),
            source_type: Vec::with_capacity(events.len()),
            src_ip: Vec::with_capacity(events.len()),
            dst_ip: Vec::with_capacity(events.len()),
            severity: Vec::with_capacity(events.len()),
            message: Vec::with_capacity(events.len()),
        };
        for event in events {
            let mut ts = String::with_capacity(28);
            event.write_ts(&mut ts);
            columns.ts.push(ts);
            columns.organization_id.push(event.organization_id);
            columns
                .source_type
                .push(event.source_type.clone().into_owned());
            columns.src_ip.push(event.src_ip.to_string());
            columns.dst_ip.push(event.dst_ip.to_string());
            columns.severity.push(event.severity);
            columns.message.push(event.message.clone().into_owned());
        }
        columns
    }

    async fn insert(
        self,
        tx: &mut perf_db::Transaction<'_, sqlx::Postgres>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "INSERT INTO events (ts, organization_id, source_type, src_ip, dst_ip, severity, message) \
             SELECT * FROM UNNEST($1::timestamptz[], $2::int8[], $3::text[], $4::inet[], $5::inet[], \
             $6::text[], $7::text[])",
        )
        .bind(self.ts)
        .bind(self.organization_id)
        .bind(self.source_type)
        .bind(self.src_ip)
        .bind(self.dst_ip)
        .bind(self.severity)
        .bind(self.message)
        .execute(&mut **tx)
        .await
        .map_err(context("INSERT … UNNEST failed"))?;
        Ok(done.rows_affected())
    }
}
