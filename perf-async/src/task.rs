//! What happens around one task: its timeout and its retries.

use std::future::Future;
use std::time::Duration;

use backon::Retryable;
use futures::FutureExt;
use futures::future::Either;

use crate::error::Failure;
use crate::retry::RetryPolicy;

/// One attempt of a task, bounded by the per-task timeout when one is set.
///
/// Without a timeout this is a plain map, so the common case costs no extra state machine.
pub(crate) fn bounded<Fut, T, E>(
    fut: Fut,
    timeout: Option<Duration>,
) -> impl Future<Output = Result<T, Failure<E>>>
where
    Fut: Future<Output = Result<T, E>>,
{
    match timeout {
        None => Either::Left(fut.map(|result| result.map_err(Failure::Task))),
        Some(limit) => Either::Right(attempt(fut, limit)),
    }
}

async fn attempt<Fut, T, E>(fut: Fut, limit: Duration) -> Result<T, Failure<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(Failure::Task),
        Err(_elapsed) => Err(Failure::Timeout(limit)),
    }
}

/// Runs `factory` until an attempt succeeds or the policy gives up; each attempt has its own
/// timeout. The last failure is returned.
pub(crate) async fn retrying<F, Fut, T, E>(
    mut factory: F,
    timeout: Option<Duration>,
    policy: Option<RetryPolicy>,
) -> Result<T, Failure<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match policy {
        None => bounded(factory(), timeout).await,
        Some(policy) => {
            (|| bounded(factory(), timeout))
                .retry(policy.backoff())
                .sleep(tokio::time::sleep)
                .await
        }
    }
}
