//! What a `#[cached(local)]` function and a plain (non-`async`) `#[cached]` function call:
//! the hit, the single-flight miss, and their companions, over a [`LocalCache`]. Not a public
//! API: generated code reaches it through `::perf_cache::__private`.

use std::future::Future;
use std::sync::Arc;

use crate::flight::{Join, Outcome};
use crate::local_view::{Cloned, LocalCache};
use crate::macro_support::{CallOptions, ErrorSharing, Kind};
use crate::sync_flight::SyncJoin;
use crate::{Invalidation, Key};

/// A waiter's answer from a published outcome; `None` when it cannot use it (an error it
/// cannot share): it joins again.
fn from_outcome<K: Kind<R>, R>(
    outcome: Outcome<Cloned<K::Value>>,
    sharing: &ErrorSharing<K::Error>,
) -> Option<R>
where
    K::Error: Send + Sync + 'static,
{
    match outcome {
        Outcome::Value(v) => Some(K::from_value(v.map(|c| c.value))),
        Outcome::Error(any) => {
            let e = any.downcast::<K::Error>().ok()?;
            (sharing.recover)(e).map(K::from_error)
        }
    }
}

/// The leader's answer (see [`lead`]).
type Led<V, R> = (Option<Outcome<Cloned<V>>>, Option<Option<V>>, R);

/// The leader's answer: the outcome to publish (none for an error that cannot be shared:
/// waiters then run the body themselves), what to store (`Some(None)`: a "not found", kept
/// only with a negative time to live; errors never), and the caller's result.
fn lead<K: Kind<R>, R>(
    r: R,
    clone: fn(&K::Value) -> K::Value,
    sharing: &ErrorSharing<K::Error>,
) -> Led<K::Value, R>
where
    K::Error: Send + Sync + 'static,
{
    match K::split(r) {
        Ok(v) => {
            let shared = v.as_ref().map(|v| Cloned::new(clone(v), clone));
            let stored = v.as_ref().map(clone);
            (Some(Outcome::Value(shared)), Some(stored), K::from_value(v))
        }
        Err(e) if sharing.share => {
            let shared = Arc::new(e);
            let outcome = Outcome::Error(Arc::clone(&shared) as _);
            match (sharing.recover)(shared) {
                Some(e) => (Some(outcome), None, K::from_error(e)),
                None => unreachable!("a shared error could not be recovered"),
            }
        }
        Err(e) => (None, None, K::from_error(e)),
    }
}

/// The cached call of a `#[cached(local)]` `async fn`.
pub async fn call_local<K, R, F, Fut>(
    _kind: K,
    view: Option<&LocalCache<K::Value>>,
    key: &Key,
    options: CallOptions,
    sharing: ErrorSharing<K::Error>,
    body: F,
) -> R
where
    K: Kind<R>,
    K::Value: Send + Sync + 'static,
    K::Error: Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = R>,
{
    let Some(view) = view else {
        return body().await;
    };
    if let Some(hit) = view.hit(key, K::ACCEPT_NEGATIVE) {
        return K::from_value(hit);
    }
    Box::pin(async move {
        if !options.single_flight {
            let ticket = view.ticket(key);
            let (r, ttl) = crate::result_ttl::scope(body()).await;
            let (_, store, r) = lead::<K, R>(r, view.clone, &sharing);
            if let Some(v) = store {
                view.fill(&ticket, key, v, ttl).await;
            }
            return r;
        }
        let mut body = Some(body);
        loop {
            match view.flights.join(key) {
                Join::Leader(leader) => {
                    // A flight that ended between the hit check and the join stored its value.
                    if let Some(hit) = view.hit(key, K::ACCEPT_NEGATIVE) {
                        return K::from_value(hit);
                    }
                    let ticket = view.ticket(key);
                    let Some(body) = body.take() else {
                        unreachable!("the body runs once: a leader returns");
                    };
                    let (r, ttl) = crate::result_ttl::scope(body()).await;
                    let (outcome, store, r) = lead::<K, R>(r, view.clone, &sharing);
                    if let Some(outcome) = outcome {
                        leader.publish(outcome);
                    }
                    if let Some(v) = store {
                        view.fill(&ticket, key, v, ttl).await;
                    }
                    return r;
                }
                Join::Waiter(mut waiter) => {
                    if let Some(outcome) = waiter.outcome().await
                        && let Some(r) = from_outcome::<K, R>(outcome, &sharing)
                    {
                        return r;
                    }
                    waiter.ended().await;
                }
            }
        }
    })
    .await
}

/// The cached call of a plain (non-`async`) `#[cached]` function.
pub fn call_sync<K, R, F>(
    _kind: K,
    view: Option<&LocalCache<K::Value>>,
    key: &Key,
    options: CallOptions,
    sharing: ErrorSharing<K::Error>,
    body: F,
) -> R
where
    K: Kind<R>,
    K::Value: Send + Sync + 'static,
    K::Error: Send + Sync + 'static,
    F: FnOnce() -> R,
{
    let Some(view) = view else {
        return body();
    };
    if let Some(hit) = view.hit(key, K::ACCEPT_NEGATIVE) {
        return K::from_value(hit);
    }
    miss_sync::<K, R, F>(view, key, options, &sharing, body)
}

