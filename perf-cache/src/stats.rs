//! Counters, the serializable [`CacheStats`] snapshot, and emission through `metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// Stripes a thread can own: its own writes there need no atomic read-modify-write.
const OWNED: usize = 6;
/// Stripes shared, with atomic adds, by the threads that found no stripe to own.
const SHARED: usize = 2;
const STRIPES: usize = OWNED + SHARED;

#[repr(align(64))]
#[derive(Debug, Default)]
struct Padded(AtomicU64);

/// A counter striped over cache lines, so that threads hitting the cache at once do not bounce
/// one line between cores, and exact whatever the interleaving.
///
/// The first [`OWNED`] live threads to count each own a stripe (in every counter at once)
/// until they exit: the owner is the only writer of its stripe, so its add is a relaxed load
/// and store, not a locked read-modify-write (which is the costly part of a counter on a
/// hit path). Other threads add atomically to one of the [`SHARED`] stripes. Ownership is
/// handed over with acquire/release, so a new owner continues from the last value.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    cells: [Padded; STRIPES],
}

/// Which stripes are owned by a live thread.
static TAKEN: [AtomicBool; OWNED] = [const { AtomicBool::new(false) }; OWNED];
static NEXT_SHARED: AtomicUsize = AtomicUsize::new(0);

/// This thread's stripe; released when the thread exits.
struct Stripe {
    index: usize,
    owned: bool,
}

impl Stripe {
    fn claim() -> Self {
        for (index, taken) in TAKEN.iter().enumerate() {
            if !taken.load(Ordering::Relaxed)
                && taken
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Self { index, owned: true };
            }
        }
        Self::shared()
    }

    fn shared() -> Self {
        Self {
            index: OWNED + NEXT_SHARED.fetch_add(1, Ordering::Relaxed) % SHARED,
            owned: false,
        }
    }
}

impl Drop for Stripe {
    fn drop(&mut self) {
        if self.owned {
            // Release: the next owner sees every value this thread stored.
            TAKEN[self.index].store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static STRIPE: Stripe = Stripe::claim();
}

impl Counter {
    #[inline]
    pub(crate) fn incr(&self) {
        self.add(1);
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        let done = STRIPE.try_with(|s| {
            let cell = &self.cells[s.index].0;
            if s.owned {
                // Only this thread writes this stripe.
                cell.store(
                    cell.load(Ordering::Relaxed).wrapping_add(n),
                    Ordering::Relaxed,
                );
            } else {
                cell.fetch_add(n, Ordering::Relaxed);
            }
        });
        if done.is_err() {
            // This thread's stripe is already gone (a count from another thread-local's
            // destructor): add to a shared stripe.
            self.cells[OWNED].0.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.cells
            .iter()
            .fold(0, |sum, c| sum.wrapping_add(c.0.load(Ordering::Relaxed)))
    }
}

/// Per-tier counters.
#[derive(Debug, Default)]
pub(crate) struct TierCounters {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) errors: Counter,
}

/// Every counter of one cache.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) l1: TierCounters,
    pub(crate) l2: TierCounters,
    pub(crate) l3: TierCounters,
    /// Requests that no tier could answer.
    pub(crate) misses: Counter,
    pub(crate) loads: Counter,
    pub(crate) load_errors: Counter,
    pub(crate) load_nanos: Counter,
    pub(crate) stale_served: Counter,
    pub(crate) refreshes: Counter,
    /// Fills (loads, promotions, refreshes) not stored because an invalidation or `set` of
    /// their key began after them.
    pub(crate) stale_fills_dropped: Counter,
    /// Cluster-wide single-flight (see `cache/lease.rs`).
    pub(crate) lease: crate::cache::LeaseCounters,
    /// Stale values served because a load passed its soft timeout.
    pub(crate) soft_timeouts: Counter,
    /// Callers that stopped waiting for a load at its hard timeout.
    pub(crate) hard_timeouts: Counter,
}

/// Hits, misses and errors of one tier.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct TierStats {
    /// Lookups this tier answered.
    pub hits: u64,
    /// Lookups this tier could not answer (including undecodable or expired entries).
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when there were no lookups.
    pub hit_rate: f64,
    /// Failed operations (L2/L3 only; each was treated as a miss or no-op).
    pub errors: u64,
}

