//! [`LocalCache`]: the view a `#[cached(local)]` function (and every plain, non-`async`
//! `#[cached]` function) uses: the backend's shared L1 store and nothing else, so values need
//! only `Clone + Send + Sync + 'static` (no serde). Not a public API: generated code reaches it
//! through `::perf_cache::__private`.
//!
//! It shares what an ordinary view shares: the L1 store and its budget (type-erased entries,
//! type-checked on read), the key scheme (`<namespace>:<prefix>:<key>`, its own L1 key space),
//! and the stale-fill fence, so a backend-wide or remote invalidation (the bus) that begins
//! while a body runs turns that body's value away from L1. Invalidations made by plain `fn`
//! companions cannot take the backend's async fence; they bump this view's own epoch, which
//! every fill of the view checks too.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::backend::Shared;
use crate::fence::Ticket;
use crate::flight::Flights;
use crate::sync_flight::SyncFlights;
use crate::tiers::l1::{ErasedEntry, L1Key, L1Lookup, L1Store};
use crate::{Backend, Key, Result, clock};

/// Default L1 time to live of a local view, as for every view.
const DEFAULT_L1_TTL: Duration = Duration::from_secs(60);

/// An L1-only view on a backend's shared L1 store, for values without serde.
///
/// ```
/// use perf_cache::__private::LocalCache;
/// use perf_cache::{Backend, Key};
///
/// #[derive(Clone)]
/// struct NotSerde(u32);
///
/// let view = LocalCache::<NotSerde>::new(Backend::in_memory(), "doc-local", None, None)?;
/// let key = Key::new("k");
/// assert!(view.hit(&key, false).is_none());
/// view.store_now(&key, Some(NotSerde(7)), None);
/// assert_eq!(view.hit(&key, false).and_then(|v| v).map(|v| v.0), Some(7));
/// view.invalidate_sync(&key);
/// assert!(view.hit(&key, false).is_none());
/// # Ok::<(), perf_cache::Error>(())
/// ```
pub struct LocalCache<V> {
    pub(crate) shared: Arc<Shared>,
    space: u32,
    namespace: String,
    l1_ttl: Duration,
    negative_ttl: Option<Duration>,
    /// `V::clone`, captured where `V: Clone` is known ([`new`](Self::new)), so that nothing
    /// else names the bound: a value type that is not `Clone` is one compile error, there.
    pub(crate) clone: fn(&V) -> V,
    pub(crate) flights: Flights<Cloned<V>>,
    pub(crate) sync_flights: SyncFlights<Cloned<V>>,
    /// Raised (under the write lock) by every invalidation of this view; a fill stores only
    /// while it holds the read lock and the epoch is the one it began with.
    epoch: RwLock<u64>,
}

impl<V> std::fmt::Debug for LocalCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache")
            .field("namespace", &self.namespace)
            .field("l1_ttl", &self.l1_ttl)
            .finish_non_exhaustive()
    }
}

/// A value with its view's clone function: what single-flight hands to waiters.
pub(crate) struct Cloned<V> {
    pub(crate) value: V,
    clone: fn(&V) -> V,
}

impl<V> Cloned<V> {
    pub(crate) fn new(value: V, clone: fn(&V) -> V) -> Self {
        Self { value, clone }
    }
}

impl<V> Clone for Cloned<V> {
    fn clone(&self) -> Self {
        Self {
            value: (self.clone)(&self.value),
            clone: self.clone,
        }
    }
}

/// The bound of a `#[cached(local)]` (or plain `fn`) value, named in one place.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached by `#[cached(local)]` or a plain `fn`: it is not `Clone + Send + Sync + 'static`",
    label = "the function's value type",
    note = "derive or implement `Clone` (wrap a value that cannot be cloned in an `Arc`)"
)]
pub trait LocalValue: Clone + Send + Sync + 'static {}

impl<V: Clone + Send + Sync + 'static> LocalValue for V {}

/// When a fill began: the backend's fence epochs and the view's own.
pub(crate) struct LocalTicket {
    fence: Ticket,
    epoch: u64,
}

impl<V: LocalValue> LocalCache<V> {
    /// A local view with key prefix `prefix` on `backend`'s L1; `l1_ttl` defaults to 60 s;
    /// `negative_ttl` caches `None` answers for that long.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for a prefix outside
    /// `[A-Za-z0-9_.-]{1,64}` or a zero time to live.
    pub fn new(
        backend: &Backend,
        prefix: &str,
        l1_ttl: Option<Duration>,
        negative_ttl: Option<Duration>,
    ) -> Result<Self> {
        crate::key::validate_prefix(prefix)?;
        for (field, ttl) in [("l1_ttl", l1_ttl), ("negative_ttl", negative_ttl)] {
            if ttl.is_some_and(|t| t.is_zero()) {
                return Err(crate::error::invalid(field, "0 ms", "at least 1 ms"));
            }
        }
        let shared = Arc::clone(&backend.shared);
        let namespace = format!("{}:{prefix}", shared.namespace);
        Ok(Self {
            space: shared.space_id(&namespace),
            shared,
            namespace,
            l1_ttl: l1_ttl.unwrap_or(DEFAULT_L1_TTL),
            negative_ttl,
            clone: V::clone,
            flights: Flights::default(),
            sync_flights: SyncFlights::default(),
            epoch: RwLock::new(0),
        })
    }
}

