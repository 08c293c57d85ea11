//! The blocking detector warns on a poll that blocks the thread and stays quiet on waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use perf_async::{DetectBlocking, DetectBlockingExt};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Records the `location` field of every event from the detector.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    fn locations(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

struct LocationField(Option<String>);

impl Visit for LocationField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "location" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if metadata.target() == "perf_async::blocking" && *metadata.level() == tracing::Level::WARN
        {
            let mut location = LocationField(None);
            event.record(&mut location);
            self.0.lock().unwrap().push(location.0.unwrap_or_default());
        }
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    (captured, tracing::subscriber::set_default(subscriber))
}

// Current-thread runtimes: every poll happens on this thread, under the thread-local subscriber.

#[tokio::test]
async fn fires_on_a_thread_sleep_with_the_callers_location() {
    let (captured, _guard) = capture();
    let blocking = async {
        std::thread::sleep(Duration::from_millis(25));
        7
    };
    let line = line!() + 1;
    let wrapped = blocking.detect_blocking();
    assert_eq!(wrapped.await, 7);
    let locations = captured.locations();
    assert_eq!(locations.len(), 1, "{locations:?}");
    let expected = format!("tests/blocking.rs:{line}:");
    assert!(
        locations[0].contains(&expected),
        "{locations:?} should name {expected}"
    );
}

#[tokio::test]
async fn reports_each_slow_poll_not_each_future() {
    let (captured, _guard) = capture();
    // Wide margins on both sides: slow polls sleep 40 ms, the quick ones have 25 ms of slack.
    let threshold = Duration::from_millis(25);
    DetectBlocking::new(
        async {
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(40));
                tokio::task::yield_now().await;
            }
        },
        threshold,
    )
    .await;
    // Three polls slept, the final poll (after the last yield) did not.
    assert_eq!(captured.locations().len(), 3);
}

#[tokio::test]
async fn stays_quiet_on_tokio_sleep() {
    let (captured, _guard) = capture();
    // Waits 180 ms in total, longer than the threshold, but every poll returns at once.
    async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    }
    .detect_blocking_over(Duration::from_millis(50))
    .await;
    tokio::time::sleep(Duration::from_millis(30))
        .detect_blocking()
        .await;
    assert_eq!(captured.locations(), Vec::<String>::new());
}
