//! Spawned mode: every task is its own tokio task, at most N exist at once.

use std::any::Any;
use std::convert::identity;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use tokio::runtime::Handle;
use tokio::task::JoinSet;
use tracing::{Instrument, Span};

use crate::drive::{self, Finished, Running, TaskResult};
use crate::error::{Error, Result};
use crate::outcome::{CollectAll, FailFast, Outcome};
use crate::parallel::Parallel;
use crate::retry_if::RetryIf;
use crate::task::{Indexed, fallible, infallible, retrying, timed};

/// Spawned mode of [`Parallel`]: every task runs as its own tokio task, so CPU-heavy tasks use
/// all worker threads.
///
/// - **Bounded existence.** The place is taken *before* spawning: a task is spawned only while
///   fewer than `max_concurrent` spawned tasks are alive, so at most `max_concurrent` tasks
///   exist at any moment (not only "run": unadmitted tasks are never spawned).
/// - **Panics isolated.** A panicking task becomes [`Error::Panicked`] for its index; the others
///   go on (collect-all) or are aborted (fail-fast).
/// - **No orphans.** Dropping the returned future aborts every task still running.
/// - **The caller's span.** Each task runs inside the [`tracing`] span that is current where
///   the run is awaited (captured when the returned future is first polled), as it would in
///   local mode: the task's events and spans keep the request's context, and per-request
///   tooling (e.g. perf-db's N+1 detection, which looks for a span with a `perf.request_scope`
///   field) sees work done on the worker threads.
///
/// Tasks must be `Send + 'static`. Must be awaited inside a tokio runtime, else nothing runs
/// and the result is [`Error::NoRuntime`] (one per task for the collect-all forms).
///
/// ```
/// use perf_async::Parallel;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> perf_async::Result<()> {
/// let parallel = Parallel::builder().max_concurrent(4).build()?;
/// let sums = parallel
///     .spawned()
///     .run((0..8u64).map(|n| async move { (0..=n).sum::<u64>() }))
///     .await?;
/// assert_eq!(sums, [0, 1, 3, 6, 10, 15, 21, 28]);
/// # Ok(())
/// # }
/// ```
///
/// The tasks run inside the caller's span:
///
/// ```
/// use tracing::Instrument;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> perf_async::Result<()> {
/// # let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry());
/// let parallel = perf_async::Parallel::builder().build()?;
/// let current_spans = parallel
///     .spawned()
///     .run((0..3).map(|_| async { tracing::Span::current().metadata().map(|m| m.name()) }))
///     .instrument(tracing::info_span!("request", perf.request_scope = true))
///     .await?;
/// assert_eq!(current_spans, [Some("request"); 3]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Spawned<'a> {
    options: &'a Parallel,
}

impl<'a> Spawned<'a> {
    pub(crate) fn new(options: &'a Parallel) -> Self {
        Self { options }
    }

