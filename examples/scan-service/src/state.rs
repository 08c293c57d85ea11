//! What every handler shares: configuration, the database, the cache, sessions, metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::auth::Sessions;
use crate::config::Config;
use crate::db::Db;

/// The handlers' shared state: one `Arc`, so the per-request clones axum makes (one per
/// `State` extractor and stateful middleware) are one reference-count increment each. (With the
/// fields inline, those clones and drops were 12 % of the service's CPU under wrk.) The fields
/// are reached through `Deref`: `state.db`, `state.config`.
#[derive(Clone, Debug)]
pub struct AppState {
    shared: Arc<Shared>,
}

impl AppState {
    /// Wraps the shared parts.
    #[must_use]
    pub fn new(shared: Shared) -> Self {
        Self {
            shared: Arc::new(shared),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// What [`AppState`] shares: configuration, the database, the cache, sessions, metrics.
#[derive(Debug)]
pub struct Shared {
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

impl Shared {
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
