//! Retry with exponential backoff for re-creatable tasks.

use std::time::Duration;

use backon::ExponentialBuilder;

use crate::error::Error;

/// How a failed task is retried: exponential backoff, built on the `backon` crate.
///
/// Retries apply only to the `*_retrying` methods of [`Local`](crate::Local) and
/// [`Spawned`](crate::Spawned), which take task *factories* (`FnMut() -> Future`) because a
/// future cannot be polled again once it has failed. The policy says how often and when; the
/// [`RetryIf`](crate::RetryIf) given to each call says *which* failures (task errors,
/// per-attempt timeouts) are retried at all.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use perf_async::{Parallel, RetryIf, RetryPolicy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = RetryPolicy::exponential()
///     .max_retries(2)
///     .initial_delay(Duration::from_millis(10))
///     .jitter(false);
/// let parallel = Parallel::builder().retry(policy).build().unwrap();
/// let calls = AtomicUsize::new(0);
/// // Fails twice, then succeeds on the third attempt.
/// let flaky = || async {
///     if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err("transient") } else { Ok("done") }
/// };
/// let out = parallel.local().try_run_retrying([flaky], RetryIf::always()).await.unwrap();
/// assert_eq!(out, ["done"]);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    max_retries: usize,
    initial_delay: Duration,
    max_delay: Duration,
    factor: f32,
    jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::exponential()
    }
}

impl RetryPolicy {
    /// Exponential backoff: 3 retries, first delay 100 ms, doubling, capped at 10 s, with jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = perf_async::RetryPolicy::exponential();
    /// assert_eq!(policy.get_max_retries(), 3);
    /// assert_eq!(policy.get_initial_delay(), Duration::from_millis(100));
    /// ```
    #[must_use]
    pub const fn exponential() -> Self {
        Self {
            max_retries: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            factor: 2.0,
            jitter: true,
        }
    }

    /// Retries after the first attempt (default 3, so at most 4 attempts). 0 disables retrying.
    ///
    /// ```
    /// let policy = perf_async::RetryPolicy::exponential().max_retries(0);
    /// assert_eq!(policy.get_max_retries(), 0);
    /// ```
    #[must_use]
    pub const fn max_retries(mut self, retries: usize) -> Self {
        self.max_retries = retries;
        self
    }

    /// Delay before the first retry (default 100 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = perf_async::RetryPolicy::exponential().initial_delay(Duration::from_millis(20));
    /// assert_eq!(policy.get_initial_delay(), Duration::from_millis(20));
    /// ```
    #[must_use]
    pub const fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Upper bound for any single delay (default 10 s); must not be below `initial_delay`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = perf_async::RetryPolicy::exponential().max_delay(Duration::from_secs(1));
    /// assert_eq!(policy.get_max_delay(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub const fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Growth factor between consecutive delays (default 2.0); must be finite and at least 1.0.
    ///
    /// ```
    /// let policy = perf_async::RetryPolicy::exponential().factor(1.5);
    /// assert_eq!(policy.get_factor(), 1.5);
    /// ```
    #[must_use]
    pub const fn factor(mut self, factor: f32) -> Self {
        self.factor = factor;
        self
    }

    /// Adds a random jitter of up to one delay to each delay (default `true`), so that many
    /// clients failing together do not retry in lockstep.
    ///
    /// ```
    /// let policy = perf_async::RetryPolicy::exponential().jitter(false);
    /// assert!(!policy.get_jitter());
    /// ```
    #[must_use]
    pub const fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Retries after the first attempt.
    ///
    /// ```
    /// assert_eq!(perf_async::RetryPolicy::default().get_max_retries(), 3);
    /// ```
    #[must_use]
    pub const fn get_max_retries(&self) -> usize {
        self.max_retries
    }

    /// Delay before the first retry.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(perf_async::RetryPolicy::default().get_initial_delay(), Duration::from_millis(100));
    /// ```
    #[must_use]
    pub const fn get_initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// Upper bound for any single delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(perf_async::RetryPolicy::default().get_max_delay(), Duration::from_secs(10));
    /// ```
    #[must_use]
    pub const fn get_max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Growth factor between consecutive delays.
    ///
    /// ```
    /// assert_eq!(perf_async::RetryPolicy::default().get_factor(), 2.0);
    /// ```
    #[must_use]
    pub const fn get_factor(&self) -> f32 {
        self.factor
    }

    /// Whether delays are jittered.
    ///
    /// ```
    /// assert!(perf_async::RetryPolicy::default().get_jitter());
    /// ```
    #[must_use]
    pub const fn get_jitter(&self) -> bool {
        self.jitter
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if !self.factor.is_finite() || self.factor < 1.0 {
            return Err(Error::InvalidConfig {
                field: "retry.factor",
                value: self.factor.to_string(),
                allowed: "finite, 1.0..=f32::MAX".to_owned(),
            });
        }
        if self.max_delay < self.initial_delay {
            return Err(Error::InvalidConfig {
                field: "retry.max_delay",
                value: format!("{:?}", self.max_delay),
                allowed: format!(
                    "{:?}..=Duration::MAX (not below retry.initial_delay)",
                    self.initial_delay
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(self.factor)
            .with_max_times(self.max_retries);
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }
}
