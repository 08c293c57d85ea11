//! Idle series leave `/metrics`: counters through metrics-exporter-prometheus' idle timeout,
//! histograms through upkeep; series behind a held handle, and gauges, stay.
//!
//! The exporter's clock cannot be driven from outside, so this waits (bounded) for a short
//! timeout to pass; histogram eviction on a controlled clock is unit-tested in `recorder.rs`.

use std::time::{Duration, Instant};

use perf_metrics::Metrics;

const TIMEOUT: Duration = Duration::from_secs(1);

#[test]
fn idle_series_are_dropped_held_ones_and_gauges_stay() {
    let metrics = Metrics::builder()
        .service("scanner")
        .upkeep_interval(Duration::from_millis(100))
        .idle_timeout(Some(TIMEOUT))
        .build()
        .unwrap();
    let recorder = metrics.recorder();
    let (held_counter, held_histogram) = metrics::with_local_recorder(&recorder, || {
        (
            metrics::counter!("db_queries_total", "pool" => "main", "outcome" => "error"),
            metrics::histogram!("db_query_duration_seconds", "pool" => "main"),
        )
    });
    metrics::with_local_recorder(&recorder, || {
        let labels = [("endpoint", "/old"), ("method", "GET"), ("status", "2xx")];
        metrics::counter!("requests_total", &labels).increment(1);
        metrics::histogram!("request_duration_seconds", &labels).record(0.1);
        metrics::gauge!("requests_in_flight", "endpoint" => "/old", "method" => "GET").set(0.0);
    });
    let text = metrics.render();
    assert!(
        text.contains(r#"requests_total{service_name="scanner""#),
        "{text}"
    );
    assert!(text.contains("request_duration_seconds_count{"), "{text}");

    // Bounded wait for the timeout and an upkeep pass (no timing is asserted).
    let start = Instant::now();
    let text = loop {
        metrics.run_upkeep();
        let text = metrics.render();
        if !text.contains(r#"endpoint="/old",method="GET",status="2xx""#) {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "idle series still rendered after 60 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // "Not dropped before the timeout" is checked on a controlled clock in the recorder's unit
    // tests (`idle_histograms_are_dropped_unless_held`), not against the wall clock here.
    assert!(!text.contains("requests_total{"), "{text}");
    assert!(!text.contains("request_duration_seconds_count{"), "{text}");
    // Gauges keep their value.
    assert!(
        text.contains(r#"requests_in_flight{service_name="scanner",service_instance_id="#),
        "{text}"
    );

    // Held handles were idle just as long, yet still record into rendered series.
    held_counter.increment(2);
    held_histogram.record(0.5);
    metrics.run_upkeep();
    let text = metrics.render();
    assert!(
        text.lines().any(|l| l.starts_with("db_queries_total{")
            && l.contains(r#"outcome="error""#)
            && l.ends_with(" 2")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("db_query_duration_seconds_count{") && l.ends_with(" 1")),
        "{text}"
    );

    // Recorded again, a dropped counter comes back from zero.
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("requests_total", "endpoint" => "/old", "method" => "GET", "status" => "2xx")
            .increment(1);
    });
    let text = metrics.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("requests_total{") && l.ends_with(" 1")),
        "{text}"
    );
}