impl<V: Send + Sync + 'static> LocalCache<V> {
    /// `<namespace>:<prefix>`: the key space of this view.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The L1 entry for `key` while fresh: `Some(Some(v))` a value, `Some(None)` a cached
    /// "not found" (only when `accept_negative`), `None` a miss.
    #[inline]
    #[must_use]
    pub fn hit(&self, key: &Key, accept_negative: bool) -> Option<Option<V>> {
        if !self.shared.l1_enabled {
            return None;
        }
        let now = clock::coarse_ms();
        let lookup = L1Lookup {
            space: self.space,
            key,
        };
        self.shared.l1.read(&lookup, |e| {
            if e.fresh_until_ms <= now {
                return None;
            }
            Some(match &e.value {
                None if accept_negative => None,
                None => return None,
                Some(any) => Some((self.clone)(any.downcast_ref::<V>()?)),
            })
        })
    }

    /// The epochs now, before a body runs.
    pub(crate) fn ticket(&self, key: &Key) -> LocalTicket {
        LocalTicket {
            fence: self.shared.fence.ticket(self.space, key),
            epoch: *self.epoch.read().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Stores a fill from a plain `fn` unless an invalidation began since `ticket` (or is
    /// running right now: the value is then returned but not cached).
    pub(crate) fn fill_sync(
        &self,
        ticket: &LocalTicket,
        key: &Key,
        value: Option<V>,
        ttl: Option<Duration>,
    ) {
        let Some(_admitted) = self.shared.fence.try_admit(&ticket.fence) else {
            return;
        };
        self.fill_if_current(ticket, key, value, ttl);
    }

    /// Stores a fill from an `async fn` unless an invalidation began since `ticket`.
    pub(crate) async fn fill(
        &self,
        ticket: &LocalTicket,
        key: &Key,
        value: Option<V>,
        ttl: Option<Duration>,
    ) {
        let Some(_admitted) = self.shared.fence.admit(&ticket.fence).await else {
            return;
        };
        self.fill_if_current(ticket, key, value, ttl);
    }

    fn fill_if_current(
        &self,
        ticket: &LocalTicket,
        key: &Key,
        value: Option<V>,
        ttl: Option<Duration>,
    ) {
        let epoch = self.epoch.read().unwrap_or_else(PoisonError::into_inner);
        if *epoch == ticket.epoch {
            self.store_now(key, value, ttl);
        }
    }

    /// Stores `value` (`None`: a "not found", kept only with a negative time to live) for
    /// `min(ttl, l1_ttl)`, or `l1_ttl`.
    pub fn store_now(&self, key: &Key, value: Option<V>, ttl: Option<Duration>) {
        if !self.shared.l1_enabled {
            return;
        }
        let base = match &value {
            Some(_) => self.l1_ttl,
            None => match self.negative_ttl {
                Some(t) => t,
                None => return,
            },
        };
        let fresh_for = ttl.map_or(base, |t| t.min(base));
        let fresh_until_ms = clock::ms_of(Instant::now() + fresh_for);
        // Values are never encoded here: a byte-sized L1 weighs the value's inline size.
        let weight = if self.shared.by_weight {
            let bytes = std::mem::size_of::<V>() + key.as_bytes().len();
            u32::try_from(bytes).unwrap_or(u32::MAX)
        } else {
            1
        };
        let entry = ErasedEntry {
            value: value.map(|v| Arc::new(v) as Arc<dyn std::any::Any + Send + Sync>),
            fresh_until_ms,
            keep_until_ms: fresh_until_ms,
            refresh_failed: false,
            weight: weight.max(1),
            tags: None,
        };
        self.shared.l1.insert(
            L1Key {
                space: self.space,
                key: key.clone(),
            },
            entry,
        );
    }

    /// Removes `key` from L1, turning away this view's fills that began before the call.
    /// For plain `fn` companions: this process only (no bus message, no async fence).
    pub fn invalidate_sync(&self, key: &Key) {
        let mut epoch = self.epoch.write().unwrap_or_else(PoisonError::into_inner);
        *epoch += 1;
        self.shared.l1.remove(&L1Lookup {
            space: self.space,
            key,
        });
    }

    /// Removes every entry of this view from L1 (this process only).
    pub fn invalidate_all_sync(&self) {
        let mut epoch = self.epoch.write().unwrap_or_else(PoisonError::into_inner);
        *epoch += 1;
        let space = self.space;
        self.shared.l1.remove_if(&move |k, _| k.space == space);
    }

    /// Removes `key` from L1 through the backend's fence (fills of the key that began
    /// before the call store nothing, wherever they run) and tells other instances on the
    /// invalidation bus (when the backend has one) to drop their copy of `<namespace>:<key>`.
    pub async fn invalidate(&self, key: &Key) {
        self.shared.fence.bump_key(self.space, key).await;
        self.invalidate_sync(key);
        self.shared
            .announce(crate::bus::Op::Key {
                space: self.namespace.clone(),
                key: key.as_bytes().to_vec(),
            })
            .await;
    }

    /// Removes every entry of this view from L1 (and announces it on the bus).
    pub async fn invalidate_all(&self) {
        self.shared.fence.bump_all().await;
        self.invalidate_all_sync();
        self.shared
            .announce(crate::bus::Op::Space {
                space: self.namespace.clone(),
            })
            .await;
    }
}
