//! [`LoadOptions`]: per-call settings of a load, one value instead of more `get_or_load_*`
//! variants.

use std::time::Duration;

use crate::error::invalid;

/// Per-call settings for [`Cache::get_or_load_with`](crate::Cache::get_or_load_with) and
/// [`Cache::try_get_or_load_with`](crate::Cache::try_get_or_load_with). Each setting left unset
/// takes the view's default ([`CacheBuilder::soft_timeout`](crate::CacheBuilder::soft_timeout),
/// [`CacheBuilder::hard_timeout`](crate::CacheBuilder::hard_timeout), the tiers' TTLs). Later
/// settings are added here as fields, not as new methods on [`Cache`](crate::Cache).
///
/// Ranges (checked when the call starts; out of range is
/// [`LoadError::InvalidOptions`](crate::LoadError::InvalidOptions) naming the field): each
/// timeout 1 ms ..= 1 day, the soft timeout below the hard one (the view's, when only one is
/// set here), `ttl` 1 ms ..= 1 year; a soft timeout only on a view with
/// [`stale_if_error`](crate::CacheBuilder::stale_if_error).
///
/// ```
/// use std::time::Duration;
/// use perf_cache::LoadOptions;
///
/// let o = LoadOptions::default()
///     .soft_timeout(Duration::from_millis(200))
///     .hard_timeout(Duration::from_secs(2))
///     .ttl(Duration::from_secs(30));
/// assert_eq!(o.get_soft_timeout(), Some(Duration::from_millis(200)));
/// assert_eq!(o.get_hard_timeout(), Some(Duration::from_secs(2)));
/// assert_eq!(o.get_ttl(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct LoadOptions {
    soft_timeout: Option<Duration>,
    hard_timeout: Option<Duration>,
    pub(crate) ttl: Option<Duration>,
    single_flight: Option<crate::SingleFlight>,
    pub(crate) tags: Vec<String>,
}

/// Why a soft timeout without a stale window is refused.
pub(crate) const SOFT_NEEDS_STALE: &str = "only with stale_if_error on the view (the window a stale value is kept for, which a soft timeout serves)";

/// Longest soft or hard timeout.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

impl LoadOptions {
    /// Past this, a caller that holds a stale value gets it while the load goes on in the
    /// background; see [`CacheBuilder::soft_timeout`](crate::CacheBuilder::soft_timeout).
    /// Default: the view's (none unless set there).
    ///
    /// ```
    /// let o = perf_cache::LoadOptions::default().soft_timeout(std::time::Duration::from_millis(50));
    /// assert!(o.get_soft_timeout().is_some());
    /// ```
    pub fn soft_timeout(mut self, after: Duration) -> Self {
        self.soft_timeout = Some(after);
        self
    }

    /// Past this, the caller gets [`LoadError::TimedOut`](crate::LoadError::TimedOut) while the
    /// load goes on in the background; see
    /// [`CacheBuilder::hard_timeout`](crate::CacheBuilder::hard_timeout). Default: the view's
    /// (none unless set there).
    ///
    /// ```
    /// let o = perf_cache::LoadOptions::default().hard_timeout(std::time::Duration::from_secs(2));
    /// assert!(o.get_hard_timeout().is_some());
    /// ```
    pub fn hard_timeout(mut self, after: Duration) -> Self {
        self.hard_timeout = Some(after);
        self
    }

    /// Time to live of this call's loaded value, as if the loader called
    /// [`set_result_ttl`](crate::set_result_ttl) first (a `set_result_ttl` in the loader still
    /// wins): `ttl` in L2 and L3, `min(ttl, l1_ttl)` in L1. Default: the tiers' own.
    ///
    /// ```
    /// let o = perf_cache::LoadOptions::default().ttl(std::time::Duration::from_secs(5));
    /// assert_eq!(o.get_ttl(), Some(std::time::Duration::from_secs(5)));
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Tags of the loaded entry (added to any set before). Their generations are taken when
    /// the load begins, so an [`invalidate_tag`](crate::Backend::invalidate_tag) during the
    /// load makes its result a miss everywhere. Default: none. Each tag 1 to 128 bytes without
    /// control characters, at most 32 per entry; invalid tags are logged and the result is
    /// returned but not cached. A loader may add tags at run time with
    /// [`set_result_tags`](crate::set_result_tags).
    ///
    /// ```
    /// let o = perf_cache::LoadOptions::default().tags(["a"]).tags(vec!["b".to_owned()]);
    /// assert_eq!(o.get_tags(), ["a", "b"]);
    /// ```
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// The tags set with [`tags`](Self::tags).
    ///
    /// ```
    /// assert!(perf_cache::LoadOptions::default().get_tags().is_empty());
    /// ```
    #[must_use]
    pub fn get_tags(&self) -> &[String] {
        &self.tags
    }

