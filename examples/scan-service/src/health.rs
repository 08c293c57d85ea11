//! `/health` and `/metrics`.
//!
//! `/health` answers 200 once start-up cache warming is done and the database answers a ping,
//! else 503, with `{"status", "ready", "database", "cache"}`: `database` is `ok` or `down`;
//! `cache` is `ok` (Redis answers), `degraded` (Redis is down or its circuit breaker is open:
//! reads are served from L1, then the database) or `disabled` (no Redis configured: L1 only).
//! A degraded cache does not make the service unhealthy. `/metrics` is perf-metrics'
//! Prometheus text.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::state::AppState;

/// The `/health` answer.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` when ready and the database answers, `starting` while warming, else `unavailable`.
    pub status: &'static str,
    /// Whether start-up warming has finished.
    pub ready: bool,
    /// `ok` or `down`.
    pub database: &'static str,
    /// `ok`, `degraded` or `disabled`.
    pub cache: &'static str,
}

/// The cache's shared tier: `ok`, `degraded` (Redis unreachable, serving from L1) or
/// `disabled` (no Redis configured).
pub async fn cache_state(state: &AppState) -> &'static str {
    if state.config.redis_url.is_none() {
        return "disabled";
    }
    if state.cache.stats().breaker_open || !state.sessions.is_reachable().await {
        "degraded"
    } else {
        "ok"
    }
}

/// `GET /health`.
async fn health(State(state): State<AppState>) -> Response {
    let ready = state.is_ready();
    let (database_ok, cache) = tokio::join!(state.db.ping(), cache_state(&state));
    let status = match (ready, database_ok) {
        (true, true) => "ok",
        (false, _) => "starting",
        (true, false) => "unavailable",
    };
    let body = Health {
        status,
        ready,
        database: if database_ok { "ok" } else { "down" },
        cache,
    };
    let code = if ready && database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// `GET /metrics`: every series in the Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(CONTENT_TYPE, perf_metrics::PROMETHEUS_CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

/// `/health` and `/metrics`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
}
