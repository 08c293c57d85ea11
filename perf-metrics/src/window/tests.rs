use std::time::{Duration, Instant};

use super::*;

fn config() -> WindowConfig {
    WindowConfig {
        slot: Duration::from_secs(10),
        slots: 6,
        shards: 2,
    }
}

fn close(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a value");
    assert!(
        (actual - expected).abs() <= expected / 32.0,
        "{actual} is not within 1/32 of {expected}"
    );
}

#[test]
fn percentiles_of_known_data() {
    let start = Instant::now();
    let h = WindowedHistogram::new(config(), start);
    // 1 ms, 2 ms, ..., 1000 ms
    for ms in 1..=1000u32 {
        h.record(f64::from(ms) / 1000.0);
    }
    let stats = h.stats(start + Duration::from_secs(5));
    assert_eq!(stats.count, 1000);
    close(stats.p50, 0.500);
    close(stats.p95, 0.950);
    close(stats.p99, 0.990);
    assert_eq!(stats.max, Some(1.0));
    assert!(
        (stats.rate_per_second - 200.0).abs() < 1e-9,
        "{}",
        stats.rate_per_second
    );
    assert_eq!(stats.window, Duration::from_secs(60));
}

#[test]
fn empty_series_reports_no_percentiles() {
    let start = Instant::now();
    let h = WindowedHistogram::new(config(), start);
    let stats = h.stats(start + Duration::from_secs(1));
    assert_eq!(stats.count, 0);
    assert_eq!((stats.p50, stats.p99, stats.max), (None, None, None));
    assert_eq!(stats.rate_per_second, 0.0);
}

#[test]
fn old_slots_leave_the_window() {
    let start = Instant::now();
    let h = WindowedHistogram::new(config(), start);
    for _ in 0..100 {
        h.record(2.0);
    }
    h.rotate(start + Duration::from_secs(15)); // slot 1
    for _ in 0..50 {
        h.record(0.010);
    }
    let stats = h.stats(start + Duration::from_secs(59));
    assert_eq!(stats.count, 150);
    assert_eq!(stats.max, Some(2.0));

    // At 61 s slot 0 (the 2 s values) has been reused for epoch 6.
    let stats = h.stats(start + Duration::from_secs(61));
    assert_eq!(stats.count, 50);
    assert_eq!(stats.max, Some(0.010));
    close(stats.p99, 0.010);
    // 5 full slots + 1 s into the current one
    assert!((stats.rate_per_second - 50.0 / 51.0).abs() < 1e-9);

    // Far in the future everything is gone.
    let stats = h.stats(start + Duration::from_secs(3600));
    assert_eq!(stats.count, 0);
}

#[test]
fn values_outside_the_bucket_range_are_counted() {
    let start = Instant::now();
    let h = WindowedHistogram::new(config(), start);
    h.record(0.0);
    h.record(-1.0);
    h.record(f64::NAN);
    h.record(5000.0);
    let stats = h.stats(start);
    assert_eq!(stats.count, 4);
    assert_eq!(stats.max, Some(5000.0));
    assert_eq!(stats.p99, Some(5000.0));
}

#[test]
fn memory_is_fixed_by_the_configuration() {
    let start = Instant::now();
    let h = WindowedHistogram::new(config(), start);
    let before = h.memory_bytes();
    assert_eq!(before, config().bytes_per_series());
    for i in 0..200_000u32 {
        h.record(f64::from(i % 5000) / 1000.0);
    }
    assert_eq!(h.memory_bytes(), before);
    assert_eq!(h.stats(start).count, 200_000);
}

#[test]
fn two_threads_recording_into_one_series_lose_nothing() {
    let start = Instant::now();
    let h = WindowedHistogram::new(config(), start);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..50_000 {
                    h.record(0.003);
                }
            });
        }
    });
    assert_eq!(h.stats(start).count, 100_000);
}
