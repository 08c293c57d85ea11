//! [`ChunksTimeout`]: a stream cut into chunks by size or by deadline, whichever comes first
//! (tokio-stream's `chunks_timeout`, with validated arguments).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FusedStream, Stream};

use crate::error::{Error, Result, zero_not_allowed};

/// The most memory one chunk of [`ChunksTimeout`] may reserve up front: 256 MiB of items
/// (their inline size, `size_of::<Item>()`; what they own on the heap is not counted).
///
/// ```
/// use std::time::Duration;
/// use perf_async::{ChunksTimeoutExt, MAX_CHUNK_BYTES};
///
/// let items = futures::stream::iter([[0u8; 1024]]);
/// assert!(items.chunks_timeout(MAX_CHUNK_BYTES / 1024 + 1, Duration::from_secs(1)).is_err());
/// ```
pub const MAX_CHUNK_BYTES: usize = 256 * 1024 * 1024;

/// Stream of `Vec` chunks cut from an inner stream: a chunk is emitted when it holds
/// `max_size` items or when `max_wait` has passed since its first item, whichever comes first,
/// and the last partial chunk is emitted when the inner stream ends. Never emits an empty chunk.
///
/// Made by [`ChunksTimeoutExt::chunks_timeout`]. A thin wrapper over `tokio-stream`'s
/// `StreamExt::chunks_timeout` that adds what that one lacks: a zero size or wait is an
/// [`Error::InvalidConfig`] instead of a panic or a stream that never waits, and the adapter
/// is `Unpin` (the tokio-stream adapter is boxed once, here), so `.next().await` works without
/// pinning. Uses tokio's clock.
///
/// tokio-stream reserves room for `max_size` items up front, for each chunk (which saves
/// regrowing the `Vec` as it fills): `max_size` is the largest chunk you want, not a number
/// to set very high for "deadline only". A `max_size` whose reservation would exceed
/// [`MAX_CHUNK_BYTES`] is refused, rather than aborting the process on allocation failure.
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
    inner: Pin<Box<tokio_stream::adapters::ChunksTimeout<S>>>,
    max_size: usize,
    max_wait: Duration,
    finished: bool,
}

impl<S: Stream> fmt::Debug for ChunksTimeout<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunksTimeout")
            .field("max_size", &self.max_size)
            .field("max_wait", &self.max_wait)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<S: Stream> ChunksTimeout<S> {
    /// Wraps `stream`; see [`ChunksTimeoutExt::chunks_timeout`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `max_size` is 0 or a chunk of it would reserve more than
    /// [`MAX_CHUNK_BYTES`], or `max_wait` is zero.
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
        let item_bytes = size_of::<S::Item>();
        let largest = MAX_CHUNK_BYTES
            .checked_div(item_bytes)
            .unwrap_or(usize::MAX);
        if max_size > largest {
            return Err(Error::InvalidConfig {
                field: "max_size",
                value: max_size.to_string(),
                allowed: format!(
                    "1..={largest} (a chunk reserves max_size × {item_bytes} bytes, at most MAX_CHUNK_BYTES)"
                ),
            });
        }
        if max_wait.is_zero() {
            return Err(Error::InvalidConfig {
                field: "max_wait",
                value: "0s".to_owned(),
                allowed: "above zero".to_owned(),
            });
        }
        Ok(Self {
            inner: Box::pin(tokio_stream::StreamExt::chunks_timeout(
                stream, max_size, max_wait,
            )),
            max_size,
            max_wait,
            finished: false,
        })
    }

    /// Most items in one chunk.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::ChunksTimeoutExt;
    /// let chunks = futures::stream::iter([1, 2]).chunks_timeout(2, Duration::from_secs(1)).unwrap();
    /// assert_eq!(chunks.get_max_size(), 2);
    /// ```
    #[must_use]
    pub fn get_max_size(&self) -> usize {
        self.max_size
    }

    /// Longest wait from a chunk's first item to its emission.
    ///
    /// ```
    /// use std::time::Duration;
    /// use perf_async::ChunksTimeoutExt;
    /// let chunks = futures::stream::iter([1, 2]).chunks_timeout(2, Duration::from_secs(1)).unwrap();
    /// assert_eq!(chunks.get_max_wait(), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn get_max_wait(&self) -> Duration {
        self.max_wait
    }
}

impl<S: Stream> Stream for ChunksTimeout<S> {
    type Item = Vec<S::Item>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next {
            self.finished = true;
        }
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            (0, Some(0))
        } else {
            self.inner.size_hint()
        }
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
    /// [`Error::InvalidConfig`] when `max_size` is 0 or a chunk of it would reserve more than
    /// [`MAX_CHUNK_BYTES`], or `max_wait` is zero.
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
