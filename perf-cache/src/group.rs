//! Pattern and group invalidation: [`InvalidationGroup`], [`Backend::invalidate_pattern`],
//! [`Backend::invalidate_group`], and the counters behind [`InvalidationStats`].
//!
//! Every pattern invalidation runs the same plan: exact keys and full patterns
//! (`<namespace>:…`), applied to Redis first (one pipeline for the exact keys, `SCAN MATCH` +
//! `UNLINK` per pattern), then the disk file (range scans in bounded transactions), then L1
//! last (one pass removing every entry any pattern matches), all with the one glob matcher.
//! Before it touches any tier, and again before L1, it bumps the stale-fill fence (see
//! [`crate::fence`]); exact keys also raise their Redis generations. Once Redis is done, each
//! pattern and exact key is published on the invalidation bus; another instance applies it to
//! its disk file and L1 with [`Shared::invalidate_local_pattern`] and
//! [`Shared::invalidate_local_key`], through its own fence.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::Shared;
use crate::bus::Op;
use crate::glob::Glob;
use crate::replay::Pending;
use crate::stats::Counters;
use crate::tiers::l1::L1Store;
use crate::tiers::{Tier, TierError};
use crate::{Backend, Invalidation, Key, Pattern, Reach};

/// Several patterns and keys invalidated in one call, relative to a backend's namespace
/// (`<namespace>:`), so one group spans every view. Exact keys (patterns without a wildcard,
/// e.g. [`key`](Self::key)) cost one pipeline together (per key, a script that unlinks it and
/// raises its generation, as `Cache::invalidate` does); each pattern one `SCAN` pass of Redis;
/// L1 is walked once for the whole group.
///
/// The seeds' `CacheInvalidator`, in Rust:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use perf_cache::{Backend, Cache, InvalidationGroup, Invalidation, Key, Pattern};
///
/// /// `invalidate_scan`: every cached result, summary and report of one scan.
/// async fn invalidate_scan(backend: &Backend, scan_id: &str) -> Invalidation {
///     let group = InvalidationGroup::new()
///         .pattern(Pattern::new().lit("scans").lit("get_scan_results").lit(scan_id).any())
///         .pattern(Pattern::new().lit("scans").lit("get_scan_summary").lit(scan_id).any())
///         .pattern(Pattern::new().lit("reports").any().lit(scan_id).any());
///     backend.invalidate_group(&group).await
/// }
///
/// /// `invalidate_target`: every entry of any view with the target as a whole segment.
/// async fn invalidate_target(backend: &Backend, target: &str) -> Invalidation {
///     backend.invalidate_pattern(&Pattern::new().any().lit(target).any()).await
/// }
///
/// let backend = Backend::builder().namespace("scanner").build().await?;
/// let scans = Cache::<String>::builder().prefix("scans").build_on(&backend)?;
/// let reports = Cache::<String>::builder().prefix("reports").build_on(&backend)?;
/// scans.set(&Key::new("get_scan_results").arg("s1").arg(1_u64), "r".into()).await?;
/// scans.set(&Key::new("get_scan_results").arg("s2").arg(1_u64), "r".into()).await?;
/// reports.set(&Key::new("pdf").arg("s1").arg("en"), "p".into()).await?;
///
/// let done = invalidate_scan(&backend, "s1").await;
/// assert!(done.is_complete());
/// assert_eq!(done.l1_removed, 2);
/// assert!(scans.get(&Key::new("get_scan_results").arg("s2").arg(1_u64)).await.is_some());
///
/// let done = invalidate_target(&backend, "s2").await;
/// assert_eq!(done.l1_removed, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct InvalidationGroup {
    patterns: Vec<Pattern>,
    tags: Vec<String>,
}

impl InvalidationGroup {
    /// An empty group (invalidating it removes nothing).
    ///
    /// ```
    /// assert!(perf_cache::InvalidationGroup::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pattern, relative to the namespace (its first segment is a view's prefix when
    /// the views have one).
    ///
    /// ```
    /// use perf_cache::{InvalidationGroup, Pattern};
    /// let g = InvalidationGroup::new().pattern(Pattern::new().lit("user").lit(7_u64).any());
    /// assert_eq!(g.len(), 1);
    /// ```
    pub fn pattern(mut self, pattern: Pattern) -> Self {
        self.patterns.push(pattern);
        self
    }