/// A snapshot of a cache's statistics; serializes to JSON with the seed's top-level fields
/// `size, max_size, hits, misses, hit_rate, total_requests`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use perf_cache::{Cache, Key};
///
/// let cache = Cache::<u32>::builder().build().await?;
/// cache.set(&Key::new("a"), 1).await?;
/// let _ = cache.get(&Key::new("a")).await;
/// let _ = cache.get(&Key::new("b")).await;
/// let stats = cache.stats();
/// assert_eq!((stats.hits, stats.misses, stats.total_requests), (1, 1, 2));
/// let json = serde_json::to_value(&stats).unwrap();
/// assert_eq!(json["hit_rate"], 0.5);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct CacheStats {
    /// The cache's namespace.
    pub namespace: String,
    /// Entries in L1.
    pub size: u64,
    /// L1 capacity (entries, or bytes when sized by weight).
    pub max_size: u64,
    /// Requests answered by any tier.
    pub hits: u64,
    /// Requests no tier could answer.
    pub misses: u64,
    /// `hits / total_requests`, 0 when there were none.
    pub hit_rate: f64,
    /// `hits + misses`.
    pub total_requests: u64,
    /// In-process tier.
    pub l1: TierStats,
    /// Redis tier, when configured.
    pub l2: Option<TierStats>,
    /// Disk tier, when configured.
    pub l3: Option<TierStats>,
    /// Loader runs.
    pub loads: u64,
    /// Loader runs that returned an error (never cached).
    pub load_errors: u64,
    /// Total time spent in loaders, in seconds.
    pub load_time_seconds: f64,
    /// L1 entries evicted for capacity.
    pub evictions: u64,
    /// Weighted size of L1 (bytes when sized by weight, else equals `size`).
    pub l1_weight: u64,
    /// Whether the L2 circuit breaker is open (Redis calls skipped).
    pub breaker_open: bool,
    /// Expired values served because the loader failed (stale-if-error).
    pub stale_served: u64,
    /// Background refresh-ahead loads started.
    pub refreshes: u64,
    /// Loaded, promoted or refreshed values not stored because an invalidation or `set` of
    /// their key (on this instance, or in Redis by another) began after their load did; each
    /// was still returned to its caller.
    pub stale_fills_dropped: u64,
    /// [`SingleFlight::Cluster`](crate::SingleFlight::Cluster): cold loads that took the
    /// lease and ran the loader.
    pub lease_acquired: u64,
    /// Cold loads that found another instance's lease and waited for its value (however the
    /// wait ended; one that got the value also counts an L2 hit).
    pub lease_waits: u64,
    /// Waits that reached [`lease_wait`](crate::CacheBuilder::lease_wait): the loader then ran
    /// without the lease.
    pub lease_wait_timeouts: u64,
    /// Cold loads of a `Cluster` view that fell back to process single-flight (no Redis, the
    /// breaker open, a Redis error, a plain view).
    pub lease_fallbacks: u64,
    /// Stale values served because the load had not finished within its soft timeout (the
    /// load went on in the background).
    pub soft_timeouts: u64,
    /// Callers (leaders and waiters) that stopped waiting for a load at its hard timeout and
    /// got [`LoadError::TimedOut`](crate::LoadError::TimedOut) (the load went on in the
    /// background).
    pub hard_timeouts: u64,
}

pub(crate) fn rate(hits: u64, misses: u64) -> f64 {
    let total = hits.saturating_add(misses);
    if total == 0 {
        0.0
    } else {
        // Precision loss only above 2^53 requests.
        #[allow(clippy::cast_precision_loss)]
        let r = hits as f64 / total as f64;
        r
    }
}

impl TierCounters {
    pub(crate) fn snapshot(&self) -> TierStats {
        let (hits, misses) = (self.hits.get(), self.misses.get());
        TierStats {
            hits,
            misses,
            hit_rate: rate(hits, misses),
            errors: self.errors.get(),
        }
    }
}

/// Emission through the `metrics` facade. Metrics are looked up in the recorder installed *at
/// publication time* (not when the cache was built), so a recorder installed after the cache
/// still receives everything; a lookup per metric per publication is cheap at one per second.
#[derive(Debug)]
pub(crate) struct Metrics {
    namespace: String,
    /// `cache_load_duration_seconds{namespace}`, built once: recording a load looks it up in
    /// the recorder installed at that moment without allocating its label again (the
    /// `histogram!` macro cloned the namespace into a new label set on every load).
    load_duration: metrics::Key,
}

