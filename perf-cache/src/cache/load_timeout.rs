//! Soft and hard load timeouts: a load that outlives its caller, and callers that stop
//! waiting for it.
//!
//! A load with a hard timeout, or a soft one while the caller holds a stale value, runs in a
//! task of its own (a *detached* load): its caller (and every waiter of its flight) waits for
//! the flight's outcome only until its deadlines. The task holds the flight's [`Leader`], so a
//! caller arriving while it runs joins it (never a second loader run), and stores its result
//! through the same fence as any load: an invalidation or `set` that begins while it runs
//! still wins.
//!
//! **Bound.** With a hard timeout, a detached load that is still running
//! [`DETACHED_LOAD_LIMIT`] (or the hard timeout, if longer) after it began is abandoned: its
//! loader is dropped, nothing is stored, the flight ends, and the next caller runs the loader
//! again. 10 minutes is how long a key's generation in Redis fences a fill; a load running
//! longer could write a value that an invalidation already removed. With only a soft timeout
//! the load is never cut short (a caller without a stale value waits for it, as without
//! timeouts).
//!
//! Timeouts need a tokio runtime with its time driver (`#[tokio::main]` has it); polled
//! outside any tokio runtime, a load waits for its loader as if no timeout were set.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::Cache;
use crate::flight::Leader;
use crate::load_options::Timeouts;
use crate::{Codec, Key, LoadError, LoadOptions};

/// How long a detached load with a hard timeout may run before it is abandoned (or the hard
/// timeout, if longer): the lifetime of the Redis generation that fences its fill.
pub(crate) const DETACHED_LOAD_LIMIT: Duration = Duration::from_secs(600);

/// What a detached load's task returns: `None` when it was abandoned at its limit.
pub(crate) type Detached<V, E> = JoinHandle<Option<Result<Option<V>, Arc<E>>>>;

/// How the leader's part of a load runs (passed on to a detached task).
#[derive(Clone)]
pub(crate) struct LeadMode {
    pub(crate) accept_negative: bool,
    pub(crate) share_errors: bool,
    pub(crate) flight: Option<crate::SingleFlight>,
    /// The call's options (the tags stamped at load start, the result's TTL).
    pub(crate) options: crate::LoadOptions,
}

/// One call's deadlines, from the moment it missed L1.
#[derive(Clone, Copy, Default)]
pub(crate) struct Deadlines {
    soft: Option<Instant>,
    hard: Option<(Instant, Duration)>,
}

impl Deadlines {
    pub(crate) fn start(t: Timeouts) -> Self {
        if t.soft.is_none() && t.hard.is_none() {
            return Self::default();
        }
        let now = Instant::now();
        Self {
            soft: t.soft.map(|d| now + d),
            hard: t.hard.map(|d| (now + d, d)),
        }
    }

    /// Whether the leader's load must run in a task of its own: its caller may stop waiting.
    pub(crate) fn detaches(&self, has_stale: bool) -> bool {
        self.hard.is_some() || (self.soft.is_some() && has_stale)
    }

    /// How long a detached load may run (see the module docs); `None`: unbounded.
    pub(crate) fn limit(&self) -> Option<Duration> {
        self.hard.map(|(_, d)| d.max(DETACHED_LOAD_LIMIT))
    }
}

/// A caller stopped waiting: with the stale value (soft) or the timeout (hard).
enum Early {
    Soft,
    Hard(Duration),
}

