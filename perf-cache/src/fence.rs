//! The stale-fill fence: after `invalidate*` (or `set`) returns, no tier of this process keeps
//! a value whose load, promotion or refresh began before the call.
//!
//! Every backend keeps invalidation *epochs*: one per stripe of keys (a hash of the view's key
//! space and the key picks one of [`STRIPES`]) and one for the whole backend (bumped by
//! `invalidate_all`, remote space or pattern operations, and bus gaps). A load takes a
//! [`Ticket`] (the epochs, read with two atomic loads) before it reads a lower tier or runs
//! its loader. Where it stores its result (L1, L2, L3) it first [`admit`](Fence::admit)s the
//! ticket: a shared lock on the global and the stripe lock, held until the stores are done,
//! and a comparison of the epochs with the ticket's. An invalidation bumps the epoch under the
//! exclusive lock **before** it removes anything, and again before it empties L1, so a fill
//! either finished before the bump (and its entry is removed by the invalidation that follows)
//! or sees the new epoch and stores nothing. The L1 hit path reads none of this.
//!
//! A stripe is shared by many keys: an invalidation of one key also turns away in-flight fills
//! of the other keys of its stripe (they are returned to their callers, just not cached). With
//! 256 stripes that costs little hit ratio even under frequent invalidation.
//!
//! A pattern invalidation raises a third epoch, the *pattern epoch*, and logs its patterns
//! ([`crate::pattern_log`]): a fill whose ticket predates it is turned away only if its key
//! matches one of the patterns logged since (or the log overflowed).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{RwLock, RwLockReadGuard};

use crate::Key;
use crate::glob::Glob;
use crate::pattern_log::PatternLog;

/// Stripes of per-key epochs per backend.
pub(crate) const STRIPES: usize = 256;

#[derive(Debug, Default)]
struct Epoch {
    value: AtomicU64,
    /// Shared by fills while they store, exclusive while the epoch is bumped.
    lock: RwLock<()>,
}

impl Epoch {
    async fn bump(&self) {
        let _exclusive = self.lock.write().await;
        self.value.fetch_add(1, Ordering::SeqCst);
    }
}

/// One backend's epochs.
#[derive(Debug)]
pub(crate) struct Fence {
    global: Epoch,
    /// Raised by pattern invalidations, which are logged in `log` under the new value.
    patterns: Epoch,
    log: std::sync::Mutex<PatternLog>,
    stripes: Box<[Epoch]>,
    /// foldhash, as L1 uses (the stripe is picked on every L1 miss); SipHash's resistance to
    /// chosen keys buys nothing for a stripe index, which only decides which fills share an
    /// epoch.
    hasher: foldhash::fast::RandomState,
    /// Unix µs: L3 entries stamped at or before it are misses (set when the bus had a gap,
    /// during which invalidations from other instances may have been missed); 0: none.
    l3_floor_us: AtomicU64,
    /// Whether tickets note the time (only the L3 copy is stamped with it).
    stamps: bool,
}

impl Default for Fence {
    fn default() -> Self {
        Self::new(true)
    }
}

/// The epochs a load saw when it began; see [`Fence::admit`].
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    global: u64,
    patterns: u64,
    space: u32,
    key: Key,
    stripe: usize,
    stripe_epoch: u64,
    /// Unix µs when the load began: stamped into the L3 copy it writes.
    pub(crate) started_unix_us: u64,
    /// What Redis held when the load began, for the compare-and-set of the L2 fill.
    pub(crate) l2_seen: L2Seen,
    /// Tag generations and epochs noted when the load began (loads only; see
    /// [`crate::tag_table::TagTicket`]).
    pub(crate) tags: Option<std::sync::Arc<crate::tag_table::TagTicket>>,
}

/// What a load read from Redis before its loader ran (one round trip): the key's generation,
/// the namespace's pattern epoch and Redis's clock. The fill of its result is written only if
/// the generation has not risen, the epoch has not moved, and (when the generation is gone)
/// the load is younger than a generation's lifetime. Zeros: unknown (Redis did not answer),
/// which the fill treats as "no generation, no pattern ever", with no age check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct L2Seen {
    /// `<namespace>%:g:{<key>}` (0: none, or unknown).
    pub(crate) generation: u64,
    /// `<namespace>%:pe` (0: none, or unknown).
    pub(crate) pattern_epoch: u64,
    /// Redis's `TIME` in µs when read (0: unknown).
    pub(crate) started_us: u64,
}

