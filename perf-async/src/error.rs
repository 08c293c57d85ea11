//! The crate's error type.

use std::convert::Infallible;
use std::time::Duration;

/// `Result` with this crate's [`Error`] as the default error type.
///
/// ```
/// fn limit(n: usize) -> perf_async::Result<usize> {
///     perf_async::Parallel::builder().max_concurrent(n).build().map(|p| p.get_max_concurrent())
/// }
/// assert_eq!(limit(4).unwrap(), 4);
/// assert!(limit(0).is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// `E` is the error type of your tasks; it defaults to [`Infallible`] for operations whose tasks
/// cannot fail (then only configuration errors, timeouts, panics and cancellations remain).
/// Every variant about a task carries the task's `index` in the input.
///
/// ```
/// use perf_async::{Error, Parallel};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let parallel = Parallel::builder().max_concurrent(2).build().unwrap();
/// let tasks = (0..4).map(|i| async move { if i == 2 { Err("boom") } else { Ok(i) } });
/// match parallel.local().try_run(tasks).await {
///     Err(Error::Task { index, source }) => {
///         assert_eq!(index, 2);
///         assert_eq!(source, "boom");
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E = Infallible> {
    /// A configuration value outside its allowed range.
    #[error("invalid `{field}`: got {value}, allowed: {allowed}")]
    InvalidConfig {
        /// The option's name as spelled by its builder setter / config field.
        field: &'static str,
        /// The rejected value, rendered (secrets redacted).
        value: String,
        /// What the field accepts, e.g. "1..=10000" or "finite and strictly increasing".
        allowed: String,
    },
    /// The task returned an error.
    #[error("task {index} failed")]
    Task {
        /// Position of the task in the input.
        index: usize,
        /// The task's own error.
        source: E,
    },
    /// One attempt of the task ran longer than the configured per-task timeout (after the last
    /// retry, when retries are configured).
    #[error("task {index} timed out after {timeout:?}")]
    Timeout {
        /// Position of the task in the input.
        index: usize,
        /// The configured per-task timeout.
        timeout: Duration,
    },
    /// The task panicked (spawned mode only; in local mode a panic unwinds through the caller).
    #[error("task {index} panicked: {message}")]
    Panicked {
        /// Position of the task in the input.
        index: usize,
        /// The panic message when it was a string, else a placeholder.
        message: String,
    },
    /// The spawned task was cancelled before it finished, e.g. because its runtime shut down.
    #[error("task {index} was cancelled before it finished")]
    Cancelled {
        /// Position of the task in the input.
        index: usize,
    },
    /// Spawned mode was used outside a tokio runtime.
    #[error("spawned mode needs a tokio runtime, but none is running on this thread")]
    NoRuntime,
}

impl<E> Error<E> {
    /// The input position of the task this error is about, if it is about a task.
    ///
    /// ```
    /// use perf_async::Error;
    ///
    /// let err: Error<&str> = Error::Task { index: 7, source: "boom" };
    /// assert_eq!(err.index(), Some(7));
    /// assert_eq!(Error::<&str>::NoRuntime.index(), None);
    /// ```
    pub fn index(&self) -> Option<usize> {
        match self {
            Self::Task { index, .. }
            | Self::Timeout { index, .. }
            | Self::Panicked { index, .. }
            | Self::Cancelled { index } => Some(*index),
            Self::InvalidConfig { .. } | Self::NoRuntime => None,
        }
    }

    /// The task's own error, if this is [`Error::Task`], by reference (e.g. in a
    /// [`RetryIf::when`](crate::RetryIf::when) predicate).
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::Error;
    ///
    /// let err: Error<&str> = Error::Task { index: 0, source: "boom" };
    /// assert_eq!(err.task_error(), Some(&"boom"));
    /// let timeout: Error<&str> = Error::Timeout { index: 0, timeout: Duration::from_secs(1) };
    /// assert_eq!(timeout.task_error(), None);
    /// ```
    pub fn task_error(&self) -> Option<&E> {
        match self {
            Self::Task { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The task's own error, if this is [`Error::Task`].
    ///
    /// ```
    /// use perf_async::Error;
    ///
    /// let err: Error<&str> = Error::Task { index: 0, source: "boom" };
    /// assert_eq!(err.into_task_error(), Some("boom"));
    /// ```
    pub fn into_task_error(self) -> Option<E> {
        match self {
            Self::Task { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Error {
    /// Converts an error that cannot carry a task error (configuration, timeout, panic…) into one
    /// for any task error type, so `?` works in functions returning `Error<E>`.
    ///
    /// ```
    /// use perf_async::{Error, Parallel};
    ///
    /// fn build() -> Result<Parallel, Error<std::io::Error>> {
    ///     Parallel::builder().max_concurrent(0).build().map_err(Error::widen)
    /// }
    /// assert!(matches!(build(), Err(Error::InvalidConfig { field: "max_concurrent", .. })));
    /// ```
    pub fn widen<E>(self) -> Error<E> {
        match self {
            Self::InvalidConfig {
                field,
                value,
                allowed,
            } => Error::InvalidConfig {
                field,
                value,
                allowed,
            },
            Self::Task { source, .. } => match source {},
            Self::Timeout { index, timeout } => Error::Timeout { index, timeout },
            Self::Panicked { index, message } => Error::Panicked { index, message },
            Self::Cancelled { index } => Error::Cancelled { index },
            Self::NoRuntime => Error::NoRuntime,
        }
    }
}

impl<E> Error<E> {
    /// Reports a configuration error under the caller's own parameter name.
    pub(crate) fn renamed(self, from: &'static str, to: &'static str) -> Self {
        match self {
            Self::InvalidConfig {
                field,
                value,
                allowed,
            } if field == from => Self::InvalidConfig {
                field: to,
                value,
                allowed,
            },
            other => other,
        }
    }
}

/// Why one task failed, before the driver attaches the task's index.
#[derive(Debug)]
pub(crate) enum Failure<E> {
    Task(E),
    Timeout(Duration),
    Panicked(String),
    /// Already indexed: the last failure of a retried task, which its retry predicate and
    /// notify hook saw as an [`Error`].
    Indexed(Error<E>),
}

impl<E> Failure<E> {
    pub(crate) fn at(self, index: usize) -> Error<E> {
        match self {
            Self::Task(source) => Error::Task { index, source },
            Self::Timeout(timeout) => Error::Timeout { index, timeout },
            Self::Panicked(message) => Error::Panicked { index, message },
            Self::Indexed(error) => error,
        }
    }
}

/// The error for a limit, size or count of zero.
pub(crate) fn zero_not_allowed<E>(field: &'static str) -> Error<E> {
    Error::InvalidConfig {
        field,
        value: "0".to_owned(),
        allowed: "1..=usize::MAX".to_owned(),
    }
}