    /// Runs infallible tasks; outputs in input order.
    ///
    /// # Errors
    /// [`Error::Panicked`] or [`Error::Timeout`] for the first task (by completion) that
    /// panicked or timed out, after which the others are aborted; [`Error::NoRuntime`] outside
    /// a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let parallel = perf_async::Parallel::builder().max_concurrent(2).build().unwrap();
    /// let err = parallel
    ///     .spawned()
    ///     .run((0..3).map(|i| async move { assert!(i != 1, "task one is broken"); i }))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.index(), Some(1));
    /// assert_eq!(err.to_string(), "task 1 panicked: task one is broken");
    /// # }
    /// ```
    pub async fn run<I, T>(self, tasks: I) -> Result<Vec<T>>
    where
        I: IntoIterator,
        I::Item: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let tasks = tasks.into_iter();
        drive::<FailFast<_, _>, _>(self.options, tasks, infallible, self.options.timeout).await
    }

    /// Fail-fast: on the first failure no further task is spawned, the running ones are
    /// aborted, and the error is returned with the task's index.
    ///
    /// # Errors
    /// [`Error::Task`], [`Error::Timeout`] or [`Error::Panicked`] for the first task (by
    /// completion) that failed; [`Error::NoRuntime`] outside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let parallel = perf_async::Parallel::builder().max_concurrent(2).build().unwrap();
    /// let failed = parallel
    ///     .spawned()
    ///     .try_run((0..3).map(|i| async move { if i == 2 { Err("no") } else { Ok(i) } }))
    ///     .await;
    /// assert_eq!(failed.unwrap_err().index(), Some(2));
    /// # }
    /// ```
    pub async fn try_run<I, T, E>(self, tasks: I) -> Result<Vec<T>, Error<E>>
    where
        I: IntoIterator,
        I::Item: Future<Output = std::result::Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let tasks = tasks.into_iter();
        drive::<FailFast<_, _>, _>(self.options, tasks, fallible, self.options.timeout).await
    }

    /// Collect-all: every task runs to the end (a panic only fails its own slot); each result
    /// in input order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let parallel = perf_async::Parallel::builder().max_concurrent(2).build().unwrap();
    /// let results = parallel
    ///     .spawned()
    ///     .collect((0..3).map(|i| async move {
    ///         assert!(i != 1, "boom");
    ///         Ok::<_, std::io::Error>(i)
    ///     }))
    ///     .await;
    /// assert_eq!(results[0].as_ref().ok(), Some(&0));
    /// assert!(matches!(results[1], Err(perf_async::Error::Panicked { index: 1, .. })));
    /// assert_eq!(results[2].as_ref().ok(), Some(&2));
    /// # }
    /// ```
    pub async fn collect<I, T, E>(self, tasks: I) -> Vec<Result<T, Error<E>>>
    where
        I: IntoIterator,
        I::Item: Future<Output = std::result::Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let tasks = tasks.into_iter();
        drive::<CollectAll<_, _>, _>(self.options, tasks, fallible, self.options.timeout).await
    }

    /// Fail-fast with retries: each task is a factory called once per attempt, inside the
    /// spawned task, retried with the configured [`RetryPolicy`](crate::RetryPolicy) for as
    /// long as `retry_if` accepts its failures.
    ///
    /// # Errors
    /// The last failure of the first task (by completion) that ran out of attempts or failed
    /// in a way `retry_if` does not retry, or a panic; [`Error::NoRuntime`] outside a tokio
    /// runtime.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use perf_async::{Parallel, RetryPolicy, RetryIf};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let parallel = Parallel::builder().retry(RetryPolicy::exponential().max_retries(5)).build().unwrap();
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let factory = {
    ///     let calls = Arc::clone(&calls);
    ///     move || {
    ///         let calls = Arc::clone(&calls);
    ///         async move {
    ///             if calls.fetch_add(1, Ordering::SeqCst) == 0 { Err("first try fails") } else { Ok(7) }
    ///         }
    ///     }
    /// };
    /// assert_eq!(parallel.spawned().try_run_retrying([factory], RetryIf::always()).await.unwrap(), [7]);
    /// assert_eq!(calls.load(Ordering::SeqCst), 2);
    /// # }
    /// ```
    pub async fn try_run_retrying<I, F, Fut, T, E, W, N>(
        self,
        factories: I,
        retry_if: RetryIf<E, W, N>,
    ) -> Result<Vec<T>, Error<E>>
    where
        I: IntoIterator<Item = F>,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        W: Fn(&Error<E>) -> bool + Send + Sync + 'static,
        N: Fn(&Error<E>, Duration) + Send + Sync + 'static,
    {
        let (timeout, policy) = (self.options.timeout, self.options.retry);
        // Shared by every spawned task.
        let retry_if = Arc::new(retry_if);
        let tasks = factories.into_iter().enumerate().map(|(index, factory)| {
            retrying(factory, timeout, policy, index, Arc::clone(&retry_if))
        });
        // Each attempt is timed inside `retrying`.
        drive::<FailFast<_, _>, _>(self.options, tasks, identity, None).await
    }

    /// Collect-all with retries: every task runs to its last attempt; each result in input
    /// order.
    ///
    /// ```
    /// use perf_async::{Parallel, RetryPolicy, RetryIf};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let parallel = Parallel::builder().retry(RetryPolicy::exponential().max_retries(1)).build().unwrap();
    /// let factories = (0..3).map(|i| move || async move { if i == 0 { Err("bad") } else { Ok(i) } });
    /// let results = parallel.spawned().collect_retrying(factories, RetryIf::always()).await;
    /// assert_eq!(results[0].as_ref().unwrap_err().index(), Some(0));
    /// assert_eq!(results[2].as_ref().ok(), Some(&2));
    /// # }
    /// ```
    pub async fn collect_retrying<I, F, Fut, T, E, W, N>(
        self,
        factories: I,
        retry_if: RetryIf<E, W, N>,
    ) -> Vec<Result<T, Error<E>>>
    where
        I: IntoIterator<Item = F>,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        W: Fn(&Error<E>) -> bool + Send + Sync + 'static,
        N: Fn(&Error<E>, Duration) + Send + Sync + 'static,
    {
        let (timeout, policy) = (self.options.timeout, self.options.retry);
        // Shared by every spawned task.
        let retry_if = Arc::new(retry_if);
        let tasks = factories.into_iter().enumerate().map(|(index, factory)| {
            retrying(factory, timeout, policy, index, Arc::clone(&retry_if))
        });
        // Each attempt is timed inside `retrying`.
        drive::<CollectAll<_, _>, _>(self.options, tasks, identity, None).await
    }
}

