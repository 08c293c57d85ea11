//! L1: the in-process store every view of a backend shares, behind one small trait with two
//! engines — [quick_cache](https://docs.rs/quick_cache) (default: S3-FIFO-like eviction; a hit
//! is one hash, one shard read lock and the typed view's read of the entry in place) and, with
//! feature `moka`, moka's sync cache (TinyLFU admission; a hit clones the entry out).
//!
//! Entries carry their own deadlines in milliseconds of the coarse clock
//! ([`crate::clock::coarse_ms`]); a hit compares them with one read of that clock. Expired
//! entries are dropped when read, by [`L1Store::purge_expired`] (the backend's upkeep) or by
//! eviction.

use std::any::Any;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use crate::Key;
use crate::stats::Counter;

/// An L1 entry as a typed view sees it: the value (never encoded), or `None` for a cached miss.
#[derive(Clone)]
pub(crate) struct Entry<V> {
    pub(crate) value: Option<V>,
    /// End of freshness. Past it the entry is only kept for stale-if-error.
    pub(crate) fresh_until: Instant,
    /// A refresh-ahead of this entry failed: do not start another one before it expires.
    pub(crate) refresh_failed: bool,
    /// Weight for byte-sized caches (encoded size), else 1.
    pub(crate) weight: u32,
    /// The entry's tags and the generations it was stamped with (`None`: no tags).
    pub(crate) tags: Option<crate::tag_table::Stamps>,
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
    /// Tags: the entry is usable only while each still has the generation it was stamped
    /// with (see [`crate::tag_table`]).
    pub(crate) tags: Option<crate::tag_table::Stamps>,
}

impl ErasedEntry {
    /// Whether a tag of the entry was invalidated since it was stamped.
    #[inline]
    pub(crate) fn tag_stale(&self) -> bool {
        self.tags.as_deref().is_some_and(|t| !t.fresh())
    }

