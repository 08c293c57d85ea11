//! [`Local`]: many futures polled inside the caller's task, at most N at once.

use std::convert::identity;
use std::future::Future;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::drive::{self, Finished, Running, TaskResult};
use crate::error::{Error, Result};
use crate::outcome::{CollectAll, FailFast, Outcome};
use crate::parallel::Parallel;
use crate::retry_if::RetryIf;
use crate::task::{Indexed, fallible, infallible, retrying, timed};

/// Local mode of [`Parallel`]: futures polled inside the task that awaits the result.
///
/// The futures may borrow and need not be `Send` or `'static`. A panic in a task unwinds
/// through the caller, as with `join_all`; use [`Spawned`](crate::Spawned) to isolate panics.
/// All running futures live in one `FuturesUnordered`, so each is polled only when woken and a
/// slow task never holds back admission of the next one (the head-of-line trap of
/// `buffered`). The results come back as one `Vec` from a future that drives every task itself,
/// so no running future waits for a consumer to poll a stream (the other `buffered` trap).
/// Dropping the returned future drops every task still running.
///
/// ```
/// use perf_async::Parallel;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let parallel = Parallel::builder().max_concurrent(3).build().unwrap();
/// let results = parallel
///     .local()
///     .collect((0..5).map(|i| async move { if i % 2 == 0 { Ok(i) } else { Err(i) } }))
///     .await;
/// assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
/// assert_eq!(results[1].as_ref().unwrap_err().index(), Some(1));
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    options: &'a Parallel,
}

impl<'a> Local<'a> {
    pub(crate) fn new(options: &'a Parallel) -> Self {
        Self { options }
    }

    /// Runs infallible tasks; outputs in input order.
    ///
    /// # Errors
    /// [`Error::Timeout`] for the first task (by completion) that exceeds the timeout; the others
    /// are then dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> perf_async::Result<()> {
    /// let parallel = perf_async::Parallel::builder().max_concurrent(2).build()?;
    /// let out = parallel.local().run((0..4).map(|i| async move { i * 10 })).await?;
    /// assert_eq!(out, [0, 10, 20, 30]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run<I>(self, tasks: I) -> Result<Vec<<I::Item as Future>::Output>>
    where
        I: IntoIterator,
        I::Item: Future,
    {
        let tasks = tasks.into_iter();
        drive::<FailFast<_, _>, _>(self.options, tasks, infallible, self.options.timeout).await
    }

    /// Fail-fast: runs fallible tasks; on the first error no further task is admitted, the
    /// running ones are dropped, and the error is returned with the task's index.
    ///
    /// # Errors
    /// [`Error::Task`] or [`Error::Timeout`] for the first task (by completion) that failed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let parallel = perf_async::Parallel::builder().max_concurrent(2).build().unwrap();
    /// let ok = parallel.local().try_run((0..3).map(|i| async move { Ok::<_, String>(i) })).await;
    /// assert_eq!(ok.unwrap(), [0, 1, 2]);
    ///
    /// let failed = parallel
    ///     .local()
    ///     .try_run((0..3).map(|i| async move { if i == 1 { Err("no") } else { Ok(i) } }))
    ///     .await;
    /// assert_eq!(failed.unwrap_err().index(), Some(1));
    /// # }
    /// ```
    pub async fn try_run<I, T, E>(self, tasks: I) -> Result<Vec<T>, Error<E>>
    where
        I: IntoIterator,
        I::Item: Future<Output = std::result::Result<T, E>>,
    {
        let tasks = tasks.into_iter();
        drive::<FailFast<_, _>, _>(self.options, tasks, fallible, self.options.timeout).await
    }

    /// Collect-all: runs every task to the end and returns each result in input order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let parallel = perf_async::Parallel::builder().max_concurrent(2).build().unwrap();
    /// let results = parallel
    ///     .local()
    ///     .collect((0..3).map(|i| async move { if i == 1 { Err("no") } else { Ok(i) } }))
    ///     .await;
    /// assert_eq!(results[0].as_ref().ok(), Some(&0));
    /// assert_eq!(results[1].as_ref().unwrap_err().index(), Some(1));
    /// assert_eq!(results[2].as_ref().ok(), Some(&2));
    /// # }
    /// ```
    pub async fn collect<I, T, E>(self, tasks: I) -> Vec<Result<T, Error<E>>>
    where
        I: IntoIterator,
        I::Item: Future<Output = std::result::Result<T, E>>,
    {
        let tasks = tasks.into_iter();
        drive::<CollectAll<_, _>, _>(self.options, tasks, fallible, self.options.timeout).await
    }

