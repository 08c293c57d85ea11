//! The stream adapter cuts chunks by size or by deadline, whichever comes first (paused clock).

use std::time::Duration;

use futures::StreamExt;
use perf_async::{ChunksTimeoutExt, Error, MAX_CHUNK_BYTES};
use tokio::sync::mpsc;

fn receiver_stream(rx: mpsc::Receiver<u32>) -> futures::stream::BoxStream<'static, u32> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

#[tokio::test(start_paused = true)]
async fn full_chunks_are_cut_by_size_without_waiting() {
    let start = tokio::time::Instant::now();
    let chunks: Vec<Vec<u32>> = futures::stream::iter(0..7)
        .chunks_timeout(3, Duration::from_secs(60))
        .unwrap()
        .collect()
        .await;
    assert_eq!(chunks, [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    assert_eq!(start.elapsed(), Duration::ZERO, "no deadline was needed");
}

#[tokio::test(start_paused = true)]
async fn a_partial_chunk_is_cut_at_the_deadline() {
    let (tx, rx) = mpsc::channel(16);
    let start = tokio::time::Instant::now();
    let producer = tokio::spawn(async move {
        tx.send(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send(2).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        tx.send(3).await.unwrap();
        // Keep the stream open past the deadline: ending it would flush the chunk at once.
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let mut chunks = receiver_stream(rx)
        .chunks_timeout(100, Duration::from_millis(50))
        .unwrap();

    // The deadline counts from the chunk's first item (t = 0), not from the last one.
    assert_eq!(chunks.next().await, Some(vec![1, 2]));
    assert_eq!(start.elapsed(), Duration::from_millis(50));

    // The next chunk gets a fresh deadline from its own first item (t = 520).
    assert_eq!(chunks.next().await, Some(vec![3]));
    assert_eq!(start.elapsed(), Duration::from_millis(570));

    producer.await.unwrap();
    assert_eq!(chunks.next().await, None, "no empty chunk at the end");
}

#[tokio::test(start_paused = true)]
async fn size_wins_when_items_arrive_before_the_deadline() {
    let (tx, rx) = mpsc::channel(16);
    let producer = tokio::spawn(async move {
        for i in 0..5 {
            tx.send(i).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let start = tokio::time::Instant::now();
    let mut chunks = receiver_stream(rx)
        .chunks_timeout(2, Duration::from_millis(1000))
        .unwrap();
    assert_eq!(chunks.next().await, Some(vec![0, 1]));
    assert_eq!(start.elapsed(), Duration::from_millis(10));
    assert_eq!(chunks.next().await, Some(vec![2, 3]));
    // The last item is flushed when the stream ends, not after the deadline.
    assert_eq!(chunks.next().await, Some(vec![4]));
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert_eq!(chunks.next().await, None);
    producer.await.unwrap();
}

#[test]
fn invalid_sizes_are_errors() {
    let zero_size = futures::stream::iter([1]).chunks_timeout(0, Duration::from_secs(1));
    assert!(matches!(
        zero_size,
        Err(Error::InvalidConfig {
            field: "max_size",
            ..
        })
    ));
    let zero_wait = futures::stream::iter([1]).chunks_timeout(1, Duration::ZERO);
    assert!(matches!(
        zero_wait,
        Err(Error::InvalidConfig {
            field: "max_wait",
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_size_whose_chunk_would_reserve_too_much_is_an_error_not_an_abort() {
    // Each chunk reserves `max_size` items up front: usize::MAX u64s cannot be reserved.
    let huge = futures::stream::iter([1u64]).chunks_timeout(usize::MAX, Duration::from_secs(1));
    let largest = MAX_CHUNK_BYTES / 8;
    assert_eq!(
        huge.unwrap_err().to_string(),
        format!(
            "invalid `max_size`: got {}, allowed: 1..={largest} (a chunk reserves max_size × 8 \
             bytes, at most MAX_CHUNK_BYTES)",
            usize::MAX
        )
    );
    let just_over =
        futures::stream::iter([1u64]).chunks_timeout(largest + 1, Duration::from_secs(1));
    assert!(matches!(
        just_over,
        Err(Error::InvalidConfig {
            field: "max_size",
            ..
        })
    ));
    // The largest allowed size is accepted and works.
    let mut at_limit = futures::stream::iter([1u64, 2])
        .chunks_timeout(largest, Duration::from_secs(1))
        .unwrap();
    assert_eq!(at_limit.next().await, Some(vec![1, 2]));
    // Zero-sized items reserve nothing: any size is fine.
    assert!(
        futures::stream::iter([()])
            .chunks_timeout(usize::MAX, Duration::from_secs(1))
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn the_adapter_is_unpin_and_fused_even_over_an_unpin_less_stream() {
    fn assert_unpin<T: Unpin>(_: &T) {}
    // `then` with an async block makes a stream that is not `Unpin`.
    let inner = futures::stream::iter(0..3).then(|i| async move { i });
    let mut chunks = inner.chunks_timeout(2, Duration::from_millis(10)).unwrap();
    assert_unpin(&chunks);
    assert_eq!(chunks.next().await, Some(vec![0, 1]));
    assert_eq!(chunks.next().await, Some(vec![2]));
    assert!(!futures::stream::FusedStream::is_terminated(&chunks));
    assert_eq!(chunks.next().await, None);
    assert!(futures::stream::FusedStream::is_terminated(&chunks));
    assert_eq!(
        chunks.next().await,
        None,
        "polling past the end stays at the end"
    );
}
