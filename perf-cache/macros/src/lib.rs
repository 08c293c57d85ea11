//! Procedural macros for `perf-cache`. Use them through `perf_cache`, not directly.
//!
//! The `#[cached]` macro arrives with a later issue; until then this crate exports nothing.
