//! The database: one instrumented pool, SQLite or PostgreSQL, and the service's queries.
//!
//! Each query is written once: `$1` placeholders work on both back ends, and the
//! [`on_pool!`](crate::on_pool) macro expands the same code for each pool type, so the only
//! `match` on the back end picks the pool. Errors are [`DbError`]: connection failures, pool
//! timeouts and a missing schema are [`DbError::Unavailable`] (503), anything else
//! [`DbError::Internal`] (500, logged, never shown to the client). The pool's statistics and
//! the health ping live in `db_ping.rs` (helper "ops").

use chrono::{DateTime, Utc};
use perf_db::{Pool, PoolConfig};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Sqlite};

use crate::config::Config;
use crate::error::ApiError;
use crate::serve::StartError;

/// How long a request waits for a pooled connection before the service answers 503: short,
/// so that an unreachable database fails requests quickly instead of queueing them for 30 s.
const ACQUIRE_TIMEOUT: &str = "3s";

/// The pool's size unless `DATABASE_POOL_MAX` says otherwise: HikariCP's rule, cores × 2 + 1
/// (5 on this 2-core machine), at least 4. More connections than that only queue inside the
/// database; the cached reads, the bulk of the traffic, need none.
#[must_use]
pub fn default_max_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    u32::try_from(cores * 2 + 1).unwrap_or(u32::MAX).max(4)
}

/// The service's database: SQLite (embedded mode) or PostgreSQL (full stack).
#[derive(Clone, Debug)]
pub enum Db {
    /// Embedded mode.
    Sqlite(Pool<Sqlite>),
    /// Full stack.
    Postgres(Pool<Postgres>),
}

/// Runs `$body` with `$pool` bound to the database's pool and `$DB` naming its sqlx database
/// type (`sqlx::Sqlite` or `sqlx::Postgres`): the body is written once and compiled for each.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, |$pool:ident, $DB:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => {
                #[allow(dead_code, non_camel_case_types)]
                type $DB = ::sqlx::Sqlite;
                $body
            }
            $crate::db::Db::Postgres($pool) => {
                #[allow(dead_code, non_camel_case_types)]
                type $DB = ::sqlx::Postgres;
                $body
            }
        }
    };
}

/// One scan, as stored and as served (`GET /api/scans/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Scan {
    /// Primary key.
    pub id: i64,
    /// Host name or IP address that was scanned.
    pub target: String,
    /// `full`, `quick`, `web`, `network` or `ssl`.
    pub scan_type: String,
    /// `pending`, `running`, `completed` or `failed`.
    pub status: String,
    /// When the scan was created (UTC, whole seconds).
    pub timestamp: DateTime<Utc>,
    /// Who created it (`seed` for generated data, `api` for `POST /api/scans`).
    pub created_by: String,
}

/// Vulnerability counts of one scan by severity (`GET /api/scans/{id}/summary`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The scan.
    pub scan_id: i64,
    /// All its vulnerabilities.
    pub total: i64,
    /// Per severity, every severity present (0 when none).
    pub by_severity: BySeverity,
}

/// Counts per severity, in the contract's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BySeverity {
    /// `critical`
    pub critical: i64,
    /// `high`
    pub high: i64,
    /// `medium`
    pub medium: i64,
    /// `low`
    pub low: i64,
    /// `info`
    pub info: i64,
}

/// Filters of the scan list (`GET /api/scans?target=&status=`), already validated.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListFilter<'a> {
    /// Only scans of this target.
    pub target: Option<&'a str>,
    /// Only scans in this status.
    pub status: Option<&'a str>,
}

/// The changes of `PUT /api/scans/{id}`, already validated; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct ScanChanges {
    /// New status.
    pub status: Option<String>,
    /// New target.
    pub target: Option<String>,
    /// New scan type.
    pub scan_type: Option<String>,
}

/// A database failure, classified for the client. Cloneable so that callers waiting on the
/// same cached load all get it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached, a connection could not be had in time, or the schema
    /// is gone: 503.
    #[error("database unavailable")]
    Unavailable(String),
    /// Anything else (a bug, an unexpected answer): 500. The detail is logged, not sent.
    #[error("database error")]
    Internal(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        // The detail is sqlx's message: no URL (sqlx never prints one) and no bind values.
        let detail = e.to_string();
        if is_unavailable(&e) {
            Self::Unavailable(detail)
        } else {
            Self::Internal(detail)
        }
    }
}

