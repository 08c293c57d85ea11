//! [`Parallel`]: validated options for running many tasks, and its builder.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result, zero_not_allowed};
use crate::local::Local;
use crate::retry::RetryPolicy;
use crate::spawned::Spawned;

/// Default concurrency limit, the seed's `max_concurrent=10`.
const DEFAULT_MAX_CONCURRENT: NonZeroUsize = NonZeroUsize::new(10).unwrap();

type ProgressFn = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Validated options for running many tasks with bounded concurrency.
///
/// Build one with [`Parallel::builder`], then choose the execution mode explicitly:
/// [`local`](Parallel::local) polls the futures inside the caller's task (they may borrow and
/// need not be `Send`), [`spawned`](Parallel::spawned) runs each task on the tokio runtime
/// (`Send + 'static`, real parallelism, panics isolated). In both modes results come back in
/// input order, the next task is admitted as soon as *any* running task finishes, and the
/// fail-fast (`try_run*`) or collect-all (`collect*`) behaviour is chosen by the method you call,
/// so the return type always matches it.
///
/// Cloning is cheap (the progress callback is shared).
///
/// ```
/// use std::time::Duration;
/// use perf_async::Parallel;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> perf_async::Result<()> {
/// let parallel = Parallel::builder()
///     .max_concurrent(4)
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(parallel.get_max_concurrent(), 4);
/// assert_eq!(parallel.get_timeout(), Some(Duration::from_secs(5)));
///
/// let squares = parallel.local().run((1..=5).map(|n| async move { n * n })).await?;
/// assert_eq!(squares, [1, 4, 9, 16, 25]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Parallel {
    pub(crate) max_concurrent: NonZeroUsize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) progress: Option<ProgressFn>,
}

impl fmt::Debug for Parallel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parallel")
            .field("max_concurrent", &self.max_concurrent)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field(
                "progress",
                &self.progress.as_ref().map(|_| "Fn(done, total)"),
            )
            .finish()
    }
}

impl Default for Parallel {
    /// Ten tasks at once, no timeout, no retry, no progress callback.
    fn default() -> Self {
        Self {
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            timeout: None,
            retry: None,
            progress: None,
        }
    }
}

impl Parallel {
    /// Starts a builder with the defaults: 10 tasks at once, no timeout, no retry, no progress.
    ///
    /// ```
    /// let parallel = perf_async::Parallel::builder().build().unwrap();
    /// assert_eq!(parallel.get_max_concurrent(), 10);
    /// ```
    pub fn builder() -> ParallelBuilder {
        ParallelBuilder {
            options: Self::default(),
            max_concurrent: DEFAULT_MAX_CONCURRENT.get(),
        }
    }

    /// Local mode: futures are polled inside the task that awaits the result.
    ///
    /// See [`Local`] for the methods.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> perf_async::Result<()> {
    /// let words = vec![String::from("borrowed"), String::from("data")];
    /// let parallel = perf_async::Parallel::builder().build()?;
    /// let lengths = parallel.local().run(words.iter().map(|w| async move { w.len() })).await?;
    /// assert_eq!(lengths, [8, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn local(&self) -> Local<'_> {
        Local::new(self)
    }

    /// Spawned mode: every task runs as its own tokio task.
    ///
    /// See [`Spawned`] for the methods.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> perf_async::Result<()> {
    /// let parallel = perf_async::Parallel::builder().max_concurrent(2).build()?;
    /// let ids = parallel.spawned().run((0..4).map(|i| async move { i })).await?;
    /// assert_eq!(ids, [0, 1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawned(&self) -> Spawned<'_> {
        Spawned::new(self)
    }

    /// Most tasks in flight at once.
    ///
    /// ```
    /// let parallel = perf_async::Parallel::builder().max_concurrent(3).build().unwrap();
    /// assert_eq!(parallel.get_max_concurrent(), 3);
    /// ```
    #[must_use]
    pub fn get_max_concurrent(&self) -> usize {
        self.max_concurrent.get()
    }

    /// Per-attempt timeout, if any.
    ///
    /// ```
    /// let parallel = perf_async::Parallel::builder().build().unwrap();
    /// assert_eq!(parallel.get_timeout(), None);
    /// ```
    #[must_use]
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Retry policy of the `*_retrying` methods, if any.
    ///
    /// ```
    /// use perf_async::{Parallel, RetryPolicy};
    /// let parallel = Parallel::builder().retry(RetryPolicy::exponential()).build().unwrap();
    /// assert_eq!(parallel.get_retry(), Some(RetryPolicy::exponential()));
    /// ```
    #[must_use]
    pub fn get_retry(&self) -> Option<RetryPolicy> {
        self.retry
    }
}