    /// Fail-fast with retries: each task is a factory called once per attempt, retried with
    /// the configured [`RetryPolicy`](crate::RetryPolicy) (one attempt when none is set) for
    /// as long as `retry_if` accepts its failures.
    ///
    /// # Errors
    /// The last failure of the first task (by completion) that ran out of attempts or failed
    /// in a way `retry_if` does not retry.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::time::Duration;
    /// use perf_async::{Parallel, RetryPolicy, RetryIf};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::exponential().max_retries(3).initial_delay(Duration::from_millis(5));
    /// let parallel = Parallel::builder().retry(policy).build().unwrap();
    /// let attempts = Cell::new(0);
    /// let always_failing = || async { attempts.set(attempts.get() + 1); Err::<(), _>("down") };
    /// let err = parallel.local().try_run_retrying([always_failing], RetryIf::always()).await.unwrap_err();
    /// assert_eq!(err.index(), Some(0));
    /// assert_eq!(attempts.get(), 4); // first attempt + 3 retries
    /// # }
    /// ```
    pub async fn try_run_retrying<I, F, Fut, T, E, W, N>(
        self,
        factories: I,
        retry_if: RetryIf<E, W, N>,
    ) -> Result<Vec<T>, Error<E>>
    where
        I: IntoIterator<Item = F>,
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        W: Fn(&Error<E>) -> bool,
        N: Fn(&Error<E>, Duration),
    {
        let (timeout, policy) = (self.options.timeout, self.options.retry);
        let retry_if = &retry_if;
        let tasks = factories
            .into_iter()
            .enumerate()
            .map(|(index, factory)| retrying(factory, timeout, policy, index, retry_if));
        // Each attempt is timed inside `retrying`.
        drive::<FailFast<_, _>, _>(self.options, tasks, identity, None).await
    }

    /// Collect-all with retries: like [`try_run_retrying`](Self::try_run_retrying) but every
    /// task runs to its last attempt and each result is returned in input order.
    ///
    /// ```
    /// use perf_async::{Parallel, RetryPolicy, RetryIf};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let parallel = Parallel::builder().retry(RetryPolicy::exponential().max_retries(1)).build().unwrap();
    /// let factories = (0..3).map(|i| move || async move { if i == 2 { Err("bad") } else { Ok(i) } });
    /// let results = parallel.local().collect_retrying(factories, RetryIf::always()).await;
    /// assert!(results[0].is_ok() && results[1].is_ok());
    /// assert_eq!(results[2].as_ref().unwrap_err().index(), Some(2));
    /// # }
    /// ```
    pub async fn collect_retrying<I, F, Fut, T, E, W, N>(
        self,
        factories: I,
        retry_if: RetryIf<E, W, N>,
    ) -> Vec<Result<T, Error<E>>>
    where
        I: IntoIterator<Item = F>,
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
        W: Fn(&Error<E>) -> bool,
        N: Fn(&Error<E>, Duration),
    {
        let (timeout, policy) = (self.options.timeout, self.options.retry);
        let retry_if = &retry_if;
        let tasks = factories
            .into_iter()
            .enumerate()
            .map(|(index, factory)| retrying(factory, timeout, policy, index, retry_if));
        // Each attempt is timed inside `retrying`.
        drive::<CollectAll<_, _>, _>(self.options, tasks, identity, None).await
    }
}

/// Runs the tasks, each bounded by `timeout` when given, polled in this task; see
/// [`drive::run`].
async fn drive<O: Outcome, Fut: Future>(
    options: &Parallel,
    tasks: impl Iterator<Item = Fut>,
    convert: impl Fn(Fut::Output) -> TaskResult<O> + Copy,
    timeout: Option<Duration>,
) -> O::Output {
    match timeout {
        // Separate paths, so that untimed tasks carry no timer state.
        None => drive::run::<O, _>(options, FuturesUnordered::new(), tasks, convert).await,
        Some(limit) => {
            let tasks = tasks.map(move |task| timed(task.map(convert), limit));
            drive::run::<O, _>(options, FuturesUnordered::new(), tasks, identity).await
        }
    }
}

/// Local tasks all live in one `FuturesUnordered`, polled only when woken.
impl<Fut: Future> Running<Fut> for FuturesUnordered<Indexed<Fut>> {
    fn len(&self) -> usize {
        FuturesUnordered::len(self)
    }

    fn start(&mut self, task: Fut, index: usize) {
        self.push(Indexed::new(task, index));
    }

    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<Option<Finished<Fut::Output>>> {
        self.poll_next_unpin(cx)
            .map(|next| next.map(|(index, output)| Finished::Output(index, output)))
    }
}
