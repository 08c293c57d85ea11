//! L1 entries and their per-entry expiry in moka.

use std::time::{Duration, Instant};

use moka::Expiry;

use crate::Key;

/// What L1 holds for a key: the value itself (never encoded), or `None` for a cached miss.
#[derive(Clone)]
pub(crate) struct Entry<V> {
    pub(crate) value: Option<V>,
    /// End of freshness. Past it the entry is only kept for stale-if-error.
    pub(crate) fresh_until: Instant,
    /// How long moka keeps the entry: freshness plus the stale-if-error grace.
    pub(crate) keep_for: Duration,
    /// Weight for byte-sized caches (encoded size), else 1.
    pub(crate) weight: u32,
}

/// Gives each entry its own lifetime, so promoted entries keep only their remaining TTL.
pub(crate) struct EntryExpiry;

impl<V> Expiry<Key, Entry<V>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Entry<V>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }

    fn expire_after_update(
        &self,
        _key: &Key,
        value: &Entry<V>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }
}
