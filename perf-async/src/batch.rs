//! `batch_process`: the seed's batch helper, without the batch barrier.

use std::future::Future;

use crate::error::Result;
use crate::run_parallel::run_parallel;

/// Processes every item with at most `batch_size` in flight; outputs in input order.
///
/// The Rust form of the seed's `batch_process(items, processor, batch_size=100)`, which
/// gathered one batch at a time and so waited for the slowest item of each batch before starting
/// the next. Here the window slides: the next item starts as soon as *any* running item
/// finishes, so one slow item holds one place, not the whole batch. Items are turned into
/// futures lazily, only when they are admitted.
///
/// Runs in [local mode](crate::Parallel::local): the processor's futures may borrow. For
/// fallible processors with fail-fast or collect-all, timeouts or spawned tasks, map the items
/// yourself and use [`Parallel`](crate::Parallel) (shown below).
///
/// # Errors
/// [`Error::InvalidConfig`](crate::Error::InvalidConfig) when `batch_size` is 0.
///
/// ```
/// use perf_async::{Parallel, batch_process};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> perf_async::Result<()> {
/// let user_ids: Vec<u32> = (1..=250).collect();
/// let names = batch_process(user_ids.clone(), 100, |id| async move { format!("user-{id}") }).await?;
/// assert_eq!(names.len(), 250);
/// assert_eq!(names[0], "user-1");
///
/// // Fallible processor, fail-fast, same sliding window:
/// let parallel = Parallel::builder().max_concurrent(100).build()?;
/// let parsed = parallel
///     .local()
///     .try_run(["1", "2", "x"].into_iter().map(|s| async move { s.parse::<u8>() }))
///     .await;
/// assert_eq!(parsed.unwrap_err().index(), Some(2));
/// # Ok(())
/// # }
/// ```
pub async fn batch_process<I, F, Fut>(
    items: I,
    batch_size: usize,
    processor: F,
) -> Result<Vec<Fut::Output>>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    run_parallel(items.into_iter().map(processor), batch_size)
        .await
        .map_err(|error| error.renamed("max_concurrent", "batch_size"))
}
