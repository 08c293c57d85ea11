//! The in-process tag table: the current generation of every tag a backend has seen, so that a
//! hit on a tagged entry is checked without a round trip.
//!
//! Each tag has a [`TagCell`] holding its current generation. An entry in L1 keeps, per tag,
//! the cell and the generation it was stamped with ([`Stamp`]); it is a hit only while every
//! cell still holds that generation (one atomic load per tag; an entry without tags checks
//! nothing). L2 and L3 entries carry the tag names and generations in their envelope and are
//! checked against the same cells when read.
//!
//! Where generations come from:
//! - **With Redis**: the counter `<namespace>%:t:<tag>` (`INCR` by `invalidate_tag`; absent
//!   reads as 0). An unknown tag is fetched once (`GET`; several unknown tags of one call in
//!   one `MGET`, one `GET` each on a cluster); concurrent fetches of one tag wait for the first.
//!   Generations received over the bus raise known cells (never lower them).
//! - **Without Redis**: a backend-wide counter seeded with the Unix µs at start, so a tag
//!   evicted and seen again (or a restarted process reading its own disk file) never gets a
//!   generation an older entry was stamped with.
//!
//! **Bound.** At most [`DEFAULT_TABLE_SIZE`] tags per backend (`BackendBuilder::tag_table_size`).
//! Inserting one more evicts the oldest-inserted tag: its cell is *poisoned* (it never matches
//! any stamp again), so every entry that depends on it is a miss, never a stale hit; the tag is
//! fetched again on its next use. A bus gap drops the whole table the same way.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Tags held per backend by default.
pub(crate) const DEFAULT_TABLE_SIZE: usize = 10_000;
/// A cell that holds no generation yet (being fetched).
const UNKNOWN: u64 = 0;
/// A cell evicted from the table (or dropped by a bus gap): matches no stamp, ever.
const POISONED: u64 = u64::MAX;

/// One tag's current generation, encoded as `generation + 1` (so that 0 can mean unknown).
#[derive(Debug)]
pub(crate) struct TagCell {
    current: AtomicU64,
    /// Coarse-clock ms of the last fetch from Redis (for [`TagTable::set_max_age`]).
    fetched_ms: AtomicU64,
    /// Held while the tag is fetched: concurrent fetches of one tag share one `GET`.
    fetch: tokio::sync::Mutex<()>,
}

impl TagCell {
    fn new(current: u64) -> Self {
        Self {
            current: AtomicU64::new(current),
            fetched_ms: AtomicU64::new(crate::clock::coarse_ms()),
            fetch: tokio::sync::Mutex::new(()),
        }
    }

    /// Raises the cell to `encoded` (`generation + 1`) unless it is poisoned or already
    /// there; whether it changed.
    fn raise(&self, encoded: u64) -> bool {
        self.current
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
                (cur != POISONED && encoded > cur && encoded != POISONED).then_some(encoded)
            })
            .is_ok()
    }

    fn poison(&self) {
        self.current.store(POISONED, Ordering::SeqCst);
    }

    fn known(&self) -> Option<u64> {
        match self.current.load(Ordering::Acquire) {
            UNKNOWN | POISONED => None,
            v => Some(v),
        }
    }
}

/// A tag and the generation an entry was stamped with.
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    pub(crate) name: Arc<str>,
    cell: Arc<TagCell>,
    /// `generation + 1`.
    seen: u64,
}

impl Stamp {
    /// The tag's generation as stamped (what the envelope stores).
    pub(crate) fn generation(&self) -> u64 {
        self.seen - 1
    }
}

/// An entry's tags: the stamps, and the table's change count read before they were taken.
#[derive(Debug)]
pub(crate) struct TagStamps {
    /// [`TagTable::changes`] before the stamps were read: while it has not moved, no cell
    /// changed, so the stamps are current without reading them (the hit path's shortcut).
    pub(crate) changes: u64,
    pub(crate) list: Vec<Stamp>,
}

/// An entry's tags, shared by its L1 copy.
pub(crate) type Stamps = Arc<TagStamps>;

impl TagStamps {
    pub(crate) fn new(changes: u64, list: Vec<Stamp>) -> Stamps {
        Arc::new(Self { changes, list })
    }

    /// Whether every tag still has the generation it was stamped with.
    #[inline]
    pub(crate) fn fresh(&self) -> bool {
        self.list
            .iter()
            .all(|s| s.cell.current.load(Ordering::SeqCst) == s.seen)
    }

    /// [`fresh`](Self::fresh), answered without reading a cell when the table's change count
    /// is still `changes_now`'s (one comparison on the hit path).
    #[inline]
    pub(crate) fn fresh_at(&self, changes_now: u64) -> bool {
        self.changes == changes_now || self.fresh()
    }
}