impl From<perf_db::Error> for DbError {
    fn from(e: perf_db::Error) -> Self {
        sqlx::Error::from(e).into()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry later".to_owned())
            }
            DbError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

/// Whether `e` means "the database is not there right now" rather than "this query is wrong".
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                // 08: connection exception; 53: insufficient resources; 57: operator
                // intervention (shutdown, statement timeout); 42P01/3F000: the table or schema
                // is gone (dropped under a running service).
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57")
                    || code == "42P01"
                    || code == "3F000"
            } else {
                // SQLite: primary result codes BUSY 5, LOCKED 6, NOMEM 7, READONLY 8,
                // IOERR 10, CORRUPT 11, FULL 13, CANTOPEN 14, NOTADB 26; and a table that
                // is gone (SQLITE_ERROR with this message).
                let primary = code.parse::<i64>().map(|c| c & 0xff).unwrap_or(0);
                matches!(primary, 5 | 6 | 7 | 8 | 10 | 11 | 13 | 14 | 26)
                    || db.message().starts_with("no such table")
            }
        }
        _ => false,
    }
}

/// A new `pending` scan.
const INSERT_SCAN: &str = "INSERT INTO scans (target, scan_type, status, timestamp, created_by) \
     VALUES ($1, $2, 'pending', $3, $4) \
     RETURNING id, target, scan_type, status, timestamp, created_by";

/// The fields of `PUT` that are given (`NULL` keeps the value).
const UPDATE_SCAN: &str = "UPDATE scans SET status = COALESCE($1, status), \
     target = COALESCE($2, target), scan_type = COALESCE($3, scan_type) WHERE id = $4 \
     RETURNING id, target, scan_type, status, timestamp, created_by";

/// `SELECT … WHERE id = $1`
const GET_SCAN: &str =
    "SELECT id, target, scan_type, status, timestamp, created_by FROM scans WHERE id = $1";

