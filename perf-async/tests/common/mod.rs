//! Counters shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts how many holders are alive now and the most ever alive at once.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    entered: Arc<AtomicUsize>,
}

impl InFlight {
    pub fn enter(&self) -> InFlightGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        self.entered.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(Arc::clone(&self.now))
    }

    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    pub fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts values created and dropped.
#[derive(Clone, Debug, Default)]
pub struct DropCounter {
    created: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl DropCounter {
    pub fn guard(&self) -> DropGuard {
        self.created.fetch_add(1, Ordering::SeqCst);
        DropGuard(Arc::clone(&self.dropped))
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Waits until every guard is dropped (aborted tasks are dropped by the runtime
    /// asynchronously, possibly on another worker thread); gives up after about ten seconds so
    /// a bug fails the test instead of hanging it. This bounds the wait, it asserts no timing.
    pub async fn wait_all_dropped(&self) {
        for round in 0..10_000 {
            if self.dropped() == self.created() {
                return;
            }
            if round < 100 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    }
}

#[derive(Debug)]
pub struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Milliseconds for item `i` of a heavy-tailed workload: 1 % of the items are 50× slower.
pub fn heavy_tailed_ms(i: usize) -> u64 {
    if i % 100 == 37 { 50 } else { 1 }
}