/// The tag state a load noted when it began: the stamps of the tags named up front, and the
/// tag epochs (see [`TagTable::epoch`]) for tags the loader decides at run time.
#[derive(Debug)]
pub(crate) struct TagTicket {
    /// Stamps of the tags given up front (`LoadOptions::tags`); `None` when they could not be
    /// resolved (Redis unreachable) or were invalid: the result is then not stored.
    pub(crate) upfront: Option<Vec<Stamp>>,
    /// This process's tag epoch when the load began.
    pub(crate) local_epoch: u64,
    /// The table's change count before the up-front tags were resolved.
    pub(crate) changes: u64,
    /// Redis's tag epoch (`<namespace>%:te`) when the load began; `None` when not read.
    pub(crate) redis_epoch: Option<u64>,
}

/// Why tags could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unresolved;

#[derive(Debug, Default)]
struct Cells {
    map: HashMap<Arc<str>, Arc<TagCell>>,
    /// Insertion order, for eviction (may hold names no longer in `map`).
    order: VecDeque<Arc<str>>,
}

/// One backend's tag table.
#[derive(Debug)]
pub(crate) struct TagTable {
    cells: Mutex<Cells>,
    capacity: usize,
    /// Without Redis: the source of generations (seeded with the Unix µs at start).
    local_clock: Option<AtomicU64>,
    /// Bumped by every tag invalidation this process makes or hears of, and by bus gaps.
    epoch: AtomicU64,
    /// Bumped after every change of a cell an entry may hold (raised, poisoned).
    changes: AtomicU64,
    /// See [`set_max_age`](Self::set_max_age); 0: generations are pushed (the bus).
    max_age_ms: AtomicU64,
    evictions: AtomicU64,
}

