//! Counters, the serializable [`CacheStats`] snapshot, and emission through `metrics`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

const STRIPES: usize = 8;

#[repr(align(64))]
#[derive(Debug, Default)]
struct Padded(AtomicU64);

/// A counter striped over cache lines, so that threads hitting the cache at once do not bounce
/// one line between cores. One relaxed add per event.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    cells: [Padded; STRIPES],
}

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

fn stripe() -> usize {
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
        s.set(v);
        v
    })
}

impl Counter {
    #[inline]
    pub(crate) fn incr(&self) {
        self.add(1);
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.cells[stripe()].0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.cells.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
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

/// Metric handles, registered once per cache so emission never formats labels.
#[derive(Debug)]
pub(crate) struct MetricHandles {
    requests: [[metrics::Counter; 2]; 3],
    loads_ok: metrics::Counter,
    loads_err: metrics::Counter,
    pub(crate) load_duration: metrics::Histogram,
    evictions: metrics::Counter,
    errors: [metrics::Counter; 2],
    breaker_open: metrics::Gauge,
    entries: metrics::Gauge,
    weight: metrics::Gauge,
    stale: metrics::Counter,
}

impl MetricHandles {
    pub(crate) fn new(ns: &str) -> Self {
        let ns = ns.to_owned();
        let req = |tier: &'static str, outcome: &'static str| metrics::counter!("cache_requests_total", "namespace" => ns.clone(), "tier" => tier, "outcome" => outcome);
        Self {
            requests: [
                [req("l1", "hit"), req("l1", "miss")],
                [req("l2", "hit"), req("l2", "miss")],
                [req("l3", "hit"), req("l3", "miss")],
            ],
            loads_ok: metrics::counter!("cache_loads_total", "namespace" => ns.clone(), "outcome" => "ok"),
            loads_err: metrics::counter!("cache_loads_total", "namespace" => ns.clone(), "outcome" => "error"),
            load_duration: metrics::histogram!("cache_load_duration_seconds", "namespace" => ns.clone()),
            evictions: metrics::counter!("cache_evictions_total", "namespace" => ns.clone(), "tier" => "l1"),
            errors: [
                metrics::counter!("cache_errors_total", "namespace" => ns.clone(), "tier" => "l2"),
                metrics::counter!("cache_errors_total", "namespace" => ns.clone(), "tier" => "l3"),
            ],
            breaker_open: metrics::gauge!("cache_breaker_open", "namespace" => ns.clone()),
            entries: metrics::gauge!("cache_entries", "namespace" => ns.clone(), "tier" => "l1"),
            weight: metrics::gauge!("cache_weight_bytes", "namespace" => ns.clone()),
            stale: metrics::counter!("cache_stale_served_total", "namespace" => ns),
        }
    }

    /// Publishes a snapshot. Counters are set to absolute values so the hit path only touches
    /// this crate's striped counters, never a recorder.
    pub(crate) fn publish(&self, s: &CacheStats) {
        let tiers = [Some(&s.l1), s.l2.as_ref(), s.l3.as_ref()];
        for (handles, tier) in self.requests.iter().zip(tiers) {
            if let Some(t) = tier {
                handles[0].absolute(t.hits);
                handles[1].absolute(t.misses);
            }
        }
        self.loads_ok
            .absolute(s.loads.saturating_sub(s.load_errors));
        self.loads_err.absolute(s.load_errors);
        self.evictions.absolute(s.evictions);
        if let Some(l2) = &s.l2 {
            self.errors[0].absolute(l2.errors);
        }
        if let Some(l3) = &s.l3 {
            self.errors[1].absolute(l3.errors);
        }
        self.breaker_open
            .set(if s.breaker_open { 1.0 } else { 0.0 });
        #[allow(clippy::cast_precision_loss)]
        {
            self.entries.set(s.size as f64);
            self.weight.set(s.l1_weight as f64);
        }
        self.stale.absolute(s.stale_served);
    }
}
