//! # scan-service
//!
//! **What it shows:** every perf crate in one real service — the seeds' security-scan API on
//! axum, with `#[cached]` reads (L1 in process, L2 Redis), tag and pattern invalidation on
//! writes that every instance sees at once, perf-db's instrumented pool (SQLite or
//! PostgreSQL, slow-query log, per-statement statistics), perf-metrics' Prometheus export and
//! p50/p95/p99, `run_parallel` cache warming, Redis-backed sessions, per-client rate limits
//! and response compression.
//!
//! **Run it** on a fresh machine, no servers needed (a SQLite file and an in-process cache,
//! seeded with 10,000 scans on first start):
//!
//! ```sh
//! cargo run -p scan-service
//! curl -s localhost:8000/api/scans/42
//! ```
//!
//! The full stack, as the seeds describe it:
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 \
//!     cargo run --release -p scan-service
//! ```
//!
//! `scan-service --help` lists every option; each has an environment variable.

pub mod app;
pub mod auth;
pub mod cache_setup;
pub mod config;
pub mod db;
pub mod db_ping;
pub mod error;
pub mod health;
pub mod json_body;
pub mod middleware;
pub mod performance;
pub mod scans;
pub mod seed;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod warm;

pub use config::Config;
pub use error::{ApiError, ApiResult};
pub use serve::{StartError, run};
pub use state::AppState;
