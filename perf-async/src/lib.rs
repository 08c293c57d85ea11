//! Bounded-concurrency helpers for tokio services.
//!
//! This crate is being built under issue 3 (`run_parallel`, `batch_process`, chunked processing,
//! blocking detection). Until then it exports nothing.
