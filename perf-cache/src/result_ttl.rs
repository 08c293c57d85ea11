//! [`set_result_ttl`] and [`set_result_tags`]: a loader (or a `#[cached]` body) choosing its
//! own result's time to live and tags at run time.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;

tokio::task_local! {
    static RESULT_TTL: Cell<Option<Duration>>;
    static RESULT_TAGS: RefCell<ResultTags>;
}

/// The tags a loader chose for its result.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) enum ResultTags {
    /// None chosen.
    #[default]
    None,
    /// These (validated, deduplicated; at most 32 together with the load's own).
    Tags(Vec<String>),
    /// An invalid tag was given: the result must not be cached.
    Invalid,
}

thread_local! {
    /// The scope of a plain (non-`async`) `#[cached]` body running on this thread: `None`
    /// outside one, `Some(chosen)` inside.
    static SYNC_RESULT_TTL: Cell<Option<Option<Duration>>> = const { Cell::new(None) };
}

/// Sets the time to live of the value the running load returns: called inside a `#[cached]`
/// body or a `get_or_load` loader, the value is stored for `ttl` in L2 and L3 and for
/// `min(ttl, l1_ttl)` in L1 instead of the cache's defaults (e.g. a short TTL for a scan that
/// is still running). The last call wins; a zero `ttl` is ignored. Returns `false` (and does
/// nothing) outside a load.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use std::time::Duration;
/// use perf_cache::{Cache, Key, set_result_ttl};
///
/// let cache = Cache::<String>::builder().build().await?;
/// let key = Key::new("scan").arg(7_u64);
/// cache.get_or_load(&key, || async {
///     assert!(set_result_ttl(Duration::from_secs(5))); // still running: look again soon
///     "running".to_owned()
/// }).await;
/// assert!(cache.remaining_ttl(&key).await.unwrap() <= Duration::from_secs(5));
/// assert!(!set_result_ttl(Duration::from_secs(5))); // not in a load
/// # Ok(()) }
/// ```
pub fn set_result_ttl(ttl: Duration) -> bool {
    // A plain `fn` body is the innermost scope when one runs on this thread.
    if SYNC_RESULT_TTL.with(|slot| {
        let inside = slot.get().is_some();
        if inside && !ttl.is_zero() {
            slot.set(Some(Some(ttl)));
        }
        inside
    }) {
        return true;
    }
    RESULT_TTL
        .try_with(|slot| {
            if !ttl.is_zero() {
                slot.set(Some(ttl));
            }
        })
        .is_ok()
}

/// Adds tags to the value the running load returns (called inside a `#[cached]` body or a
/// `get_or_load` loader), beside any the call gave up front: a later
/// [`Backend::invalidate_tag`](crate::Backend::invalidate_tag) of one of them invalidates the
/// entry. Calls add up. Returns `false` outside a load, and for an invalid tag (empty, over
/// 128 bytes, control characters) or more than 32 tags, in which case the result is returned
/// to its caller but **not cached** (it could not be invalidated by the tags it depends on).
///
/// A tag chosen here has no generation noted when the load began: if any tag invalidation
/// happened anywhere meanwhile (the backend's tag epoch moved), the result is returned but not
/// stored.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use perf_cache::{Cache, Key, set_result_tags};
///
/// let cache = Cache::<String>::builder().build().await?;
/// let key = Key::new("report").arg(7_u64);
/// cache.get_or_load(&key, || async {
///     assert!(set_result_tags(["scan:7", "target:example.org"])); // known only now
///     "report".to_owned()
/// }).await;
/// assert!(cache.get(&key).await.is_some());
/// cache.invalidate_tag("target:example.org").await?;
/// assert_eq!(cache.get(&key).await, None);
/// assert!(!set_result_tags(["x"])); // not in a load
/// # Ok(()) }
/// ```
pub fn set_result_tags<I, S>(tags: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
    RESULT_TAGS
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            let mut all = match &*slot {
                ResultTags::Invalid => return false,
                ResultTags::None => Vec::new(),
                ResultTags::Tags(t) => t.clone(),
            };
            all.extend(tags);
            match crate::tag::normalize(&all) {
                Ok(all) => {
                    *slot = ResultTags::Tags(all);
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "set_result_tags: the result will not be cached");
                    *slot = ResultTags::Invalid;
                    false
                }
            }
        })
        .unwrap_or(false)
}

/// Runs `load` with a fresh TTL slot (no tag slot: for L1-only views, which carry no tags):
/// its output and the TTL it chose, if any.
pub(crate) async fn scope<F: Future>(load: F) -> (F::Output, Option<Duration>) {
    RESULT_TTL
        .scope(Cell::new(None), async move {
            let out = load.await;
            (out, RESULT_TTL.with(Cell::get))
        })
        .await
}

/// Runs one load, returning its output, the time to live and the tags it chose.
pub(crate) async fn scope_tagged<F: Future>(load: F) -> (F::Output, Option<Duration>, ResultTags) {
    RESULT_TAGS
        .scope(RefCell::new(ResultTags::None), async move {
            let (out, ttl) = RESULT_TTL
                .scope(Cell::new(None), async move {
                    let out = load.await;
                    (out, RESULT_TTL.with(Cell::get))
                })
                .await;
            (out, ttl, RESULT_TAGS.with(|t| t.take()))
        })
        .await
}

/// [`scope`] for the body of a plain (non-`async`) `#[cached]` function.
pub(crate) fn scope_sync<R>(load: impl FnOnce() -> R) -> (R, Option<Duration>) {
    /// Restores the enclosing scope even when the body panics.
    struct Restore(Option<Option<Duration>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SYNC_RESULT_TTL.with(|slot| slot.set(self.0));
        }
    }
    let _restore = Restore(SYNC_RESULT_TTL.with(|slot| slot.replace(Some(None))));
    let out = load();
    let ttl = SYNC_RESULT_TTL.with(|slot| slot.get().flatten());
    (out, ttl)
}
