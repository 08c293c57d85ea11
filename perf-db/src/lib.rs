//! Pool configuration, pool statistics and slow-query instrumentation for sqlx.
//!
//! See the crate README (included below) for a tour.
#![doc = include_str!("../README.md")]

mod backend;
#[cfg(feature = "_bench")]
mod bench_support;
mod config;
mod connection;
mod error;
mod executor;
mod explain;
mod histogram;
mod instrumented;
mod late_metrics;
mod leak;
mod n_plus_one;
mod normalize;
mod pool;
mod shared;
mod slow_query;
mod statement_deadline;
mod statements;
mod stats;
mod transaction;

pub use backend::Backend;
pub use config::{PoolConfig, PoolConfigBuilder, StatementTimeoutMode};
pub use connection::PoolConnection;
pub use error::{Error, Result};
pub use instrumented::InstrumentedConnection;
pub use normalize::normalize_sql;
pub use perf_redact::redact_url;
pub use pool::Pool;
pub use statement_deadline::StatementTimedOut;
pub use statements::StatementStats;
pub use stats::{AcquireStats, ConnectionStats, PoolStats, QueryStats};
pub use transaction::Transaction;

/// Benchmark access to private per-query types, only with the internal feature `_bench`.
#[cfg(feature = "_bench")]
#[doc(hidden)]
pub use bench_support::{
    MutexHistogram as __MutexHistogram, QueryRecorder as __QueryRecorder,
    StatementLookup as __StatementLookup,
};

/// Without the internal `_bench` feature the benchmark types are not reachable:
///
/// ```compile_fail
/// let _ = perf_db::__QueryRecorder::new;
/// ```
///
/// ```compile_fail
/// let _ = perf_db::__StatementLookup::new;
/// ```
#[cfg(not(feature = "_bench"))]
mod no_bench_api {}
