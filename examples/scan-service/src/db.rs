//! The database: one instrumented pool, SQLite or PostgreSQL, and the service's queries.
//! (Owner: helper "svc". Skeleton.)

use perf_db::{Pool, PoolConfig};
use sqlx::{Postgres, Sqlite};

use crate::config::Config;
use crate::serve::StartError;

/// The service's database: SQLite (embedded mode) or PostgreSQL (full stack).
#[derive(Clone, Debug)]
pub enum Db {
    /// Embedded mode.
    Sqlite(Pool<Sqlite>),
    /// Full stack.
    Postgres(Pool<Postgres>),
}

impl Db {
    /// Connects to `config.database_url`.
    ///
    /// # Errors
    /// [`StartError::Database`] naming what failed (the URL is redacted).
    pub async fn connect(config: &Config) -> Result<Self, StartError> {
        let url = &config.database_url;
        let pool_config = PoolConfig::builder()
            .url(url.clone())
            .build()
            .map_err(|e| StartError::Database(e.to_string()))?;
        if config.is_postgres() {
            Pool::connect(&pool_config)
                .await
                .map(Self::Postgres)
                .map_err(|e| StartError::Database(e.to_string()))
        } else {
            Pool::connect(&pool_config)
                .await
                .map(Self::Sqlite)
                .map_err(|e| StartError::Database(e.to_string()))
        }
    }

    /// Runs the migrations for this back end.
    ///
    /// # Errors
    /// [`StartError::Database`].
    pub async fn migrate(&self) -> Result<(), StartError> {
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}
