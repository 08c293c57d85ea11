//! [`Cache`]: the typed, multi-tier cache: tiers, reads, writes and statistics.

mod lease;
mod load;
mod load_timeout;
mod plain;
mod tags;

pub(crate) use lease::{LeaseCounters, LeaseWakers};

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Publish, Shared};
use crate::clock;
use crate::envelope::{self, Decoded};
use crate::fence::Ticket;
use crate::flight::Flights;
use crate::stats::{CacheStats, Counters, Metrics, TierCounters};
use crate::tiers::l1::{Entry, ErasedEntry, L1Key, L1Lookup, L1Store};
use crate::tiers::{Tier, TierError, TierResult};
use crate::{Backend, CacheBuilder, Codec, Invalidation, Key, Postcard, Reach, Result, SetOptions};

/// A typed cache of `V` values: L1 in process (moka), optional L2 (Redis, feature `redis`) and
/// L3 (disk, feature `disk`), with single-flight loading. Clone it to share it: clones are
/// cheap handles to the same cache.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use perf_cache::{Cache, Key};
///
/// let cache = Cache::<String>::builder().namespace("users").build().await?;
/// let key = Key::new("user").arg(42_u64);
///
/// let name = cache.get_or_load(&key, || async { "Ada".to_owned() }).await;
/// assert_eq!(name, "Ada");
/// assert_eq!(cache.get(&key).await.as_deref(), Some("Ada"));
///
/// cache.invalidate(&key).await;
/// assert_eq!(cache.get(&key).await, None);
/// # Ok(()) }
/// ```
pub struct Cache<V, C = Postcard> {
    inner: Arc<Inner<V, C>>,
}

impl<V, C> Clone for Cache<V, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<V, C: std::fmt::Debug> std::fmt::Debug for Cache<V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("namespace", &self.inner.namespace)
            .field("l2", &self.inner.shared.l2)
            .field("l3", &self.inner.shared.l3)
            .field("codec", &self.inner.codec)
            .finish_non_exhaustive()
    }
}

struct Inner<V, C> {
    /// What this view shares with the other views of its backend.
    shared: Arc<Shared>,
    /// This view's key space in the shared L1.
    space: u32,
    /// `<namespace>` or `<namespace>:<prefix>`: the first part of every stored key, the
    /// `namespace` of logs, statistics and metrics.
    namespace: String,
    l1_ttl: Duration,
    l2_ttl: Duration,
    l3_ttl: Duration,
    codec: C,
    format_version: u32,
    max_value_size: usize,
    /// Encode on every store (to weigh or size-check) even without a lower tier.
    always_encode: bool,
    negative_ttl: Option<Duration>,
    refresh_ahead: Option<Duration>,
    stale_grace: Option<Duration>,
    /// Whether an L1 hit must compare `fresh_until` with the clock (stale or refresh enabled).
    check_fresh: bool,
    /// The view's soft and hard load timeouts (`CacheBuilder::soft_timeout`, `hard_timeout`).
    timeouts: crate::load_options::Timeouts,
    /// [`StorageFormat::Plain`](crate::StorageFormat::Plain): no envelope in Redis, no L3.
    plain: bool,
    /// Single-flight reach and lease settings (`cache/lease.rs`).
    flight: crate::single_flight::FlightSettings,
    flights: Flights<V>,
    counters: Counters,
    metrics: Metrics,
}

impl<V, C> Inner<V, C> {
    /// An L1 entry's weight: its encoded size plus its key when L1 is sized in bytes, else 1.
    fn weight(&self, key: &Key, stored_len: usize) -> u32 {
        if self.shared.by_weight {
            u32::try_from(stored_len + key.as_bytes().len()).unwrap_or(u32::MAX)
        } else {
            1
        }
    }

    /// The namespace a key is stored under in Redis: none for a raw key.
    fn redis_namespace(&self, key: &Key) -> &str {
        if key.is_raw() { "" } else { &self.namespace }
    }

    #[inline]
    fn l1_lookup<'k>(&self, key: &'k Key) -> L1Lookup<'k> {
        L1Lookup {
            space: self.space,
            key,
        }
    }
}

impl<V: Clone + Send + Sync + 'static, C> Inner<V, C> {
    /// This view's L1 entry for `key` while L1 keeps it (fresh, or stale within the grace);
    /// an entry of another value type (a view with the same prefix and another `V`) reads as
    /// absent.
    fn l1_get(&self, key: &Key) -> Option<Entry<V>> {
        if !self.shared.l1_enabled {
            return None;
        }
        let now = clock::coarse_ms();
        self.shared.l1.read(&self.l1_lookup(key), |e| {
            if e.keep_until_ms <= now || e.tag_stale_at(|| self.shared.tags.changes()) {
                return None;
            }
            let value = match &e.value {
                Some(any) => Some(any.downcast_ref::<V>()?.clone()),
                None => None,
            };
            Some(Entry {
                value,
                fresh_until: clock::instant_of(e.fresh_until_ms),
                refresh_failed: e.refresh_failed,
                weight: e.weight,
                tags: e.tags.clone(),
            })
        })
    }

    /// Stores an entry in L1; it stays there until its freshness ends plus the stale grace.
    fn l1_insert(&self, key: &Key, e: Entry<V>) {
        if !self.shared.l1_enabled {
            return;
        }
        let fresh_until_ms = clock::ms_of(e.fresh_until);
        let grace = self.stale_grace.map_or(0, clock::duration_ms);
        let entry = ErasedEntry {
            value: e
                .value
                .map(|v| Arc::new(v) as Arc<dyn std::any::Any + Send + Sync>),
            fresh_until_ms,
            keep_until_ms: fresh_until_ms.saturating_add(grace),
            refresh_failed: e.refresh_failed,
            weight: e.weight.max(1),
            tags: e.tags,
        };
        self.shared.l1.insert(
            L1Key {
                space: self.space,
                key: key.clone(),
            },
            entry,
        );
    }
}

