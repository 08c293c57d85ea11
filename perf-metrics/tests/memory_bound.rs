//! Memory stays bounded over a million records: histogram storage is bounded per series (an
//! octave's counters are allocated the first time a value lands in it, then reused) and nothing
//! buffers raw samples, whether or not upkeep has run.
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
/// Raw samples, if anything buffered them, would be 16 bytes each: ~16 MB for a million.
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
fn a_million_records_stay_bounded_with_and_without_upkeep() {
    // With the upkeep thread running every 10 ms.
    let metrics = Metrics::builder()
        .upkeep_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let histogram = metrics::with_local_recorder(
        &metrics.recorder(),
        || metrics::histogram!("request_duration_seconds", "endpoint" => "/api/scans/{id}"),
    );
    // One pass over the value range allocates the octaves it uses (in every slot, so across
    // upkeeps); after that, nothing more.
    for _ in 0..7 {
        for i in 0..2000 {
            histogram.record(value(i));
        }
        wait_for_upkeep(&metrics);
    }
    let warm_up = 7 * 2000;
    let series_bytes = metrics.histogram_memory_bytes();
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
        metrics.histogram_memory_bytes(),
        series_bytes,
        "series storage does not grow once its octaves are in use"
    );
    assert_eq!(metrics.histogram_series(), 1);
    let count_line = metrics
        .render()
        .lines()
        .find(|l| l.starts_with("request_duration_seconds_count"))
        .map(str::to_owned)
        .unwrap();
    assert!(
        count_line.ends_with(&format!(" {}", RECORDS + warm_up)),
        "{count_line}"
    );

    // Upkeep far away: nothing buffers samples, so the same load still allocates nothing per
    // record (the exporter's own histogram would hold ~16 MB of raw samples here).
    let idle = Metrics::builder()
        .window(Duration::from_secs(3600))
        .upkeep_interval(Duration::from_secs(300))
        .build()
        .unwrap();
    let histogram = metrics::with_local_recorder(
        &idle.recorder(),
        || metrics::histogram!("request_duration_seconds", "endpoint" => "/api/scans/{id}"),
    );
    for i in 0..2000 {
        histogram.record(value(i));
    }
    let baseline = ALLOCATOR.allocated();
    for i in 0..RECORDS {
        histogram.record(value(i));
    }
    let growth = ALLOCATOR.allocated().saturating_sub(baseline);
    println!("without upkeep: {growth} bytes allocated for {RECORDS} records");
    assert!(growth < BOUND, "grew {growth} bytes without upkeep");
    assert_eq!(idle.snapshot().series[0].count, u64::from(RECORDS) + 2000);

    // Many series: at most the per-series amount times the series count.
    let per_series = idle.histogram_memory_bytes();
    metrics::with_local_recorder(&idle.recorder(), || {
        for endpoint in 0..99 {
            metrics::histogram!("request_duration_seconds", "endpoint" => endpoint.to_string())
                .record(0.01);
        }
    });
    assert_eq!(idle.histogram_series(), 100);
    assert!(idle.histogram_memory_bytes() <= 100 * per_series);
}
