//! The seeds' performance endpoints (`/api/v1/performance…`).
//!
//! - `GET /api/v1/performance`: HTTP p50/p95/p99 per endpoint (perf-metrics'
//!   `request_duration_seconds` by route template, over its recent window), the cache and pool
//!   statistics and the uptime in one JSON.
//! - `GET /api/v1/performance/cache/stats`: the seeds' JSON (`size, max_size, hits, misses,
//!   hit_rate` as `"81.65%"`, plus `hit_ratio` as a number and `total_requests`), summed over
//!   every cached function of the service ([`perf_cache::Backend::stats`]).
//! - `POST /api/v1/performance/cache/clear` (session): every entry of the service's namespace,
//!   in every tier, on every instance (the invalidation bus).
//! - `POST /api/v1/performance/cache/cleanup` (session): drops expired L1 entries now.
//! - `GET /api/v1/performance/database/stats`: perf-db's pool statistics.
//! - `GET /api/v1/performance/queries/top?n=10`: the statements with the most total time.

use std::collections::BTreeMap;
use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use perf_cache::{CacheStats, Pattern};
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Largest `n` of `queries/top`.
pub const MAX_TOP_QUERIES: usize = 100;

/// Latency of one endpoint (`"<METHOD> <route>"`), in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointLatency {
    /// Requests in the metrics window (every status).
    pub count: u64,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
}

/// The seeds' cache statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedCacheStats {
    /// Entries in the in-process tier.
    pub size: u64,
    /// Its capacity.
    pub max_size: u64,
    /// Requests answered by any tier.
    pub hits: u64,
    /// Requests no tier could answer.
    pub misses: u64,
    /// `hits / total_requests` as a percentage with two decimals, e.g. `"81.65%"`.
    pub hit_rate: String,
    /// The same as a number in 0..=1.
    pub hit_ratio: f64,
    /// `hits + misses`.
    pub total_requests: u64,
}

impl From<&CacheStats> for SeedCacheStats {
    fn from(s: &CacheStats) -> Self {
        Self {
            size: s.size,
            max_size: s.max_size,
            hits: s.hits,
            misses: s.misses,
            hit_rate: format!("{:.2}%", s.hit_rate * 100.0),
            hit_ratio: s.hit_rate,
            total_requests: s.total_requests,
        }
    }
}

/// The `cache/stats` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheStatsAnswer {
    /// Whether reads go through the cache (`false` with `--cache-disabled`).
    pub enabled: bool,
    /// The statistics.
    pub stats: SeedCacheStats,
}

fn cache_stats(state: &AppState) -> CacheStatsAnswer {
    CacheStatsAnswer {
        enabled: !state.config.cache_disabled,
        stats: SeedCacheStats::from(&state.cache.stats()),
    }
}

/// HTTP latency per `"<METHOD> <route>"`. A route answered with several status classes has
/// one series per class; the count is their sum and each percentile the largest of theirs
/// (an upper bound: percentiles of separate histograms cannot be merged exactly).
#[must_use]
pub fn http_latencies(
    snapshot: &perf_metrics::PerformanceSnapshot,
) -> BTreeMap<String, EndpointLatency> {
    let mut out: BTreeMap<String, EndpointLatency> = BTreeMap::new();
    let ms = |v: Option<f64>| v.map(|s| (s * 1e6).round() / 1e3);
    for series in snapshot.series_named("request_duration_seconds") {
        let method = series.labels.get("method").map_or("?", String::as_str);
        let endpoint = series.labels.get("endpoint").map_or("?", String::as_str);
        let entry = out
            .entry(format!("{method} {endpoint}"))
            .or_insert(EndpointLatency {
                count: 0,
                p50_ms: None,
                p95_ms: None,
                p99_ms: None,
            });
        entry.count += series.count;
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        entry.p50_ms = max(entry.p50_ms, ms(series.p50));
        entry.p95_ms = max(entry.p95_ms, ms(series.p95));
        entry.p99_ms = max(entry.p99_ms, ms(series.p99));
    }
    out
}

/// `GET /api/v1/performance`.
async fn overview(State(state): State<AppState>) -> Json<Value> {
    let http = http_latencies(&state.metrics.snapshot());
    Json(json!({
        "http": http,
        "cache": cache_stats(&state),
        "database": state.db.pool_stats(),
        "uptime_seconds": state.started.elapsed().as_secs(),
    }))
}

/// `GET /api/v1/performance/cache/stats`.
async fn cache_stats_endpoint(State(state): State<AppState>) -> Json<CacheStatsAnswer> {
    Json(cache_stats(&state))
}

/// `POST /api/v1/performance/cache/clear`.
async fn clear(State(state): State<AppState>, _session: Session) -> Json<Value> {
    let done = state.cache.invalidate_pattern(&Pattern::new().any()).await;
    Json(json!({
        "cleared": done.is_complete(),
        "l1_removed": done.l1_removed,
        "l2_removed": done.l2_removed,
    }))
}

/// `POST /api/v1/performance/cache/cleanup`: the L1 entries fewer after the maintenance pass
/// (expired ones dropped; a write racing the pass can hide one).
async fn cleanup(State(state): State<AppState>, _session: Session) -> Json<Value> {
    let before = state.cache.l1_entries();
    state.cache.run_pending_tasks().await;
    let after = state.cache.l1_entries();
    Json(json!({ "removed": before.saturating_sub(after) }))
}

/// `GET /api/v1/performance/database/stats`.
async fn database_stats(State(state): State<AppState>) -> Json<perf_db::PoolStats> {
    Json(state.db.pool_stats())
}

/// `GET /api/v1/performance/queries/top?n=10`.
async fn top_queries(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let n = match query.get("n") {
        None => 10,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_TOP_QUERIES).contains(n))
            .ok_or_else(|| {
                ApiError::Validation(format!("n must be an integer in 1..={MAX_TOP_QUERIES}"))
            })?,
    };
    Ok(Json(json!({ "queries": state.db.top_statements(n) })))
}

/// `/api/v1/performance…` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/performance", get(overview))
        .route("/api/v1/performance/cache/stats", get(cache_stats_endpoint))
        .route("/api/v1/performance/cache/clear", post(clear))
        .route("/api/v1/performance/cache/cleanup", post(cleanup))
        .route("/api/v1/performance/database/stats", get(database_stats))
        .route("/api/v1/performance/queries/top", get(top_queries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_hit_rate_is_a_percentage_with_two_decimals() {
        let mut stats = CacheStats::default();
        stats.hits = 1523;
        stats.misses = 342;
        stats.total_requests = 1865;
        stats.hit_rate = 1523.0 / 1865.0;
        let seed = SeedCacheStats::from(&stats);
        assert_eq!(seed.hit_rate, "81.66%");
        assert_eq!(seed.total_requests, 1865);
        let empty = SeedCacheStats::from(&CacheStats::default());
        assert_eq!(empty.hit_rate, "0.00%");
    }
}
