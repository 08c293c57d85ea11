//! [`Backend::stats`]: the statistics of every typed view of a backend, summed.

use std::sync::{Arc, PoisonError, Weak};

use crate::backend::Publish;
use crate::stats::rate;
use crate::tiers::Tier;
use crate::tiers::l1::L1Store;
use crate::{Backend, CacheStats, TierStats};

impl Backend {
    /// The statistics of every live [`Cache`](crate::Cache) view of this backend (including the
    /// views `#[cached]` functions build on it), summed: hits, misses and errors per tier,
    /// loads, stale values served, timeouts and leases are exact sums of the views' counters;
    /// `size`, `max_size`, `l1_weight`, `evictions` and `breaker_open` are the backend's own
    /// (its shared L1 and Redis connection). A dropped view's counts leave the sum with it;
    /// `local` views and plain `fn`s are not counted (they have no statistics), though their
    /// entries are in `size`. The namespace is the backend's.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Backend, Cache, Key};
    ///
    /// let backend = Backend::builder().namespace("shop").build().await?;
    /// let users = Cache::<String>::builder().prefix("user").build_on(&backend)?;
    /// let stock = Cache::<u32>::builder().prefix("stock").build_on(&backend)?;
    /// users.set(&Key::new(1_u64), "Ada".to_owned()).await?;
    /// let _ = users.get(&Key::new(1_u64)).await; // hit
    /// let _ = stock.get(&Key::new(1_u64)).await; // miss
    /// let _ = stock.get(&Key::new(2_u64)).await; // miss
    /// let stats = backend.stats();
    /// assert_eq!((stats.hits, stats.misses, stats.total_requests), (1, 2, 3));
    /// assert_eq!(stats.namespace, "shop");
    /// assert_eq!(stats.size, 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let shared = &self.shared;
        let views: Vec<Arc<dyn Publish>> = shared
            .views
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut total = CacheStats {
            namespace: shared.namespace.clone(),
            l2: shared.l2.as_ref().map(|_| TierStats::default()),
            l3: shared.l3.as_ref().map(|_| TierStats::default()),
            ..CacheStats::default()
        };
        for view in views {
            let s = view.stats();
            total.hits += s.hits;
            total.misses += s.misses;
            add_tier(&mut total.l1, &s.l1);
            if let (Some(t), Some(v)) = (total.l2.as_mut(), s.l2.as_ref()) {
                add_tier(t, v);
            }
            if let (Some(t), Some(v)) = (total.l3.as_mut(), s.l3.as_ref()) {
                add_tier(t, v);
            }
            total.loads += s.loads;
            total.load_errors += s.load_errors;
            total.load_time_seconds += s.load_time_seconds;
            total.stale_served += s.stale_served;
            total.refreshes += s.refreshes;
            total.stale_fills_dropped += s.stale_fills_dropped;
            total.lease_acquired += s.lease_acquired;
            total.lease_waits += s.lease_waits;
            total.lease_wait_timeouts += s.lease_wait_timeouts;
            total.lease_fallbacks += s.lease_fallbacks;
            total.soft_timeouts += s.soft_timeouts;
            total.hard_timeouts += s.hard_timeouts;
        }
        for tier in [Some(&mut total.l1), total.l2.as_mut(), total.l3.as_mut()]
            .into_iter()
            .flatten()
        {
            tier.hit_rate = rate(tier.hits, tier.misses);
        }
        total.total_requests = total.hits + total.misses;
        total.hit_rate = rate(total.hits, total.misses);
        total.size = shared.l1.len();
        total.max_size = shared.l1_capacity;
        total.l1_weight = shared.l1.weight();
        total.evictions = shared.evictions.get();
        total.breaker_open = shared.l2.as_ref().is_some_and(|t| t.breaker_open());
        total
    }
}

fn add_tier(total: &mut TierStats, view: &TierStats) {
    total.hits += view.hits;
    total.misses += view.misses;
    total.errors += view.errors;
}