    /// Adds one exact key, relative to the namespace: a view with prefix `p` stores `key` as
    /// `Key::new(p).arg(..)…`, e.g. `Key::new("user").arg(7_u64)` for the view `user`'s key
    /// `7`.
    ///
    /// ```
    /// use perf_cache::{InvalidationGroup, Key};
    /// let g = InvalidationGroup::new().key(&Key::new("user").arg(7_u64));
    /// assert_eq!(g.len(), 1);
    /// ```
    pub fn key(self, key: &crate::Key) -> Self {
        self.pattern(Pattern::exactly(key))
    }

    /// Adds a tag: every entry tagged with it is invalidated too, as
    /// [`Backend::invalidate_tag`] does (one `INCR`). An invalid tag (empty, over 128 bytes,
    /// control characters) is logged and reported as [`Reach::Failed`] for L2.
    ///
    /// ```
    /// let g = perf_cache::InvalidationGroup::new().tag("scan:7");
    /// assert_eq!(g.len(), 1);
    /// ```
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// How many patterns, keys and tags the group holds.
    ///
    /// ```
    /// assert_eq!(perf_cache::InvalidationGroup::new().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.patterns.len() + self.tags.len()
    }

    /// Whether the group is empty.
    ///
    /// ```
    /// assert!(perf_cache::InvalidationGroup::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty() && self.tags.is_empty()
    }
}

/// What one invalidation removes: full exact keys and full glob patterns.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// The key space the patterns were relative to (`<namespace>` or `<namespace>:<prefix>`);
    /// empty for a plan received from another instance.
    space: String,
    keys: Vec<Vec<u8>>,
    patterns: Vec<Vec<u8>>,
    /// The view's own `(space id, key)` for a plan of one view key (`Cache::invalidate`):
    /// fenced and removed from L1 even when no view head starts its stored key (a raw key).
    own: Option<(u32, Key)>,
}

impl Plan {
    /// Patterns relative to the key space `space` (`<namespace>` or `<namespace>:<prefix>`).
    pub(crate) fn new<'a>(space: &str, patterns: impl IntoIterator<Item = &'a Pattern>) -> Self {
        let mut plan = Self {
            space: space.to_owned(),
            ..Self::default()
        };
        for pattern in patterns {
            match pattern.exact_key() {
                Some(key) => plan.keys.push(crate::key::join(space, &key)),
                None => plan.patterns.push(pattern.full(space)),
            }
        }
        plan
    }

    /// A plan of one key of a view (`Cache::invalidate`): the view's key space `space`, its
    /// L1 id `id`. Every view that can hold the stored key loses it, as for a remote key.
    pub(crate) fn key(space: &str, id: u32, key: &Key) -> Self {
        Self {
            space: space.to_owned(),
            keys: vec![crate::key::full_key(space, key)],
            patterns: Vec::new(),
            own: Some((id, key.clone())),
        }
    }

    /// A plan of one full pattern (as carried between instances).
    pub(crate) fn full_pattern(pattern: &[u8]) -> Self {
        Self {
            patterns: vec![pattern.to_vec()],
            ..Self::default()
        }
    }

    /// A plan of one full key (as carried between instances).
    pub(crate) fn full_key(key: Vec<u8>) -> Self {
        Self {
            keys: vec![key],
            ..Self::default()
        }
    }

    /// What the other instances are told, once Redis is done: one operation per pattern and
    /// per exact key, relative to the plan's key space.
    fn announcements(&self) -> impl Iterator<Item = Op> + '_ {
        let skip = self.space.len() + 1;
        let patterns = self.patterns.iter().map(|p| Op::Pattern {
            space: self.space.clone(),
            pattern: p.clone(),
        });
        let keys = self.keys.iter().map(move |full| Op::Key {
            space: self.space.clone(),
            key: match &self.own {
                // The view's key as written (a raw key has no `<space>:` head to strip).
                Some((_, key)) => key.as_bytes().to_vec(),
                None => full.get(skip..).unwrap_or_default().to_vec(),
            },
        });
        patterns.chain(keys)
    }
}

