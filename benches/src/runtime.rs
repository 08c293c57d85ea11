//! Tokio runtimes the benchmarks run on.

/// A multi-thread runtime with 2 worker threads and all drivers enabled: the runtime of the
/// criterion groups that spread work over tasks.
///
/// # Panics
///
/// Panics when the runtime cannot be built.
#[must_use]
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A current-thread runtime with all drivers enabled.
///
/// # Panics
///
/// Panics when the runtime cannot be built.
#[must_use]
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
