//! L1: the in-process store every view of a backend shares, behind one small trait with two
//! engines — [quick_cache](https://docs.rs/quick_cache) (default: S3-FIFO-like eviction, a
//! sharded lock read and a few atomics per hit) and, with feature `moka`, moka's sync cache
//! (TinyLFU admission).
//!
//! Entries carry their own deadlines in milliseconds of the coarse clock
//! ([`crate::clock::coarse_ms`]); a hit compares them with one read of that clock. Expired
//! entries are dropped when read, by [`L1Store::purge_expired`] (the backend's upkeep) or by
//! eviction.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use crate::Key;
use crate::stats::Counter;

/// An L1 entry as a typed view sees it: the value (never encoded), or `None` for a cached miss.
#[derive(Clone)]
pub(crate) struct Entry<V> {
    pub(crate) value: Option<V>,
    /// End of freshness. Past it the entry is only kept for stale-if-error.
    pub(crate) fresh_until: Instant,
    /// Always `false` now that every hit checks the entry's own deadline; kept for the load
    /// path's fast check.
    pub(crate) short: bool,
    /// A refresh-ahead of this entry failed: do not start another one before it expires.
    pub(crate) refresh_failed: bool,
    /// Weight for byte-sized caches (encoded size), else 1.
    pub(crate) weight: u32,
}

/// A key in the shared L1: the view's key space (an id per distinct prefix) and the key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct L1Key {
    pub(crate) space: u32,
    pub(crate) key: Key,
}

impl Hash for L1Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.space.hash(state);
        self.key.hash(state);
    }
}

/// Looks an [`L1Key`] up without building one (no copy of the key).
pub(crate) struct L1Lookup<'a> {
    pub(crate) space: u32,
    pub(crate) key: &'a Key,
}

impl Hash for L1Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.space.hash(state);
        self.key.hash(state);
    }
}

impl quick_cache::Equivalent<L1Key> for L1Lookup<'_> {
    fn equivalent(&self, key: &L1Key) -> bool {
        self.space == key.space && *self.key == key.key
    }
}

/// An L1 entry with its value type erased; views check the type on read.
#[derive(Clone)]
pub(crate) struct ErasedEntry {
    /// The value (`None` for a cached "not found").
    pub(crate) value: Option<Arc<dyn Any + Send + Sync>>,
    /// End of freshness, coarse-clock milliseconds.
    pub(crate) fresh_until_ms: u64,
    /// When L1 may drop the entry: freshness plus the view's stale-if-error grace.
    pub(crate) keep_until_ms: u64,
    pub(crate) refresh_failed: bool,
    /// At least 1.
    pub(crate) weight: u32,
}

/// Which engine holds L1.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use perf_cache::{Backend, L1Engine};
/// let backend = Backend::builder().l1_engine(L1Engine::QuickCache).build().await?;
/// # drop(backend); Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum L1Engine {
    /// [quick_cache](https://docs.rs/quick_cache) (default): the fastest hit; eviction resists
    /// one-off scans with a small ghost queue.
    #[default]
    QuickCache,
    /// moka's sync cache (feature `moka`): TinyLFU admission, slower hits.
    #[cfg(feature = "moka")]
    Moka,
}

/// The operations the cache needs from an L1 engine.
pub(crate) trait L1Store: Send + Sync {
    fn get(&self, key: &L1Lookup<'_>) -> Option<ErasedEntry>;
    fn insert(&self, key: L1Key, entry: ErasedEntry);
    fn remove(&self, key: &L1Lookup<'_>);
    /// Removes every entry for which `remove` returns `true`.
    fn remove_if(&self, remove: &(dyn Fn(&L1Key, &ErasedEntry) -> bool + Send + Sync));
    /// Drops entries whose `keep_until_ms` has passed.
    fn purge_expired(&self, now_ms: u64) {
        self.remove_if(&move |_, e| e.keep_until_ms <= now_ms);
    }
    /// Applies pending maintenance (moka applies evictions lazily).
    fn run_pending_tasks(&self) {}
    fn len(&self) -> u64;
    /// Total weight (entries, or bytes when sized by weight).
    fn weight(&self) -> u64;
}

/// The engine a backend runs, dispatched statically so that the quick_cache hit path inlines
/// into the cache's own.
pub(crate) enum Store {
    Quick(Quick),
    #[cfg(feature = "moka")]
    Moka(moka_engine::Moka),
}

macro_rules! each_engine {
    ($self:ident, $e:ident => $call:expr) => {
        match $self {
            Store::Quick($e) => $call,
            #[cfg(feature = "moka")]
            Store::Moka($e) => $call,
        }
    };
}

impl L1Store for Store {
    #[inline]
    fn get(&self, key: &L1Lookup<'_>) -> Option<ErasedEntry> {
        each_engine!(self, e => e.get(key))
    }
    fn insert(&self, key: L1Key, entry: ErasedEntry) {
        each_engine!(self, e => e.insert(key, entry));
    }
    fn remove(&self, key: &L1Lookup<'_>) {
        each_engine!(self, e => e.remove(key));
    }
    fn remove_if(&self, remove: &(dyn Fn(&L1Key, &ErasedEntry) -> bool + Send + Sync)) {
        each_engine!(self, e => e.remove_if(remove));
    }
    fn run_pending_tasks(&self) {
        each_engine!(self, e => e.run_pending_tasks());
    }
    fn len(&self) -> u64 {
        each_engine!(self, e => e.len())
    }
    fn weight(&self) -> u64 {
        each_engine!(self, e => e.weight())
    }
}

/// Builds the engine: `capacity` entries, or bytes when `by_weight`.
pub(crate) fn build(
    engine: L1Engine,
    capacity: u64,
    by_weight: bool,
    evictions: Arc<Counter>,
) -> Store {
    match engine {
        L1Engine::QuickCache => Store::Quick(Quick::new(capacity, by_weight, evictions)),
        #[cfg(feature = "moka")]
        L1Engine::Moka => Store::Moka(moka_engine::Moka::new(capacity, evictions)),
    }
}

#[derive(Clone)]
struct EntryWeight;

impl quick_cache::Weighter<L1Key, ErasedEntry> for EntryWeight {
    fn weight(&self, _: &L1Key, e: &ErasedEntry) -> u64 {
        u64::from(e.weight.max(1))
    }
}

/// Counts evictions (and inserts too large to be admitted).
#[derive(Clone)]
struct CountEvictions(Arc<Counter>);

impl quick_cache::Lifecycle<L1Key, ErasedEntry> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, (): &mut (), _: L1Key, _: ErasedEntry) {
        self.0.incr();
    }
}

