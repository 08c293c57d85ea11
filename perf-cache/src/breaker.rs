//! Circuit breaker in front of Redis: after `threshold` consecutive failures calls are skipped
//! (an outage then costs one atomic load per call) until `cooldown` has passed; then one probe
//! is let through, and its success closes the breaker.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Breaker {
    start: Instant,
    threshold: u32,
    cooldown_ms: u64,
    failures: AtomicU32,
    open: AtomicBool,
    /// When the breaker opened or the last probe was let through (ms since `start`).
    since_ms: AtomicU64,
    namespace: String,
}

impl Breaker {
    pub(crate) fn new(namespace: &str, threshold: u32, cooldown: Duration) -> Self {
        Self {
            start: Instant::now(),
            threshold: threshold.max(1),
            cooldown_ms: crate::clock::duration_ms(cooldown),
            failures: AtomicU32::new(0),
            open: AtomicBool::new(false),
            since_ms: AtomicU64::new(0),
            namespace: namespace.to_owned(),
        }
    }

    fn now_ms(&self) -> u64 {
        crate::clock::duration_ms(self.start.elapsed())
    }

    /// Whether a call may go to Redis. While open, one caller per cooldown gets `true` (the
    /// probe); a probe that is cancelled simply lets the next cooldown pick another.
    pub(crate) fn allow(&self) -> bool {
        if !self.open.load(Ordering::Relaxed) {
            return true;
        }
        let since = self.since_ms.load(Ordering::Relaxed);
        let now = self.now_ms();
        now.saturating_sub(since) >= self.cooldown_ms
            && self
                .since_ms
                .compare_exchange(since, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    pub(crate) fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.open.load(Ordering::Relaxed) && self.open.swap(false, Ordering::Relaxed) {
            tracing::info!(namespace = %self.namespace, tier = "l2", "cache circuit breaker closed: Redis answers again");
        }
    }

    pub(crate) fn failure(&self) {
        let n = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if self.open.load(Ordering::Relaxed) {
            // A failed probe: wait another cooldown.
            self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        } else if n >= self.threshold && !self.open.swap(true, Ordering::Relaxed) {
            self.since_ms.store(self.now_ms(), Ordering::Relaxed);
            tracing::warn!(
                namespace = %self.namespace, tier = "l2", failures = n, cooldown_ms = self.cooldown_ms,
                "cache circuit breaker opened: Redis calls skipped until a probe succeeds"
            );
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_probes_and_closes() {
        let b = Breaker::new("t", 3, Duration::ZERO);
        b.failure();
        b.failure();
        assert!(!b.is_open());
        b.failure();
        assert!(b.is_open());
        assert!(b.allow(), "cooldown 0: probe allowed");
        b.success();
        assert!(!b.is_open());

        let b = Breaker::new("t", 1, Duration::from_secs(3600));
        b.failure();
        assert!(b.is_open());
        assert!(!b.allow(), "no probe before the cooldown");
    }
}
