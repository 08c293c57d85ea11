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

/// What [`Cache::invalidate`](crate::Cache::invalidate) or
/// [`Cache::invalidate_all`](crate::Cache::invalidate_all) reached. L1 (in process) is always
/// reached, last.
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

    pub(crate) fn set(&mut self, tier: &str, reach: Reach) {
        match tier {
            "l2" => self.l2 = reach,
            _ => self.l3 = reach,
        }
    }
}
