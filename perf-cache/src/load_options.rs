//! [`LoadOptions`]: per-call settings of a load (`get_or_load_with`, `try_get_or_load_with`).

use std::time::Duration;

/// Per-call settings for [`Cache::get_or_load_with`](crate::Cache::get_or_load_with) and
/// [`Cache::try_get_or_load_with`](crate::Cache::try_get_or_load_with). Default: no tags, each
/// tier's default time to live. A loader may still choose its result's TTL and add tags at run
/// time ([`set_result_ttl`](crate::set_result_ttl), [`set_result_tags`](crate::set_result_tags)).
///
/// ```
/// use std::time::Duration;
/// use perf_cache::LoadOptions;
/// let o = LoadOptions::default().tags(["scan:7"]).ttl(Duration::from_secs(60));
/// assert_eq!(o.tags_value(), ["scan:7"]);
/// assert_eq!(o.ttl_value(), Some(Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct LoadOptions {
    pub(crate) tags: Vec<String>,
    pub(crate) ttl: Option<Duration>,
}

impl LoadOptions {
    /// Tags of the loaded entry (added to any set before). Their generations are taken when
    /// the load begins, so an [`invalidate_tag`](crate::Backend::invalidate_tag) during the
    /// load makes its result a miss everywhere. Default: none. Each tag 1 to 128 bytes without
    /// control characters, at most 32 per entry; invalid tags are logged and the result is
    /// returned but not cached.
    ///
    /// ```
    /// let o = perf_cache::LoadOptions::default().tags(["a"]).tags(vec!["b".to_owned()]);
    /// assert_eq!(o.tags_value(), ["a", "b"]);
    /// ```
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Time to live of the loaded value in L2 and L3 (L1 keeps `min(ttl, l1_ttl)`), unless the
    /// loader calls [`set_result_ttl`](crate::set_result_ttl). Default: each tier's own. A zero
    /// TTL is ignored.
    ///
    /// ```
    /// let o = perf_cache::LoadOptions::default().ttl(std::time::Duration::from_secs(5));
    /// assert!(o.ttl_value().is_some());
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = (!ttl.is_zero()).then_some(ttl);
        self
    }

    /// The tags set with [`tags`](Self::tags).
    ///
    /// ```
    /// assert!(perf_cache::LoadOptions::default().tags_value().is_empty());
    /// ```
    #[must_use]
    pub fn tags_value(&self) -> &[String] {
        &self.tags
    }

    /// The time to live set with [`ttl`](Self::ttl), if any.
    ///
    /// ```
    /// assert_eq!(perf_cache::LoadOptions::default().ttl_value(), None);
    /// ```
    #[must_use]
    pub fn ttl_value(&self) -> Option<Duration> {
        self.ttl
    }
}
