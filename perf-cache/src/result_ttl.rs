//! [`set_result_ttl`]: a loader (or a `#[cached]` body) choosing its own result's time to
//! live at run time.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

tokio::task_local! {
    static RESULT_TTL: Cell<Option<Duration>>;
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

/// Runs one load, returning its output and the time to live it chose, if any.
pub(crate) async fn scope<F: Future>(load: F) -> (F::Output, Option<Duration>) {
    RESULT_TTL
        .scope(Cell::new(None), async move {
            let out = load.await;
            (out, RESULT_TTL.with(Cell::get))
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