/// The fills an invalidation turns away before it removes anything, and again before it
/// empties L1: the fills of its keys in every view that can hold them (their stripes), and
/// the fills whose key matches one of its patterns (the pattern epoch and its log: the
/// stripes hash keys, so a pattern cannot name its stripes).
struct Fenced {
    keys: Vec<(u32, Key)>,
    /// The compiled patterns and the views' heads by space id, when the plan has patterns.
    patterns: Option<FencedPatterns>,
}

/// A plan's compiled patterns and the views' heads by space id (see [`crate::pattern_log`]).
type FencedPatterns = (Arc<[Glob]>, Arc<[Vec<u8>]>);

/// The kinds of invalidation counted in [`InvalidationStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Key,
    All,
    Pattern,
    Group,
    Tag,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::All => "all",
            Self::Pattern => "pattern",
            Self::Group => "group",
            Self::Tag => "tag",
        }
    }
}

/// A backend's invalidation counters.
#[derive(Debug, Default)]
pub(crate) struct InvalidationCounters {
    key: AtomicU64,
    all: AtomicU64,
    pattern: AtomicU64,
    group: AtomicU64,
    tag: AtomicU64,
    l1_removed: AtomicU64,
    l2_removed: AtomicU64,
    l3_removed: AtomicU64,
}

impl InvalidationCounters {
    /// Counts one invalidation and what it removed, here and in the metrics facade
    /// (invalidations are rare next to reads, so each one goes to the recorder directly).
    pub(crate) fn count(&self, namespace: &str, kind: Kind, report: &Invalidation) {
        let calls = match kind {
            Kind::Key => &self.key,
            Kind::All => &self.all,
            Kind::Pattern => &self.pattern,
            Kind::Group => &self.group,
            Kind::Tag => &self.tag,
        };
        calls.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("cache_invalidations_total", "namespace" => namespace.to_owned(), "kind" => kind.label())
            .increment(1);
        for (tier, n, total) in [
            ("l1", report.l1_removed, &self.l1_removed),
            ("l2", report.l2_removed, &self.l2_removed),
            ("l3", report.l3_removed, &self.l3_removed),
        ] {
            if n > 0 {
                total.fetch_add(n, Ordering::Relaxed);
                metrics::counter!("cache_invalidated_keys_total", "namespace" => namespace.to_owned(), "tier" => tier)
                    .increment(n);
            }
        }
    }

    fn snapshot(&self) -> InvalidationStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        InvalidationStats {
            keys: get(&self.key),
            all: get(&self.all),
            patterns: get(&self.pattern),
            groups: get(&self.group),
            tags: get(&self.tag),
            l1_removed: get(&self.l1_removed),
            l2_removed: get(&self.l2_removed),
            l3_removed: get(&self.l3_removed),
        }
    }
}

/// A backend's invalidations since it was built: calls by kind (all views together) and keys
/// removed per tier by key, pattern and group invalidations. The same figures go to the metrics
/// facade as `cache_invalidations_total{namespace, kind}` (`kind` = `key`, `all`, `pattern`,
/// `group`, `tag`) and `cache_invalidated_keys_total{namespace, tier}`, labelled with the backend's
/// namespace (not a view's).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use perf_cache::{Backend, Cache, Key, Pattern};
/// let backend = Backend::builder().build().await?;
/// let users = Cache::<u8>::builder().prefix("user").build_on(&backend)?;
/// users.set(&Key::new(1_u64), 1).await?;
/// let _ = users.invalidate_pattern(&Pattern::new().any()).await;
/// let stats = backend.invalidation_stats();
/// assert_eq!((stats.patterns, stats.l1_removed), (1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct InvalidationStats {
    /// Single-key invalidations (`Cache::invalidate`).
    pub keys: u64,
    /// Whole-view invalidations (`Cache::invalidate_all`).
    pub all: u64,
    /// Pattern invalidations (`Cache::invalidate_pattern`, `Backend::invalidate_pattern`).
    pub patterns: u64,
    /// Group invalidations (`Backend::invalidate_group`).
    pub groups: u64,
    /// Tag invalidations (`Backend::invalidate_tag`, `Cache::invalidate_tag`; a group's tags
    /// count with the group).
    pub tags: u64,
    /// L1 entries removed by key, pattern and group invalidations.
    pub l1_removed: u64,
    /// Redis keys removed by key, pattern and group invalidations.
    pub l2_removed: u64,
    /// Disk rows removed by key, pattern and group invalidations.
    pub l3_removed: u64,
}

