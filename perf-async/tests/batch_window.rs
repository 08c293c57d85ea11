//! batch_process keeps its window full under heavy-tailed durations; the seed's
//! barrier-per-batch algorithm, measured the same way, does not.

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{InFlight, heavy_tailed_ms};
use perf_async::batch_process;

const ITEMS: usize = 600;
const WINDOW: usize = 16;

/// One observation: tasks admitted and not finished, and how many were admitted so far.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    in_flight: usize,
    admitted: usize,
}

/// Runs `work` while a monitor task samples the in-flight count every paused millisecond.
async fn sampled<F: Future>(in_flight: &InFlight, work: F) -> (F::Output, Vec<Sample>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let monitor = {
        let samples = Arc::clone(&samples);
        let in_flight = in_flight.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(500));
            loop {
                tick.tick().await;
                samples.lock().unwrap().push(Sample {
                    in_flight: in_flight.now(),
                    admitted: in_flight.entered(),
                });
            }
        })
    };
    let output = work.await;
    monitor.abort();
    let samples = samples.lock().unwrap().clone();
    (output, samples)
}

/// The processor counts an item as in flight from the moment it is admitted (the processor
/// is called) until its future finishes.
fn processor(
    in_flight: &InFlight,
) -> impl FnMut(usize) -> std::pin::Pin<Box<dyn Future<Output = usize>>> + '_ {
    move |i| {
        let guard = in_flight.enter();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(heavy_tailed_ms(i))).await;
            drop(guard);
            i
        })
    }
}

/// Samples taken while items were still waiting for admission but the window was not full.
fn stalls(samples: &[Sample]) -> Vec<Sample> {
    samples
        .iter()
        .copied()
        .filter(|s| s.admitted < ITEMS && s.in_flight < WINDOW)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn batch_process_keeps_the_window_full_while_work_remains() {
    let in_flight = InFlight::default();
    let (out, samples) = sampled(
        &in_flight,
        batch_process(0..ITEMS, WINDOW, processor(&in_flight)),
    )
    .await;
    assert_eq!(out.unwrap(), (0..ITEMS).collect::<Vec<_>>());
    let while_work_remains = samples.iter().filter(|s| s.admitted < ITEMS).count();
    assert!(
        while_work_remains > 20,
        "monitor saw too little: {while_work_remains} samples"
    );
    assert_eq!(
        stalls(&samples),
        [],
        "the window dropped below {WINDOW} while items waited"
    );
    assert_eq!(in_flight.max(), WINDOW);
}

#[tokio::test(start_paused = true)]
async fn the_seed_barrier_algorithm_stalls_under_the_same_monitor() {
    // Control: proves the monitor can see a stall, so the test above is meaningful.
    let in_flight = InFlight::default();
    let items: Vec<usize> = (0..ITEMS).collect();
    let mut process = processor(&in_flight);
    let barrier = async {
        let mut out = Vec::with_capacity(ITEMS);
        for chunk in items.chunks(WINDOW) {
            out.extend(futures::future::join_all(chunk.iter().map(|&i| process(i))).await);
        }
        out
    };
    let (out, samples) = sampled(&in_flight, barrier).await;
    assert_eq!(out, items);
    assert!(
        stalls(&samples).len() > 20,
        "expected the barrier to leave the window underfull"
    );
}

#[tokio::test(start_paused = true)]
async fn sliding_window_finishes_sooner_than_the_barrier_in_paused_time() {
    // Paused (virtual) time: deterministic, not wall-clock.
    let in_flight = InFlight::default();
    let start = tokio::time::Instant::now();
    batch_process(0..ITEMS, WINDOW, processor(&in_flight))
        .await
        .unwrap();
    let sliding = start.elapsed();

    let items: Vec<usize> = (0..ITEMS).collect();
    let mut process = processor(&in_flight);
    let start = tokio::time::Instant::now();
    for chunk in items.chunks(WINDOW) {
        futures::future::join_all(chunk.iter().map(|&i| process(i))).await;
    }
    let barrier = start.elapsed();
    assert!(
        sliding * 2 < barrier,
        "sliding {sliding:?} vs barrier {barrier:?}"
    );
}
