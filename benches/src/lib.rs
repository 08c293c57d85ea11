//! Shared set-up for the criterion benchmarks in `benches/benches/`.
//!
//! Every benchmark measures a perf crate and the crate a user would otherwise pick in the same
//! run, so that the ratio between them is meaningful on a noisy machine.

/// Redis URL for benchmarks: `REDIS_URL`, else the local default.
#[must_use]
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// PostgreSQL URL for benchmarks: `DATABASE_URL`, else the local default.
#[must_use]
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

mod cache_fixtures;
mod db_fixtures;
mod private_redis;
mod runtime;

pub use cache_fixtures::{
    KEYS, L1Contenders, User, get_decode, l1_contenders, l2_only_builder, l2_only_cache,
    on_threads, peer_key, set_encoded, spread, unlink_peer_keys, user, view_of,
};
pub use db_fixtures::{
    PG_CONNECTIONS, pg_config, pg_pool_options, select1_postgres, select1_sqlite,
};
pub use private_redis::PrivateRedis;
pub use runtime::{current_thread_runtime, multi_thread_runtime};
