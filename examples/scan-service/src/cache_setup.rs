//! The cache: one [`perf_cache::Backend`] per process and the typed views the cached reads use.
//!
//! The backend holds the L1 (100,000 entries: the 10,000 seeded scans, their summaries and the
//! hot list pages fit with room to spare) and, with `REDIS_URL`, Redis as L2 plus the
//! invalidation bus (`require_l2(false)`: Redis down at start or later degrades to L1 and the
//! database, never a crash). It is installed as the process default, and the views below are
//! built on it; the `#[cached]` functions of [`crate::scans::cached`] use these views
//! (`cache = …`) so that their statistics can be served by the performance endpoints. Two
//! instances with the same namespace and Redis share L2 entries and see each other's
//! invalidations through the bus: a write returns once every instance has confirmed it
//! applied them (perf-cache's `bus_confirm_timeout`), so a client sent to the other instance
//! next reads its own write.

use std::sync::OnceLock;
use std::time::Duration;

use perf_cache::{Backend, Cache};

use crate::config::Config;
use crate::db::{Scan, Summary};
use crate::json_body::JsonBody;
use crate::serve::StartError;

/// L1 capacity in entries.
pub const L1_ENTRIES: u64 = 100_000;

/// Tags the backend tracks. Every cached scan has its own `scan:<id>` tag (shared with its
/// summary) and each target one more, so the table must hold as many tags as L1 holds
/// entries: with perf-cache's default (10,000) and the 10,000 seeded scans, a pass over every
/// id evicted tags in the order it met them and the next pass found **none** of its entries
/// (measured: 0 of 10,000 reads served from the cache; 10,000 of 10,000 with this size).
pub const TAG_TABLE_SIZE: usize = 200_000;

/// The typed views of the service's cached reads, all on one backend.
#[derive(Clone, Debug)]
pub struct Views {
    /// `GET /api/scans/{id}`: the finished JSON body, 10 minutes in every tier.
    pub scan: Cache<Option<JsonBody>>,
    /// `GET /api/scans/{id}/summary`: 10 minutes.
    pub summary: Cache<Option<Summary>>,
    /// List pages: 30 seconds.
    pub list: Cache<Vec<Scan>>,
    /// List totals: 5 minutes.
    pub count: Cache<i64>,
}

static VIEWS: OnceLock<Views> = OnceLock::new();

/// A view with `prefix` and one TTL for L1 and Redis.
fn view<V>(backend: &Backend, prefix: &str, ttl: Duration) -> perf_cache::Result<Cache<V>>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    Cache::builder()
        .prefix(prefix)
        .l1_ttl(ttl)
        .l2_ttl(ttl)
        .build_on(backend)
}

impl Views {
    fn build_on(backend: &Backend) -> perf_cache::Result<Self> {
        Ok(Self {
            scan: view(backend, "scan", Duration::from_secs(600))?,
            summary: view(backend, "summary", Duration::from_secs(600))?,
            list: view(backend, "scans", Duration::from_secs(30))?,
            count: view(backend, "count", Duration::from_secs(300))?,
        })
    }
}

/// The views built by [`build_backend`]; before it ran (in unit tests, say), views on the
/// process's default backend.
///
/// # Panics
/// Never in practice: the views' prefixes are constants that are valid.
#[must_use]
pub fn views() -> &'static Views {
    VIEWS.get_or_init(|| {
        #[allow(clippy::expect_used)]
        Views::build_on(Backend::default_backend()).expect("constant, valid view prefixes")
    })
}

/// Builds the service's cache backend, installs it as the process default that `#[cached]`
/// functions use, and builds the views of the cached reads on it.
///
/// # Errors
/// [`StartError::Cache`] for an invalid namespace or Redis URL (an unreachable Redis is not an
/// error: the service starts on L1 and picks Redis up when it answers).
pub async fn build_backend(config: &Config) -> Result<Backend, StartError> {
    let mut builder = Backend::builder()
        .namespace(config.cache_namespace.clone())
        .l1_max_entries(L1_ENTRIES)
        .tag_table_size(TAG_TABLE_SIZE);
    if let Some(url) = &config.redis_url {
        builder = builder.redis_url(url.clone()).require_l2(false);
    }
    let backend = builder.build().await?;
    if backend.clone().install_default().is_err() {
        tracing::warn!("a default cache backend was installed before; #[cached] keeps it");
    }
    let views = Views::build_on(&backend)?;
    if VIEWS.set(views).is_err() {
        tracing::warn!("cache views were built before the backend; they keep their backend");
    }
    Ok(backend)
}
