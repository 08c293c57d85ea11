//! Prometheus export, latency percentiles, `#[timed]` and a tower layer on the `metrics` facade.
//!
//! The crate arrives with issue 6; until then it exports nothing.
