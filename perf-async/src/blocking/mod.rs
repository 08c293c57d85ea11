//! Blocking detection: find the futures whose single poll holds an executor thread too long.
//!
//! An async task must return from `poll` quickly; a blocking call inside (`std::thread::sleep`,
//! synchronous file or network I/O, a long CPU loop, a contended `std::sync::Mutex`) stalls every
//! other task on that worker thread. [`DetectBlocking`] times each poll of the future it wraps
//! and reports any poll longer than a threshold (default [`DEFAULT_THRESHOLD`], 10 ms):
//!
//! - a `tracing` warning (target `perf_async::blocking`) with fields `location` (the caller
//!   that wrapped the future, via `#[track_caller]`), `elapsed` and `threshold`;
//! - with the `metrics` feature, the counter `async_slow_polls_total` through the `metrics`
//!   facade (no recorder is installed by this crate).
//!
//! Waiting (`tokio::time::sleep`, I/O readiness) is not blocking: the future returns `Pending`
//! and the poll is short, so it is never reported.

mod future;

use std::future::Future;
use std::time::Duration;

pub use self::future::DetectBlocking;

/// The threshold used by [`DetectBlockingExt::detect_blocking`]: 10 ms.
///
/// ```
/// assert_eq!(perf_async::DEFAULT_THRESHOLD, std::time::Duration::from_millis(10));
/// ```
pub const DEFAULT_THRESHOLD: Duration = Duration::from_millis(10);

/// Wraps any future in a [`DetectBlocking`].
///
/// ```
/// use std::time::Duration;
/// use perf_async::DetectBlockingExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Quiet: waiting on a timer is not blocking.
/// tokio::time::sleep(Duration::from_millis(20)).detect_blocking().await;
/// // Reported with this line as `location`: the whole poll sleeps the thread.
/// async { std::thread::sleep(Duration::from_millis(2)) }
///     .detect_blocking_over(Duration::from_millis(1))
///     .await;
/// # }
/// ```
pub trait DetectBlockingExt: Future + Sized {
    /// Reports polls longer than [`DEFAULT_THRESHOLD`] (10 ms), located at the caller.
    ///
    /// ```
    /// use perf_async::DetectBlockingExt;
    /// let fut = async { 1 }.detect_blocking();
    /// assert_eq!(fut.threshold(), perf_async::DEFAULT_THRESHOLD);
    /// ```
    #[track_caller]
    fn detect_blocking(self) -> DetectBlocking<Self> {
        DetectBlocking::new(self, DEFAULT_THRESHOLD)
    }

    /// Reports polls longer than `threshold`, located at the caller.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::DetectBlockingExt;
    /// let fut = async { 1 }.detect_blocking_over(Duration::from_millis(50));
    /// assert_eq!(fut.threshold(), Duration::from_millis(50));
    /// ```
    #[track_caller]
    fn detect_blocking_over(self, threshold: Duration) -> DetectBlocking<Self> {
        DetectBlocking::new(self, threshold)
    }
}

impl<F: Future> DetectBlockingExt for F {}