impl Shared {
    /// Runs `plan` on every tier: Redis, then disk, then L1 last. What Redis could not take
    /// (breaker open, an error, a `SCAN` failing part-way) is kept for replay before L2 is read
    /// again; tier failures are counted in `counters` (a view's) when given, and logged.
    pub(crate) async fn invalidate_plan(
        &self,
        plan: &Plan,
        kind: Kind,
        counters: Option<&Counters>,
    ) -> Invalidation {
        let mut report = Invalidation::default();
        // Fills that began before this call store nothing from now on (those storing right
        // now finish first, and their entries are removed below).
        self.fence_plan(plan).await;
        if let Some(l2) = &self.l2 {
            report.l2 = Reach::Done;
            let errors = counters.map(|c| &c.l2.errors);
            if !plan.keys.is_empty() {
                match l2.delete_keys(&plan.keys).await {
                    Ok(n) => report.l2_removed += n,
                    Err(e) => {
                        report.worsen("l2", self.unreached(l2, errors, kind, e));
                        for key in &plan.keys {
                            self.replay
                                .keep(&self.namespace, Pending::Key(key.clone()))
                                .await;
                        }
                    }
                }
            }
            for pattern in &plan.patterns {
                match l2.delete_matching(pattern).await {
                    Ok(n) => report.l2_removed += n,
                    Err(e) => {
                        report.worsen("l2", self.unreached(l2, errors, kind, e));
                        self.replay
                            .keep(&self.namespace, Pending::Pattern(pattern.clone()))
                            .await;
                    }
                }
            }
        }
        self.invalidate_local(plan, kind, counters, &mut report)
            .await;
        self.invalidations.count(&self.namespace, kind, &report);
        // Other instances apply it to their L1 and disk file (Redis is done).
        report.confirmed(self.announce_all(plan.announcements()).await);
        report
    }

    /// Bumps the fence for `plan` (see [`Fenced`]), waiting for the fills storing now.
    async fn fence_plan(&self, plan: &Plan) {
        let fenced = self.fenced(plan);
        if let Some((globs, heads)) = fenced.patterns {
            self.fence.bump_patterns(globs, heads).await;
        }
        for (space, key) in &fenced.keys {
            self.fence.bump_key(*space, key).await;
        }
    }

    /// What `plan` fences. The views are read each time: a view built meanwhile is fenced
    /// by the second bump.
    fn fenced(&self, plan: &Plan) -> Fenced {
        let patterns = (!plan.patterns.is_empty()).then(|| {
            let globs: Arc<[Glob]> = plan.patterns.iter().map(|p| Glob::new(p)).collect();
            (globs, Arc::from(self.space_heads()))
        });
        Fenced {
            keys: self.l1_keys_of_plan(plan),
            patterns,
        }
    }

    /// [`l1_keys_of`](Self::l1_keys_of) the plan's keys, and the view's own key when the plan
    /// has one (once).
    fn l1_keys_of_plan(&self, plan: &Plan) -> Vec<(u32, Key)> {
        let mut keys = self.l1_keys_of(&plan.keys);
        if let Some(own) = &plan.own
            && !keys.contains(own)
        {
            keys.push(own.clone());
        }
        keys
    }

    /// Every (view, key) that holds one of the stored keys `fulls` (`<space>:<key>`): a key is
    /// in a view when the view's head (`<space>:`) starts it.
    fn l1_keys_of(&self, fulls: &[Vec<u8>]) -> Vec<(u32, Key)> {
        let heads = self.space_heads();
        let mut keys = Vec::new();
        for full in fulls {
            for (id, head) in heads.iter().enumerate() {
                if let (Some(rest), Ok(id)) =
                    (full.strip_prefix(head.as_slice()), u32::try_from(id))
                {
                    keys.push((id, Key::from_escaped(rest)));
                }
            }
        }
        keys
    }