type QuickCache = quick_cache::sync::Cache<
    L1Key,
    ErasedEntry,
    EntryWeight,
    quick_cache::DefaultHashBuilder,
    CountEvictions,
>;

pub(crate) struct Quick {
    cache: QuickCache,
}

impl Quick {
    fn new(capacity: u64, by_weight: bool, evictions: Arc<Counter>) -> Self {
        // Sized in bytes: assume ~100-byte entries for the table's initial size.
        let items = if by_weight { capacity / 100 } else { capacity };
        let items = usize::try_from(items.clamp(1, 1 << 24)).unwrap_or(1 << 24);
        Self {
            cache: QuickCache::with(
                items,
                capacity.max(1),
                EntryWeight,
                quick_cache::DefaultHashBuilder::default(),
                CountEvictions(evictions),
            ),
        }
    }
}

impl L1Store for Quick {
    #[inline]
    fn get(&self, key: &L1Lookup<'_>) -> Option<ErasedEntry> {
        self.cache.get(key)
    }
    fn insert(&self, key: L1Key, entry: ErasedEntry) {
        self.cache.insert(key, entry);
    }
    fn remove(&self, key: &L1Lookup<'_>) {
        self.cache.remove(key);
    }
    fn remove_if(&self, remove: &(dyn Fn(&L1Key, &ErasedEntry) -> bool + Send + Sync)) {
        self.cache.retain(|k, e| !remove(k, e));
    }
    fn len(&self) -> u64 {
        self.cache.len() as u64
    }
    fn weight(&self) -> u64 {
        self.cache.weight()
    }
}

#[cfg(feature = "moka")]
mod moka_engine {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{ErasedEntry, L1Key, L1Lookup, L1Store};
    use crate::stats::Counter;

    /// Each entry lives until its own `keep_until_ms`.
    struct EntryExpiry;

    fn left(e: &ErasedEntry) -> Duration {
        Duration::from_millis(e.keep_until_ms.saturating_sub(crate::clock::coarse_ms()))
    }

    impl moka::Expiry<L1Key, ErasedEntry> for EntryExpiry {
        fn expire_after_create(&self, _: &L1Key, e: &ErasedEntry, _: Instant) -> Option<Duration> {
            Some(left(e))
        }
        fn expire_after_update(
            &self,
            _: &L1Key,
            e: &ErasedEntry,
            _: Instant,
            _: Option<Duration>,
        ) -> Option<Duration> {
            Some(left(e))
        }
    }

    pub(crate) struct Moka {
        cache: moka::sync::Cache<L1Key, ErasedEntry>,
    }

    impl Moka {
        pub(super) fn new(capacity: u64, evictions: Arc<Counter>) -> Self {
            let cache = moka::sync::Cache::builder()
                .max_capacity(capacity)
                .weigher(|_: &L1Key, e: &ErasedEntry| e.weight.max(1))
                .expire_after(EntryExpiry)
                .support_invalidation_closures()
                .eviction_listener(move |_, _, cause| {
                    if cause == moka::notification::RemovalCause::Size {
                        evictions.incr();
                    }
                })
                .build();
            Self { cache }
        }

        fn owned(key: &L1Lookup<'_>) -> L1Key {
            L1Key {
                space: key.space,
                key: key.key.clone(),
            }
        }
    }

