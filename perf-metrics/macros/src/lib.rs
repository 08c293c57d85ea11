//! Procedural macros for `perf-metrics`. Use them through `perf_metrics`, not directly.
//!
//! The `#[timed]` macro arrives with issue 6; until then this crate exports nothing.
