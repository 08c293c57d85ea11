//! [`SetOptions`]: per-call settings of a write, one value instead of more `set_*` variants.

use std::time::Duration;

/// Per-call settings for [`Cache::set_with`](crate::Cache::set_with). Default: every tier's
/// default time to live, no tags.
///
/// ```
/// use std::time::Duration;
/// use perf_cache::SetOptions;
/// let o = SetOptions::default().ttl(Duration::from_secs(30)).tags(["scan:7"]);
/// assert_eq!(o.ttl_value(), Some(Duration::from_secs(30)));
/// assert_eq!(o.tags_value(), ["scan:7"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct SetOptions {
    ttl: Option<Duration>,
    tags: Vec<String>,
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

    /// Tags of the entry (added to any set before): [`Backend::invalidate_tag`] of any of them
    /// invalidates it. Default: none. Each tag 1 to 128 bytes without control characters, at
    /// most 32 per entry (duplicates count once); checked by `set_with`.
    ///
    /// [`Backend::invalidate_tag`]: crate::Backend::invalidate_tag
    ///
    /// ```
    /// let o = perf_cache::SetOptions::default().tags(["scan:7", "target:a.org"]);
    /// assert_eq!(o.tags_value().len(), 2);
    /// ```
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
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

    /// The tags set with [`tags`](Self::tags).
    ///
    /// ```
    /// assert!(perf_cache::SetOptions::default().tags_value().is_empty());
    /// ```
    #[must_use]
    pub fn tags_value(&self) -> &[String] {
        &self.tags
    }
}