/// Runs the tasks, each bounded by `timeout` when given, as tokio tasks; see
/// [`drive::run`].
async fn drive<O: Outcome, Fut>(
    options: &Parallel,
    tasks: impl Iterator<Item = Fut>,
    convert: impl Fn(Fut::Output) -> TaskResult<O> + Copy + Send + 'static,
    timeout: Option<Duration>,
) -> O::Output
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
    O::Value: Send + 'static,
    O::Error: Send + 'static,
{
    let Ok(handle) = Handle::try_current() else {
        return O::unrun(tasks.count(), || Error::NoRuntime);
    };
    // A spawned task is polled by the runtime, outside the caller's span: it is carried over.
    let span = Span::current();
    match timeout {
        // Separate paths, so that untimed tasks carry no timer state.
        None => drive::run::<O, _>(options, SpawnedTasks::new(handle, span), tasks, convert).await,
        Some(limit) => {
            let tasks = tasks.map(move |task| timed(task.map(convert), limit));
            let running = SpawnedTasks::new(handle, span);
            drive::run::<O, _>(options, running, tasks, identity).await
        }
    }
}

/// Spawned tasks: each a tokio task on the caller's runtime, inside the caller's span, with its
/// panic caught. Dropping the set aborts every task still running.
struct SpawnedTasks<T> {
    set: JoinSet<(usize, std::thread::Result<T>)>,
    handle: Handle,
    span: Span,
}

impl<T> SpawnedTasks<T> {
    fn new(handle: Handle, span: Span) -> Self {
        Self {
            set: JoinSet::new(),
            handle,
            span,
        }
    }
}

impl<Fut> Running<Fut> for SpawnedTasks<Fut::Output>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    /// Counts tasks until they are reaped, so a place is freed only once the previous task no
    /// longer exists: at most `max_concurrent` tasks exist at once.
    fn len(&self) -> usize {
        self.set.len()
    }

    fn start(&mut self, task: Fut, index: usize) {
        let task = Indexed::new(AssertUnwindSafe(task).catch_unwind(), index);
        self.set
            .spawn_on(task.instrument(self.span.clone()), &self.handle);
    }

    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<Option<Finished<Fut::Output>>> {
        self.set.poll_join_next(cx).map(|joined| {
            joined.map(|joined| match joined {
                Ok((index, Ok(output))) => Finished::Output(index, output),
                Ok((index, Err(payload))) => Finished::Panicked(index, panic_message(&*payload)),
                // Panics are caught inside the task, so this is a cancellation from outside.
                Err(_cancelled) => Finished::Vanished,
            })
        })
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic payload is not a string".to_owned()
    }
}
