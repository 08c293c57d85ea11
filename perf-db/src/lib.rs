//! Pool configuration, pool statistics and slow-query instrumentation for sqlx.
//!
//! The crate arrives with issue 5; until then it exports nothing.
