//! Invalidations that could not reach Redis, kept (bounded) and replayed before L2 is read
//! again, so that a value invalidated during an outage is not served from Redis afterwards.
//!
//! Up to [`MAX_PENDING`] operations are kept per backend. When more are needed the queue is
//! dropped and L2 is treated as *suspect*: reads skip it (they go to L3 or the loader) until
//! the longest L2 TTL of the backend's views has passed since the overflow, after which every
//! value written before it has expired.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::tiers::{L2, Tier};

/// Operations kept per backend before L2 is treated as suspect.
pub(crate) const MAX_PENDING: usize = 10_000;

/// One invalidation to replay.
#[derive(Debug)]
pub(crate) enum Pending {
    /// `UNLINK` of one stored key (`<namespace>:<key>`).
    Key(Vec<u8>),
    /// `SCAN MATCH <space>:*` + `UNLINK` (an `invalidate_all`).
    Space(String),
    /// `SCAN MATCH <pattern>` + `UNLINK` (a pattern invalidation; the full pattern).
    Pattern(Vec<u8>),
    /// `INCR` of the tag epoch, then of a tag's generation (a tag invalidation; both keys).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Tag { epoch: Vec<u8>, tag: Vec<u8> },
}

/// The queue and the suspect deadline of one backend.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Set while the queue is not empty: the read path checks only this.
    has_pending: AtomicBool,
    queue: tokio::sync::Mutex<VecDeque<Pending>>,
    /// Coarse-clock ms until which L2 reads are skipped (0: not suspect).
    suspect_until_ms: AtomicU64,
    /// The longest `l2_ttl` of the backend's views, in ms.
    max_l2_ttl_ms: AtomicU64,
}

impl Replay {
    pub(crate) fn note_l2_ttl(&self, ttl: Duration) {
        self.max_l2_ttl_ms
            .fetch_max(crate::clock::duration_ms(ttl), Ordering::Relaxed);
    }

    /// Keeps an invalidation that did not reach Redis.
    pub(crate) async fn keep(&self, namespace: &str, op: Pending) {
        let mut queue = self.queue.lock().await;
        if queue.len() >= MAX_PENDING {
            queue.clear();
            self.has_pending.store(false, Ordering::Relaxed);
            let until = crate::clock::coarse_ms()
                .saturating_add(self.max_l2_ttl_ms.load(Ordering::Relaxed));
            self.suspect_until_ms.fetch_max(until, Ordering::Relaxed);
            tracing::warn!(
                namespace,
                tier = "l2",
                kept = MAX_PENDING,
                "too many invalidations could not reach Redis; L2 reads are skipped until the longest L2 TTL has passed"
            );
            return;
        }
        queue.push_back(op);
        self.has_pending.store(true, Ordering::Relaxed);
        // One warning when the queue starts; each further one at debug level.
        if queue.len() == 1 {
            tracing::warn!(
                namespace,
                tier = "l2",
                "invalidation could not reach Redis; kept to be replayed before L2 is read again"
            );
        } else {
            tracing::debug!(
                namespace,
                tier = "l2",
                pending = queue.len(),
                "invalidation kept for replay"
            );
        }
    }

    /// Nothing pending and not suspect: the read path's only check (two relaxed loads).
    #[inline]
    pub(crate) fn clear(&self) -> bool {
        !self.has_pending.load(Ordering::Relaxed)
            && self.suspect_until_ms.load(Ordering::Relaxed) == 0
    }

    /// Whether L2 may be read now: replays what is pending first (one caller at a time; the
    /// others wait for it), and says no while anything is left or L2 is suspect.
    pub(crate) async fn l2_readable(&self, namespace: &str, l2: &L2) -> bool {
        let suspect = self.suspect_until_ms.load(Ordering::Relaxed);
        if suspect != 0 {
            if crate::clock::coarse_ms() < suspect {
                return false;
            }
            // Past: back to the read path's one check (unless a new overflow moved it on).
            let _ = self.suspect_until_ms.compare_exchange(
                suspect,
                0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        if !self.has_pending.load(Ordering::Relaxed) {
            return true;
        }
        let mut queue = self.queue.lock().await;
        let mut done = 0_u64;
        while let Some(op) = queue.front() {
            let result = match op {
                Pending::Key(key) => l2.delete(key).await,
                Pending::Space(space) => l2.clear(space).await,
                Pending::Pattern(pattern) => l2.delete_matching(pattern).await.map(drop),
                Pending::Tag { epoch, tag } => l2.bump_tag(epoch, tag).await.map(drop),
            };
            if result.is_err() {
                break;
            }
            queue.pop_front();
            done += 1;
        }
        if done > 0 {
            tracing::info!(
                namespace,
                tier = "l2",
                replayed = done,
                left = queue.len(),
                "replayed invalidations that had not reached Redis"
            );
        }
        let empty = queue.is_empty();
        self.has_pending.store(!empty, Ordering::Relaxed);
        empty
    }
}