impl<V, C> Publish for Inner<V, C>
where
    V: Send + Sync,
    C: Send + Sync,
{
    fn publish(&self) {
        self.metrics.publish(&snapshot(self));
    }

    fn stats(&self) -> CacheStats {
        snapshot(self)
    }
}

/// Who stores a value: an explicit write, or a fill whose load began at its ticket.
#[derive(Clone, Copy)]
pub(crate) enum Write<'a> {
    /// `set`: turns away fills of the key that began before it, then stores.
    Set,
    /// A loaded or refreshed value: stored only while no invalidation or `set` of its key
    /// began since the ticket (in this process, and in Redis by the key's generation).
    Fill(&'a Ticket),
}

/// What the lower tiers had.
enum Lower<V> {
    Value(V),
    Negative,
    Miss,
}

impl<V> Cache<V, Postcard>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Starts a [`CacheBuilder`] with the defaults: L1 of 1,000 entries for 60 s, no L2 or L3,
    /// [`Postcard`] codec.
    pub fn builder() -> CacheBuilder<V, Postcard> {
        CacheBuilder::new()
    }
}

impl<V, C> Cache<V, C>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// The view `b` describes, on `backend`.
    pub(crate) fn on_backend(b: CacheBuilder<V, C>, backend: &Backend) -> Result<Self> {
        let shared = Arc::clone(&backend.shared);
        let namespace = match &b.prefix {
            Some(prefix) => format!("{}:{prefix}", shared.namespace),
            None => shared.namespace.clone(),
        };
        let stale_grace = b.stale_if_error;
        let always_encode = shared.by_weight || b.max_value_size.is_some();
        let inner = Arc::new(Inner {
            space: shared.space_id(&namespace),
            metrics: Metrics::new(&namespace),
            namespace,
            l1_ttl: b.l1_ttl,
            l2_ttl: b.l2_ttl,
            l3_ttl: b.l3_ttl,
            codec: b.codec,
            format_version: b.format_version,
            max_value_size: b.max_value_size.unwrap_or(crate::DEFAULT_MAX_VALUE_SIZE),
            always_encode,
            negative_ttl: b.negative_ttl,
            refresh_ahead: b.refresh_ahead,
            stale_grace,
            check_fresh: b.refresh_ahead.is_some() || stale_grace.is_some(),
            timeouts: b.timeouts,
            plain: b.storage == crate::StorageFormat::Plain,
            flight: b.flight,
            flights: Flights::default(),
            counters: Counters::default(),
            shared,
        });
        inner.shared.replay.note_l2_ttl(inner.l2_ttl);
        let weak = Arc::downgrade(&inner);
        inner.shared.register(weak);
        Ok(Self { inner })
    }

    /// The backend this cache is a view of.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let cache = perf_cache::Cache::<u8>::builder().namespace("solo").build().await?;
    /// assert_eq!(cache.backend().namespace(), "solo");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn backend(&self) -> Backend {
        Backend {
            shared: Arc::clone(&self.inner.shared),
        }
    }

    /// The namespace: prefix of every key in Redis and on disk.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// Looks `key` up in L1, then L2, then L3; a lower-tier hit is copied into L1 (private to
    /// this process; never into the shared L2) with its remaining time to live. Tier errors read as misses. A cached "not found" reads
    /// as `None`.
    pub async fn get(&self, key: &Key) -> Option<V> {
        if let Some(hit) = self.l1_hit(key) {
            return hit;
        }
        // Not boxed, unlike the `get_or_load` family's miss path: `get` is the L2-hit path of a
        // cache without L1, and allocating its ~1.6 KB state per call cost ~7 % of L2-hit
        // throughput at 64 tasks against raw redis-rs (`cache_paired -- l2`, BENCHMARKS.md).
        self.get_lower(key).await
    }

    /// The hit path: one hash of the key, one L1 lookup under the shard's read lock (no copy
    /// of the key), one coarse-clock load, a type check and the value's clone under that lock
    /// (no reference count touched), and one striped counter add. `Some(None)` is a cached
    /// "not found".
    #[inline]
    fn l1_hit(&self, key: &Key) -> Option<Option<V>> {
        self.l1_fresh(key, true)
    }

    /// [`l1_hit`](Self::l1_hit) for callers that may not want a cached "not found": with
    /// `accept_negative` false such an entry reads as absent (and is not counted).
    #[inline]
    fn l1_fresh(&self, key: &Key, accept_negative: bool) -> Option<Option<V>> {
        let inner = &*self.inner;
        if !inner.shared.l1_enabled {
            return None;
        }
        let now = clock::coarse_ms();
        let value = inner.shared.l1.read(&inner.l1_lookup(key), |e| {
            if e.fresh_until_ms <= now || e.tag_stale_at(|| inner.shared.tags.changes()) {
                return None;
            }
            Some(match &e.value {
                None if accept_negative => None,
                None => return None,
                Some(any) => Some(any.downcast_ref::<V>()?.clone()),
            })
        })?;
        inner.counters.l1.hits.incr();
        Some(value)
    }

    /// `get_many`'s first pass: L1 for every key. Each miss is listed in the second vector
    /// (its index in `keys`) and gets a ticket, taken before any lower tier is read, so that
    /// its promotion is dropped if an invalidation of its key began since (see `found`).
    fn l1_pass(&self, keys: &[Key]) -> (Vec<Option<V>>, Vec<usize>, Vec<Option<Ticket>>) {
        let inner = &*self.inner;
        let mut out: Vec<Option<V>> = Vec::with_capacity(keys.len());
        let mut missing: Vec<usize> = Vec::new();
        let mut tickets: Vec<Option<Ticket>> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            if let Some(hit) = self.l1_hit(key) {
                out.push(hit);
                tickets.push(None);
            } else {
                inner.counters.l1.misses.incr();
                out.push(None);
                missing.push(i);
                tickets.push(Some(inner.shared.fence.ticket(inner.space, key)));
            }
        }
        (out, missing, tickets)
    }

    async fn get_lower(&self, key: &Key) -> Option<V> {
        let inner = &*self.inner;
        inner.counters.l1.misses.incr();
        self.drop_tag_stale(key);
        let ticket = inner.shared.fence.ticket(inner.space, key);
        match self.lookup_lower(key, &ticket).await {
            Lower::Value(v) => Some(v),
            Lower::Negative => None,
            Lower::Miss => {
                inner.counters.misses.incr();
                None
            }
        }
    }

    /// Stores `value` in every tier with each tier's default time to live.
    ///
    /// # Errors
    /// [`Error::ValueTooLarge`](crate::Error::ValueTooLarge) or
    /// [`Error::Encode`](crate::Error::Encode); nothing is stored then. Tier failures are not
    /// errors (fail-open).
    pub async fn set(&self, key: &Key, value: V) -> Result<()> {
        self.store(key, Some(value), None, Write::Set).await
    }

    /// Stores `value` with per-call [`SetOptions`] (a time to live now; tags later).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// use perf_cache::{Cache, Key, SetOptions};
    /// let cache = Cache::<u8>::builder().build().await?;
    /// let key = Key::new(1_u64);
    /// cache.set_with(&key, 1, SetOptions::default().ttl(Duration::from_secs(5))).await?;
    /// assert!(cache.remaining_ttl(&key).await.unwrap() <= Duration::from_secs(5));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`set`](Self::set), and [`Error::InvalidConfig`](crate::Error::InvalidConfig) for a
    /// zero `ttl`.
    pub async fn set_with(&self, key: &Key, value: V, options: SetOptions) -> Result<()> {
        if options.ttl_value().is_some_and(|t| t.is_zero()) {
            return Err(crate::error::invalid("ttl", "0 ms", "at least 1 ms"));
        }
        if !options.tags_value().is_empty() {
            return self.set_tagged(key, value, &options).await;
        }
        self.store(key, Some(value), options.ttl_value(), Write::Set)
            .await
    }

    /// Shorthand for [`set_with`](Self::set_with) with only a time to live: `value` for `ttl`
    /// in L2 and L3 and for `min(ttl, l1_ttl)` in L1.
    ///
    /// # Errors
    /// As [`set_with`](Self::set_with).
    pub async fn set_with_ttl(&self, key: &Key, value: V, ttl: Duration) -> Result<()> {
        self.set_with(key, value, SetOptions::default().ttl(ttl))
            .await
    }

    /// Looks several keys up at once, for list endpoints: L1 for each key, then **one**
    /// Redis round trip (`MGET`) for the keys L1 did not have, then the disk for what Redis
    /// did not have. Results come in the order of `keys`; each key counts as one request in
    /// the statistics, exactly as [`get`](Self::get) would.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Cache, Key};
    /// let cache = Cache::<String>::builder().build().await?;
    /// cache
    ///     .set_many(vec![(Key::new(1_u64), "a".to_owned()), (Key::new(3_u64), "c".to_owned())])
    ///     .await?;
    /// let keys = [Key::new(1_u64), Key::new(2_u64), Key::new(3_u64)];
    /// let got = cache.get_many(&keys).await;
    /// assert_eq!(got, [Some("a".to_owned()), None, Some("c".to_owned())]);
    /// # Ok(()) }
    /// ```
    pub async fn get_many(&self, keys: &[Key]) -> Vec<Option<V>> {
        if self.inner.plain {
            return self.get_many_plain(keys).await;
        }
        let inner = &*self.inner;
        let (mut out, mut missing, tickets) = self.l1_pass(keys);
        if let Some(l2) = &inner.shared.l2
            && !missing.is_empty()
            && (inner.shared.replay.clear()
                || inner.shared.replay.l2_readable(&inner.namespace, l2).await)
        {
            let wanted: Vec<(&str, &[u8])> = missing
                .iter()
                .map(|&i| (inner.redis_namespace(&keys[i]), keys[i].as_bytes()))
                .collect();
            match l2.fetch_many(&wanted).await {
                Ok(found) if found.len() == missing.len() => {
                    let mut still = Vec::new();
                    for (i, bytes) in missing.into_iter().zip(found) {
                        let key = &keys[i];
                        let (got, stamps) = self.verify_tags(Ok(bytes)).await;
                        match self.check(l2, &inner.counters.l2, key, got) {
                            Some((value, remaining, bytes)) => {
                                let Some(ticket) = &tickets[i] else { continue };
                                let len = bytes.len();
                                if let Lower::Value(v) =
                                    self.found(key, value, remaining, len, ticket, stamps).await
                                {
                                    out[i] = Some(v);
                                }
                            }
                            None => still.push(i),
                        }
                    }
                    missing = still;
                }
                Ok(found) => {
                    let n = missing.len() as u64;
                    inner.counters.l2.misses.add(n);
                    let e = TierError::Failed(format!(
                        "MGET of {n} keys returned {} values",
                        found.len()
                    ));
                    self.tier_error(l2, &inner.counters.l2, "get_many", keys[0].prefix(), e);
                }
                Err(e) => {
                    inner.counters.l2.misses.add(missing.len() as u64);
                    self.tier_error(l2, &inner.counters.l2, "get_many", keys[0].prefix(), e);
                }
            }
        }
        for i in missing {
            let Some(ticket) = &tickets[i] else { continue };
            match self.lookup_l3(&keys[i], ticket).await {
                Lower::Value(v) => out[i] = Some(v),
                Lower::Negative => {}
                Lower::Miss => inner.counters.misses.incr(),
            }
        }
        out
    }

    /// Stores several values at once with each tier's default time to live: L1 for each, then
    /// **one** Redis round trip (a pipeline of `SET … PX`), then the disk.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Cache, Key};
    /// let cache = Cache::<u32>::builder().build().await?;
    /// cache.set_many((0..3_u32).map(|n| (Key::new(n), n * 10))).await?;
    /// assert_eq!(cache.get(&Key::new(2_u32)).await, Some(20));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`set`](Self::set); every value is encoded before anything is stored, so an error
    /// stores nothing.
    pub async fn set_many(&self, items: impl IntoIterator<Item = (Key, V)>) -> Result<()> {
        if self.inner.plain {
            return self.set_many_plain(items).await;
        }
        let inner = &*self.inner;
        let has_lower = inner.shared.l2.is_some() || inner.shared.l3.is_some();
        let mut encoded = Vec::new();
        for (key, value) in items {
            let bytes = if has_lower || inner.always_encode {
                Some(envelope::encode_entry(
                    &inner.codec,
                    inner.format_version,
                    Some(&value),
                    inner.l2_ttl,
                    inner.max_value_size,
                )?)
            } else {
                None
            };
            encoded.push((key, value, bytes));
        }
        let mut l2_items = Vec::new();
        let mut l3_items = Vec::new();
        let now = crate::clock::now_unix_us();
        for (key, _, _) in &encoded {
            inner.shared.fence.bump_key(inner.space, key).await;
        }
        let announced: Vec<crate::bus::Op> = if inner.shared.bus.is_some() {
            encoded.iter().map(|(key, _, _)| self.key_op(key)).collect()
        } else {
            Vec::new()
        };
        for (key, value, bytes) in encoded {
            let weight = bytes.as_ref().map_or(1, |b| inner.weight(&key, b.len()));
            self.insert_l1(&key, Some(value), inner.l1_ttl, weight);
            if let Some(mut bytes) = bytes.filter(|_| has_lower) {
                let full = crate::key::full_key(&inner.namespace, &key);
                if inner.shared.l3.is_some() {
                    let mut disk = bytes.clone();
                    envelope::set_expiry(&mut disk, inner.l3_ttl);
                    envelope::set_stamp(&mut disk, now);
                    l3_items.push((full.clone(), disk, key.clone()));
                }
                if inner.shared.l2.is_some() {
                    l2_items.push((full, std::mem::take(&mut bytes), inner.l2_ttl));
                }
            }
        }
        if let Some(l2) = &inner.shared.l2
            && !l2_items.is_empty()
            && let Err(e) = l2.store_many(l2_items).await
        {
            self.tier_error(l2, &inner.counters.l2, "set_many", "*", e);
        }
        if let Some(l3) = &inner.shared.l3 {
            for (full, bytes, key) in l3_items {
                if let Err(e) = l3.set(&full, bytes, inner.l3_ttl).await {
                    self.tier_error(l3, &inner.counters.l3, "set_many", key.prefix(), e);
                }
            }
        }
        inner.shared.announce_all(announced).await;
        Ok(())
    }

    /// Removes `key` from every tier: the shared tiers first (Redis, then disk), this
    /// process's L1 last, so that a read in between cannot copy the old value back into L1.
    /// In L1 the stored key (`<namespace>:<prefix>:<key>`) is removed from every view of the
    /// backend that can hold it (a view whose prefix is a head of this one's), as the bus does
    /// for another instance's key. Returns what it reached and how many entries each tier
    /// removed (0 or 1 in Redis and on disk; one per view holding it in L1); a tier it could
    /// not reach (error, or circuit breaker open) is also counted and logged. It runs the
    /// same path as [`Backend::invalidate_group`](crate::Backend::invalidate_group) with one
    /// exact key.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Cache, Key, Reach};
    /// let cache = Cache::<u8>::builder().build().await?;
    /// cache.set(&Key::new(1_u64), 1).await?;
    /// let done = cache.invalidate(&Key::new(1_u64)).await;
    /// assert!(done.is_complete());
    /// assert_eq!(done.l2, Reach::NotConfigured);
    /// assert_eq!(done.l1_removed, 1);
    /// assert_eq!(cache.get(&Key::new(1_u64)).await, None);
    /// # Ok(()) }
    /// ```
    pub async fn invalidate(&self, key: &Key) -> Invalidation {
        let inner = &*self.inner;
        // The one invalidation path (`Backend::invalidate_group`'s): every view that can
        // hold the stored key loses it, and the report counts what each tier removed.
        let plan = crate::group::Plan::key(&inner.namespace, inner.space, key);
        let kind = crate::group::Kind::Key;
        let report = inner
            .shared
            .invalidate_plan(&plan, kind, Some(&inner.counters))
            .await;
        self.view_report(report)
    }

    /// A plain view has no L3 ("Plain mode" in the crate docs): its reports say so, unless the
    /// shared path removed a disk row of another view holding the same stored key.
    fn view_report(&self, mut report: Invalidation) -> Invalidation {
        if self.inner.plain && report.l3_removed == 0 {
            report.l3 = Reach::NotConfigured;
        }
        report
    }

    /// Removes every entry of this view whose key matches `pattern` (relative to the view:
    /// `<namespace>:<prefix>:` is prepended) from every tier, Redis first, the disk file, L1
    /// last, with Redis's glob semantics in every tier. Returns what it reached and how many
    /// keys each tier removed; what Redis could not take is kept and replayed before L2 is read
    /// again. See [`Backend::invalidate_pattern`] for the cost, and
    /// [`Pattern`](crate::Pattern) for building patterns from user values safely.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Cache, Key, Pattern};
    /// let cache = Cache::<u8>::builder().namespace("incidents").build().await?;
    /// cache.set(&Key::new("org").arg(7_u64).arg("status").arg("open"), 1).await?;
    /// cache.set(&Key::new("org").arg(8_u64).arg("status").arg("open"), 2).await?;
    /// let done = cache
    ///     .invalidate_pattern(&Pattern::new().lit("org").lit(7_u64).any())
    ///     .await;
    /// assert_eq!(done.l1_removed, 1);
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_pattern(&self, pattern: &crate::Pattern) -> Invalidation {
        let inner = &*self.inner;
        let plan = crate::group::Plan::new(&inner.namespace, [pattern]);
        let kind = crate::group::Kind::Pattern;
        let report = inner
            .shared
            .invalidate_plan(&plan, kind, Some(&inner.counters))
            .await;
        self.view_report(report)
    }

    /// Removes every entry of this cache (its namespace and prefix) from every tier — and
    /// nothing else: Redis keys are found with `SCAN MATCH <namespace>:*` and removed with
    /// `UNLINK`, never `FLUSHDB`. Shared tiers first, L1 last; returns what it reached (a
    /// `SCAN` that fails part-way is [`Reach::Failed`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Cache, Key};
    /// let cache = Cache::<u8>::builder().build().await?;
    /// cache.set(&Key::new(1_u64), 1).await?;
    /// assert!(cache.invalidate_all().await.is_complete());
    /// assert_eq!(cache.get(&Key::new(1_u64)).await, None);
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_all(&self) -> Invalidation {
        let inner = &*self.inner;
        let mut report = Invalidation::default();
        inner.shared.fence.bump_all().await;
        for (tier, counters) in self.lower_tiers() {
            let reach = match tier.clear(&inner.namespace).await {
                Ok(()) => Reach::Done,
                Err(e) => self.unreached(tier, counters, "invalidate_all", "*", e),
            };
            if tier.name() == "l2" && reach != Reach::Done {
                let op = crate::replay::Pending::Space(inner.namespace.clone());
                inner.shared.replay.keep(&inner.namespace, op).await;
            }
            report.set(tier.name(), reach);
        }
        inner.shared.fence.bump_all().await;
        let space = inner.space;
        inner.shared.l1.remove_if(&move |k, _| k.space == space);
        let kind = crate::group::Kind::All;
        inner
            .shared
            .invalidations
            .count(&inner.shared.namespace, kind, &report);
        let heard = inner
            .shared
            .announce(crate::bus::Op::Space {
                space: inner.namespace.clone(),
            })
            .await;
        report.confirmed(heard);
        report
    }

    /// Same as [`invalidate`](Self::invalidate).
    #[deprecated(
        since = "0.1.0",
        note = "renamed to `invalidate`, which reports what it reached"
    )]
    pub async fn delete(&self, key: &Key) -> Invalidation {
        self.invalidate(key).await
    }

    /// Same as [`invalidate_all`](Self::invalidate_all).
    #[deprecated(
        since = "0.1.0",
        note = "renamed to `invalidate_all`, which reports what it reached"
    )]
    pub async fn clear(&self) -> Invalidation {
        self.invalidate_all().await
    }

    /// An invalidation that did not reach `tier`: counted, logged, reported.
    fn unreached(
        &self,
        tier: &dyn Tier,
        counters: &TierCounters,
        op: &'static str,
        prefix: &str,
        e: TierError,
    ) -> Reach {
        let reach = match &e {
            TierError::Skipped(_) => Reach::Skipped,
            TierError::Failed(_) => Reach::Failed,
        };
        if reach == Reach::Skipped {
            counters.errors.incr();
            tracing::warn!(namespace = %self.inner.namespace, tier = tier.name(), op, key_prefix = prefix, "invalidation skipped: the circuit breaker is open");
        }
        self.tier_error(tier, counters, op, prefix, e);
        reach
    }

    /// Runs pending maintenance now: removal of expired L1 entries (of every view of the
    /// backend) and of expired entries in the disk file.
    pub async fn run_pending_tasks(&self) {
        self.backend().run_pending_tasks().await;
        if let Some(l3) = &self.inner.shared.l3
            && let Err(e) = l3.purge_expired().await
        {
            self.tier_error(l3, &self.inner.counters.l3, "purge", "*", e);
        }
    }

    /// Time until the L1 copy of `key` stops being fresh, if L1 holds one.
    pub async fn remaining_ttl(&self, key: &Key) -> Option<Duration> {
        let e = self.inner.l1_get(key)?;
        e.fresh_until.checked_duration_since(Instant::now())
    }

    /// Statistics since the cache was built. Reading them has no side effect (the metrics
    /// task, or [`publish_metrics`](Self::publish_metrics), publishes them).
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        snapshot(&self.inner)
    }

    /// Publishes this cache's statistics through the `metrics` facade now, e.g. when built
    /// with `metrics_interval(None)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let cache = perf_cache::Cache::<u8>::builder().metrics_interval(None).build().await?;
    /// cache.publish_metrics(); // a no-op without an installed recorder
    /// # Ok(()) }
    /// ```
    pub fn publish_metrics(&self) {
        self.inner.metrics.publish(&snapshot(&self.inner));
    }

    /// Stores a value (or a negative marker for `None`) in every tier: an explicit write
    /// first turns away older fills of the key; a fill stores nothing if an invalidation or a
    /// `set` of its key began after its load (see [`crate::fence`] and the Redis generation).
    async fn store(
        &self,
        key: &Key,
        value: Option<V>,
        ttl: Option<Duration>,
        write: Write<'_>,
    ) -> Result<()> {
        self.store_stamped(key, value, ttl, write, None).await
    }

    /// [`store`](Self::store) of an entry with tags (`stamps`: their generations, see
    /// [`crate::tag_table`]), written into the envelope and kept with the L1 copy.
    async fn store_stamped(
        &self,
        key: &Key,
        value: Option<V>,
        ttl: Option<Duration>,
        write: Write<'_>,
        stamps: Option<crate::tag_table::Stamps>,
    ) -> Result<()> {
        let inner = &*self.inner;
        let base = match (&value, inner.negative_ttl) {
            (Some(_), _) => ttl,
            (None, Some(neg)) => Some(neg),
            (None, None) => return Ok(()),
        };
        let fence = &inner.shared.fence;
        // Held until every tier is written: no invalidation of this key can begin meanwhile.
        let (_admitted, stamp) = match write {
            Write::Set => {
                fence.bump_key(inner.space, key).await;
                (None, crate::clock::now_unix_us())
            }
            Write::Fill(ticket) => match fence.admit(ticket).await {
                Some(admitted) => (Some(admitted), ticket.started_unix_us),
                None => {
                    inner.counters.stale_fills_dropped.incr();
                    return Ok(());
                }
            },
        };
        if inner.plain && stamps.is_some() {
            // No envelope to carry tags: a tagged value is never cached in plain mode.
            return Ok(());
        }
        if inner.plain {
            // Plain views refuse `negative_ttl`, so `value` is `Some` here. The local fence
            // holds; Redis is written with a plain `SET PX` (another service's client writes
            // the same keys, so no generation is compared there).
            return match value {
                Some(v) => Box::pin(self.store_plain(key, v, base)).await,
                None => Ok(()),
            };
        }
        let has_lower = inner.shared.l2.is_some() || inner.shared.l3.is_some();
        let l2_ttl = base.unwrap_or(inner.l2_ttl);
        let encoded = if has_lower || inner.always_encode {
            let tags: Vec<(&str, u64)> = stamps
                .iter()
                .flat_map(|s| s.list.iter())
                .map(|s| (&*s.name, s.generation()))
                .collect();
            Some(envelope::encode_tagged(
                &inner.codec,
                inner.format_version,
                value.as_ref(),
                l2_ttl,
                inner.max_value_size,
                &tags,
            )?)
        } else {
            None
        };
        let weight = encoded
            .as_ref()
            .map_or(1, |bytes| inner.weight(key, bytes.len()));
        let l1_ttl = base.map_or(inner.l1_ttl, |t| t.min(inner.l1_ttl));
        let full = has_lower.then(|| crate::key::full_key(&inner.namespace, key));
        // A fill asks Redis first: if another instance invalidated or set the key, or ran a
        // pattern or `invalidate_all`, since the load began, nothing is stored anywhere. The
        // lower tiers' writes below are boxed: inline, their state (~2 KB) sat in every load's
        // future, L1-only caches' too.
        if let (Write::Fill(ticket), Some(l2), Some(bytes), Some(full)) =
            (write, &inner.shared.l2, &encoded, &full)
        {
            match Box::pin(l2.fill(full, bytes, l2_ttl, ticket.l2_seen)).await {
                Ok(true) => {}
                Ok(false) => {
                    inner.counters.stale_fills_dropped.incr();
                    return Ok(());
                }
                Err(e) => self.tier_error(l2, &inner.counters.l2, "fill", key.prefix(), e),
            }
        }
        self.insert_l1_tagged(key, value, l1_ttl, weight, stamps);
        let (Some(mut bytes), Some(full)) = (encoded, full) else {
            return Ok(());
        };
        if let (Write::Set, Some(l2)) = (write, &inner.shared.l2) {
            let copy = if inner.shared.l3.is_some() {
                bytes.clone()
            } else {
                std::mem::take(&mut bytes)
            };
            if let Err(e) = Box::pin(l2.set(&full, copy, l2_ttl)).await {
                self.tier_error(l2, &inner.counters.l2, "set", key.prefix(), e);
            }
        }
        if let Some(l3) = &inner.shared.l3 {
            let l3_ttl = base.unwrap_or(inner.l3_ttl);
            envelope::set_expiry(&mut bytes, l3_ttl);
            envelope::set_stamp(&mut bytes, stamp);
            if let Err(e) = Box::pin(l3.set(&full, bytes, l3_ttl)).await {
                self.tier_error(l3, &inner.counters.l3, "set", key.prefix(), e);
            }
        }
        if let Write::Set = write {
            // Other instances drop their copy and read the new value from Redis.
            Box::pin(inner.shared.announce(self.key_op(key))).await;
        }
        Ok(())
    }

    fn key_op(&self, key: &Key) -> crate::bus::Op {
        crate::bus::Op::Key {
            space: self.inner.namespace.clone(),
            key: key.as_bytes().to_vec(),
        }
    }

    fn insert_l1(&self, key: &Key, value: Option<V>, fresh_for: Duration, weight: u32) {
        self.insert_l1_tagged(key, value, fresh_for, weight, None);
    }

    fn insert_l1_tagged(
        &self,
        key: &Key,
        value: Option<V>,
        fresh_for: Duration,
        weight: u32,
        tags: Option<crate::tag_table::Stamps>,
    ) {
        let inner = &*self.inner;
        if !inner.shared.l1_enabled {
            return;
        }
        let entry = Entry {
            value,
            fresh_until: Instant::now() + fresh_for,
            refresh_failed: false,
            weight,
            tags,
        };
        inner.l1_insert(key, entry);
    }

    /// L2 then L3; a hit fills L1 (never L2) with the remaining time to live.
    async fn lookup_lower(&self, key: &Key, ticket: &Ticket) -> Lower<V> {
        let inner = &*self.inner;
        if inner.plain {
            return self.lookup_plain(key, ticket).await;
        }
        // L2 is awaited in place (no boxed future) with the full key written straight into
        // the Redis command: this is the hot path of a cache without L1.
        if let Some(l2) = &inner.shared.l2
            && (inner.shared.replay.clear()
                || inner.shared.replay.l2_readable(&inner.namespace, l2).await)
        {
            let got = l2.fetch(inner.redis_namespace(key), key.as_bytes()).await;
            let (got, stamps) = self.verify_tags(got).await;
            if let Some((value, remaining, bytes)) = self.check(l2, &inner.counters.l2, key, got) {
                return self
                    .found(key, value, remaining, bytes.len(), ticket, stamps)
                    .await;
            }
        }
        self.lookup_l3(key, ticket).await
    }

    /// L3 alone; a hit fills L1 with the remaining time to live.
    async fn lookup_l3(&self, key: &Key, ticket: &Ticket) -> Lower<V> {
        let inner = &*self.inner;
        let Some(l3) = &inner.shared.l3 else {
            return Lower::Miss;
        };
        let full = crate::key::full_key(&inner.namespace, key);
        let mut got = l3.get(&full).await;
        // Written before a gap of the invalidation bus: an invalidation from another instance
        // may have been missed, so the entry is a miss until it is loaded again.
        if let Ok(Some(bytes)) = &got
            && !inner.shared.fence.l3_trusted(envelope::stamp(bytes))
        {
            got = Ok(None);
        }
        let (got, stamps) = self.verify_tags(got).await;
        let Some((value, remaining, bytes)) = self.check(l3, &inner.counters.l3, key, got) else {
            return Lower::Miss;
        };
        // Only L1, private to this process, is filled: writing an L3 hit back into the shared
        // L2 would resurrect a value another instance invalidated there.
        self.found(key, value, remaining, bytes.len(), ticket, stamps)
            .await
    }

    /// Counts one lower-tier read and checks its envelope: the value (`None` for a usable
    /// negative entry), its remaining time to live and the stored bytes, or `None` for a miss.
    fn check(
        &self,
        tier: &dyn Tier,
        counters: &TierCounters,
        key: &Key,
        got: TierResult<Option<Vec<u8>>>,
    ) -> Option<(Option<V>, Duration, Vec<u8>)> {
        let inner = &*self.inner;
        let bytes = match got {
            Ok(Some(b)) => b,
            Ok(None) => {
                counters.misses.incr();
                tracing::trace!(namespace = %inner.namespace, tier = tier.name(), outcome = "miss", key_prefix = key.prefix());
                return None;
            }
            Err(e) => {
                counters.misses.incr();
                self.tier_error(tier, counters, "get", key.prefix(), e);
                return None;
            }
        };
        let (value, remaining) = match envelope::decode_entry::<C, V>(
            &inner.codec,
            inner.format_version,
            &bytes,
        ) {
            Decoded::Value(v, r) => (Some(v), r),
            Decoded::Negative(r) if inner.negative_ttl.is_some() => (None, r),
            Decoded::Negative(_) => {
                counters.misses.incr();
                return None;
            }
            Decoded::Miss(reason) => {
                counters.misses.incr();
                tracing::debug!(namespace = %inner.namespace, tier = tier.name(), key_prefix = key.prefix(), ?reason, "stored value unusable; miss");
                return None;
            }
        };
        counters.hits.incr();
        tracing::trace!(namespace = %inner.namespace, tier = tier.name(), outcome = "hit", key_prefix = key.prefix());
        Some((value, remaining, bytes))
    }

    /// A lower-tier hit: fills L1 with the remaining time to live, unless an invalidation of
    /// the key began since `ticket` (the read may have returned the old value).
    async fn found(
        &self,
        key: &Key,
        value: Option<V>,
        remaining: Duration,
        stored_len: usize,
        ticket: &Ticket,
        stamps: Option<crate::tag_table::Stamps>,
    ) -> Lower<V> {
        let inner = &*self.inner;
        if inner.shared.l1_enabled {
            if let Some(_admitted) = inner.shared.fence.admit(ticket).await {
                let weight = inner.weight(key, stored_len);
                let fresh_for = remaining.min(inner.l1_ttl);
                self.insert_l1_tagged(key, value.clone(), fresh_for, weight, stamps);
            } else {
                inner.counters.stale_fills_dropped.incr();
            }
        }
        match value {
            Some(v) => Lower::Value(v),
            None => Lower::Negative,
        }
    }

    /// L2 and L3 in lookup order (without allocating); plain views have no L3.
    fn lower_tiers(&self) -> impl Iterator<Item = (&dyn Tier, &TierCounters)> {
        let inner = &*self.inner;
        let l2 = inner
            .shared
            .l2
            .as_ref()
            .map(|t| (t as &dyn Tier, &inner.counters.l2));
        let l3 = inner
            .shared
            .l3
            .as_ref()
            .filter(|_| !inner.plain)
            .map(|t| (t as &dyn Tier, &inner.counters.l3));
        l2.into_iter().chain(l3)
    }

    fn tier_error(
        &self,
        tier: &dyn Tier,
        counters: &TierCounters,
        op: &'static str,
        prefix: &str,
        e: TierError,
    ) {
        if let TierError::Failed(message) = e {
            counters.errors.incr();
            self.inner
                .shared
                .log
                .warn(&self.inner.namespace, tier.name(), op, prefix, &message);
        }
    }
}

