//! Memory stays bounded over a million records while upkeep runs, and grows without it.
//!
//! One test in its own binary so no other test allocates while the counting allocator is read.

use std::alloc::System;
use std::time::Duration;

use cap::Cap;
use perf_metrics::Metrics;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const RECORDS: u32 = 1_000_000;
const BATCH: u32 = 10_000;
/// Raw samples the exporter buffers are 16 bytes each; a million would be ~16 MB.
const BOUND: usize = 2 * 1024 * 1024;

fn value(i: u32) -> f64 {
    f64::from(i % 2000) / 1000.0
}

/// Blocks until the upkeep thread has completed two more passes (so one started after now).
fn wait_for_upkeep(metrics: &Metrics) {
    let target = metrics.upkeep_runs() + 2;
    while metrics.upkeep_runs() < target {
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_million_records_stay_bounded_with_upkeep_and_grow_without() {
    // With the upkeep thread running every 10 ms.
    let metrics = Metrics::builder()
        .upkeep_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let histogram = metrics::with_local_recorder(
        &metrics.recorder(),
        || metrics::histogram!("request_duration_seconds", "endpoint" => "/api/scans/{id}"),
    );
    histogram.record(0.001);
    wait_for_upkeep(&metrics);
    let window_bytes = metrics.window_memory_bytes();
    let baseline = ALLOCATOR.allocated();
    let mut peak = baseline;
    for batch in 0..RECORDS / BATCH {
        for i in 0..BATCH {
            histogram.record(value(batch * BATCH + i));
        }
        peak = peak.max(ALLOCATOR.allocated());
        wait_for_upkeep(&metrics);
    }
    let growth = peak.saturating_sub(baseline);
    println!("with upkeep: peak growth {growth} bytes over {RECORDS} records");
    assert!(growth < BOUND, "grew {growth} bytes with upkeep running");
    assert_eq!(
        metrics.window_memory_bytes(),
        window_bytes,
        "window storage is fixed"
    );
    assert_eq!(metrics.histogram_series(), 1);
    assert_eq!(metrics.snapshot().series[0].count, u64::from(RECORDS) + 1);
    let count_line = metrics
        .render()
        .lines()
        .find(|l| l.starts_with("request_duration_seconds_count"))
        .map(str::to_owned)
        .unwrap();
    assert!(
        count_line.ends_with(&format!(" {}", RECORDS + 1)),
        "{count_line}"
    );

    // Control: the same load with upkeep far away buffers every raw sample ...
    let idle = Metrics::builder()
        .window(Duration::from_secs(3600))
        .upkeep_interval(Duration::from_secs(300))
        .build()
        .unwrap();
    let histogram = metrics::with_local_recorder(
        &idle.recorder(),
        || metrics::histogram!("request_duration_seconds", "endpoint" => "/api/scans/{id}"),
    );
    histogram.record(0.001);
    idle.run_upkeep();
    let baseline = ALLOCATOR.allocated();
    for i in 0..RECORDS {
        histogram.record(value(i));
    }
    let buffered = ALLOCATOR.allocated().saturating_sub(baseline);
    println!("without upkeep: {buffered} bytes buffered for {RECORDS} records");
    assert!(
        buffered > 4 * BOUND,
        "expected the exporter to buffer raw samples, grew {buffered}"
    );
    // ... which upkeep drains. The exporter's buffers free drained blocks through epoch-based
    // reclamation, so the memory comes back within a few more passes, not necessarily the first.
    let mut passes = 0;
    let mut after = usize::MAX;
    while passes < 100 && after >= BOUND {
        idle.run_upkeep();
        histogram.record(0.001);
        passes += 1;
        after = ALLOCATOR.allocated().saturating_sub(baseline);
    }
    println!("released after {passes} upkeep passes: {after} bytes left");
    assert!(
        after < BOUND,
        "upkeep left {after} bytes after {passes} passes"
    );
}