/// The list query for each combination of filters (one text each, so each gets its own plan
/// and index: `idx_scans_timestamp`, `idx_scans_target_timestamp`, `idx_scans_status`,
/// `idx_scans_target_status_timestamp`). `LIMIT`/`OFFSET` are the last two parameters.
fn list_sql(filter: ListFilter<'_>) -> &'static str {
    match (filter.target.is_some(), filter.status.is_some()) {
        (false, false) => {
            "SELECT id, target, scan_type, status, timestamp, created_by FROM scans \
             ORDER BY timestamp DESC, id DESC LIMIT $1 OFFSET $2"
        }
        (true, false) => {
            "SELECT id, target, scan_type, status, timestamp, created_by FROM scans \
             WHERE target = $1 ORDER BY timestamp DESC, id DESC LIMIT $2 OFFSET $3"
        }
        (false, true) => {
            "SELECT id, target, scan_type, status, timestamp, created_by FROM scans \
             WHERE status = $1 ORDER BY timestamp DESC, id DESC LIMIT $2 OFFSET $3"
        }
        (true, true) => {
            "SELECT id, target, scan_type, status, timestamp, created_by FROM scans \
             WHERE target = $1 AND status = $2 ORDER BY timestamp DESC, id DESC \
             LIMIT $3 OFFSET $4"
        }
    }
}

/// The count query for each combination of filters.
fn count_sql(filter: ListFilter<'_>) -> &'static str {
    match (filter.target.is_some(), filter.status.is_some()) {
        (false, false) => "SELECT COUNT(*) FROM scans",
        (true, false) => "SELECT COUNT(*) FROM scans WHERE target = $1",
        (false, true) => "SELECT COUNT(*) FROM scans WHERE status = $1",
        (true, true) => "SELECT COUNT(*) FROM scans WHERE target = $1 AND status = $2",
    }
}

/// Vulnerability counts by severity of one scan, in one query; no row means no such scan, a
/// row with a `NULL` severity a scan without vulnerabilities.
const SUMMARY: &str = "SELECT s.id, v.severity, COUNT(v.id) FROM scans s \
     LEFT JOIN vulnerabilities v ON v.scan_id = s.id WHERE s.id = $1 GROUP BY s.id, v.severity";

impl Db {
    /// Connects to `config.database_url` with perf-db's production defaults (WAL, busy
    /// timeout and the rest for a SQLite file) and its `DATABASE_POOL_*` / `DATABASE_*`
    /// environment variables ([`PoolConfig::from_lookup`]), except where this service picks
    /// another default: the pool named `scan-service`, [`default_max_connections`] connections
    /// and a 3 s acquire timeout (an unreachable database answers 503 in seconds, not 30).
    ///
    /// # Errors
    /// [`StartError::Database`] naming what failed (the URL is redacted).
    pub async fn connect(config: &Config) -> Result<Self, StartError> {
        let url = &config.database_url;
        let redacted = perf_db::redact_url(url);
        let max = default_max_connections().to_string();
        let pool_config = PoolConfig::from_lookup(|name| match name {
            "DATABASE_URL" => Some(url.clone()),
            _ => std::env::var(name).ok().or_else(|| match name {
                "DATABASE_POOL_NAME" => Some("scan-service".to_owned()),
                "DATABASE_POOL_MAX" => Some(max.clone()),
                "DATABASE_POOL_ACQUIRE_TIMEOUT" => Some(ACQUIRE_TIMEOUT.to_owned()),
                _ => None,
            }),
        })
        .map_err(|e| StartError::Database(format!("{redacted}: {e}")))?;
        if config.is_postgres() {
            Pool::connect(&pool_config)
                .await
                .map(Self::Postgres)
                .map_err(|e| StartError::Database(format!("{redacted}: {e}")))
        } else {
            Pool::connect(&pool_config)
                .await
                .map(Self::Sqlite)
                .map_err(|e| StartError::Database(format!("{redacted}: {e}")))
        }
    }

    /// Runs the migrations for this back end (`migrations/sqlite` or `migrations/postgres`),
    /// in the schema the connection's `search_path` names first.
    ///
    /// # Errors
    /// [`StartError::Database`].
    pub async fn migrate(&self) -> Result<(), StartError> {
        let result = match self {
            Self::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        };
        result.map_err(|e| StartError::Database(format!("migrations: {e}")))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }

    /// One scan by id.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn get_scan(&self, id: i64) -> Result<Option<Scan>, DbError> {
        Ok(on_pool!(self, |pool, _DB| sqlx::query_as::<_, Scan>(
            GET_SCAN
        )
        .bind(id)
        .fetch_optional(pool)
        .await?))
    }

    /// One page of scans matching `filter`, newest first (`timestamp DESC, id DESC`).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn list_scans(
        &self,
        filter: ListFilter<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Scan>, DbError> {
        let sql = list_sql(filter);
        Ok(on_pool!(self, |pool, _DB| {
            let mut q = sqlx::query_as::<_, Scan>(sql);
            if let Some(t) = filter.target {
                q = q.bind(t);
            }
            if let Some(s) = filter.status {
                q = q.bind(s);
            }
            q.bind(limit).bind(offset).fetch_all(pool).await?
        }))
    }

    /// How many scans match `filter`.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn count_scans(&self, filter: ListFilter<'_>) -> Result<i64, DbError> {
        let sql = count_sql(filter);
        Ok(on_pool!(self, |pool, _DB| {
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            if let Some(t) = filter.target {
                q = q.bind(t);
            }
            if let Some(s) = filter.status {
                q = q.bind(s);
            }
            q.fetch_one(pool).await?
        }))
    }

    /// Inserts a `pending` scan stamped now and returns it.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn insert_scan(
        &self,
        target: &str,
        scan_type: &str,
        created_by: &str,
    ) -> Result<Scan, DbError> {
        let now = now_seconds();
        Ok(on_pool!(self, |pool, _DB| sqlx::query_as::<_, Scan>(
            INSERT_SCAN
        )
        .bind(target)
        .bind(scan_type)
        .bind(now)
        .bind(created_by)
        .fetch_one(pool)
        .await?))
    }

    /// Applies `changes` to scan `id` in one transaction; returns the row before and after, or
    /// `None` when there is no such scan.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn update_scan(
        &self,
        id: i64,
        changes: &ScanChanges,
    ) -> Result<Option<(Scan, Scan)>, DbError> {
        on_pool!(self, |pool, _DB| {
            let mut tx = pool.begin().await?;
            let Some(old) = sqlx::query_as::<_, Scan>(GET_SCAN)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            let new = sqlx::query_as::<_, Scan>(UPDATE_SCAN)
                .bind(changes.status.as_deref())
                .bind(changes.target.as_deref())
                .bind(changes.scan_type.as_deref())
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some((old, new)))
        })
    }

    /// Vulnerability counts by severity of scan `id` (one `GROUP BY` query); `None` when there
    /// is no such scan.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn summary(&self, id: i64) -> Result<Option<Summary>, DbError> {
        let rows: Vec<(i64, Option<String>, i64)> = on_pool!(self, |pool, _DB| {
            sqlx::query_as(SUMMARY).bind(id).fetch_all(pool).await?
        });
        if rows.is_empty() {
            return Ok(None);
        }
        let mut summary = Summary {
            scan_id: id,
            ..Summary::default()
        };
        for (_, severity, count) in rows {
            let slot = match severity.as_deref() {
                Some("critical") => &mut summary.by_severity.critical,
                Some("high") => &mut summary.by_severity.high,
                Some("medium") => &mut summary.by_severity.medium,
                Some("low") => &mut summary.by_severity.low,
                Some("info") => &mut summary.by_severity.info,
                // No vulnerabilities (the LEFT JOIN's NULL row), or a severity outside the
                // contract's set: counted in the total only.
                None => continue,
                Some(_) => {
                    summary.total += count;
                    continue;
                }
            };
            *slot += count;
            summary.total += count;
        }
        Ok(Some(summary))
    }

    /// The ids of the `n` most recent scans (the warm set).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn recent_scan_ids(&self, n: usize) -> Result<Vec<i64>, DbError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        Ok(on_pool!(self, |pool, _DB| sqlx::query_scalar::<_, i64>(
            "SELECT id FROM scans ORDER BY timestamp DESC, id DESC LIMIT $1"
        )
        .bind(n)
        .fetch_all(pool)
        .await?))
    }
}

/// Now, truncated to whole seconds (the contract's timestamps have none).
#[must_use]
pub fn now_seconds() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}
