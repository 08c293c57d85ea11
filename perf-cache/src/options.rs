//! [`SetOptions`]: per-call settings of a write, one value instead of more `set_*` variants.

use std::time::Duration;

/// Per-call settings for [`Cache::set_with`](crate::Cache::set_with). Default: every tier's
/// default time to live. Later settings (tags) are added here, not as new methods.
///
/// ```
/// use std::time::Duration;
/// use perf_cache::SetOptions;
/// let o = SetOptions::default().ttl(Duration::from_secs(30));
/// assert_eq!(o.ttl_value(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct SetOptions {
    ttl: Option<Duration>,
}

impl SetOptions {
    /// Time to live in L2 and L3 (L1 keeps `min(ttl, l1_ttl)`). Default: each tier's own. At
    /// least 1 ms.
    ///
    /// ```
    /// let o = perf_cache::SetOptions::default().ttl(std::time::Duration::from_millis(5));
    /// assert!(o.ttl_value().is_some());
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The time to live set with [`ttl`](Self::ttl), if any.
    ///
    /// ```
    /// assert_eq!(perf_cache::SetOptions::default().ttl_value(), None);
    /// ```
    #[must_use]
    pub fn ttl_value(&self) -> Option<std::time::Duration> {
        self.ttl
    }
}
