//! What every handler shares: configuration, the database, the cache, sessions, metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::auth::Sessions;
use crate::config::Config;
use crate::db::Db;

/// The handlers' shared state; cloning it is cheap (every field is a handle).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The configuration the service started with.
    pub config: Arc<Config>,
    /// The instrumented database pool (SQLite or PostgreSQL).
    pub db: Db,
    /// The cache backend every cached function of the service is a view on.
    pub cache: perf_cache::Backend,
    /// Login sessions (Redis in the full stack, so any instance serves any session).
    pub sessions: Sessions,
    /// The process's metrics recorder: `/metrics` and the performance endpoints read it.
    pub metrics: perf_metrics::Metrics,
    /// Set once start-up cache warming has finished; `/health` reports ready from then on.
    pub ready: Arc<AtomicBool>,
    /// When the service started.
    pub started: Instant,
}

impl AppState {
    /// Whether warming has finished.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks warming as finished.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }
}