    /// This call's single-flight reach, over the view's
    /// ([`CacheBuilder::single_flight`](crate::CacheBuilder::single_flight)): e.g.
    /// [`SingleFlight::Cluster`](crate::SingleFlight::Cluster) for one expensive key on a view
    /// that is per process otherwise. Default: the view's.
    ///
    /// ```
    /// use perf_cache::{LoadOptions, SingleFlight};
    /// let o = LoadOptions::default().single_flight(SingleFlight::Cluster);
    /// assert_eq!(o.get_single_flight(), Some(SingleFlight::Cluster));
    /// ```
    pub fn single_flight(mut self, reach: crate::SingleFlight) -> Self {
        self.single_flight = Some(reach);
        self
    }

    /// The reach set with [`single_flight`](Self::single_flight), if any.
    ///
    /// ```
    /// assert_eq!(perf_cache::LoadOptions::default().get_single_flight(), None);
    /// ```
    #[must_use]
    pub fn get_single_flight(&self) -> Option<crate::SingleFlight> {
        self.single_flight
    }

    /// The soft timeout set with [`soft_timeout`](Self::soft_timeout), if any.
    ///
    /// ```
    /// assert_eq!(perf_cache::LoadOptions::default().get_soft_timeout(), None);
    /// ```
    #[must_use]
    pub fn get_soft_timeout(&self) -> Option<Duration> {
        self.soft_timeout
    }

    /// The hard timeout set with [`hard_timeout`](Self::hard_timeout), if any.
    ///
    /// ```
    /// assert_eq!(perf_cache::LoadOptions::default().get_hard_timeout(), None);
    /// ```
    #[must_use]
    pub fn get_hard_timeout(&self) -> Option<Duration> {
        self.hard_timeout
    }

    /// The time to live set with [`ttl`](Self::ttl), if any.
    ///
    /// ```
    /// assert_eq!(perf_cache::LoadOptions::default().get_ttl(), None);
    /// ```
    #[must_use]
    pub fn get_ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// Checks the ranges and merges the view's timeouts in: the timeouts this call runs with.
    pub(crate) fn resolve(&self, view: Timeouts, stale_window: bool) -> crate::Result<Timeouts> {
        check_timeout("soft_timeout", self.soft_timeout)?;
        if let Some(soft) = self.soft_timeout
            && !stale_window
        {
            return Err(invalid(
                "soft_timeout",
                format!("{soft:?}"),
                SOFT_NEEDS_STALE,
            ));
        }
        check_timeout("hard_timeout", self.hard_timeout)?;
        if let Some(t) = self.ttl
            && !(Duration::from_millis(1)..=YEAR).contains(&t)
        {
            return Err(invalid("ttl", format!("{t:?}"), "1 ms ..= 1 year"));
        }
        let t = Timeouts {
            soft: self.soft_timeout.or(view.soft),
            hard: self.hard_timeout.or(view.hard),
        };
        t.check_order()?;
        Ok(t)
    }
}

/// The soft and hard timeouts a load runs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) soft: Option<Duration>,
    pub(crate) hard: Option<Duration>,
}

impl Timeouts {
    /// Range of each, and soft below hard: the builder's and the per-call check.
    pub(crate) fn validate(self) -> crate::Result<Self> {
        check_timeout("soft_timeout", self.soft)?;
        check_timeout("hard_timeout", self.hard)?;
        self.check_order()?;
        Ok(self)
    }

    fn check_order(self) -> crate::Result<()> {
        if let (Some(soft), Some(hard)) = (self.soft, self.hard)
            && soft >= hard
        {
            return Err(invalid(
                "soft_timeout",
                format!("{soft:?}"),
                format!("1 ms ..= 1 day and below hard_timeout ({hard:?})"),
            ));
        }
        Ok(())
    }
}

fn check_timeout(field: &'static str, d: Option<Duration>) -> crate::Result<()> {
    match d {
        Some(d) if !(Duration::from_millis(1)..=MAX_TIMEOUT).contains(&d) => {
            Err(invalid(field, format!("{d:?}"), "1 ms ..= 1 day"))
        }
        _ => Ok(()),
    }
}