impl TagTable {
    /// A table of at most `capacity` tags; `local` when the backend has no Redis.
    pub(crate) fn new(capacity: usize, local: bool) -> Self {
        Self {
            cells: Mutex::default(),
            capacity: capacity.max(1),
            local_clock: local.then(|| AtomicU64::new(crate::clock::now_unix_us())),
            epoch: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            max_age_ms: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn next_local(&self) -> Option<u64> {
        self.local_clock
            .as_ref()
            .map(|c| c.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// This process's tag epoch.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn bump_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// How many times a cell changed: read before taking stamps (see [`TagStamps`]).
    #[inline]
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// After a cell changed (the change first, then this).
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// Without the bus nothing pushes new generations: a held generation older than `ms` is
    /// fetched again when next resolved.
    pub(crate) fn set_max_age(&self, ms: u64) {
        self.max_age_ms.store(ms, Ordering::Relaxed);
    }

    /// Whether `cell` must be fetched (again): unknown, or held longer than the max age.
    fn needs_fetch(&self, cell: &TagCell) -> bool {
        match cell.current.load(Ordering::SeqCst) {
            UNKNOWN => true,
            POISONED => false,
            _ => {
                let age = self.max_age_ms.load(Ordering::Relaxed);
                age > 0
                    && crate::clock::coarse_ms()
                        .saturating_sub(cell.fetched_ms.load(Ordering::Relaxed))
                        > age
            }
        }
    }

    /// Installs a fetched generation.
    fn fetched(&self, cell: &TagCell, generation: u64) {
        cell.fetched_ms
            .store(crate::clock::coarse_ms(), Ordering::Relaxed);
        if cell.raise(generation.saturating_add(1)) {
            self.changed();
        }
    }

    /// Tags evicted from the table since the backend was built.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Tags in the table now.
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cells> {
        self.cells.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cell of `name`, inserted (evicting the oldest tag when full) if absent.
    fn cell(&self, name: &str) -> (Arc<str>, Arc<TagCell>) {
        let mut cells = self.lock();
        if let Some((k, c)) = cells.map.get_key_value(name) {
            return (Arc::clone(k), Arc::clone(c));
        }
        while cells.map.len() >= self.capacity {
            let Some(old) = cells.order.pop_front() else {
                break;
            };
            if let Some(cell) = cells.map.remove(&old) {
                cell.poison();
                self.changed();
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        let start = self.next_local().unwrap_or(UNKNOWN);
        let key: Arc<str> = Arc::from(name);
        let cell = Arc::new(TagCell::new(start));
        cells.map.insert(Arc::clone(&key), Arc::clone(&cell));
        cells.order.push_back(Arc::clone(&key));
        (key, cell)
    }

    /// Sets `name`'s generation to at least `generation` if the table holds it (a tag not
    /// held is fetched when next used).
    pub(crate) fn raise(&self, name: &str, generation: u64) {
        let cell = self.lock().map.get(name).cloned();
        if let Some(cell) = cell
            && cell.raise(generation.saturating_add(1))
        {
            self.changed();
        }
    }

    /// Without Redis: moves `name` to a new generation (entries stamped before miss).
    pub(crate) fn bump_local(&self, name: &str) {
        let cell = self.lock().map.get(name).cloned();
        if let (Some(cell), Some(next)) = (cell, self.next_local())
            && cell.raise(next)
        {
            self.changed();
        }
    }

    /// Forgets `name`: entries stamped with it miss; it is fetched again when next used.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn forget(&self, name: &str) {
        let cell = self.lock().map.remove(name);
        if let Some(cell) = cell {
            cell.poison();
            self.changed();
        }
    }

    /// Forgets every tag (a bus gap: generations may have been missed).
    pub(crate) fn forget_all(&self) {
        let mut cells = self.lock();
        for cell in cells.map.values() {
            cell.poison();
        }
        cells.map.clear();
        cells.order.clear();
        drop(cells);
        self.changed();
        self.bump_epoch();
    }

    /// The current stamps of `names`, fetching unknown tags with `fetch` (which returns each
    /// key's generation, in order). `Err` when a generation cannot be known now.
    pub(crate) async fn resolve<F, Fut>(
        &self,
        names: &[String],
        fetch: F,
    ) -> Result<Vec<Stamp>, Unresolved>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u64>, Unresolved>>,
    {
        let cells: Vec<(Arc<str>, Arc<TagCell>)> = names.iter().map(|n| self.cell(n)).collect();
        let unknown: Vec<usize> = (0..cells.len())
            .filter(|&i| self.needs_fetch(&cells[i].1))
            .collect();
        match unknown.as_slice() {
            [] => {}
            // One unknown tag: callers share its fetch.
            &[i] => {
                let (name, cell) = &cells[i];
                let _fetching = cell.fetch.lock().await;
                if self.needs_fetch(cell) {
                    let got = fetch(vec![name.to_string()]).await?;
                    let g = got.first().copied().ok_or(Unresolved)?;
                    self.fetched(cell, g);
                }
            }
            // Several: one batch.
            many => {
                let wanted = many.iter().map(|&i| cells[i].0.to_string()).collect();
                let got = fetch(wanted).await?;
                if got.len() != many.len() {
                    return Err(Unresolved);
                }
                for (&i, g) in many.iter().zip(got) {
                    self.fetched(&cells[i].1, g);
                }
            }
        }
        cells
            .into_iter()
            .map(|(name, cell)| {
                let seen = cell.known().ok_or(Unresolved)?;
                Ok(Stamp { name, cell, seen })
            })
            .collect()
    }
}

/// Turns a resolved list (taken after the table's change count was `changes`) into stamps
/// that match `stored` (names and generations an envelope carries): `None` when any
/// generation differs (the entry is stale).
pub(crate) fn matching(
    changes: u64,
    stamps: Vec<Stamp>,
    stored: &[(String, u64)],
) -> Option<Stamps> {
    let ok = stamps.len() == stored.len()
        && stamps
            .iter()
            .zip(stored)
            .all(|(s, (_, g))| s.seen == g.saturating_add(1));
    ok.then(|| TagStamps::new(changes, stamps))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn none(_: Vec<String>) -> Result<Vec<u64>, Unresolved> {
        Err(Unresolved)
    }

    #[tokio::test]
    async fn local_generations_never_repeat_after_eviction() {
        let table = TagTable::new(2, true);
        let changes = table.changes();
        let a = TagStamps::new(changes, table.resolve(&["a".into()], none).await.unwrap());
        assert!(a.fresh_at(table.changes()));
        table.bump_local("a");
        assert!(!a.fresh_at(table.changes()), "an invalidated tag");
        let changes = table.changes();
        let a2 = TagStamps::new(changes, table.resolve(&["a".into()], none).await.unwrap());
        assert!(a2.fresh_at(table.changes()));
        let _ = table
            .resolve(&["b".into(), "c".into()], none)
            .await
            .unwrap();
        assert_eq!(table.evictions(), 1);
        assert!(
            !a2.fresh_at(table.changes()),
            "evicted: a miss, never a hit"
        );
        let a3 = table.resolve(&["a".into()], none).await.unwrap();
        assert!(a3[0].generation() > a2.list[0].generation());
    }

    #[tokio::test]
    async fn remote_generations_raise_and_never_lower() {
        let table = TagTable::new(10, false);
        let s = table
            .resolve(&["t".into()], |_| async { Ok(vec![4]) })
            .await
            .unwrap();
        assert_eq!(s[0].generation(), 4);
        let s = TagStamps::new(table.changes(), s);
        table.raise("t", 3);
        assert!(s.fresh_at(table.changes()));
        table.raise("t", 5);
        assert!(!s.fresh_at(table.changes()));
        assert!(!s.fresh());
        assert!(matching(0, s.list.clone(), &[("t".into(), 4)]).is_some());
        table.forget_all();
        assert_eq!(table.len(), 0);
        assert!(
            table.resolve(&["t".into()], none).await.is_err(),
            "unknown and unreachable"
        );
    }
}