fn snapshot<V, C>(inner: &Inner<V, C>) -> CacheStats {
    let c = &inner.counters;
    let l1 = c.l1.snapshot();
    let l2 = inner.shared.l2.as_ref().map(|_| c.l2.snapshot());
    let l3 = inner.shared.l3.as_ref().map(|_| c.l3.snapshot());
    let hits = l1.hits + l2.as_ref().map_or(0, |t| t.hits) + l3.as_ref().map_or(0, |t| t.hits);
    let misses = c.misses.get();
    let load_nanos = c.load_nanos.get();
    // Precision loss only above 2^53 ns (104 days of loading).
    #[allow(clippy::cast_precision_loss)]
    let load_time_seconds = load_nanos as f64 / 1e9;
    CacheStats {
        namespace: inner.namespace.clone(),
        size: inner.shared.l1.len(),
        max_size: inner.shared.l1_capacity,
        hits,
        misses,
        hit_rate: crate::stats::rate(hits, misses),
        total_requests: hits + misses,
        l1,
        l2,
        l3,
        loads: c.loads.get(),
        load_errors: c.load_errors.get(),
        load_time_seconds,
        evictions: inner.shared.evictions.get(),
        l1_weight: inner.shared.l1.weight(),
        breaker_open: inner.shared.l2.as_ref().is_some_and(|t| t.breaker_open()),
        stale_served: c.stale_served.get(),
        refreshes: c.refreshes.get(),
        stale_fills_dropped: c.stale_fills_dropped.get(),
        lease_acquired: c.lease.acquired.get(),
        lease_waits: c.lease.waits.get(),
        lease_wait_timeouts: c.lease.timeouts.get(),
        lease_fallbacks: c.lease.fallbacks.get(),
        soft_timeouts: c.soft_timeouts.get(),
        hard_timeouts: c.hard_timeouts.get(),
    }
}
