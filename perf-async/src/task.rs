//! What happens around one task: its timeout and its retries.

use std::borrow::Borrow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use backon::Retryable as _;
use futures::FutureExt;
use pin_project_lite::pin_project;

use crate::error::{Error, Failure};
use crate::retry::RetryPolicy;
use crate::retry_if::RetryIf;

pin_project! {
    /// A task tagged with its input position. Unlike `map`, it never replaces its own state on
    /// completion, which keeps the per-task cost of the hot loop down.
    pub(crate) struct Indexed<Fut> {
        #[pin]
        task: Fut,
        index: usize,
    }
}

impl<Fut> Indexed<Fut> {
    pub(crate) fn new(task: Fut, index: usize) -> Self {
        Self { task, index }
    }
}

impl<Fut: Future> Future for Indexed<Fut> {
    type Output = (usize, Fut::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let index = *this.index;
        this.task.poll(cx).map(|output| (index, output))
    }
}

/// The result of a task that cannot fail.
pub(crate) fn infallible<T>(value: T) -> Result<T, Failure<Infallible>> {
    Ok(value)
}

/// The result of a fallible task.
pub(crate) fn fallible<T, E>(result: Result<T, E>) -> Result<T, Failure<E>> {
    result.map_err(Failure::Task)
}

/// A task bounded by the per-task timeout.
pub(crate) async fn timed<Fut, T, E>(fut: Fut, limit: Duration) -> Result<T, Failure<E>>
where
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_elapsed) => Err(Failure::Timeout(limit)),
    }
}

/// One attempt of a task, bounded by the per-task timeout when one is set.
async fn attempt<Fut, T, E>(fut: Fut, timeout: Option<Duration>) -> Result<T, Failure<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    match timeout {
        None => fallible(fut.await),
        Some(limit) => timed(fut.map(fallible), limit).await,
    }
}

/// Runs `factory` until an attempt succeeds, the policy gives up, or `retry_if` refuses the
/// failure; each attempt has its own timeout. The last failure is returned. `index` is the
/// task's input position, which the predicate and the notify hook see in the error.
pub(crate) async fn retrying<F, Fut, T, E, R, W, N>(
    mut factory: F,
    timeout: Option<Duration>,
    policy: Option<RetryPolicy>,
    index: usize,
    retry_if: R,
) -> Result<T, Failure<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    R: Borrow<RetryIf<E, W, N>>,
    W: Fn(&Error<E>) -> bool,
    N: Fn(&Error<E>, Duration),
{
    let Some(policy) = policy else {
        return attempt(factory(), timeout).await;
    };
    let retry_if = retry_if.borrow();
    (|| attempt(factory(), timeout).map(|result| result.map_err(|failure| failure.at(index))))
        .retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(|failure| retry_if.accepts(failure))
        .notify(|failure, delay| retry_if.notify_retry(failure, delay))
        .await
        .map_err(Failure::Indexed)
}
