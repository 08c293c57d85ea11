//! Circuit breaker in front of Redis.
//!
//! **Closed**: every call goes through. Only an *outage* — an I/O error, a timeout, a dropped or
//! refused connection — counts as a failure; a server's error reply (`WRONGTYPE` on a key
//! another service wrote as a hash, `OOM` on a `SET` at `maxmemory`) concerns one key or one
//! command and proves the server answers, so it is a tier error for that call and never opens
//! the breaker. After `threshold` consecutive outages the breaker **opens**: calls are skipped
//! (one atomic load and one clock read per call) until `cooldown` has passed. Then it turns
//! **half-open** and lets exactly one call through, the probe: an answer closes the breaker, an
//! outage opens it for another cooldown, and a probe that is cancelled opens it again without a
//! new cooldown, so the next call becomes the probe.
//!
//! Every transition bumps an epoch, and each call carries the epoch it was let through in
//! ([`Permit`]): an outcome from an earlier epoch is ignored. So a slow call that started
//! before the breaker opened cannot close it by succeeding late, and a late failure from before
//! a recovery does not count towards opening it again.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;

/// State word: the epoch in the high bits, the mode in the low two.
fn pack(epoch: u64, mode: u64) -> u64 {
    (epoch << 2) | mode
}

fn epoch(state: u64) -> u64 {
    state >> 2
}

fn mode(state: u64) -> u64 {
    state & 3
}

/// Whether a Redis error means the server (or the way to it) is out, as opposed to the server
/// answering this one command with an error.
pub(crate) fn is_outage(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.kind() == redis::ErrorKind::ClusterConnectionNotFound
}

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown_ms: u64,
    state: AtomicU64,
    /// Consecutive outages while closed.
    failures: AtomicU32,
    /// When the breaker last opened ([`crate::clock::precise_ms`]).
    opened_ms: AtomicU64,
    namespace: String,
}

/// Leave to send one call; report its outcome with [`answered`](Self::answered) or
/// [`outage`](Self::outage). Dropped unreported (the call was cancelled), a probe lets the
/// next call probe instead.
#[derive(Debug)]
#[must_use = "report the call's outcome"]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    epoch: u64,
    probe: bool,
    reported: bool,
}