    /// The part of a plan this process's private tiers hold: the disk file, then L1 (the
    /// caller bumped the fence before it touched any tier).
    async fn invalidate_local(
        &self,
        plan: &Plan,
        kind: Kind,
        counters: Option<&Counters>,
        report: &mut Invalidation,
    ) {
        if let Some(l3) = &self.l3 {
            report.l3 = Reach::Done;
            let errors = counters.map(|c| &c.l3.errors);
            if !plan.keys.is_empty() {
                match l3.delete_keys(&plan.keys).await {
                    Ok(n) => report.l3_removed += n,
                    Err(e) => report.worsen("l3", self.unreached(l3, errors, kind, e)),
                }
            }
            for pattern in &plan.patterns {
                match l3.delete_matching(pattern).await {
                    Ok(n) => report.l3_removed += n,
                    Err(e) => report.worsen("l3", self.unreached(l3, errors, kind, e)),
                }
            }
        }
        // Again, for promotions that read an old value from L2 or L3 before it was removed.
        self.fence_plan(plan).await;
        report.l1_removed += self.l1_remove(plan);
    }

    /// Applies a full pattern (`<namespace>:…`) to this process's private tiers only (the disk
    /// file, then L1), through the fence, for an invalidation another instance already
    /// applied to Redis and announced.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) async fn invalidate_local_pattern(&self, pattern: &[u8]) -> Invalidation {
        self.invalidate_local_plan(&Plan::full_pattern(pattern), Kind::Pattern)
            .await
    }

    /// Applies a full key (`<space>:<key>`) to this process's private tiers only, through
    /// the fence, in every view that can hold it (as [`invalidate_local_pattern`]).
    ///
    /// [`invalidate_local_pattern`]: Self::invalidate_local_pattern
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) async fn invalidate_local_key(&self, full: Vec<u8>) -> Invalidation {
        self.invalidate_local_plan(&Plan::full_key(full), Kind::Key)
            .await
    }

    async fn invalidate_local_plan(&self, plan: &Plan, kind: Kind) -> Invalidation {
        let mut report = Invalidation::default();
        self.fence_plan(plan).await;
        self.invalidate_local(plan, kind, None, &mut report).await;
        report
    }

    /// Removes from L1 every entry whose stored key (`<space>:<key>`) is one of the plan's keys
    /// or matches one of its patterns, in one pass (exact keys alone are removed one by one);
    /// how many.
    fn l1_remove(&self, plan: &Plan) -> u64 {
        if !self.l1_enabled || (plan.keys.is_empty() && plan.patterns.is_empty()) {
            return 0;
        }
        if plan.patterns.is_empty() {
            let mut removed = 0;
            for (space, key) in self.l1_keys_of_plan(plan) {
                let lookup = crate::tiers::l1::L1Lookup { space, key: &key };
                if self.l1.read(&lookup, |_| Some(())).is_some() {
                    removed += 1;
                }
                self.l1.remove(&lookup);
            }
            return removed;
        }
        let heads = self.space_heads();
        let globs: Vec<Glob> = plan.patterns.iter().map(|p| Glob::new(p)).collect();
        let keys = &plan.keys;
        let removed = AtomicU64::new(0);
        self.l1.remove_if(&|k, _| {
            let Some(head) = usize::try_from(k.space).ok().and_then(|i| heads.get(i)) else {
                return false;
            };
            let key = k.key.as_bytes();
            let hit = keys.iter().any(|full| {
                full.len() == head.len() + key.len()
                    && full.starts_with(head)
                    && full.ends_with(key)
            }) || globs.iter().any(|g| g.is_match_split(head, key));
            if hit {
                removed.fetch_add(1, Ordering::Relaxed);
            }
            hit
        });
        removed.into_inner()
    }

    /// A tier an invalidation could not reach: counted, logged, and what to report.
    fn unreached(
        &self,
        tier: &dyn Tier,
        errors: Option<&crate::stats::Counter>,
        kind: Kind,
        e: TierError,
    ) -> Reach {
        if let Some(errors) = errors {
            errors.incr();
        }
        let op = kind.label();
        match e {
            TierError::Skipped(_) => {
                tracing::warn!(namespace = %self.namespace, tier = tier.name(), op, "pattern invalidation skipped: the circuit breaker is open");
                Reach::Skipped
            }
            TierError::Failed(message) => {
                self.log
                    .warn(&self.namespace, tier.name(), "invalidate", op, &message);
                Reach::Failed
            }
        }
    }
}