    /// [`tag_stale`](Self::tag_stale) for the hit path: `changes` is the tag table's change
    /// count now, which spares reading the tags while no tag changed.
    #[inline]
    pub(crate) fn tag_stale_at(&self, changes: impl FnOnce() -> u64) -> bool {
        self.tags.as_deref().is_some_and(|t| !t.fresh_at(changes()))
    }
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
    /// Runs `f` on the entry for `key`, if any, while the engine holds it (for quick_cache,
    /// under the shard's read lock: `f` must be short and must not call back into L1).
    fn read<R>(&self, key: &L1Lookup<'_>, f: impl FnOnce(&ErasedEntry) -> Option<R>) -> Option<R>;
    fn insert(&self, key: L1Key, entry: ErasedEntry);
    fn remove(&self, key: &L1Lookup<'_>);
    /// Removes every entry for which `remove` returns `true`.
    fn remove_if(&self, remove: &(dyn Fn(&L1Key, &ErasedEntry) -> bool + Send + Sync));
    /// Drops entries whose `keep_until_ms` has passed.
    fn purge_expired(&self, now_ms: u64) {
        self.remove_if(&move |_, e| e.keep_until_ms <= now_ms || e.tag_stale());
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
    fn read<R>(&self, key: &L1Lookup<'_>, f: impl FnOnce(&ErasedEntry) -> Option<R>) -> Option<R> {
        each_engine!(self, e => e.read(key, f))
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

impl quick_cache::Weighter<Hashed, ErasedEntry> for EntryWeight {
    fn weight(&self, _: &Hashed, e: &ErasedEntry) -> u64 {
        u64::from(e.weight.max(1))
    }
}

/// Counts evictions (and inserts too large to be admitted).
#[derive(Clone)]
struct CountEvictions(Arc<Counter>);

impl quick_cache::Lifecycle<Hashed, ErasedEntry> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, (): &mut (), _: Hashed, _: ErasedEntry) {
        self.0.incr();
    }
}

/// A stored key with its hash, computed once per operation: it picks the shard and is the
/// shard table's hash too (through [`PassHash`]), so a hit hashes the key bytes once.
struct Hashed {
    hash: u64,
    key: L1Key,
}

impl Hash for Hashed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Hashed {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for Hashed {}

/// Looks a [`Hashed`] up by reference.
struct HashedLookup<'a, 'k> {
    hash: u64,
    key: &'a L1Lookup<'k>,
}

impl Hash for HashedLookup<'_, '_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl quick_cache::Equivalent<Hashed> for HashedLookup<'_, '_> {
    #[inline]
    fn equivalent(&self, stored: &Hashed) -> bool {
        // The full hash first: a cheap reject of the table's tag collisions.
        self.hash == stored.hash
            && self.key.space == stored.key.space
            && *self.key.key == stored.key.key
    }
}

/// The hasher of the shard tables: passes the precomputed hash through.
#[derive(Clone, Default)]
struct PassHash;

#[derive(Default)]
struct Passed(u64);

impl Hasher for Passed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is ever called (see `Hashed`); fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl std::hash::BuildHasher for PassHash {
    type Hasher = Passed;
    fn build_hasher(&self) -> Passed {
        Passed::default()
    }
}

type ShardCache =
    quick_cache::unsync::Cache<Hashed, ErasedEntry, EntryWeight, PassHash, CountEvictions>;

/// One shard on its own cache lines, so that readers of neighbouring shards do not share
/// the lock's line.
#[repr(align(64))]
struct Shard(RwLock<ShardCache>);

impl Shard {
    #[inline]
    fn read(&self) -> std::sync::RwLockReadGuard<'_, ShardCache> {
        // A panic while a shard was written (never in this crate's code) leaves a table that
        // is still consistent: quick_cache's operations complete before calling out.
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ShardCache> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The default engine: quick_cache's single-threaded core (S3-FIFO-like eviction with a
/// ghost queue) in shards of our own, each behind a read-write lock. Owning the shards lets
/// a hit run a closure on the stored entry under the shard's read lock (the typed view
/// clones its `V` there), instead of cloning the type-erased entry out: no reference count
/// is touched on a hit. Capacity is split evenly over the shards, as quick_cache's own
/// concurrent cache does.
pub(crate) struct Quick {
    shards: Box<[Shard]>,
    mask: u64,
    /// Random per store, so that hashes cannot be predicted from outside the process.
    seed: u64,
}

/// Shards per core: as quick_cache's concurrent cache.
const SHARDS_PER_CORE: usize = 4;
/// Fewer shards when there would be fewer estimated entries per shard than this.
const MIN_SHARD_ITEMS: u64 = 32;

impl Quick {
    fn new(capacity: u64, by_weight: bool, evictions: Arc<Counter>) -> Self {
        // Sized in bytes: assume ~100-byte entries for the table's initial size.
        let items = if by_weight { capacity / 100 } else { capacity };
        let items = items.clamp(1, 1 << 24);
        let capacity = capacity.max(1);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut shards = u64::try_from((cores * SHARDS_PER_CORE).next_power_of_two()).unwrap_or(1);
        while shards > 1 && items.div_ceil(shards) < MIN_SHARD_ITEMS {
            shards /= 2;
        }
        let shard_items = usize::try_from(items.div_ceil(shards)).unwrap_or(1 << 24);
        let shard_capacity = capacity.div_ceil(shards);
        let shards = (0..shards)
            .map(|_| {
                Shard(RwLock::new(ShardCache::with(
                    shard_items,
                    shard_capacity,
                    EntryWeight,
                    PassHash,
                    CountEvictions(Arc::clone(&evictions)),
                )))
            })
            .collect::<Box<[_]>>();
        Self {
            mask: shards.len() as u64 - 1,
            shards,
            seed: std::collections::hash_map::RandomState::new().hash_one(0_u64),
        }
    }

    /// The key's hash, one pass of foldhash over its bytes; the key space goes into the seed
    /// rather than into a second round.
    #[inline]
    fn hash(&self, space: u32, key: &Key) -> u64 {
        // An odd multiplier spreads the space id over the seed's bits.
        let seed = self.seed ^ u64::from(space).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut h = foldhash::fast::FixedState::with_seed(seed).build_hasher();
        h.write(key.as_bytes());
        h.finish()
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard {
        // The middle bits: the table uses the low ones for buckets and the top ones for tags.
        let i = usize::try_from(hash.rotate_right(32) & self.mask).unwrap_or(0);
        &self.shards[i]
    }
}

impl L1Store for Quick {
    #[inline]
    fn read<R>(&self, key: &L1Lookup<'_>, f: impl FnOnce(&ErasedEntry) -> Option<R>) -> Option<R> {
        let hash = self.hash(key.space, key.key);
        let shard = self.shard(hash).read();
        f(shard.get(&HashedLookup { hash, key })?)
    }
    fn insert(&self, key: L1Key, entry: ErasedEntry) {
        let hash = self.hash(key.space, &key.key);
        self.shard(hash).write().insert(Hashed { hash, key }, entry);
    }
    fn remove(&self, key: &L1Lookup<'_>) {
        let hash = self.hash(key.space, key.key);
        let removed = self.shard(hash).write().remove(&HashedLookup { hash, key });
        // The value's drop (its last reference, maybe) runs outside the lock.
        drop(removed);
    }
    fn remove_if(&self, remove: &(dyn Fn(&L1Key, &ErasedEntry) -> bool + Send + Sync)) {
        for shard in &*self.shards {
            shard.write().retain(|k, e| !remove(&k.key, e));
        }
    }
    fn len(&self) -> u64 {
        self.shards.iter().map(|s| s.read().len() as u64).sum()
    }
    fn weight(&self) -> u64 {
        self.shards.iter().map(|s| s.read().weight()).sum()
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
        fn read<R>(
            &self,
            key: &L1Lookup<'_>,
            f: impl FnOnce(&ErasedEntry) -> Option<R>,
        ) -> Option<R> {
            f(&self.cache.get(&Self::owned(key))?)
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
            tags: None,
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
        store.read(&L1Lookup { space, key: &k }, |e| {
            e.value.as_ref()?.downcast_ref::<u64>().copied()
        })
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
        // 50 entries: one shard; 2,000: split over several shards.
        for (engine, capacity) in engines().into_iter().flat_map(|e| [(e, 50), (e, 2_000)]) {
            let evictions = Arc::new(Counter::default());
            let store = build(engine, capacity, false, Arc::clone(&evictions));
            let inserted = capacity * 20;
            for n in 0..inserted {
                store.insert(key(0, n), entry(n, u64::MAX));
            }
            store.run_pending_tasks();
            let len = store.len();
            assert!(
                len <= capacity && len > capacity / 2,
                "{engine:?}: {len} entries of {capacity}"
            );
            assert_eq!(
                evictions.get(),
                inserted - len,
                "{engine:?}: every entry not kept was counted as evicted"
            );
        }
    }

    #[test]
    fn a_quick_cache_hit_reads_the_entry_in_place() {
        let store = build(L1Engine::QuickCache, 100, false, Arc::default());
        let value: Arc<dyn Any + Send + Sync> = Arc::new(7_u64);
        let mut e = entry(0, u64::MAX);
        e.value = Some(Arc::clone(&value));
        store.insert(key(0, 1), e);
        let k = Key::new(1_u64);
        let seen = store.read(&L1Lookup { space: 0, key: &k }, |e| {
            Some(Arc::strong_count(e.value.as_ref()?))
        });
        assert_eq!(seen, Some(2), "no copy of the entry was made to read it");
        assert_eq!(Arc::strong_count(&value), 2);
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
