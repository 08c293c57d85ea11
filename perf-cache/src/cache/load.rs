//! The load path: single-flight loading, refresh-ahead, stale-if-error.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::lease::Leased;
use super::load_timeout::{Deadlines, Detached, LeadMode, loader_error};
use super::{Cache, Lower, Write};
use crate::fence::Ticket;
use crate::flight::{Join, Leader, Outcome};
use crate::load_options::Timeouts;
use crate::{Codec, Key, LoadError, LoadOptions, SingleFlight};

/// The error a leader publishes when its error is for itself only.
struct NotShared;

impl<V, C> Cache<V, C>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// Returns the cached value, or runs `loader` once for all concurrent callers of `key`,
    /// caches its value in every tier and returns it.
    ///
    /// The loader must be `'static` because a refresh-ahead may run it in the background; move
    /// owned handles (a cloned pool) into it. If the caller running the loader is cancelled or
    /// the loader panics, another waiting caller runs its own loader.
    pub async fn get_or_load<F, Fut>(&self, key: &Key, loader: F) -> V
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let result = self
            .load(
                key,
                false,
                true,
                false,
                self.view_timeouts(false),
                &LoadOptions::default(),
                move || async move { Ok::<_, Infallible>(Some(loader().await)) },
                Self::spawn_refresh,
                Self::detach_lead,
                None,
            )
            .await
            .map_err(loader_error);
        match result {
            Ok(Some(v)) => v,
            // With `accept_negative = false` the load path always yields a value.
            Ok(None) => unreachable!("load without negatives returned None"),
            Err(e) => match *e {},
        }
    }

    /// Like [`get_or_load`](Self::get_or_load) with a fallible loader. An `Err` is never cached;
    /// concurrent callers waiting on the same load receive the same `Arc`'d error. With
    /// [`stale_if_error`](crate::CacheBuilder::stale_if_error), a recently expired value is returned
    /// instead of the error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Cache, Key};
    ///
    /// let cache = Cache::<u64>::builder().build().await?;
    /// let key = Key::new("count");
    /// let err = cache.try_get_or_load(&key, || async { Err::<u64, _>("db down") }).await;
    /// assert_eq!(*err.unwrap_err(), "db down");
    /// let ok = cache.try_get_or_load(&key, || async { Ok::<_, &str>(7) }).await;
    /// assert_eq!(ok.unwrap(), 7);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The loader's error, shared.
    pub async fn try_get_or_load<F, Fut, E>(&self, key: &Key, loader: F) -> Result<V, Arc<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let result = self
            .load(
                key,
                false,
                true,
                false,
                self.view_timeouts(false),
                &LoadOptions::default(),
                move || async move { loader().await.map(Some) },
                Self::spawn_refresh,
                Self::detach_lead,
                None,
            )
            .await
            .map_err(loader_error)?;
        match result {
            Some(v) => Ok(v),
            None => unreachable!("load without negatives returned None"),
        }
    }

    /// Like [`try_get_or_load`](Self::try_get_or_load) for lookups that may find nothing: with
    /// [`negative_ttl`](crate::CacheBuilder::negative_ttl) set, `Ok(None)` is cached for that long so a
    /// missing row is not queried again on every call.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// use perf_cache::{Cache, Key};
    ///
    /// let cache = Cache::<String>::builder().negative_ttl(Duration::from_secs(5)).build().await?;
    /// let key = Key::new("user").arg(404_u64);
    /// let found = cache.get_or_load_optional(&key, || async { Ok::<_, String>(None) }).await;
    /// assert_eq!(found.unwrap(), None);
    /// // Cached as "not found": this loader does not run.
    /// let again = cache.get_or_load_optional(&key, || async { Ok::<_, String>(Some("x".into())) }).await;
    /// assert_eq!(again.unwrap(), None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The loader's error, shared.
    pub async fn get_or_load_optional<F, Fut, E>(
        &self,
        key: &Key,
        loader: F,
    ) -> Result<Option<V>, Arc<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.load(
            key,
            true,
            true,
            false,
            self.view_timeouts(false),
            &LoadOptions::default(),
            loader,
            Self::spawn_refresh,
            Self::detach_lead,
            None,
        )
        .await
        .map_err(loader_error)
    }

    /// The `#[cached]` hit path: a fresh L1 entry without building a load (the same lookup as
    /// [`get`](Self::get)); `None` when the full load path must decide (refresh-ahead and
    /// stale-if-error need it, and so does a stored "not found" the caller cannot use).
    #[inline]
    pub(crate) fn fast_hit(&self, key: &Key, accept_negative: bool) -> Option<Option<V>> {
        if self.inner.check_fresh {
            return None;
        }
        self.l1_fresh(key, accept_negative)
    }

    /// The load path for a loader that may borrow from the caller (the `#[cached]` macro's
    /// body borrows the function's arguments): no refresh-ahead, which would need to run the
    /// loader later. The caller has just missed [`fast_hit`](Self::fast_hit) (uncounted), so
    /// L1 is not read again before the flight. With `share_errors` false, a failed load's error goes to its own caller
    /// only; callers that waited on it join the next flight (one at a time), so the error
    /// type needs no `Clone`. No timeouts either: a load that borrows cannot outlive its caller.
    /// `flight` overrides the view's [`SingleFlight`] for this call.
    pub(crate) async fn load_scoped<F, Fut, E>(
        &self,
        key: &Key,
        accept_negative: bool,
        share_errors: bool,
        flight: Option<SingleFlight>,
        loader: F,
    ) -> Result<Option<V>, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
        E: Send + Sync + 'static,
    {
        self.load(
            key,
            accept_negative,
            share_errors,
            true,
            Timeouts::default(),
            &LoadOptions::default(),
            loader,
            |_, _, _, _| {},
            |_, _, _, leader, loader, _| Err((leader, loader)),
            flight,
        )
        .await
        .map_err(loader_error)
    }

    /// As [`load_scoped`](Self::load_scoped) for a `'static` loader: refresh-ahead (if the
    /// cache has it) reruns it in the background, and with `timeouts` the load may outlive
    /// its caller. Called after a missed [`fast_hit`](Self::fast_hit): L1 is not read again
    /// before the flight. `flight` overrides the view's [`SingleFlight`] for this call.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn load_owned<F, Fut, E>(
        &self,
        key: &Key,
        accept_negative: bool,
        share_errors: bool,
        flight: Option<SingleFlight>,
        timeouts: Timeouts,
        options: &LoadOptions,
        loader: F,
    ) -> Result<Option<V>, LoadError<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.load(
            key,
            accept_negative,
            share_errors,
            true,
            timeouts,
            options,
            loader,
            Self::spawn_refresh,
            Self::detach_lead,
            flight,
        )
        .await
    }

    /// The load path shared by every `get_or_load` variant; `refresh` starts a refresh-ahead
    /// with the loader when a hit falls in the refresh window; `detach` runs the leader's part
    /// in a task of its own when `timeouts` may let its caller stop waiting (see
    /// `load_timeout`); `flight` overrides the view's [`SingleFlight`] (the per-call hook).
    /// `l1_checked`: the caller has just looked the fresh entry up itself
    /// ([`fast_hit`](Self::fast_hit)) and found none.
    #[allow(clippy::too_many_arguments)]
    async fn load<F, Fut, E, R, D>(
        &self,
        key: &Key,
        accept_negative: bool,
        share_errors: bool,
        l1_checked: bool,
        timeouts: Timeouts,
        options: &LoadOptions,
        loader: F,
        refresh: R,
        detach: D,
        flight: Option<SingleFlight>,
    ) -> Result<Option<V>, LoadError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
        E: Send + Sync + 'static,
        R: FnOnce(&Self, &Key, F, &LoadOptions),
        D: FnOnce(
            &Self,
            &Key,
            LeadMode,
            Leader<V>,
            F,
            Option<std::time::Duration>,
        ) -> Result<Detached<V, E>, (Leader<V>, F)>,
    {
        let inner = &*self.inner;
        let mut stale = None;
        if !inner.check_fresh {
            // Without refresh-ahead or stale-if-error a hit needs nothing but the value: the
            // same fast path as `get`. Nothing else in L1 can serve this call (no stale grace
            // keeps an expired entry), so a miss goes straight to the flight.
            if !l1_checked && let Some(hit) = self.l1_fresh(key, accept_negative) {
                return Ok(hit);
            }
        } else if let Some(e) = inner.l1_get(key) {
            let now = Instant::now();
            if e.fresh_until > now && (e.value.is_some() || accept_negative) {
                inner.counters.l1.hits.incr();
                if let Some(window) = inner.refresh_ahead
                    && !e.refresh_failed
                    && e.fresh_until.saturating_duration_since(now) <= window
                {
                    refresh(self, key, loader, options);
                }
                return Ok(e.value);
            }
            if inner
                .stale_grace
                .is_some_and(|grace| now < e.fresh_until + grace)
            {
                stale = e.value;
            }
        }
        inner.counters.l1.misses.incr();
        let deadlines = Deadlines::start(timeouts);
        // Only when a subscriber may take DEBUG: a disabled span still cost every miss ~380
        // instructions of enter/exit bookkeeping with tracing's `log` feature (sqlx enables it).
        let span = if tracing::level_filters::LevelFilter::current() >= tracing::Level::DEBUG {
            tracing::debug_span!("cache.load", namespace = %inner.namespace, key_prefix = key.prefix())
        } else {
            tracing::Span::none()
        };
        // Boxed: the single flight, the lower tiers and the loader's own future would make
        // every caller's future about 2 KB (moved on each poll and `await` up the stack);
        // boxed, it is a few words, and an L1 hit, which returns above, allocates nothing.
        Box::pin(
            async move {
                let mut loader = Some(loader);
                let mut detach = Some(detach);
                loop {
                    let mut waiter = match inner.flights.join(key) {
                        Join::Leader(mut leader) => {
                            // Only the first leader reaches the loader: this branch returns.
                            let (Some(mut loader), Some(detach)) = (loader.take(), detach.take())
                            else {
                                unreachable!("loader used twice")
                            };
                            if deadlines.detaches(stale.is_some()) {
                                let mode = LeadMode {
                                    accept_negative,
                                    share_errors,
                                    flight,
                                    options: options.clone(),
                                };
                                match detach(self, key, mode, leader, loader, deadlines.limit()) {
                                    Ok(task) => {
                                        return self.await_detached(task, &deadlines, stale).await;
                                    }
                                    Err(back) => (leader, loader) = back,
                                }
                            }
                            return self
                                .lead(
                                    key,
                                    accept_negative,
                                    share_errors,
                                    leader,
                                    loader,
                                    stale,
                                    flight,
                                    options,
                                )
                                .await
                                .map_err(LoadError::Loader);
                        }
                        Join::Waiter(waiter) => waiter,
                    };
                    let outcome = match self
                        .bounded(waiter.outcome(), &deadlines, &stale, true)
                        .await
                    {
                        Ok(outcome) => outcome,
                        Err(early) => return early,
                    };
                    match outcome {
                        Some(Outcome::Value(v)) if v.is_some() || accept_negative => {
                            inner.counters.misses.incr();
                            return Ok(v);
                        }
                        Some(Outcome::Error(e)) => {
                            // The leader's loader failed: a waiter holding a recently expired
                            // value serves it, exactly as a leader would.
                            if let Some(s) = stale {
                                inner.counters.misses.incr();
                                inner.counters.stale_served.incr();
                                return Ok(Some(s));
                            }
                            if let Ok(e) = e.downcast::<E>() {
                                inner.counters.misses.incr();
                                return Err(LoadError::Loader(e));
                            }
                            // Another error type (another API): join the next flight.
                            if let Err(early) =
                                self.bounded(waiter.ended(), &deadlines, &stale, true).await
                            {
                                return early;
                            }
                        }
                        // "Not found" for a caller that needs a value: join the next flight, so
                        // that such callers share one loader run instead of each running theirs.
                        Some(Outcome::Value(_)) => {
                            if let Err(early) =
                                self.bounded(waiter.ended(), &deadlines, &stale, true).await
                            {
                                return early;
                            }
                        }
                        // The leader was cancelled or panicked: race again for leadership.
                        None => {}
                    }
                }
            }
            .instrument(span),
        )
        .await
    }

    /// The leader's part: L1 again (a previous leader may just have filled it), lower tiers,
    /// then the loader. The outcome is published to the waiters as soon as it is known, before
    /// the value is written to the tiers; the flight ends when `leader` drops, after the writes.
    /// Every path counts the request exactly once.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn lead<F, Fut, E>(
        &self,
        key: &Key,
        accept_negative: bool,
        share_errors: bool,
        leader: Leader<V>,
        loader: F,
        stale: Option<V>,
        flight: Option<SingleFlight>,
        options: &LoadOptions,
    ) -> Result<Option<V>, Arc<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
        E: Send + Sync + 'static,
    {
        let inner = &*self.inner;
        if let Some(e) = inner.l1_get(key)
            && (e.value.is_some() || accept_negative)
            && e.fresh_until > Instant::now()
        {
            // Filled by the flight that ended just before this caller joined: an L1 hit (the
            // first lookup of this request was counted as an L1 miss, the request not yet).
            inner.counters.l1.hits.incr();
            leader.publish(Outcome::Value(e.value.clone()));
            return Ok(e.value);
        }
        // A stored "not found" that this caller cannot use was counted as that tier's hit:
        // the load that follows must not count the request a second time.
        let mut counted = false;
        let mut ticket = inner.shared.fence.ticket(inner.space, key);
        // Boxed, and only with a lower tier: inline, the Redis and disk reads' state (~1.9 KB)
        // made every miss's boxed future ~2.9 KB (a slow-path malloc and a 2.9 KB copy).
        let lower = if inner.shared.l2.is_some() || inner.shared.l3.is_some() {
            Box::pin(self.lookup_lower(key, &ticket)).await
        } else {
            Lower::Miss
        };
        match lower {
            Lower::Value(v) => {
                leader.publish(Outcome::Value(Some(v.clone())));
                return Ok(Some(v));
            }
            Lower::Negative if accept_negative => {
                leader.publish(Outcome::Value(None));
                return Ok(None);
            }
            Lower::Negative => counted = true,
            Lower::Miss => {}
        }
        // Cluster-wide single-flight (`cache/lease.rs`): another instance's value, or the
        // lease to hold while loading (released below), or neither.
        let lease = match self.lease(key, flight, accept_negative, &ticket).await {
            Leased::Stored(v) => {
                leader.publish(Outcome::Value(v.clone()));
                return Ok(v);
            }
            Leased::Load(lease) => lease,
        };
        if !counted {
            inner.counters.misses.incr();
        }
        // The generation, the pattern epoch and Redis's clock, read after the lease is held
        // (the lease script cannot read the epoch: on a cluster it lives in another slot), and
        // the tag epoch beside them (in flight together).
        let ((), tags) = futures::future::join(
            self.read_generation(key, &mut ticket),
            self.tag_ticket(options),
        )
        .await;
        ticket.tags = Some(tags);
        let start = Instant::now();
        let (result, ttl, tags) = crate::result_ttl::scope_tagged(loader()).await;
        self.record_load(start, result.is_ok());
        match result {
            Ok(v) => {
                // Waiters (and callers arriving while the tiers are written) get the value now.
                leader.publish(Outcome::Value(v.clone()));
                let ttl = ttl.or(options.ttl);
                self.store_loaded(key, v.clone(), ttl, (&ticket, &tags), "loaded")
                    .await;
                if let Some(lease) = lease {
                    lease.release().await;
                }
                drop(leader);
                tracing::debug!(outcome = "loaded", found = v.is_some());
                Ok(v)
            }
            Err(e) => {
                let e = Arc::new(e);
                // Waiters with a stale value of their own serve it; the others share the error
                // or, when it is not shared, join the next flight (no waiter can downcast
                // `NotShared` to its error type).
                let published: Arc<dyn std::any::Any + Send + Sync> = if share_errors {
                    Arc::clone(&e) as _
                } else {
                    Arc::new(NotShared)
                };
                leader.publish(Outcome::Error(published));
                if let Some(lease) = lease {
                    lease.release().await;
                }
                drop(leader);
                match stale {
                    Some(s) => {
                        inner.counters.stale_served.incr();
                        tracing::debug!(
                            outcome = "stale",
                            "loader failed; serving the stale value"
                        );
                        Ok(Some(s))
                    }
                    None => {
                        tracing::debug!(outcome = "error", "loader failed; not cached");
                        Err(e)
                    }
                }
            }
        }
    }

    /// Before a loader runs: the key's generation and the namespace's pattern epoch in Redis,
    /// which the fill of its result must still find (see [`Write::Fill`]), and Redis's clock.
    /// Unknown (Redis unreachable) reads as 0: the fill is then written only where no
    /// invalidation or `set` ever raised the generation and no pattern ever ran.
    async fn read_generation(&self, key: &Key, ticket: &mut Ticket) {
        #[cfg(feature = "redis")]
        if let Some(l2) = &self.inner.shared.l2 {
            let full = crate::key::full_key(&self.inner.namespace, key);
            // Boxed: inline, the Redis call's state (~1.7 KB) sat in every miss's future.
            match Box::pin(l2.seen(&full)).await {
                Ok(seen) => ticket.l2_seen = seen,
                Err(e) => {
                    self.tier_error(l2, &self.inner.counters.l2, "generation", key.prefix(), e)
                }
            }
        }
        #[cfg(not(feature = "redis"))]
        let _ = (key, ticket);
    }

    /// Stores a loaded value in every tier unless an invalidation or `set` of the key began
    /// since `ticket`; a value that cannot be stored is only logged. `ttl` is the one the loader
    /// chose with [`set_result_ttl`](crate::set_result_ttl).
    async fn store_loaded(
        &self,
        key: &Key,
        v: Option<V>,
        ttl: Option<std::time::Duration>,
        (ticket, tags): (&Ticket, &crate::result_ttl::ResultTags),
        what: &'static str,
    ) {
        let Ok(stamps) = self.fill_stamps(ticket, tags).await else {
            self.inner.counters.stale_fills_dropped.incr();
            tracing::debug!(namespace = %self.inner.namespace, key_prefix = key.prefix(), what, "tagged value not cached: its tags' generations at load start are unknown");
            return;
        };
        let stored = self
            .store_stamped(key, v, ttl, Write::Fill(ticket), stamps)
            .await;
        if let Err(e) = stored {
            tracing::warn!(namespace = %self.inner.namespace, key_prefix = key.prefix(), error = %e, what, "value not cached");
        }
    }

    fn record_load(&self, start: Instant, ok: bool) {
        let inner = &*self.inner;
        let took = start.elapsed();
        inner.counters.loads.incr();
        inner
            .counters
            .load_nanos
            .add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        if !ok {
            inner.counters.load_errors.incr();
        }
        inner.metrics.record_load(took.as_secs_f64());
    }

    /// Starts a background reload of `key` unless one is already running.
    fn spawn_refresh<F, Fut, E>(&self, key: &Key, loader: F, options: &LoadOptions)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let inner = &*self.inner;
        if inner.flights.in_flight(key) {
            return;
        }
        let Join::Leader(leader) = inner.flights.join(key) else {
            return;
        };
        inner.counters.refreshes.incr();
        let this = self.clone();
        let key = key.clone();
        let mut ticket = inner.shared.fence.ticket(inner.space, &key);
        let options = options.clone();
        tokio::spawn(async move {
            let ((), tags) = futures::future::join(
                this.read_generation(&key, &mut ticket),
                this.tag_ticket(&options),
            )
            .await;
            ticket.tags = Some(tags);
            let start = Instant::now();
            let (result, ttl, tags) = crate::result_ttl::scope_tagged(loader()).await;
            this.record_load(start, result.is_ok());
            match result {
                Ok(v) => {
                    leader.publish(Outcome::Value(v.clone()));
                    let ttl = ttl.or(options.ttl);
                    this.store_loaded(&key, v, ttl, (&ticket, &tags), "refreshed")
                        .await;
                    drop(leader);
                }
                // The current value stays until it expires, with no further refresh attempt (a
                // failing backend is not called on every hit); dropping `leader` frees the key.
                // Not if the key was invalidated or set meanwhile: the old entry must not come
                // back over that.
                Err(_) => {
                    if let Some(_admitted) = this.inner.shared.fence.admit(&ticket).await {
                        if let Some(mut e) = this.inner.l1_get(&key) {
                            e.refresh_failed = true;
                            this.inner.l1_insert(&key, e);
                        }
                    } else {
                        this.inner.counters.stale_fills_dropped.incr();
                    }
                    drop(leader);
                }
            }
        });
    }
}