async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl<V, C> Cache<V, C>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// Like [`get_or_load`](Self::get_or_load), with per-call [`LoadOptions`] (timeouts, the
    /// result's TTL) over the view's defaults.
    ///
    /// The loader cannot fail, but the call can: past a hard timeout (the options', else the
    /// view's) it returns [`LoadError::TimedOut`] while the load goes on in the background,
    /// and options out of range are [`LoadError::InvalidOptions`]. Past a soft timeout a caller
    /// that holds a stale value (see [`CacheBuilder::soft_timeout`](crate::CacheBuilder::soft_timeout))
    /// gets it at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// use perf_cache::{Cache, Key, LoadOptions};
    ///
    /// let cache = Cache::<String>::builder().build().await?;
    /// let key = Key::new("greeting");
    /// let options = LoadOptions::default()
    ///     .hard_timeout(Duration::from_secs(2))
    ///     .ttl(Duration::from_secs(30));
    /// let v = cache.get_or_load_with(&key, options, || async { "hi".to_owned() }).await;
    /// assert_eq!(v.unwrap(), "hi");
    /// assert!(cache.remaining_ttl(&key).await.unwrap() <= Duration::from_secs(30));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`LoadError::TimedOut`] past the hard timeout, [`LoadError::InvalidOptions`] for
    /// options out of range (never [`LoadError::Loader`]).
    pub async fn get_or_load_with<F, Fut>(
        &self,
        key: &Key,
        options: LoadOptions,
        loader: F,
    ) -> Result<V, LoadError<Infallible>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        // The hit path, before any load state is built: as cheap as `get_or_load`'s.
        if let Some(Some(v)) = self.fast_hit(key, false) {
            options
                .resolve(self.view_timeouts(true), self.inner.stale_grace.is_some())
                .map_err(LoadError::InvalidOptions)?;
            return Ok(v);
        }
        self.try_get_or_load_with(key, options, move || async move {
            Ok::<_, Infallible>(loader().await)
        })
        .await
    }

    /// Like [`try_get_or_load`](Self::try_get_or_load), with per-call [`LoadOptions`]
    /// (timeouts, the result's TTL) over the view's defaults. Unlike `try_get_or_load`, the
    /// view's hard timeout applies here (this call can report it).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// use perf_cache::{Cache, Key, LoadError, LoadOptions};
    ///
    /// let cache = Cache::<u64>::builder().build().await?;
    /// let key = Key::new("count");
    /// let err = cache
    ///     .try_get_or_load_with(&key, LoadOptions::default(), || async { Err::<u64, _>("db down") })
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, LoadError::Loader(e) if *e == "db down"));
    /// let bad = LoadOptions::default().soft_timeout(Duration::ZERO);
    /// let err = cache.try_get_or_load_with(&key, bad, || async { Ok::<u64, &str>(1) }).await;
    /// assert!(err.unwrap_err().to_string().contains("soft_timeout"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`LoadError::Loader`] with the loader's error (shared with the callers that waited on
    /// it; with [`stale_if_error`](crate::CacheBuilder::stale_if_error) a recently expired
    /// value is returned instead), [`LoadError::TimedOut`] past the hard timeout,
    /// [`LoadError::InvalidOptions`] for options out of range.
    pub async fn try_get_or_load_with<F, Fut, E>(
        &self,
        key: &Key,
        options: LoadOptions,
        loader: F,
    ) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let timeouts = options
            .resolve(self.view_timeouts(true), self.inner.stale_grace.is_some())
            .map_err(LoadError::InvalidOptions)?;
        if let Some(Some(v)) = self.fast_hit(key, false) {
            return Ok(v);
        }
        let (ttl, flight) = (options.get_ttl(), options.get_single_flight());
        let loader = move || async move {
            if let Some(ttl) = ttl {
                crate::set_result_ttl(ttl);
            }
            loader().await.map(Some)
        };
        match self
            .load_owned(key, false, true, flight, timeouts, &options, loader)
            .await?
        {
            Some(v) => Ok(v),
            None => unreachable!("load without negatives returned None"),
        }
    }

    /// The view's timeouts; its hard timeout only for an API that can report it.
    pub(crate) fn view_timeouts(&self, hard: bool) -> Timeouts {
        let t = self.inner.timeouts;
        Timeouts {
            soft: t.soft,
            hard: if hard { t.hard } else { None },
        }
    }

    /// Starts the leader's part of a load in a task of its own, bounded by `limit`; gives the
    /// leader and loader back outside a tokio runtime.
    #[allow(clippy::type_complexity)]
    pub(crate) fn detach_lead<F, Fut, E>(
        &self,
        key: &Key,
        mode: LeadMode,
        leader: Leader<V>,
        loader: F,
        limit: Option<Duration>,
    ) -> Result<Detached<V, E>, (Leader<V>, F)>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err((leader, loader));
        };
        let this = self.clone();
        let key = key.clone();
        let task = async move {
            let lead = this.lead(
                &key,
                mode.accept_negative,
                mode.share_errors,
                leader,
                loader,
                None,
                mode.flight,
                &mode.options,
            );
            match limit {
                None => Some(lead.await),
                Some(limit) => {
                    let done = tokio::time::timeout(limit, lead).await.ok();
                    if done.is_none() {
                        tracing::warn!(namespace = %this.inner.namespace, key_prefix = key.prefix(), ?limit, "detached load abandoned at its limit; nothing stored");
                    }
                    done
                }
            }
        };
        Ok(runtime.spawn(task.instrument(tracing::Span::current())))
    }

    /// The caller of a detached load: its outcome, or the stale value past the soft deadline,
    /// or the timeout past the hard one (the task goes on either way).
    pub(crate) async fn await_detached<E>(
        &self,
        task: Detached<V, E>,
        deadlines: &Deadlines,
        stale: Option<V>,
    ) -> Result<Option<V>, LoadError<E>> {
        let counters = &self.inner.counters;
        match self.bounded(task, deadlines, &stale, false).await {
            Err(early) => early,
            Ok(Ok(Some(Ok(v)))) => Ok(v),
            Ok(Ok(Some(Err(e)))) => match stale {
                // As an inline leader does: a failed loader's error gives way to the stale value.
                Some(s) => {
                    counters.stale_served.incr();
                    Ok(Some(s))
                }
                None => Err(LoadError::Loader(e)),
            },
            // Abandoned at its limit (at least the hard timeout) while this caller still
            // waited: the hard deadline passed at the same moment.
            Ok(Ok(None)) => {
                counters.hard_timeouts.incr();
                Err(LoadError::TimedOut {
                    after: deadlines.hard.map_or(DETACHED_LOAD_LIMIT, |(_, d)| d),
                })
            }
            Ok(Err(join)) => match join.try_into_panic() {
                // The loader panicked: the panic goes on in its caller, as with an inline load.
                Ok(panic) => std::panic::resume_unwind(panic),
                // Cancelled: the runtime is shutting down; this caller cannot be answered.
                Err(_) => Err(LoadError::TimedOut {
                    after: deadlines.hard.map_or(Duration::ZERO, |(_, d)| d),
                }),
            },
        }
    }

    /// Waits for `fut` until the call's deadlines: past the soft one with a stale value, that
    /// value; past the hard one, the timeout (both counted, and as the request's miss when
    /// `waiter`: a leader's task counts its request itself).
    pub(crate) async fn bounded<T, E>(
        &self,
        fut: impl Future<Output = T>,
        deadlines: &Deadlines,
        stale: &Option<V>,
        waiter: bool,
    ) -> Result<T, Result<Option<V>, LoadError<E>>> {
        let soft = deadlines.soft.filter(|_| stale.is_some());
        // Outside a tokio runtime there is no timer: the caller waits, as without timeouts
        // (the leader's load runs inline there too).
        if (soft.is_none() && deadlines.hard.is_none())
            || tokio::runtime::Handle::try_current().is_err()
        {
            return Ok(fut.await);
        }
        let mut fut = pin!(fut);
        let mut soft_sleep = pin!(until(soft));
        let mut hard_sleep = pin!(until(deadlines.hard.map(|(at, _)| at)));
        let hard_after = deadlines.hard.map_or(Duration::ZERO, |(_, d)| d);
        // The outcome first: a load that finished wins over a deadline that passed with it.
        let early = std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(v));
            }
            if soft_sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(Early::Soft));
            }
            if hard_sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(Early::Hard(hard_after)));
            }
            Poll::Pending
        })
        .await;
        let counters = &self.inner.counters;
        match early {
            Ok(v) => Ok(v),
            Err(e) => {
                if waiter {
                    counters.misses.incr();
                }
                Err(match e {
                    Early::Soft => {
                        counters.soft_timeouts.incr();
                        tracing::debug!(outcome = "stale", "soft timeout; serving the stale value");
                        Ok(stale.clone())
                    }
                    Early::Hard(after) => {
                        counters.hard_timeouts.incr();
                        tracing::debug!(outcome = "timeout", ?after, "hard timeout");
                        Err(LoadError::TimedOut { after })
                    }
                })
            }
        }
    }
}

/// The loader's error of a load that had no hard timeout and no options to check (the only
/// other outcomes a `LoadError` has).
pub(crate) fn loader_error<E>(e: LoadError<E>) -> Arc<E> {
    match e {
        LoadError::Loader(e) => e,
        LoadError::TimedOut { .. } | LoadError::InvalidOptions(_) => {
            unreachable!("a load without a hard timeout or options timed out")
        }
    }
}