    impl L1Store for Moka {
        fn get(&self, key: &L1Lookup<'_>) -> Option<ErasedEntry> {
            self.cache.get(&Self::owned(key))
        }
        fn insert(&self, key: L1Key, entry: ErasedEntry) {
            self.cache.insert(key, entry);
        }
        fn remove(&self, key: &L1Lookup<'_>) {
            self.cache.invalidate(&Self::owned(key));
        }
        fn remove_if(&self, remove: &(dyn Fn(&L1Key, &ErasedEntry) -> bool + Send + Sync)) {
            // moka needs an owned `'static` predicate: collect the matching keys instead.
            let doomed: Vec<Arc<L1Key>> = self
                .cache
                .iter()
                .filter(|(k, e)| remove(k, e))
                .map(|(k, _)| k)
                .collect();
            for k in doomed {
                self.cache.invalidate(&*k);
            }
        }
        fn run_pending_tasks(&self) {
            self.cache.run_pending_tasks();
        }
        fn len(&self) -> u64 {
            // `entry_count` still includes entries whose expiry moka's timer wheel (about one
            // second per slot) has not reached; `iter` skips them.
            self.cache.iter().count() as u64
        }
        fn weight(&self) -> u64 {
            self.cache.weighted_size()
        }
    }
}

#[cfg(test)]
mod tests {
    //! The engine contract, run on every engine.
    use super::*;

    fn engines() -> Vec<L1Engine> {
        #[allow(unused_mut)]
        let mut all = vec![L1Engine::QuickCache];
        #[cfg(feature = "moka")]
        all.push(L1Engine::Moka);
        all
    }

    fn entry(v: u64, keep_until_ms: u64) -> ErasedEntry {
        ErasedEntry {
            value: Some(Arc::new(v)),
            fresh_until_ms: keep_until_ms,
            keep_until_ms,
            refresh_failed: false,
            weight: 1,
        }
    }

    fn key(space: u32, n: u64) -> L1Key {
        L1Key {
            space,
            key: Key::new(n),
        }
    }

    fn get(store: &Store, space: u32, n: u64) -> Option<u64> {
        let k = Key::new(n);
        let e = store.get(&L1Lookup { space, key: &k })?;
        e.value?.downcast_ref::<u64>().copied()
    }

    #[test]
    fn keys_are_per_space_and_removal_is_exact() {
        for engine in engines() {
            let store = build(engine, 100, false, Arc::default());
            store.insert(key(1, 7), entry(1, u64::MAX));
            store.insert(key(2, 7), entry(2, u64::MAX));
            assert_eq!(get(&store, 1, 7), Some(1), "{engine:?}");
            assert_eq!(get(&store, 2, 7), Some(2), "{engine:?}");
            store.remove(&L1Lookup {
                space: 1,
                key: &Key::new(7_u64),
            });
            assert_eq!(get(&store, 1, 7), None, "{engine:?}");
            assert_eq!(get(&store, 2, 7), Some(2), "{engine:?}");
        }
    }

    #[test]
    fn removal_by_predicate_touches_only_matches() {
        for engine in engines() {
            let store = build(engine, 100, false, Arc::default());
            for n in 0..10 {
                store.insert(key(n % 2, u64::from(n)), entry(u64::from(n), u64::MAX));
            }
            store.remove_if(&|k, _| k.space == 0);
            store.run_pending_tasks();
            for n in 0..10_u32 {
                let expect = (n % 2 == 1).then_some(u64::from(n));
                assert_eq!(get(&store, n % 2, u64::from(n)), expect, "{engine:?} {n}");
            }
            assert_eq!(store.len(), 5, "{engine:?}");
        }
    }

    #[test]
    fn memory_is_bounded_and_evictions_are_counted() {
        for engine in engines() {
            let evictions = Arc::new(Counter::default());
            let store = build(engine, 50, false, Arc::clone(&evictions));
            for n in 0..1_000 {
                store.insert(key(0, n), entry(n, u64::MAX));
            }
            store.run_pending_tasks();
            let len = store.len();
            assert!(len <= 50 && len > 0, "{engine:?}: {len} entries");
            assert_eq!(
                evictions.get(),
                1_000 - len,
                "{engine:?}: every entry not kept was counted as evicted"
            );
        }
    }

    #[test]
    fn weight_bounds_bytes() {
        for engine in engines() {
            let store = build(engine, 1_000, true, Arc::default());
            for n in 0..100 {
                let mut e = entry(n, u64::MAX);
                e.weight = 100;
                store.insert(key(0, n), e);
            }
            store.run_pending_tasks();
            assert!(store.weight() <= 1_000, "{engine:?}: {}", store.weight());
        }
    }

    #[test]
    fn purge_drops_expired_entries_only() {
        for engine in engines() {
            let store = build(engine, 100, false, Arc::default());
            let now = crate::clock::coarse_ms();
            store.insert(key(0, 1), entry(1, now + 60_000));
            store.insert(key(0, 2), entry(2, now.saturating_sub(1)));
            store.purge_expired(now);
            store.run_pending_tasks();
            assert_eq!(get(&store, 0, 1), Some(1), "{engine:?}");
            assert_eq!(get(&store, 0, 2), None, "{engine:?}");
            assert_eq!(store.len(), 1, "{engine:?}");
        }
    }
}
