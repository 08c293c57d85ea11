//! [`Invalidation`]: what an invalidation reached, tier by tier.

/// Whether an invalidation reached one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub enum Reach {
    /// The cache has no such tier.
    #[default]
    NotConfigured,
    /// The tier removed the key(s).
    Done,
    /// The tier failed (I/O error, timeout, a `SCAN` that stopped part-way): the old value may
    /// still be served from it until it expires.
    Failed,
    /// The tier was skipped because its circuit breaker is open.
    Skipped,
}

/// What an invalidation ([`Cache::invalidate`](crate::Cache::invalidate),
/// [`Cache::invalidate_all`](crate::Cache::invalidate_all),
/// [`Cache::invalidate_pattern`](crate::Cache::invalidate_pattern),
/// [`Backend::invalidate_group`](crate::Backend::invalidate_group), ...) reached. L1 (in
/// process) is always reached, last.
///
/// Key, pattern and group invalidations also say how many stored keys each tier removed
/// (`l1_removed`, `l2_removed`, `l3_removed`); `invalidate_all` leaves them at 0.
///
/// ```
/// use perf_cache::{Invalidation, Reach};
/// let nothing_shared = Invalidation::default();
/// assert!(nothing_shared.is_complete());
/// assert_eq!(nothing_shared.l2, Reach::NotConfigured);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
#[must_use = "an invalidation can fail to reach Redis or the disk; check `is_complete`"]
pub struct Invalidation {
    /// Redis.
    pub l2: Reach,
    /// The disk file.
    pub l3: Reach,
    /// Entries removed from this process's L1 (key, pattern and group invalidations).
    pub l1_removed: u64,
    /// Keys removed from Redis (key, pattern and group invalidations; `UNLINK`'s count).
    pub l2_removed: u64,
    /// Rows removed from the disk file (key, pattern and group invalidations).
    pub l3_removed: u64,
    /// The tag's new generation in Redis ([`Backend::invalidate_tag`](crate::Backend::invalidate_tag)
    /// with Redis reached); `None` otherwise.
    pub tag_generation: Option<u64>,
    /// Deliveries of this invalidation on the bus, as `PUBLISH` counted them: every instance
    /// subscribed to the namespace, this one included (0 without a bus, or with
    /// [`bus_confirm_timeout`](crate::BackendBuilder::bus_confirm_timeout) zero).
    pub bus_reached: u64,
    /// Of those, the ones confirmed applied before the call returned. When it equals
    /// [`bus_reached`](Self::bus_reached), a read on any other instance after this call
    /// returned sees the invalidation.
    pub bus_confirmed: u64,
}

impl Invalidation {
    /// Whether every configured tier was reached.
    ///
    /// ```
    /// assert!(perf_cache::Invalidation::default().is_complete());
    /// ```
    #[must_use]
    pub fn is_complete(&self) -> bool {
        [self.l2, self.l3]
            .iter()
            .all(|r| matches!(r, Reach::Done | Reach::NotConfigured))
    }

    /// Records `reach` for `tier` unless the tier already did worse in this invalidation
    /// (several operations of a group on one tier: the report keeps the worst).
    /// Whether every instance the bus reached confirmed applying the invalidation before it
    /// returned (see [`bus_confirmed`](Self::bus_confirmed)). True without a bus; a publish
    /// that failed reaches nobody (the other instances are then asked to resync, see
    /// [`BusStats::publish_failures`](crate::BusStats::publish_failures)).
    ///
    /// ```
    /// assert!(perf_cache::Invalidation::default().is_confirmed());
    /// ```
    #[must_use]
    pub fn is_confirmed(&self) -> bool {
        self.bus_confirmed >= self.bus_reached
    }

    /// Adds what the bus confirmed of this invalidation.
    pub(crate) fn confirmed(&mut self, c: crate::bus_confirm::Confirmed) {
        self.bus_reached += c.reached;
        self.bus_confirmed += c.confirmed;
    }

    pub(crate) fn worsen(&mut self, tier: &str, reach: Reach) {
        let rank = |r: Reach| match r {
            Reach::NotConfigured => 0,
            Reach::Done => 1,
            Reach::Skipped => 2,
            Reach::Failed => 3,
        };
        let current = if tier == "l2" { self.l2 } else { self.l3 };
        if rank(reach) > rank(current) {
            self.set(tier, reach);
        }
    }

    pub(crate) fn set(&mut self, tier: &str, reach: Reach) {
        match tier {
            "l2" => self.l2 = reach,
            _ => self.l3 = reach,
        }
    }
}
