//! A multi-tier cache for async services: moka in process (L1), Redis (L2), local disk (L3).
//!
//! The cache core arrives with issue 4; until then this crate exports nothing.
