//! [`run_parallel`]: the seed's `run_parallel`, a shortcut for local mode with a limit only.

use std::future::Future;

use crate::error::Result;
use crate::parallel::Parallel;

/// Runs `tasks` with at most `max_concurrent` in flight and returns every output in input order.
///
/// The Rust form of the seed's `run_parallel(tasks, max_concurrent=10)` (semaphore + gather).
/// The futures are polled inside the caller's task ([local mode](Parallel::local)), so they may
/// borrow local data and need not be `Send`. The next task starts as soon as any running one
/// finishes. For timeouts, retries, progress, fallible tasks or spawned tasks, use
/// [`Parallel`].
///
/// # Errors
/// [`Error::InvalidConfig`](crate::Error::InvalidConfig) when `max_concurrent` is 0 (nothing runs).
///
/// ```
/// use perf_async::run_parallel;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> perf_async::Result<()> {
/// let names = vec!["a", "bb", "ccc"];
/// // The futures borrow `names`: local mode needs neither `Send` nor `'static`.
/// let lengths = run_parallel(names.iter().map(|name| async move { name.len() }), 2).await?;
/// assert_eq!(lengths, [1, 2, 3]);
///
/// assert!(run_parallel([async { 1 }], 0).await.is_err());
/// # Ok(())
/// # }
/// ```
pub async fn run_parallel<I>(
    tasks: I,
    max_concurrent: usize,
) -> Result<Vec<<I::Item as Future>::Output>>
where
    I: IntoIterator,
    I::Item: Future,
{
    Parallel::builder()
        .max_concurrent(max_concurrent)
        .build()?
        .local()
        .run(tasks)
        .await
}
