//! Start-up cache warming: the seeds' "cache warming for common queries".
//!
//! The contract asks for the N (`--warm-scans`) most requested scans. A fresh start has no
//! request log to rank them by, so the service warms the N **most recent** scans (newest
//! `timestamp` first), the ones dashboards and the list's first pages show. They are loaded
//! through the cached read itself ([`crate::scans::cached::get_scan`]), 16 at a time
//! with [`perf_async::run_parallel`], so the entries are exactly what requests will hit (L1,
//! and Redis in the full stack). A failure is logged and the service becomes ready anyway:
//! warming is an optimisation, never a reason to stay out of rotation.

use std::time::Instant;

use crate::scans::cached::get_scan;
use crate::state::AppState;

/// Loads at most this many scans at once.
pub const WARM_CONCURRENCY: usize = 16;

/// Loads the warm set into the cache, then marks the service ready.
pub async fn warm(state: AppState) {
    let n = state.config.warm_scans;
    if n > 0 && !state.config.cache_disabled {
        let started = Instant::now();
        match warm_scans(&state, n).await {
            Ok((loaded, failed)) => tracing::info!(
                loaded,
                failed,
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "cache warmed"
            ),
            Err(e) => tracing::warn!(error = %e, "cache warming failed; serving cold"),
        }
    }
    state.set_ready();
}

/// Warms the `n` most recent scans; returns (loaded, failed).
async fn warm_scans(state: &AppState, n: usize) -> Result<(usize, usize), String> {
    let ids = state
        .db
        .recent_scan_ids(n)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let db = &state.db;
    let results =
        perf_async::run_parallel(ids.into_iter().map(|id| get_scan(db, id)), WARM_CONCURRENCY)
            .await
            .map_err(|e| e.to_string())?;
    let loaded = results.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    Ok((loaded, results.len() - loaded))
}
