//! With the `metrics` feature, each slow poll increments `async_slow_polls_total`.

#![cfg(feature = "metrics")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use perf_async::DetectBlockingExt;

/// Counts increments of `async_slow_polls_total`; every other metric is ignored.
#[derive(Default)]
struct SlowPolls(Arc<AtomicU64>);

impl Recorder for SlowPolls {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() == "async_slow_polls_total" {
            Counter::from_arc(Arc::clone(&self.0))
        } else {
            Counter::noop()
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn slow_polls_are_counted_and_fast_ones_are_not() {
    let recorder = SlowPolls::default();
    let count = Arc::clone(&recorder.0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // The local recorder is per thread; a current-thread runtime polls on this thread.
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            async { std::thread::sleep(Duration::from_millis(25)) }
                .detect_blocking()
                .await;
            tokio::time::sleep(Duration::from_millis(30))
                .detect_blocking_over(Duration::from_millis(25))
                .await;
        });
    });
    assert_eq!(count.load(Ordering::SeqCst), 1);
}