impl Backend {
    /// Removes every entry of every view whose key matches `pattern` (relative to
    /// `<namespace>:`, so its first segment is a view's prefix) from every tier: Redis first
    /// (the namespace's pattern epoch raised, then `SCAN MATCH` with `COUNT`
    /// [`scan_count`](crate::BackendBuilder::scan_count), 1,000 by default, each page removed
    /// with `UNLINK` in the same round trip as the next `SCAN`; every primary on a cluster),
    /// then the disk file, then L1. Returns
    /// what it reached and how many keys each tier removed; what Redis could not take is kept
    /// and replayed before L2 is read again.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Backend, Cache, Key, Pattern};
    /// let backend = Backend::builder().namespace("shop").build().await?;
    /// let orders = Cache::<u32>::builder().prefix("orders").build_on(&backend)?;
    /// orders.set(&Key::new("org").arg(1_u64).arg("open"), 3).await?;
    /// orders.set(&Key::new("org").arg(2_u64).arg("open"), 5).await?;
    ///
    /// // The seeds' `orders:org:{org_id}:*`.
    /// let org_id = 1_u64;
    /// let done = backend
    ///     .invalidate_pattern(&Pattern::new().lit("orders").lit("org").lit(org_id).any())
    ///     .await;
    /// assert!(done.is_complete());
    /// assert_eq!(done.l1_removed, 1);
    /// assert_eq!(orders.get(&Key::new("org").arg(2_u64).arg("open")).await, Some(5));
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_pattern(&self, pattern: &Pattern) -> Invalidation {
        let shared = &self.shared;
        let plan = Plan::new(&shared.namespace, [pattern]);
        shared.invalidate_plan(&plan, Kind::Pattern, None).await
    }

    /// Invalidates every pattern and key of `group` (see [`InvalidationGroup`]) in one call:
    /// exact keys in one pipeline, one `SCAN` pass per pattern, one pass over L1. Same order,
    /// report and replay as [`invalidate_pattern`](Self::invalidate_pattern); the report sums
    /// the removals and keeps each tier's worst reach.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Backend, Cache, InvalidationGroup, Key, Pattern};
    /// let backend = Backend::builder().build().await?;
    /// let users = Cache::<u8>::builder().prefix("user").build_on(&backend)?;
    /// users.set(&Key::new(1_u64), 1).await?;
    /// users.set(&Key::new(2_u64).arg("avatar"), 2).await?;
    /// let group = InvalidationGroup::new()
    ///     .key(&Key::new("user").arg(1_u64))
    ///     .pattern(Pattern::new().lit("user").lit(2_u64).any());
    /// assert_eq!(backend.invalidate_group(&group).await.l1_removed, 2);
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_group(&self, group: &InvalidationGroup) -> Invalidation {
        let shared = &self.shared;
        let plan = Plan::new(&shared.namespace, &group.patterns);
        // Tags first: their fence bump and epoch cover the group's fills too; counted once,
        // as the group.
        let mut tagged = Invalidation::default();
        for tag in &group.tags {
            match shared.invalidate_tag(tag, None).await {
                Ok(r) => {
                    tagged.worsen("l2", r.l2);
                    tagged.worsen("l3", r.l3);
                }
                Err(e) => {
                    tracing::warn!(namespace = %shared.namespace, error = %e, "tag of an invalidation group refused");
                    tagged.worsen("l2", Reach::Failed);
                }
            }
        }
        let mut report = shared.invalidate_plan(&plan, Kind::Group, None).await;
        report.worsen("l2", tagged.l2);
        report.worsen("l3", tagged.l3);
        report
    }

    /// This backend's invalidation counters (see [`InvalidationStats`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let backend = perf_cache::Backend::builder().build().await?;
    /// assert_eq!(backend.invalidation_stats().patterns, 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn invalidation_stats(&self) -> InvalidationStats {
        self.shared.invalidations.snapshot()
    }
}
