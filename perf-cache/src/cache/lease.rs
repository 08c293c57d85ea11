//! Cluster-wide single-flight: the step a process's flight leader takes between missing every
//! tier and running the loader when its view (or the call) asks for
//! [`SingleFlight::Cluster`].
//!
//! One script either finds the value already stored (another instance loaded it meanwhile),
//! or takes the lease `<namespace>%:l:{<namespace>:<key>}` with a random token (`SET NX PX`),
//! or reports it held. The holder runs the loader, stores the value, then deletes the lease
//! with a compare-and-delete (its token only) that publishes the value key on
//! `<namespace>%:lease`; a cancelled or panicking holder's guard spawns that delete, else the
//! lease expires after `lease_ttl`. The others poll the same script for at most `lease_wait`,
//! each poll right after that message (see [`LeaseWakers`]) or, when it is lost, after a
//! backoff (1 ms growing to 20 ms, jittered): the value ends the wait (an L2 hit); a lease
//! that vanished without a value (the holder failed) is taken by the first poll that finds it
//! free; past the bound the caller loads without the lease.

use std::sync::Arc;

use crate::SingleFlight;
use crate::backend::Shared;
use crate::fence::Ticket;
use crate::stats::Counter;

/// The lease counters of one view.
#[derive(Debug, Default)]
pub(crate) struct LeaseCounters {
    pub(crate) acquired: Counter,
    pub(crate) waits: Counter,
    pub(crate) timeouts: Counter,
    pub(crate) fallbacks: Counter,
}

/// What the lease step decided for a cold load.
pub(super) enum Leased<V> {
    /// Another instance stored the value (or a usable "not found") while this one waited.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Stored(Option<V>),
    /// Run the loader; holding the lease when `Some` (release it once the value is stored).
    Load(Option<LeaseGuard>),
}

/// A held lease. [`release`](Self::release) deletes it; dropped unreleased (the load was
/// cancelled or panicked), it spawns the delete on the current runtime, or, without one,
/// leaves the lease to expire.
pub(super) struct LeaseGuard {
    shared: Arc<Shared>,
    full: Vec<u8>,
    token: Vec<u8>,
    released: bool,
}

impl LeaseGuard {
    /// Deletes the lease if it still holds this guard's token (a failure is logged; the lease
    /// then expires).
    pub(super) async fn release(mut self) {
        self.released = true;
        release(&self.shared, &self.full, &self.token).await;
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        let full = std::mem::take(&mut self.full);
        let token = std::mem::take(&mut self.token);
        runtime.spawn(async move { release(&shared, &full, &token).await });
    }
}

async fn release(shared: &Shared, full: &[u8], token: &[u8]) {
    #[cfg(feature = "redis")]
    if let Some(l2) = &shared.l2
        && let Err(crate::tiers::TierError::Failed(m)) = l2
            .lease_release(
                full,
                token,
                shared.bus.as_ref().map(|b| b.lease_channel.as_str()),
            )
            .await
    {
        shared
            .log
            .warn(&shared.namespace, "l2", "lease_release", "*", &m);
    }
    #[cfg(not(feature = "redis"))]
    let _ = (shared, full, token);
}

/// A token no other lease holder has: a random per-process key and a counter.
#[cfg(feature = "redis")]
fn token() -> Vec<u8> {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PROCESS: LazyLock<u64> = LazyLock::new(crate::bus::random_id);
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:016x}",
        *PROCESS,
        N.fetch_add(1, Ordering::Relaxed) ^ crate::bus::random_id()
    )
    .into_bytes()
}

impl<V, C> super::Cache<V, C>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    C: crate::Codec,
{
    /// The lease step of a cold load (`flight`: the call's override of the view's mode).
    /// Process mode, no Redis, a plain view or invalidations waiting for replay: load at once.
    pub(super) async fn lease(
        &self,
        key: &crate::Key,
        flight: Option<SingleFlight>,
        accept_negative: bool,
        ticket: &Ticket,
    ) -> Leased<V> {
        let inner = &*self.inner;
        if flight.unwrap_or(inner.flight.mode) != SingleFlight::Cluster {
            return Leased::Load(None);
        }
        #[cfg(feature = "redis")]
        if let Some(l2) = &inner.shared.l2
            && !inner.plain
            && inner.shared.replay.clear()
        {
            return self.cluster_lease(l2, key, accept_negative, ticket).await;
        }
        let _ = (key, accept_negative, ticket);
        inner.counters.lease.fallbacks.incr();
        Leased::Load(None)
    }

