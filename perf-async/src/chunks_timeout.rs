//! A stream adapter that cuts chunks by size or by deadline, whichever comes first.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep};

use crate::error::{Error, Result, zero_not_allowed};

pin_project! {
    /// Stream of `Vec` chunks cut from an inner stream: a chunk is emitted when it holds
    /// `max_size` items or when `max_wait` has passed since its first item, whichever comes
    /// first, and the last partial chunk is emitted when the inner stream ends. Never emits an
    /// empty chunk.
    ///
    /// Made by [`ChunksTimeoutExt::chunks_timeout`]; uses tokio's clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use perf_async::ChunksTimeoutExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> perf_async::Result<()> {
    /// let chunks: Vec<Vec<u32>> = futures::stream::iter(0..5)
    ///     .chunks_timeout(2, Duration::from_millis(100))?
    ///     .collect()
    ///     .await;
    /// assert_eq!(chunks, [vec![0, 1], vec![2, 3], vec![4]]);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct ChunksTimeout<S: Stream> {
        #[pin]
        stream: S,
        // Boxed so the adapter is `Unpin` when the stream is; allocated once, then reset.
        deadline: Option<Pin<Box<Sleep>>>,
        armed: bool,
        buffer: Vec<S::Item>,
        max_size: usize,
        max_wait: Duration,
        finished: bool,
    }
}

impl<S: Stream> fmt::Debug for ChunksTimeout<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunksTimeout")
            .field("max_size", &self.max_size)
            .field("max_wait", &self.max_wait)
            .field("buffered", &self.buffer.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<S: Stream> ChunksTimeout<S> {
    /// Wraps `stream`; see [`ChunksTimeoutExt::chunks_timeout`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `max_size` is 0 or `max_wait` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::ChunksTimeout;
    ///
    /// let chunks = ChunksTimeout::new(futures::stream::iter([1, 2, 3]), 2, Duration::from_secs(1));
    /// assert!(chunks.is_ok());
    /// assert!(ChunksTimeout::new(futures::stream::iter([1]), 0, Duration::from_secs(1)).is_err());
    /// ```
    pub fn new(stream: S, max_size: usize, max_wait: Duration) -> Result<Self> {
        if max_size == 0 {
            return Err(zero_not_allowed("max_size"));
        }
        if max_wait.is_zero() {
            return Err(Error::InvalidConfig {
                field: "max_wait",
                value: "0s".to_owned(),
                allowed: "above zero".to_owned(),
            });
        }
        Ok(Self {
            stream,
            deadline: None,
            armed: false,
            buffer: Vec::new(),
            max_size,
            max_wait,
            finished: false,
        })
    }

    /// The inner stream.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::ChunksTimeoutExt;
    /// let chunks = futures::stream::iter([1, 2]).chunks_timeout(2, Duration::from_secs(1)).unwrap();
    /// assert_eq!(futures::Stream::size_hint(chunks.get_ref()), (2, Some(2)));
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The inner stream, mutably. Pulling items from it directly bypasses the chunking.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::ChunksTimeoutExt;
    /// let mut chunks = futures::stream::iter([1, 2]).chunks_timeout(2, Duration::from_secs(1)).unwrap();
    /// let _inner = chunks.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The inner stream; items buffered in an unfinished chunk are dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::ChunksTimeoutExt;
    /// let chunks = futures::stream::iter([1, 2]).chunks_timeout(2, Duration::from_secs(1)).unwrap();
    /// let _inner = chunks.into_inner();
    /// ```
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Stream> Stream for ChunksTimeout<S> {
    type Item = Vec<S::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.finished {
            return Poll::Ready(None);
        }
        // At most `max_size` items are taken per call, so this loop cannot starve the executor.
        loop {
            match this.stream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if this.buffer.is_empty() {
                        arm(this.deadline, *this.max_wait);
                        *this.armed = true;
                    }
                    this.buffer.push(item);
                    if this.buffer.len() >= *this.max_size {
                        *this.armed = false;
                        return Poll::Ready(Some(std::mem::take(this.buffer)));
                    }
                }
                Poll::Ready(None) => {
                    *this.finished = true;
                    *this.armed = false;
                    let last = std::mem::take(this.buffer);
                    return Poll::Ready((!last.is_empty()).then_some(last));
                }
                Poll::Pending => break,
            }
        }
        if *this.armed
            && let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            *this.armed = false;
            return Poll::Ready(Some(std::mem::take(this.buffer)));
        }
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        let (low, high) = self.stream.size_hint();
        let buffered = self.buffer.len();
        let low = low.saturating_add(buffered).div_ceil(self.max_size);
        // Deadlines may cut a chunk per item, so the upper bound is one chunk per item.
        let high = high.and_then(|high| high.checked_add(buffered));
        (low, high)
    }
}

/// Starts the deadline for a new chunk, reusing the timer after the first chunk.
fn arm(deadline: &mut Option<Pin<Box<Sleep>>>, max_wait: Duration) {
    match deadline {
        Some(sleep) => sleep.as_mut().reset(Instant::now() + max_wait),
        None => *deadline = Some(Box::pin(sleep(max_wait))),
    }
}

impl<S: Stream> FusedStream for ChunksTimeout<S> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

/// Adds [`chunks_timeout`](ChunksTimeoutExt::chunks_timeout) to every [`Stream`].
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use perf_async::ChunksTimeoutExt;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> perf_async::Result<()> {
/// // An ingest pipeline: rows arrive over time, are cut into chunks of up to 500 rows or
/// // 50 ms, and up to 4 chunks are written at once.
/// let (tx, rx) = tokio::sync::mpsc::channel::<u64>(1024);
/// tokio::spawn(async move {
///     for row in 0..1200 {
///         if tx.send(row).await.is_err() { break; }
///     }
/// });
/// let rows = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
/// let written: usize = rows
///     .chunks_timeout(500, Duration::from_millis(50))?
///     .map(|chunk| async move { chunk.len() }) // e.g. one multi-row INSERT
///     .buffer_unordered(4)
///     .fold(0, |sum, n| async move { sum + n })
///     .await;
/// assert_eq!(written, 1200);
/// # Ok(())
/// # }
/// ```
pub trait ChunksTimeoutExt: Stream + Sized {
    /// Cuts the stream into chunks of at most `max_size` items, emitting a partial chunk when
    /// `max_wait` (tokio time) has passed since its first item.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `max_size` is 0 or `max_wait` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use perf_async::ChunksTimeoutExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> perf_async::Result<()> {
    /// let mut chunks = futures::stream::iter(0..3).chunks_timeout(10, Duration::from_millis(5))?;
    /// assert_eq!(chunks.next().await, Some(vec![0, 1, 2])); // the stream ended first
    /// assert!(futures::stream::iter(0..3).chunks_timeout(0, Duration::from_millis(5)).is_err());
    /// # Ok(())
    /// # }
    /// ```
    fn chunks_timeout(self, max_size: usize, max_wait: Duration) -> Result<ChunksTimeout<Self>> {
        ChunksTimeout::new(self, max_size, max_wait)
    }
}

impl<S: Stream> ChunksTimeoutExt for S {}
