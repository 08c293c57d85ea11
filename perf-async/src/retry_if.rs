//! [`RetryIf`]: which failures of a retried task are worth another attempt, and a hook that
//! hears about each retry.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::error::Error;

/// The predicate of [`RetryIf::always`]: every failure is retried.
type RetryAll<E> = fn(&Error<E>) -> bool;

/// The notify hook when none is set: does nothing.
type NoNotify<E> = fn(&Error<E>, Duration);

/// Which failures the `*_retrying` methods retry, and a hook called before each retry.
///
/// Every `*_retrying` call takes one, so the call site says what is safe to run again: there
/// is no silent default. [`RetryIf::always`] retries every failure (what most retry helpers do
/// by default, right for idempotent reads); [`RetryIf::when`] retries only the failures
/// its predicate accepts, which is what a write or an HTTP call needs, since a unique violation
/// or a `4xx` fails the same way every time and a timed-out `INSERT` may have committed.
///
/// The predicate and the hook see the failure as an [`Error`]: [`Error::Task`] (your task's
/// own error, see [`Error::task_error`]) or [`Error::Timeout`] (the attempt exceeded the
/// per-attempt timeout), with the task's index. How many attempts and how long between them
/// stays the [`RetryPolicy`](crate::RetryPolicy) of the [`Parallel`](crate::Parallel); without
/// a policy each task makes one attempt and neither closure is called.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use perf_async::{Error, Parallel, RetryPolicy, RetryIf};
///
/// #[derive(Debug)]
/// enum DbError { Deadlock, UniqueViolation }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = RetryPolicy::exponential().max_retries(3).initial_delay(Duration::from_millis(10)).jitter(false);
/// let parallel = Parallel::builder().retry(policy).build().unwrap();
/// let retry_if = RetryIf::when(|failure: &Error<DbError>| {
///     matches!(failure.task_error(), Some(DbError::Deadlock))
/// })
/// .notify(|failure, delay| tracing::warn!(%failure, ?delay, "retrying"));
///
/// let attempts = AtomicUsize::new(0);
/// let insert = || async { attempts.fetch_add(1, Ordering::SeqCst); Err::<(), _>(DbError::UniqueViolation) };
/// let err = parallel.local().try_run_retrying([insert], retry_if).await.unwrap_err();
/// assert!(matches!(err.task_error(), Some(DbError::UniqueViolation)));
/// assert_eq!(attempts.load(Ordering::SeqCst), 1, "a unique violation is not retried");
/// # }
/// ```
pub struct RetryIf<E, W = RetryAll<E>, N = NoNotify<E>> {
    when: W,
    notify: N,
    error: PhantomData<fn(&Error<E>)>,
}

impl<E> RetryIf<E> {
    /// Retries every failure: task errors and timed-out attempts alike.
    ///
    /// Right when every task is safe to run twice (reads, idempotent writes).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use perf_async::{Parallel, RetryPolicy, RetryIf};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let parallel = Parallel::builder().retry(RetryPolicy::exponential().max_retries(2)).build().unwrap();
    /// let attempts = Cell::new(0);
    /// let read = || async { attempts.set(attempts.get() + 1); Err::<(), _>("connection reset") };
    /// let results = parallel.local().collect_retrying([read], RetryIf::always()).await;
    /// assert!(results[0].is_err());
    /// assert_eq!(attempts.get(), 3); // first attempt + 2 retries
    /// # }
    /// ```
    #[must_use]
    pub fn always() -> Self {
        Self {
            when: |_| true,
            notify: |_, _| {},
            error: PhantomData,
        }
    }
}

impl<E, W> RetryIf<E, W>
where
    W: Fn(&Error<E>) -> bool,
{
    /// Retries a failure only when `predicate` returns `true` for it; any other failure ends
    /// the task at once with that error.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::time::Duration;
    /// use perf_async::{Error, Parallel, RetryPolicy, RetryIf};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let parallel = Parallel::builder()
    ///     .timeout(Duration::from_millis(100))
    ///     .retry(RetryPolicy::exponential().max_retries(2))
    ///     .build()
    ///     .unwrap();
    /// // Retry timeouts and 5xx, never 4xx.
    /// let retry_if = RetryIf::when(|failure: &Error<u16>| match failure {
    ///     Error::Timeout { .. } => true,
    ///     failure => failure.task_error().is_some_and(|status| *status >= 500),
    /// });
    /// let calls = Cell::new(0);
    /// let not_found = || async { calls.set(calls.get() + 1); Err::<(), u16>(404) };
    /// assert!(parallel.local().try_run_retrying([not_found], retry_if).await.is_err());
    /// assert_eq!(calls.get(), 1);
    /// # }
    /// ```
    #[must_use]
    pub fn when(predicate: W) -> Self {
        Self {
            when: predicate,
            notify: |_, _| {},
            error: PhantomData,
        }
    }
}

impl<E, W, N> RetryIf<E, W, N> {
    /// Calls `notify` with the failure and the delay before each retry (after jitter), e.g. to
    /// log it or count it. It is not called for the last failure, nor for a failure that is not
    /// retried. It runs inside the task, so it must be cheap and, in spawned mode, `Send + Sync`.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use std::time::Duration;
    /// use perf_async::{Parallel, RetryPolicy, RetryIf};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::exponential().max_retries(2).initial_delay(Duration::from_millis(10)).jitter(false);
    /// let parallel = Parallel::builder().retry(policy).build().unwrap();
    /// let delays = Mutex::new(Vec::new());
    /// let retry_if = RetryIf::always().notify(|_failure, delay| delays.lock().unwrap().push(delay));
    /// let flaky = || async { Err::<(), _>("busy") };
    /// let _ = parallel.local().try_run_retrying([flaky], retry_if).await;
    /// assert_eq!(*delays.lock().unwrap(), [Duration::from_millis(10), Duration::from_millis(20)]);
    /// # }
    /// ```
    #[must_use]
    pub fn notify<M>(self, notify: M) -> RetryIf<E, W, M>
    where
        M: Fn(&Error<E>, Duration),
    {
        RetryIf {
            when: self.when,
            notify,
            error: PhantomData,
        }
    }
}

impl<E, W, N> RetryIf<E, W, N>
where
    W: Fn(&Error<E>) -> bool,
    N: Fn(&Error<E>, Duration),
{
    pub(crate) fn accepts(&self, failure: &Error<E>) -> bool {
        (self.when)(failure)
    }

    pub(crate) fn notify_retry(&self, failure: &Error<E>, delay: Duration) {
        (self.notify)(failure, delay);
    }
}

impl<E, W, N> fmt::Debug for RetryIf<E, W, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryIf").finish_non_exhaustive()
    }
}
