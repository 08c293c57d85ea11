//! Health and statistics of the database pool, beside the queries in `db.rs`: a ping for
//! `/health`, the pool's statistics and its most expensive statements for the performance
//! endpoints.

use std::time::Duration;

use perf_db::{PoolStats, StatementStats};

use crate::db::Db;

/// How long a ping may take before the database counts as down.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

impl Db {
    /// Whether the database answers `SELECT 1` within [`PING_TIMEOUT`]. Runs on the raw sqlx
    /// pool, so pings do not show up in the statement statistics.
    pub async fn ping(&self) -> bool {
        let ping = async {
            match self {
                Self::Sqlite(pool) => sqlx::query("SELECT 1")
                    .execute(pool.get_ref())
                    .await
                    .is_ok(),
                Self::Postgres(pool) => sqlx::query("SELECT 1")
                    .execute(pool.get_ref())
                    .await
                    .is_ok(),
            }
        };
        tokio::time::timeout(PING_TIMEOUT, ping)
            .await
            .unwrap_or(false)
    }

    /// The pool's statistics (connections, acquire times, query counts and latencies).
    #[must_use]
    pub fn pool_stats(&self) -> PoolStats {
        match self {
            Self::Sqlite(pool) => pool.stats(),
            Self::Postgres(pool) => pool.stats(),
        }
    }

    /// The `n` statements with the most total time.
    #[must_use]
    pub fn top_statements(&self, n: usize) -> Vec<StatementStats> {
        match self {
            Self::Sqlite(pool) => pool.top_statements(n),
            Self::Postgres(pool) => pool.top_statements(n),
        }
    }
}
