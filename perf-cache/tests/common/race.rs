//! A load held in flight, for the tests that race loads against invalidations and writes.

use std::sync::Arc;

use perf_cache::{Cache, Key};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A boxed load of a `u64`.
pub type Loading = std::pin::Pin<Box<dyn Future<Output = u64> + Send>>;

/// A loader that says when it started and returns `value` once released.
pub fn gated(
    value: u64,
) -> (
    Arc<Notify>,
    Arc<Notify>,
    impl FnOnce() -> Loading + Send + 'static,
) {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    let loader = move || -> Loading {
        Box::pin(async move {
            s.notify_one();
            r.notified().await;
            value
        })
    };
    (started, release, loader)
}

/// Spawns `cache.get_or_load(key)` with a loader returning `value` and waits until the loader
/// has started: the load is in flight, and finishes once the returned `Notify` is notified.
pub async fn load_in_flight(
    cache: &Cache<u64>,
    key: &Key,
    value: u64,
) -> (JoinHandle<u64>, Arc<Notify>) {
    let (started, release, loader) = gated(value);
    let (c, k) = (cache.clone(), key.clone());
    let load = tokio::spawn(async move { c.get_or_load(&k, loader).await });
    started.notified().await;
    (load, release)
}