    #[cfg(feature = "redis")]
    async fn cluster_lease(
        &self,
        l2: &crate::tiers::L2,
        key: &crate::Key,
        accept_negative: bool,
        ticket: &Ticket,
    ) -> Leased<V> {
        use crate::tiers::redis::Acquire;
        use backon::BackoffBuilder as _;

        let inner = &*self.inner;
        let c = &inner.counters.lease;
        let full = crate::key::full_key(&inner.namespace, key);
        let token = token();
        let deadline = tokio::time::Instant::now() + inner.flight.lease_wait;
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(1))
            .with_max_delay(std::time::Duration::from_millis(20))
            .with_jitter()
            .with_max_times(usize::MAX)
            .build();
        let mut want_value = true;
        let mut waiting = false;
        // Woken by the holder's release (published on the bus's lease channel, see
        // `LeaseWakers`), or by the next poll's timer when that message is lost.
        let wake = inner
            .shared
            .bus
            .as_ref()
            .map(|bus| bus.lease_wakers.register(&full));
        loop {
            // Created before the poll: a release between the poll and the wait still wakes it.
            let woken = wake.as_ref().map(|w| w.notify.notified());
            let got = l2
                .lease_acquire(&full, &token, inner.flight.lease_ttl, want_value)
                .await;
            match got {
                Ok(Acquire::Acquired) => {
                    c.acquired.incr();
                    return Leased::Load(Some(LeaseGuard {
                        shared: Arc::clone(&inner.shared),
                        full,
                        token,
                        released: false,
                    }));
                }
                Ok(Acquire::Stored(bytes)) => {
                    // A tagged entry whose tags were invalidated reads as a miss, as in L2.
                    let (got, stamps) = self.verify_tags(Ok(Some(bytes))).await;
                    let usable = self
                        .check(l2, &inner.counters.l2, key, got)
                        .filter(|(v, _, _)| v.is_some() || accept_negative);
                    match usable {
                        Some((value, remaining, bytes)) => {
                            let found = self
                                .found(key, value, remaining, bytes.len(), ticket, stamps)
                                .await;
                            return Leased::Stored(match found {
                                super::Lower::Value(v) => Some(v),
                                _ => None,
                            });
                        }
                        // Unusable here (another format, a "not found" this caller cannot
                        // use): the next attempt asks for the lease alone.
                        None => want_value = false,
                    }
                }
                Ok(Acquire::Held) => {
                    if !waiting {
                        waiting = true;
                        c.waits.incr();
                    }
                    want_value = true;
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        c.timeouts.incr();
                        tracing::debug!(namespace = %inner.namespace, key_prefix = key.prefix(), "lease wait bound reached; loading without the lease");
                        return Leased::Load(None);
                    }
                    let pause = delays
                        .next()
                        .unwrap_or(std::time::Duration::from_millis(20));
                    let wait_until = (now + pause).min(deadline);
                    match woken {
                        Some(woken) => {
                            let _ = tokio::time::timeout_at(wait_until, woken).await;
                        }
                        None => tokio::time::sleep_until(wait_until).await,
                    }
                }
                Err(e) => {
                    c.fallbacks.incr();
                    self.tier_error(l2, &inner.counters.l2, "lease", key.prefix(), e);
                    return Leased::Load(None);
                }
            }
        }
    }
}

/// Waiters for other instances' leases in this process, woken when a holder releases one:
/// the release script publishes the value key on `<namespace>%:lease`, which the bus's
/// subscriber hands to [`wake`](Self::wake). Pub/sub is at-most-once, so a lost message only
/// leaves the waiter to its next poll.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct LeaseWakers {
    /// Value key → its waiters' `Notify` and how many are registered.
    map: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Registered>>,
}

/// A key's `Notify` and how many waiters hold it.
type Registered = (Arc<tokio::sync::Notify>, usize);

impl LeaseWakers {
    /// Wakes every waiter of the stored key `full`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn wake(&self, full: &[u8]) {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((notify, _)) = map.get(full) {
            notify.notify_waiters();
        }
    }

    /// Registers a waiter of `full` until the returned guard drops.
    #[cfg(feature = "redis")]
    fn register<'a>(&'a self, full: &[u8]) -> WakeGuard<'a> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map
            .entry(full.to_vec())
            .or_insert_with(|| (Arc::default(), 0));
        entry.1 += 1;
        WakeGuard {
            wakers: self,
            full: full.to_vec(),
            notify: Arc::clone(&entry.0),
        }
    }
}

/// One registered waiter; unregisters on drop.
#[cfg(feature = "redis")]
struct WakeGuard<'a> {
    wakers: &'a LeaseWakers,
    full: Vec<u8>,
    notify: Arc<tokio::sync::Notify>,
}

#[cfg(feature = "redis")]
impl Drop for WakeGuard<'_> {
    fn drop(&mut self) {
        let mut map = self
            .wakers
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = map.get_mut(&self.full) {
            entry.1 -= 1;
            if entry.1 == 0 {
                map.remove(&self.full);
            }
        }
    }
}
