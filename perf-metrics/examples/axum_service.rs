//! What it shows: an axum service instrumented by perf-metrics — the global recorder with
//! upkeep, `HttpMetricsLayer` labelling by route template, `#[timed]` on a handler's work,
//! Prometheus text on `/metrics` and windowed percentiles as JSON on `/api/v1/performance`.
//!
//! Run with: `cargo run -p perf-metrics --example axum_service --features axum`, then
//! `curl localhost:3000/api/scans/42; curl localhost:3000/metrics; curl localhost:3000/api/v1/performance`.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use perf_metrics::{HttpMetricsLayer, Metrics, timed};

#[timed(name = "scan_duration_seconds", labels(scan_type = "nmap"))]
async fn run_scan(id: u64) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(5 + id % 20)).await;
    if id == 0 {
        Err("no such scan".into())
    } else {
        Ok(format!("scan {id} done"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metrics = Metrics::builder().service("scanner").install()?;

    let performance = metrics.clone();
    let app = Router::new()
        .route(
            "/api/scans/{id}",
            get(|Path(id): Path<u64>| async move { run_scan(id).await.unwrap_or_else(|e| e) }),
        )
        .route(
            "/api/v1/performance",
            get(move || {
                let snapshot = performance.snapshot();
                async move {
                    let body = serde_json::to_string_pretty(&snapshot).unwrap_or_default();
                    ([(CONTENT_TYPE, "application/json")], body)
                }
            }),
        )
        .layer(HttpMetricsLayer::new())
        .merge(metrics.router());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