/// Held while a fill stores its result: no invalidation of its stripe (or of everything) can
/// bump the epoch meanwhile.
#[derive(Debug)]
pub(crate) struct Admitted<'a> {
    _global: RwLockReadGuard<'a, ()>,
    _patterns: RwLockReadGuard<'a, ()>,
    _stripe: RwLockReadGuard<'a, ()>,
}

impl Fence {
    /// A fence whose tickets note the time when `stamps` (the backend has L3).
    pub(crate) fn new(stamps: bool) -> Self {
        Self {
            global: Epoch::default(),
            patterns: Epoch::default(),
            log: std::sync::Mutex::default(),
            stripes: (0..STRIPES).map(|_| Epoch::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            l3_floor_us: AtomicU64::new(0),
            stamps,
        }
    }

    fn stripe_of(&self, space: u32, key: &Key) -> usize {
        let mut h = self.hasher.build_hasher();
        space.hash(&mut h);
        key.hash(&mut h);
        // STRIPES is a power of two; the modulo keeps the index in range on any platform.
        usize::try_from(h.finish() % STRIPES as u64).unwrap_or(0)
    }

    /// The epochs now, for a load of `key` in key space `space` that begins now.
    pub(crate) fn ticket(&self, space: u32, key: &Key) -> Ticket {
        let stripe = self.stripe_of(space, key);
        Ticket {
            global: self.global.value.load(Ordering::SeqCst),
            patterns: self.patterns.value.load(Ordering::SeqCst),
            space,
            key: key.clone(),
            stripe,
            stripe_epoch: self.stripes[stripe].value.load(Ordering::SeqCst),
            started_unix_us: if self.stamps {
                crate::clock::now_unix_us()
            } else {
                0
            },
            l2_seen: L2Seen::default(),
            tags: None,
        }
    }

    /// Whether the fill holding `ticket` may store: `Some` (hold it until the stores are
    /// done) when no invalidation of its key, no pattern matching it (or of everything)
    /// began since the ticket.
    pub(crate) async fn admit(&self, ticket: &Ticket) -> Option<Admitted<'_>> {
        let epoch = &self.stripes[ticket.stripe];
        // The three shared locks at once when no invalidation holds or awaits any (the usual
        // case: a CAS each, no future); `try_read` fails while a bump waits, so a fill never
        // overtakes a queued invalidation. Otherwise queue for them, boxed: the lock futures
        // would sit in every load's future.
        let (global, patterns, stripe) = match (
            self.global.lock.try_read(),
            self.patterns.lock.try_read(),
            epoch.lock.try_read(),
        ) {
            (Ok(global), Ok(patterns), Ok(stripe)) => (global, patterns, stripe),
            (global, patterns, stripe) => {
                drop((global, patterns, stripe));
                Box::pin(async {
                    (
                        self.global.lock.read().await,
                        self.patterns.lock.read().await,
                        epoch.lock.read().await,
                    )
                })
                .await
            }
        };
        self.is_fresh(ticket).then_some(Admitted {
            _global: global,
            _patterns: patterns,
            _stripe: stripe,
        })
    }

    /// Whether no epoch that concerns `ticket`'s key moved since it was taken (a pattern
    /// logged since then that does not match the key does not count). Read under the locks.
    fn is_fresh(&self, ticket: &Ticket) -> bool {
        self.global.value.load(Ordering::SeqCst) == ticket.global
            && self.stripes[ticket.stripe].value.load(Ordering::SeqCst) == ticket.stripe_epoch
            && (self.patterns.value.load(Ordering::SeqCst) == ticket.patterns
                || self
                    .log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .admits(ticket.patterns, ticket.space, &ticket.key))
    }

    /// Turns away every fill that began before now and whose stored key (the head of its key
    /// space, by space id in `heads`, then its key) matches one of `globs` (waits for those
    /// storing).
    pub(crate) async fn bump_patterns(&self, globs: Arc<[Glob]>, heads: Arc<[Vec<u8>]>) {
        let _exclusive = self.patterns.lock.write().await;
        let epoch = self.patterns.value.fetch_add(1, Ordering::SeqCst) + 1;
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(epoch, globs, heads);
    }