#[inline(never)]
fn miss_sync<K, R, F>(
    view: &LocalCache<K::Value>,
    key: &Key,
    options: CallOptions,
    sharing: &ErrorSharing<K::Error>,
    body: F,
) -> R
where
    K: Kind<R>,
    K::Value: Send + Sync + 'static,
    K::Error: Send + Sync + 'static,
    F: FnOnce() -> R,
{
    if !options.single_flight {
        let ticket = view.ticket(key);
        let (r, ttl) = crate::result_ttl::scope_sync(body);
        let (_, store, r) = lead::<K, R>(r, view.clone, sharing);
        if let Some(v) = store {
            view.fill_sync(&ticket, key, v, ttl);
        }
        return r;
    }
    let mut body = Some(body);
    loop {
        match view.sync_flights.join(key) {
            SyncJoin::Leader(leader) => {
                if let Some(hit) = view.hit(key, K::ACCEPT_NEGATIVE) {
                    return K::from_value(hit);
                }
                let ticket = view.ticket(key);
                let Some(body) = body.take() else {
                    unreachable!("the body runs once: a leader returns");
                };
                let (r, ttl) = crate::result_ttl::scope_sync(body);
                let (outcome, store, r) = lead::<K, R>(r, view.clone, sharing);
                if let Some(outcome) = outcome {
                    leader.publish(outcome);
                }
                if let Some(v) = store {
                    view.fill_sync(&ticket, key, v, ttl);
                }
                return r;
            }
            SyncJoin::Waiter(waiter) => {
                if let Some(outcome) = waiter.outcome()
                    && let Some(r) = from_outcome::<K, R>(outcome, sharing)
                {
                    return r;
                }
            }
        }
    }
}

/// `refresh_<fn>` of a local `async fn`: runs the body now and stores its `Some`/`Ok`; a
/// `None` invalidates the key, an error leaves the cache as it is.
pub async fn refresh_local<K, R, Fut>(
    _kind: K,
    view: Option<&LocalCache<K::Value>>,
    key: &Key,
    body: Fut,
) -> R
where
    K: Kind<R>,
    K::Value: Send + Sync + 'static,
    Fut: Future<Output = R>,
{
    let Some(view) = view else {
        return body.await;
    };
    view.invalidate(key).await;
    let ticket = view.ticket(key);
    let (r, ttl) = crate::result_ttl::scope(body).await;
    match K::split(r) {
        Ok(Some(v)) => {
            view.fill(&ticket, key, Some((view.clone)(&v)), ttl).await;
            K::from_value(Some(v))
        }
        Ok(None) => K::from_value(None),
        Err(e) => K::from_error(e),
    }
}

/// `refresh_<fn>` of a plain `fn`: as [`refresh_local`], in this process only. Fills that
/// began before the refresh are turned away first; the refreshed value is stored unless an
/// invalidation began while its body ran.
pub fn refresh_sync<K, R, F>(_kind: K, view: Option<&LocalCache<K::Value>>, key: &Key, body: F) -> R
where
    K: Kind<R>,
    K::Value: Send + Sync + 'static,
    F: FnOnce() -> R,
{
    let Some(view) = view else {
        return body();
    };
    view.invalidate_sync(key);
    let ticket = view.ticket(key);
    let (r, ttl) = crate::result_ttl::scope_sync(body);
    match K::split(r) {
        Ok(Some(v)) => {
            view.fill_sync(&ticket, key, Some((view.clone)(&v)), ttl);
            K::from_value(Some(v))
        }
        Ok(None) => K::from_value(None),
        Err(e) => K::from_error(e),
    }
}

/// `invalidate_<fn>` of a local `async fn`.
pub async fn invalidate_local<V>(view: Option<&LocalCache<V>>, key: &Key) -> Invalidation
where
    V: Send + Sync + 'static,
{
    if let Some(view) = view {
        view.invalidate(key).await;
    }
    Invalidation::default()
}

/// `invalidate_<fn>_all` of a local `async fn`.
pub async fn invalidate_local_all<V>(view: Option<&LocalCache<V>>) -> Invalidation
where
    V: Send + Sync + 'static,
{
    if let Some(view) = view {
        view.invalidate_all().await;
    }
    Invalidation::default()
}

/// `invalidate_<fn>` of a plain `fn`: this process's L1 only.
pub fn invalidate_sync<V>(view: Option<&LocalCache<V>>, key: &Key) -> Invalidation
where
    V: Send + Sync + 'static,
{
    if let Some(view) = view {
        view.invalidate_sync(key);
    }
    Invalidation::default()
}

/// `invalidate_<fn>_all` of a plain `fn`: this process's L1 only.
pub fn invalidate_sync_all<V>(view: Option<&LocalCache<V>>) -> Invalidation
where
    V: Send + Sync + 'static,
{
    if let Some(view) = view {
        view.invalidate_all_sync();
    }
    Invalidation::default()
}

/// Builds a function's [`LocalCache`]: its own function so that a value type that is not
/// [`LocalValue`](crate::local_view::LocalValue) is one error that says so.
///
/// # Errors
/// As [`LocalCache::new`].
pub fn local_cache<V: crate::local_view::LocalValue>(
    backend: &crate::Backend,
    prefix: &str,
    l1_ttl: Option<std::time::Duration>,
    negative_ttl: Option<std::time::Duration>,
) -> crate::Result<LocalCache<V>> {
    LocalCache::new(backend, prefix, l1_ttl, negative_ttl)
}
