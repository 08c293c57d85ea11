//! The [`DetectBlocking`] future.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

pin_project! {
    /// A future that times each poll of the future it wraps and reports (tracing warn, and
    /// `async_slow_polls_total` with the `metrics` feature) every single poll longer than its
    /// threshold. See the [module docs](crate::blocking) for what is reported.
    ///
    /// Poll time is measured with the real clock (`std::time::Instant`), not tokio's: blocking is
    /// about the thread, which a paused tokio clock does not stop.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::DetectBlocking;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fut = DetectBlocking::new(async { 40 + 2 }, Duration::from_millis(10));
    /// assert_eq!(fut.threshold(), Duration::from_millis(10));
    /// assert_eq!(fut.location().file(), file!());
    /// assert_eq!(fut.await, 42);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct DetectBlocking<F> {
        #[pin]
        inner: F,
        threshold: Duration,
        location: &'static Location<'static>,
    }
}

impl<F> fmt::Debug for DetectBlocking<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectBlocking")
            .field("threshold", &self.threshold)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl<F> DetectBlocking<F> {
    /// Wraps `inner`; polls longer than `threshold` are reported with the caller's location.
    ///
    /// ```
    /// use std::time::Duration;
    /// let fut = perf_async::DetectBlocking::new(async {}, Duration::from_millis(5));
    /// assert_eq!(fut.location().line(), line!() - 1);
    /// ```
    #[track_caller]
    pub fn new(inner: F, threshold: Duration) -> Self {
        Self {
            inner,
            threshold,
            location: Location::caller(),
        }
    }

    /// The longest poll that is not reported.
    ///
    /// ```
    /// use std::time::Duration;
    /// let fut = perf_async::DetectBlocking::new(async {}, Duration::from_millis(3));
    /// assert_eq!(fut.threshold(), Duration::from_millis(3));
    /// ```
    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// Where the future was wrapped; reported as `location`.
    ///
    /// ```
    /// use perf_async::DetectBlockingExt;
    /// let fut = async {}.detect_blocking();
    /// assert_eq!(fut.location().file(), file!());
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The wrapped future.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut fut = perf_async::DetectBlocking::new(std::future::ready(1), Duration::from_millis(5));
    /// let _: &std::future::Ready<i32> = fut.get_ref();
    /// let _: &mut std::future::Ready<i32> = fut.get_mut();
    /// let _: std::future::Ready<i32> = fut.into_inner();
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.inner
    }

    /// The wrapped future, mutably.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut fut = perf_async::DetectBlocking::new(std::future::ready(1), Duration::from_millis(5));
    /// let _inner: &mut std::future::Ready<i32> = fut.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.inner
    }

    /// The wrapped future, pinned.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut fut = std::pin::pin!(perf_async::DetectBlocking::new(async { 1 }, Duration::from_millis(5)));
    /// let _inner = fut.as_mut().get_pin_mut();
    /// ```
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut F> {
        self.project().inner
    }

    /// Unwraps the future.
    ///
    /// ```
    /// use std::time::Duration;
    /// let fut = perf_async::DetectBlocking::new(std::future::ready(1), Duration::from_millis(5));
    /// let _inner: std::future::Ready<i32> = fut.into_inner();
    /// ```
    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<F: Future> Future for DetectBlocking<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let started = Instant::now();
        let poll = this.inner.poll(cx);
        let elapsed = started.elapsed();
        if elapsed > *this.threshold {
            report(this.location, elapsed, *this.threshold);
        }
        poll
    }
}

fn report(location: &'static Location<'static>, elapsed: Duration, threshold: Duration) {
    tracing::warn!(
        target: "perf_async::blocking",
        location = %location,
        ?elapsed,
        ?threshold,
        "a single poll blocked the executor thread for longer than the threshold"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("async_slow_polls_total").increment(1);
}