    /// [`admit`](Self::admit) without waiting, for fills of plain (non-`async`) `#[cached]`
    /// functions: `None` also while an invalidation is bumping an epoch (the fill is then
    /// returned to its caller but not stored).
    pub(crate) fn try_admit(&self, ticket: &Ticket) -> Option<Admitted<'_>> {
        let global = self.global.lock.try_read().ok()?;
        let patterns = self.patterns.lock.try_read().ok()?;
        let stripe = self.stripes[ticket.stripe].lock.try_read().ok()?;
        self.is_fresh(ticket).then_some(Admitted {
            _global: global,
            _patterns: patterns,
            _stripe: stripe,
        })
    }

    /// Turns away every fill of `key` that began before now (waits for those storing).
    pub(crate) async fn bump_key(&self, space: u32, key: &Key) {
        self.stripes[self.stripe_of(space, key)].bump().await;
    }

    /// Turns away every fill that began before now (waits for those storing).
    pub(crate) async fn bump_all(&self) {
        self.global.bump().await;
    }

    /// Distrusts every L3 entry stamped up to now.
    pub(crate) fn raise_l3_floor(&self) {
        self.l3_floor_us
            .fetch_max(crate::clock::now_unix_us(), Ordering::SeqCst);
    }

    /// Whether an L3 entry stamped at `stamp_us` (Unix µs when its load began) may be served:
    /// always before any gap, else only when stamped after the last one (the same µs is
    /// ambiguous, so distrusted).
    pub(crate) fn l3_trusted(&self, stamp_us: u64) -> bool {
        let floor = self.l3_floor_us.load(Ordering::Relaxed);
        floor == 0 || stamp_us > floor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bump_turns_away_older_tickets_only() {
        let fence = Fence::default();
        let key = Key::new(1_u64);
        let old = fence.ticket(0, &key);
        assert!(fence.admit(&old).await.is_some());
        fence.bump_key(0, &key).await;
        assert!(fence.admit(&old).await.is_none());
        let new = fence.ticket(0, &key);
        assert!(fence.admit(&new).await.is_some());
        fence.bump_all().await;
        assert!(fence.admit(&new).await.is_none());
    }

    #[tokio::test]
    async fn a_bump_waits_for_a_fill_that_is_storing() {
        let fence = std::sync::Arc::new(Fence::default());
        let key = Key::new(1_u64);
        let ticket = fence.ticket(0, &key);
        let admitted = fence.admit(&ticket).await.unwrap();
        let f = std::sync::Arc::clone(&fence);
        let k = key.clone();
        let bump = tokio::spawn(async move { f.bump_key(0, &k).await });
        tokio::task::yield_now().await;
        assert!(!bump.is_finished(), "the bump waits for the fill's stores");
        drop(admitted);
        bump.await.unwrap();
        assert!(fence.admit(&ticket).await.is_none());
    }

    #[tokio::test]
    async fn a_fill_does_not_overtake_a_waiting_bump() {
        let fence = std::sync::Arc::new(Fence::default());
        let key = Key::new(1_u64);
        let first = fence.ticket(0, &key);
        let second = fence.ticket(0, &key);
        let held = fence.admit(&first).await.unwrap();
        let f = std::sync::Arc::clone(&fence);
        let k = key.clone();
        let bump = tokio::spawn(async move { f.bump_key(0, &k).await });
        tokio::task::yield_now().await;
        let f = std::sync::Arc::clone(&fence);
        let late = tokio::spawn(async move { f.admit(&second).await.is_some() });
        tokio::task::yield_now().await;
        assert!(!bump.is_finished(), "the bump waits for the first fill");
        assert!(
            !late.is_finished(),
            "the second fill queues behind the waiting bump"
        );
        drop(held);
        bump.await.unwrap();
        assert!(
            !late.await.unwrap(),
            "then sees the new epoch and stores nothing"
        );
        assert!(fence.admit(&fence.ticket(0, &key)).await.is_some());
    }

    #[test]
    fn l3_floor() {
        let fence = Fence::default();
        assert!(fence.l3_trusted(0), "no gap yet: everything is trusted");
        let before = crate::clock::now_unix_us();
        fence.raise_l3_floor();
        assert!(!fence.l3_trusted(0));
        assert!(!fence.l3_trusted(before));
        assert!(fence.l3_trusted(u64::MAX));
    }
}
