//! The tiers: L1 entries ([`l1`]), Redis ([`redis`], [`cluster`]) and disk ([`disk`]), the
//! interface of the lower tiers and their fail-open error logging.
//!
//! Lower tiers deal in envelope bytes under full keys (`<namespace>:<key>`), so that a tier
//! knows nothing of values or codecs. Later work extends this trait rather than the cache:
//! pattern invalidation uses `delete_matching(pattern)` (Redis `SCAN MATCH` + `UNLINK`, a key
//! range scan on disk with the same glob matcher as L1), tag invalidation
//! adds `tag(key, tags)` / `delete_tagged(tag)` (Redis sets, a second disk table), and
//! coherence adds a publish hook after `set`/`delete` so other instances drop their L1 copy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;

pub(crate) mod l1;

#[cfg(feature = "redis-cluster")]
pub(crate) mod cluster;
#[cfg(feature = "disk")]
pub(crate) mod disk;
#[cfg(feature = "redis")]
pub(crate) mod generation;
#[cfg(feature = "redis")]
pub(crate) mod redis;

/// A failed tier operation. Never reaches callers: the cache counts it and treats it as a miss.
// Without `redis` (and `disk`) no tier constructs these.
#[cfg_attr(not(all(feature = "redis", feature = "disk")), allow(dead_code))]
#[derive(Debug)]
pub(crate) enum TierError {
    /// The circuit breaker is open; the call was skipped (not counted as a new error).
    Skipped(String),
    /// The operation failed.
    Failed(String),
}

pub(crate) type TierResult<T> = Result<T, TierError>;

/// A lower tier: bytes in, bytes out, each value with its own time to live.
///
/// Reads are not part of the trait: the cache awaits each tier's concrete `fetch` in place
/// (no boxed future on the read path).
pub(crate) trait Tier: Send + Sync + std::fmt::Debug {
    /// `"l2"` or `"l3"`, used in logs and metrics.
    fn name(&self) -> &'static str;
    fn set<'a>(
        &'a self,
        key: &'a [u8],
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, TierResult<()>>;
    fn delete<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, TierResult<()>>;
    /// Removes every key of `namespace` (and nothing else).
    fn clear<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, TierResult<()>>;
    /// Removes every stored key the Redis glob `pattern` (a full pattern, starting with the
    /// literal `<namespace>:`) matches; how many it removed.
    fn delete_matching<'a>(&'a self, pattern: &'a [u8]) -> BoxFuture<'a, TierResult<u64>>;
    /// Removes these stored keys; how many existed.
    fn delete_keys<'a>(&'a self, keys: &'a [Vec<u8>]) -> BoxFuture<'a, TierResult<u64>>;
    /// Housekeeping: drop expired entries where the store does not do it itself.
    fn purge_expired(&self) -> BoxFuture<'_, TierResult<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Whether the circuit breaker is open.
    fn breaker_open(&self) -> bool {
        false
    }
}

/// The L2 tier's concrete type, so the cache can await its reads in place.
#[cfg(feature = "redis")]
pub(crate) type L2 = redis::RedisTier;
/// Without feature `redis` there is no L2.
#[cfg(not(feature = "redis"))]
pub(crate) type L2 = NoTier;

/// The L3 tier's concrete type.
#[cfg(feature = "disk")]
pub(crate) type L3 = disk::DiskTier;
/// Without feature `disk` there is no L3.
#[cfg(not(feature = "disk"))]
pub(crate) type L3 = NoTier;

/// A tier that cannot exist: the L2 (L3) type without feature `redis` (`disk`).
#[cfg(not(all(feature = "redis", feature = "disk")))]
#[derive(Debug)]
pub(crate) enum NoTier {}

#[cfg(not(all(feature = "redis", feature = "disk")))]
impl NoTier {
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn fetch(&self, _: &str, _: &[u8]) -> TierResult<Option<Vec<u8>>> {
        match *self {}
    }
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn fetch_many(&self, _: &[(&str, &[u8])]) -> TierResult<Vec<Option<Vec<u8>>>> {
        match *self {}
    }
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn fill(
        &self,
        _: &[u8],
        _: &[u8],
        _: Duration,
        _: crate::fence::L2Seen,
    ) -> TierResult<bool> {
        match *self {}
    }
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn store_many(&self, _: Vec<(Vec<u8>, Vec<u8>, Duration)>) -> TierResult<()> {
        match *self {}
    }
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn store_plain(&self, _: &[u8], _: &[u8], _: Duration) -> TierResult<()> {
        match *self {}
    }
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn store_many_plain(
        &self,
        _: &[(Vec<u8>, Vec<u8>, Duration)],
    ) -> TierResult<()> {
        match *self {}
    }
    #[cfg(not(feature = "disk"))]
    pub(crate) async fn get(&self, _: &[u8]) -> TierResult<Option<Vec<u8>>> {
        match *self {}
    }
    #[cfg(not(feature = "redis"))]
    pub(crate) async fn bump_tag(&self, _: &[u8], _: &[u8]) -> TierResult<u64> {
        match *self {}
    }
}

#[cfg(not(all(feature = "redis", feature = "disk")))]
impl Tier for NoTier {
    fn name(&self) -> &'static str {
        match *self {}
    }
    fn set<'a>(&'a self, _: &'a [u8], _: Vec<u8>, _: Duration) -> BoxFuture<'a, TierResult<()>> {
        match *self {}
    }
    fn delete<'a>(&'a self, _: &'a [u8]) -> BoxFuture<'a, TierResult<()>> {
        match *self {}
    }
    fn clear<'a>(&'a self, _: &'a str) -> BoxFuture<'a, TierResult<()>> {
        match *self {}
    }
    fn delete_matching<'a>(&'a self, _: &'a [u8]) -> BoxFuture<'a, TierResult<u64>> {
        match *self {}
    }
    fn delete_keys<'a>(&'a self, _: &'a [Vec<u8>]) -> BoxFuture<'a, TierResult<u64>> {
        match *self {}
    }
}

/// Logs at most one warning per interval, with the number suppressed since the last one.
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    /// When the next warning may be logged ([`crate::clock::precise_ms`]).
    next_ms: AtomicU64,
    suppressed: AtomicU64,
    interval_ms: u64,
}

impl RateLimitedLog {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            interval_ms: crate::clock::duration_ms(interval),
        }
    }

    pub(crate) fn warn(
        &self,
        namespace: &str,
        tier: &'static str,
        op: &'static str,
        prefix: &str,
        error: &str,
    ) {
        let now = crate::clock::precise_ms();
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.interval_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                namespace,
                tier,
                op,
                key_prefix = prefix,
                suppressed,
                error,
                "cache tier error, treated as a miss"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