impl Breaker {
    pub(crate) fn new(namespace: &str, threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown_ms: crate::clock::duration_ms(cooldown),
            state: AtomicU64::new(pack(0, CLOSED)),
            failures: AtomicU32::new(0),
            opened_ms: AtomicU64::new(0),
            namespace: namespace.to_owned(),
        }
    }

    /// A permit when a call may go to Redis: always while closed; once the cooldown has passed,
    /// to exactly one caller (the probe) until that probe's outcome is known.
    pub(crate) fn allow(&self) -> Option<Permit<'_>> {
        let s = self.state.load(Ordering::Acquire);
        let permit = |epoch, probe| Permit {
            breaker: self,
            epoch,
            probe,
            reported: false,
        };
        match mode(s) {
            CLOSED => Some(permit(epoch(s), false)),
            OPEN => {
                let opened = self.opened_ms.load(Ordering::Relaxed);
                if crate::clock::precise_ms().saturating_sub(opened) < self.cooldown_ms {
                    return None;
                }
                let half_open = pack(epoch(s) + 1, HALF_OPEN);
                self.state
                    .compare_exchange(s, half_open, Ordering::AcqRel, Ordering::Relaxed)
                    .ok()
                    .map(|_| permit(epoch(half_open), true))
            }
            // Half-open: the probe is out.
            _ => None,
        }
    }

    /// Whether calls are being skipped (open, or half-open with the probe out).
    pub(crate) fn is_open(&self) -> bool {
        mode(self.state.load(Ordering::Relaxed)) != CLOSED
    }

    /// Moves from `from` to the next epoch in `to`; whether this caller made the move.
    fn transition(&self, from: u64, to: u64) -> bool {
        self.state
            .compare_exchange(
                from,
                pack(epoch(from) + 1, to),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    fn open(&self, from: u64, failures: u32) {
        self.opened_ms
            .store(crate::clock::precise_ms(), Ordering::Relaxed);
        if self.transition(from, OPEN) && mode(from) == CLOSED {
            tracing::warn!(
                namespace = %self.namespace, tier = "l2", failures, cooldown_ms = self.cooldown_ms,
                "cache circuit breaker opened: Redis calls skipped until a probe succeeds"
            );
        }
    }
}

impl Permit<'_> {
    /// Redis answered (a value, or an error reply about this command): the server is up.
    pub(crate) fn answered(mut self) {
        self.reported = true;
        let b = self.breaker;
        let s = b.state.load(Ordering::Acquire);
        if epoch(s) != self.epoch {
            return;
        }
        match mode(s) {
            // Written only when it changes: answers are the common case.
            CLOSED if b.failures.load(Ordering::Relaxed) != 0 => {
                b.failures.store(0, Ordering::Relaxed);
            }
            HALF_OPEN if self.probe => {
                b.failures.store(0, Ordering::Relaxed);
                if b.transition(s, CLOSED) {
                    tracing::info!(namespace = %b.namespace, tier = "l2", "cache circuit breaker closed: Redis answers again");
                }
            }
            _ => {}
        }
    }

    /// An I/O error, a timeout or a dropped connection.
    pub(crate) fn outage(mut self) {
        self.reported = true;
        let b = self.breaker;
        let s = b.state.load(Ordering::Acquire);
        if epoch(s) != self.epoch {
            return;
        }
        match mode(s) {
            CLOSED => {
                let n = b.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                if n >= b.threshold {
                    b.open(s, n);
                }
            }
            // The probe failed: another cooldown.
            HALF_OPEN if self.probe => b.open(s, 0),
            _ => {}
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.reported || !self.probe {
            return;
        }
        // A cancelled probe: open again with the old opening time, so the cooldown has
        // already passed and the next call probes.
        let s = self.breaker.state.load(Ordering::Acquire);
        if epoch(s) == self.epoch && mode(s) == HALF_OPEN {
            self.breaker.transition(s, OPEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(b: &Breaker) {
        b.allow().expect("closed").outage();
    }

    #[test]
    fn opens_after_consecutive_outages_and_a_probe_closes_it() {
        let b = Breaker::new("t", 3, Duration::ZERO);
        fail(&b);
        fail(&b);
        b.allow().unwrap().answered();
        fail(&b);
        fail(&b);
        assert!(!b.is_open(), "an answer resets the count");
        fail(&b);
        assert!(b.is_open());
        let probe = b.allow().expect("cooldown 0: probe allowed");
        assert!(b.allow().is_none(), "one probe at a time");
        probe.answered();
        assert!(!b.is_open());

        let b = Breaker::new("t", 1, Duration::from_secs(3600));
        fail(&b);
        assert!(b.is_open());
        assert!(b.allow().is_none(), "no probe before the cooldown");
    }

    #[test]
    fn a_late_success_from_before_the_open_does_not_close_it() {
        let b = Breaker::new("t", 2, Duration::from_secs(3600));
        let slow = b.allow().unwrap();
        fail(&b);
        fail(&b);
        assert!(b.is_open());
        slow.answered();
        assert!(
            b.is_open(),
            "a call let through before the open cannot close it"
        );
    }

    #[test]
    fn a_late_failure_from_before_a_recovery_does_not_count() {
        let b = Breaker::new("t", 2, Duration::ZERO);
        let slow = b.allow().unwrap();
        fail(&b);
        fail(&b);
        b.allow().unwrap().answered(); // the probe closes it
        slow.outage();
        fail(&b);
        assert!(
            !b.is_open(),
            "one outage of this epoch, below the threshold"
        );
    }

    #[test]
    fn a_failed_probe_reopens_and_a_cancelled_probe_lets_the_next_call_probe() {
        let b = Breaker::new("t", 1, Duration::ZERO);
        fail(&b);
        b.allow().unwrap().outage();
        assert!(b.is_open());
        drop(b.allow().unwrap());
        assert!(b.is_open());
        let probe = b.allow().expect("the next call probes");
        probe.answered();
        assert!(!b.is_open());
    }

    #[test]
    fn half_open_admits_exactly_one_probe_under_concurrency() {
        let b = Breaker::new("t", 1, Duration::ZERO);
        fail(&b);
        let admitted = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        if let Some(p) = b.allow() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                            // Held, never reported: stays the only probe.
                            std::mem::forget(p);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.load(Ordering::Relaxed), 1);
    }
}
