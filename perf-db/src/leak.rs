//! Leak detection like HikariCP's `leakDetectionThreshold`.
//!
//! Each connection handed out by [`Pool::acquire`](crate::Pool::acquire) or
//! [`Pool::begin`](crate::Pool::begin) is registered with the location that acquired it. A
//! background sweep (every half threshold, at least once a second) and the release itself log one
//! warning per connection held longer than the threshold.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::shared::Shared;

#[derive(Debug)]
struct Hold {
    since: Instant,
    location: &'static Location<'static>,
    warned: bool,
}

#[derive(Debug)]
pub(crate) struct LeakTracker {
    threshold: Duration,
    holds: Mutex<HashMap<u64, Hold>>,
    next_id: AtomicU64,
}

impl LeakTracker {
    pub(crate) fn new(threshold: Duration) -> Self {
        Self {
            threshold,
            holds: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    pub(crate) fn register(&self, location: &'static Location<'static>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.holds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Hold {
                    since: Instant::now(),
                    location,
                    warned: false,
                },
            );
        id
    }

    /// Forgets a hold; warns if it exceeded the threshold and was not reported yet.
    pub(crate) fn release(&self, id: u64, shared: &Shared) {
        let hold = self
            .holds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(hold) = hold {
            let held = hold.since.elapsed();
            if !hold.warned && held > self.threshold {
                report(shared, held, hold.location, self.threshold);
            }
        }
    }

    fn sweep(&self, shared: &Shared) {
        let mut found = Vec::new();
        {
            let mut holds = self.holds.lock().unwrap_or_else(PoisonError::into_inner);
            for hold in holds.values_mut() {
                let held = hold.since.elapsed();
                if !hold.warned && held > self.threshold {
                    hold.warned = true;
                    found.push((held, hold.location));
                }
            }
        }
        for (held, location) in found {
            report(shared, held, location, self.threshold);
        }
    }
}

fn report(shared: &Shared, held: Duration, location: &Location<'_>, threshold: Duration) {
    shared.counters.leaks.fetch_add(1, Ordering::Relaxed);
    shared.metrics.leaks.increment(1);
    tracing::warn!(
        target: "perf_db::leak",
        pool = %shared.name,
        held_ms = held.as_millis(),
        threshold_ms = threshold.as_millis(),
        acquired_at = %location,
        "connection held longer than the leak detection threshold (possible leak)"
    );
}

/// Sweeps until the pool is dropped.
pub(crate) fn spawn_sweeper(shared: Weak<Shared>, threshold: Duration) {
    let period = (threshold / 2).max(Duration::from_secs(1));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            let Some(shared) = shared.upgrade() else {
                break;
            };
            if let Some(tracker) = &shared.leaks {
                tracker.sweep(&shared);
            }
        }
    });
}
