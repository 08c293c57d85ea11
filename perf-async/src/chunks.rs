//! `process_chunks`: the processor receives whole chunks, several chunks in flight.

use std::future::Future;

use crate::error::{Result, zero_not_allowed};
use crate::run_parallel::run_parallel;

/// Splits `items` into chunks of `chunk_size` (the last may be shorter) and runs `processor` on
/// each whole chunk with at most `max_concurrent` chunks in flight; outputs in chunk order.
///
/// Use it when the unit of work is a group, e.g. one multi-row `INSERT` per chunk. Chunks are
/// cut lazily, only when admitted, and a new chunk starts as soon as any running chunk
/// finishes. The processor's futures may borrow ([local mode](crate::Parallel::local)). For a
/// stream whose items arrive over time, cut chunks with
/// [`ChunksTimeoutExt::chunks_timeout`](crate::ChunksTimeoutExt::chunks_timeout).
///
/// # Errors
/// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming `chunk_size` or
/// `max_concurrent` when it is 0.
///
/// ```
/// use perf_async::process_chunks;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> perf_async::Result<()> {
/// let rows: Vec<u32> = (0..10).collect();
/// // Each call gets up to 4 rows, as one multi-row INSERT would; 2 inserts in flight.
/// let inserted = process_chunks(rows, 4, 2, |chunk: Vec<u32>| async move { chunk.len() }).await?;
/// assert_eq!(inserted, [4, 4, 2]);
/// # Ok(())
/// # }
/// ```
pub async fn process_chunks<I, F, Fut>(
    items: I,
    chunk_size: usize,
    max_concurrent: usize,
    processor: F,
) -> Result<Vec<Fut::Output>>
where
    I: IntoIterator,
    F: FnMut(Vec<I::Item>) -> Fut,
    Fut: Future,
{
    if chunk_size == 0 {
        return Err(zero_not_allowed("chunk_size"));
    }
    let chunks = Chunks {
        items: items.into_iter(),
        size: chunk_size,
    };
    run_parallel(chunks.map(processor), max_concurrent).await
}

/// Cuts an iterator into `Vec`s of `size` items, the last one possibly shorter.
struct Chunks<I> {
    items: I,
    size: usize,
}

impl<I: Iterator> Iterator for Chunks<I> {
    type Item = Vec<I::Item>;

    fn next(&mut self) -> Option<Self::Item> {
        let chunk: Vec<I::Item> = self.items.by_ref().take(self.size).collect();
        (!chunk.is_empty()).then_some(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (low, high) = self.items.size_hint();
        (
            low.div_ceil(self.size),
            high.map(|high| high.div_ceil(self.size)),
        )
    }
}