/// Builder for [`Parallel`]; every setter documents its default.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use perf_async::{Parallel, RetryPolicy};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> perf_async::Result<()> {
/// let finished = Arc::new(AtomicUsize::new(0));
/// let seen = Arc::clone(&finished);
/// let parallel = Parallel::builder()
///     .max_concurrent(8)
///     .timeout(Duration::from_secs(2))
///     .retry(RetryPolicy::exponential().max_retries(2))
///     .on_progress(move |done, _total| seen.store(done, Ordering::Relaxed))
///     .build()?;
/// parallel.local().run((0..20).map(|i| async move { i })).await?;
/// assert_eq!(finished.load(Ordering::Relaxed), 20);
///
/// let err = Parallel::builder().max_concurrent(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid `max_concurrent`: got 0, allowed: 1..=usize::MAX");
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct ParallelBuilder {
    options: Parallel,
    max_concurrent: usize,
}

impl fmt::Debug for ParallelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParallelBuilder")
            .field("max_concurrent", &self.max_concurrent)
            .field("timeout", &self.options.timeout)
            .field("retry", &self.options.retry)
            .field(
                "progress",
                &self.options.progress.as_ref().map(|_| "Fn(done, total)"),
            )
            .finish()
    }
}

impl ParallelBuilder {
    /// Most tasks in flight at once (default 10). `0` makes [`build`](Self::build) fail with
    /// [`Error::InvalidConfig`] rather than hang.
    ///
    /// ```
    /// use perf_async::Parallel;
    /// assert_eq!(Parallel::builder().max_concurrent(50).build().unwrap().get_max_concurrent(), 50);
    /// assert!(Parallel::builder().max_concurrent(0).build().is_err());
    /// ```
    pub fn max_concurrent(mut self, limit: usize) -> Self {
        self.max_concurrent = limit;
        self
    }

    /// Timeout of each attempt of each task (default: none). A task that exceeds it fails with
    /// [`Error::Timeout`] (or is retried, in the `*_retrying` methods). Must be above zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::{Error, Parallel};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let parallel = Parallel::builder().timeout(Duration::from_millis(100)).build().unwrap();
    /// let slow = tokio::time::sleep(Duration::from_secs(5));
    /// let err = parallel.local().run([slow]).await.unwrap_err();
    /// assert!(matches!(err, Error::Timeout { index: 0, .. }));
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Retry policy used by the `*_retrying` methods (default: none, one attempt per task).
    ///
    /// ```
    /// use perf_async::{Parallel, RetryPolicy};
    /// let parallel = Parallel::builder().retry(RetryPolicy::exponential().max_retries(5)).build().unwrap();
    /// assert_eq!(parallel.get_retry().map(|p| p.get_max_retries()), Some(5));
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = Some(policy);
        self
    }

    /// Called with `(done, total)` each time a task finishes, successful or not (default: none).
    ///
    /// It runs on the task that drives the run, in completion order, so `done` rises by one per
    /// call and ends at `total` when every task ran. Keep it cheap: it delays admission of the
    /// next task while it runs. When the task iterator does not report an exact length, the
    /// tasks are collected first to learn `total`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> perf_async::Result<()> {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// let parallel = perf_async::Parallel::builder()
    ///     .on_progress(move |done, total| sink.lock().unwrap().push((done, total)))
    ///     .build()?;
    /// parallel.local().run((0..3).map(|i| async move { i })).await?;
    /// assert_eq!(*seen.lock().unwrap(), [(1, 3), (2, 3), (3, 3)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_progress(mut self, progress: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        self.options.progress = Some(Arc::new(progress));
        self
    }

    /// Validates the options.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field and its allowed range when `max_concurrent` is
    /// 0, `timeout` is zero, or the retry policy is invalid (see [`RetryPolicy`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::{Error, Parallel};
    /// let err = Parallel::builder().timeout(Duration::ZERO).build().unwrap_err();
    /// assert!(matches!(err, Error::InvalidConfig { field: "timeout", .. }));
    /// ```
    pub fn build(self) -> Result<Parallel> {
        let Self {
            mut options,
            max_concurrent,
        } = self;
        options.max_concurrent =
            NonZeroUsize::new(max_concurrent).ok_or_else(|| zero_not_allowed("max_concurrent"))?;
        if options.timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidConfig {
                field: "timeout",
                value: "0s".to_owned(),
                allowed: "above zero".to_owned(),
            });
        }
        if let Some(policy) = &options.retry {
            policy.validate()?;
        }
        Ok(options)
    }
}
