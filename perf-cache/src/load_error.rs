//! [`LoadError`] and [`LoadTimeout`]: what a load with options can end in besides a value.

use std::sync::Arc;
use std::time::Duration;

/// A load gave up waiting: its hard timeout passed before the loader finished. The load goes
/// on in the background and stores its value when it finishes (see
/// [`CacheBuilder::hard_timeout`](crate::CacheBuilder::hard_timeout)).
///
/// `#[cached(hard_timeout = "2s")]` functions return it through their own error type, which
/// must implement `From<LoadTimeout>`:
///
/// ```
/// use perf_cache::LoadTimeout;
///
/// #[derive(Debug)]
/// enum DbError { Timeout(LoadTimeout) }
/// impl From<LoadTimeout> for DbError {
///     fn from(t: LoadTimeout) -> Self { DbError::Timeout(t) }
/// }
///
/// #[perf_cache::cached(hard_timeout = "2s")] // owned arguments only
/// async fn row(id: u64) -> Result<String, DbError> { Ok(format!("row {id}")) }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(row(1).await.unwrap(), "row 1");
/// let t: DbError = LoadTimeout::new(std::time::Duration::from_secs(2)).into();
/// assert_eq!(format!("{t:?}"), "Timeout(LoadTimeout { after: 2s })");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the load timed out after {after:?} (it goes on in the background)")]
#[non_exhaustive]
pub struct LoadTimeout {
    /// The hard timeout that passed.
    pub after: Duration,
}

impl LoadTimeout {
    /// A timeout after `after` (for tests of code that handles it).
    ///
    /// ```
    /// let t = perf_cache::LoadTimeout::new(std::time::Duration::from_millis(250));
    /// assert_eq!(t.to_string(), "the load timed out after 250ms (it goes on in the background)");
    /// ```
    #[must_use]
    pub const fn new(after: Duration) -> Self {
        Self { after }
    }
}

/// `io::Result` functions can take a hard timeout as they are: it becomes an error of kind
/// [`TimedOut`](std::io::ErrorKind::TimedOut) carrying the [`LoadTimeout`].
///
/// ```
/// #[perf_cache::cached(hard_timeout = "2s")]
/// async fn read_config(name: String) -> std::io::Result<String> { Ok(name) }
///
/// let e = std::io::Error::from(perf_cache::LoadTimeout::new(std::time::Duration::from_secs(2)));
/// assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
/// assert!(e.get_ref().is_some_and(|inner| inner.is::<perf_cache::LoadTimeout>()));
/// ```
impl From<LoadTimeout> for std::io::Error {
    fn from(t: LoadTimeout) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, t)
    }
}

/// Why [`Cache::try_get_or_load_with`](crate::Cache::try_get_or_load_with) or
/// [`Cache::get_or_load_with`](crate::Cache::get_or_load_with) returned no value.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use std::time::Duration;
/// use perf_cache::{Cache, Key, LoadError, LoadOptions};
///
/// let cache = Cache::<u64>::builder().build().await?;
/// let options = LoadOptions::default().hard_timeout(Duration::from_millis(20));
/// let r = cache
///     .try_get_or_load_with(&Key::new("slow"), options, || async {
///         tokio::time::sleep(Duration::from_secs(60)).await;
///         Ok::<u64, std::io::Error>(1)
///     })
///     .await;
/// assert!(matches!(r, Err(LoadError::TimedOut { after }) if after == Duration::from_millis(20)));
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError<E> {
    /// The loader failed (this caller's loader, or the one it waited on); never cached.
    Loader(Arc<E>),
    /// The hard timeout passed; the load goes on in the background.
    TimedOut {
        /// The hard timeout that passed.
        after: Duration,
    },
    /// The [`LoadOptions`](crate::LoadOptions) were out of range
    /// ([`Error::InvalidConfig`](crate::Error::InvalidConfig) naming the field); nothing ran.
    InvalidOptions(crate::Error),
}

impl<E> LoadError<E> {
    /// The loader's error, if that is what this is.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let e = perf_cache::LoadError::Loader(Arc::new("db down"));
    /// assert_eq!(e.loader_error().map(|e| **e), Some("db down"));
    /// ```
    #[must_use]
    pub fn loader_error(&self) -> Option<&Arc<E>> {
        match self {
            Self::Loader(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the hard timeout passed.
    ///
    /// ```
    /// let e = perf_cache::LoadError::<String>::from(perf_cache::LoadTimeout::new(
    ///     std::time::Duration::from_secs(1),
    /// ));
    /// assert!(e.is_timeout());
    /// ```
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
    }
}

impl<E> From<LoadTimeout> for LoadError<E> {
    fn from(t: LoadTimeout) -> Self {
        Self::TimedOut { after: t.after }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Loader(e) => write!(f, "the loader failed: {e}"),
            Self::TimedOut { after } => std::fmt::Display::fmt(&LoadTimeout::new(*after), f),
            Self::InvalidOptions(e) => write!(f, "invalid load options: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LoadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Loader(e) => Some(&**e),
            Self::TimedOut { .. } => None,
            Self::InvalidOptions(e) => Some(e),
        }
    }
}