/// Where this crate's histograms come from, for recorders that filter by it (what the
/// `histogram!` macro would pass).
static LOAD_METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Metrics {
    pub(crate) fn new(namespace: &str) -> Self {
        let label = metrics::Label::new("namespace", namespace.to_owned());
        Self {
            namespace: namespace.to_owned(),
            load_duration: metrics::Key::from_parts("cache_load_duration_seconds", vec![label]),
        }
    }

    /// Records one loader run's duration.
    pub(crate) fn record_load(&self, seconds: f64) {
        metrics::with_recorder(|r| r.register_histogram(&self.load_duration, &LOAD_METADATA))
            .record(seconds);
    }

    /// Publishes a snapshot. Counters are set to absolute values, so the hit path only touches
    /// this crate's striped counters, never a recorder.
    pub(crate) fn publish(&self, s: &CacheStats) {
        let ns = || self.namespace.clone();
        let tiers = [
            ("l1", Some(&s.l1)),
            ("l2", s.l2.as_ref()),
            ("l3", s.l3.as_ref()),
        ];
        for (tier, stats) in tiers {
            if let Some(t) = stats {
                metrics::counter!("cache_requests_total", "namespace" => ns(), "tier" => tier, "outcome" => "hit").absolute(t.hits);
                metrics::counter!("cache_requests_total", "namespace" => ns(), "tier" => tier, "outcome" => "miss").absolute(t.misses);
                if tier != "l1" {
                    metrics::counter!("cache_errors_total", "namespace" => ns(), "tier" => tier)
                        .absolute(t.errors);
                }
            }
        }
        metrics::counter!("cache_loads_total", "namespace" => ns(), "outcome" => "ok")
            .absolute(s.loads.saturating_sub(s.load_errors));
        metrics::counter!("cache_loads_total", "namespace" => ns(), "outcome" => "error")
            .absolute(s.load_errors);
        metrics::counter!("cache_evictions_total", "namespace" => ns(), "tier" => "l1")
            .absolute(s.evictions);
        metrics::counter!("cache_stale_served_total", "namespace" => ns()).absolute(s.stale_served);
        metrics::counter!("cache_stale_fills_dropped_total", "namespace" => ns())
            .absolute(s.stale_fills_dropped);
        for (outcome, n) in [
            ("acquired", s.lease_acquired),
            ("waited", s.lease_waits),
            ("timeout", s.lease_wait_timeouts),
            ("fallback", s.lease_fallbacks),
        ] {
            metrics::counter!("cache_lease_total", "namespace" => ns(), "outcome" => outcome)
                .absolute(n);
        }
        metrics::counter!("cache_load_timeouts_total", "namespace" => ns(), "kind" => "soft")
            .absolute(s.soft_timeouts);
        metrics::counter!("cache_load_timeouts_total", "namespace" => ns(), "kind" => "hard")
            .absolute(s.hard_timeouts);
        metrics::gauge!("cache_breaker_open", "namespace" => ns()).set(if s.breaker_open {
            1.0
        } else {
            0.0
        });
        // Precision loss only above 2^53 entries or bytes.
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("cache_entries", "namespace" => ns(), "tier" => "l1")
                .set(s.size as f64);
            metrics::gauge!("cache_weight_bytes", "namespace" => ns()).set(s.l1_weight as f64);
        }
    }
}

/// Statistics of a [`SessionStore`](crate::SessionStore) since it was built.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
/// use perf_cache::SessionStore;
///
/// let sessions = SessionStore::<String>::builder()
///     .redis_url(url)
///     .namespace(format!("stats-doc-{}", std::process::id()))
///     .build()
///     .await?;
/// assert_eq!(sessions.get("unknown").await?, None);
/// assert_eq!(sessions.stats().decode_failures, 0, "absent, not undecodable");
/// # Ok(()) }
/// ```
#[cfg(feature = "redis")]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionStats {
    /// Stored sessions that could not be decoded (written in another format, by another
    /// version of the session type, or corrupt). Each was logged, without the session id or
    /// its data, and read as absent.
    pub decode_failures: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn live_threads_own_distinct_stripes() {
        // More threads than owned stripes, all alive at once.
        let threads = OWNED * 3;
        let barrier = Arc::new(Barrier::new(threads));
        let stripes: Vec<(usize, bool)> = (0..threads)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let mine = STRIPE.with(|s| (s.index, s.owned));
                    // Hold the stripe until every thread has one.
                    barrier.wait();
                    mine
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let mut owned: Vec<usize> = stripes.iter().filter(|s| s.1).map(|s| s.0).collect();
        let n = owned.len();
        owned.sort_unstable();
        owned.dedup();
        assert_eq!(
            owned.len(),
            n,
            "an owned stripe has a single owner: {stripes:?}"
        );
        assert!(n <= OWNED);
        assert!(
            stripes
                .iter()
                .all(|&(i, o)| o == (i < OWNED) && i < STRIPES),
            "{stripes:?}"
        );
    }

    #[test]
    fn counts_are_exact_across_racing_and_exiting_threads() {
        let counter = Arc::new(Counter::default());
        // Waves of threads: stripes are released by the threads that exit and taken over by
        // the next wave, which must continue from the values stored before.
        for _ in 0..4 {
            let handles: Vec<_> = (0..OWNED * 2)
                .map(|_| {
                    let counter = Arc::clone(&counter);
                    std::thread::spawn(move || {
                        for _ in 0..10_000 {
                            counter.incr();
                        }
                        counter.add(5);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
        assert_eq!(counter.get(), 4 * (OWNED as u64 * 2) * 10_005);
    }
}
