//! What L1 holds for a key.

use std::time::Instant;

/// An L1 entry: the value itself (never encoded), or `None` for a cached miss.
///
/// moka expires every entry after `l1_ttl` (plus the stale-if-error grace). An entry that must
/// die sooner — promoted from a lower tier with less time left, stored with a shorter TTL, or a
/// negative entry — is marked `short`, and a hit on it compares `fresh_until` with the clock.
/// Plain hits on ordinary entries therefore never read the clock themselves.
#[derive(Clone)]
pub(crate) struct Entry<V> {
    pub(crate) value: Option<V>,
    /// End of freshness. Past it the entry is only kept for stale-if-error.
    pub(crate) fresh_until: Instant,
    /// Lives shorter than `l1_ttl`: check `fresh_until` on every hit.
    pub(crate) short: bool,
    /// A refresh-ahead of this entry failed: do not start another one before it expires.
    pub(crate) refresh_failed: bool,
    /// Weight for byte-sized caches (encoded size), else 1.
    pub(crate) weight: u32,
}
