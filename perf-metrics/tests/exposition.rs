//! The `/metrics` output, parsed by a real Prometheus text-format parser.

#[path = "support/promtool.rs"]
mod promtool;

use perf_metrics::Metrics;
use prometheus_parse::{Sample, Scrape, Value};

fn scrape(metrics: &Metrics) -> Scrape {
    let text = metrics.render();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("exposition parses")
}

fn sample<'a>(scrape: &'a Scrape, metric: &str, kind: fn(&Value) -> bool) -> &'a Sample {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && kind(&s.value))
        .unwrap_or_else(|| panic!("no {metric} sample in {:?}", scrape.samples))
}

#[test]
fn counters_gauges_and_global_labels() {
    let metrics = Metrics::builder()
        .service("scanner")
        .instance("scanner-1")
        .global_label("region", "eu")
        .build()
        .unwrap();
    metrics::with_local_recorder(&metrics.recorder(), || {
        metrics::counter!("cache_requests_total", "namespace" => "users", "tier" => "l1", "outcome" => "hit")
            .increment(7);
        metrics::gauge!("db_pool_waiting", "pool" => "main").set(3.0);
    });
    let scrape = scrape(&metrics);

    let counter = sample(&scrape, "cache_requests_total", |v| {
        matches!(v, Value::Counter(_))
    });
    assert_eq!(counter.value, Value::Counter(7.0));
    assert_eq!(counter.labels.get("tier"), Some("l1"));
    assert_eq!(counter.labels.get("service_name"), Some("scanner"));
    assert_eq!(counter.labels.get("service_instance_id"), Some("scanner-1"));
    assert_eq!(counter.labels.get("region"), Some("eu"));

    let gauge = sample(&scrape, "db_pool_waiting", |v| matches!(v, Value::Gauge(_)));
    assert_eq!(gauge.value, Value::Gauge(3.0));
    assert_eq!(gauge.labels.get("pool"), Some("main"));

    // The naming table's HELP text is attached.
    assert_eq!(
        scrape.docs.get("db_pool_waiting").map(String::as_str),
        Some("Tasks waiting to acquire a pool connection")
    );
}

#[test]
fn histogram_buckets_on_known_data() {
    let metrics = Metrics::builder().service("scanner").build().unwrap();
    // 100 values: 1 ms .. 100 ms
    metrics::with_local_recorder(&metrics.recorder(), || {
        let h = metrics::histogram!("request_duration_seconds", "endpoint" => "/api/scans", "method" => "GET", "status" => "200");
        for ms in 1..=100u32 {
            h.record(f64::from(ms) / 1000.0);
        }
    });
    let scrape = scrape(&metrics);
    let histogram = sample(&scrape, "request_duration_seconds", |v| {
        matches!(v, Value::Histogram(_))
    });
    let Value::Histogram(buckets) = &histogram.value else {
        unreachable!()
    };
    let counts: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
    assert_eq!(
        counts,
        vec![
            (0.001, 1.0),
            (0.0025, 2.0),
            (0.005, 5.0),
            (0.01, 10.0),
            (0.025, 25.0),
            (0.05, 50.0),
            (0.1, 100.0),
            (0.25, 100.0),
            (0.5, 100.0),
            (1.0, 100.0),
            (2.5, 100.0),
            (5.0, 100.0),
            (10.0, 100.0),
            (f64::INFINITY, 100.0),
        ]
    );
    assert_eq!(histogram.labels.get("endpoint"), Some("/api/scans"));

    assert_eq!(
        scrape
            .docs
            .get("request_duration_seconds")
            .map(String::as_str),
        Some("HTTP request duration until the response head, by route template")
    );
    assert!(
        metrics
            .render()
            .contains("# TYPE request_duration_seconds histogram\n")
    );
    let count = sample(&scrape, "request_duration_seconds_count", |_| true);
    assert_eq!(count.value, Value::Untyped(100.0));
    let sum = sample(&scrape, "request_duration_seconds_sum", |_| true);
    let Value::Untyped(sum) = sum.value else {
        panic!("sum is {:?}", sum.value)
    };
    assert!((sum - 5.05).abs() < 1e-9, "sum = {sum}");
}

#[test]
fn custom_buckets_per_metric() {
    let metrics = Metrics::builder()
        .buckets(&[0.5, 1.0])
        .buckets_for_metric("payload_bytes", &[100.0, 1000.0])
        .build()
        .unwrap();
    metrics::with_local_recorder(&metrics.recorder(), || {
        metrics::histogram!("payload_bytes").record(150.0);
        metrics::histogram!("db_query_duration_seconds", "pool" => "main").record(0.7);
    });
    let scrape = scrape(&metrics);
    let bytes = sample(&scrape, "payload_bytes", |v| {
        matches!(v, Value::Histogram(_))
    });
    let Value::Histogram(b) = &bytes.value else {
        unreachable!()
    };
    assert_eq!(
        b.iter().map(|b| (b.less_than, b.count)).collect::<Vec<_>>(),
        vec![(100.0, 0.0), (1000.0, 1.0), (f64::INFINITY, 1.0)]
    );
    let query = sample(&scrape, "db_query_duration_seconds", |v| {
        matches!(v, Value::Histogram(_))
    });
    let Value::Histogram(b) = &query.value else {
        unreachable!()
    };
    assert_eq!(
        b.iter().map(|b| (b.less_than, b.count)).collect::<Vec<_>>(),
        vec![(0.5, 0.0), (1.0, 1.0), (f64::INFINITY, 1.0)]
    );
}

#[test]
fn snapshot_percentiles_on_known_data_and_json() {
    let metrics = Metrics::builder()
        .service("scanner")
        .instance("i")
        .build()
        .unwrap();
    metrics::with_local_recorder(&metrics.recorder(), || {
        let h = metrics::histogram!("db_query_duration_seconds", "pool" => "main");
        for ms in 1..=1000u32 {
            h.record(f64::from(ms) / 1000.0);
        }
        metrics::histogram!("db_query_duration_seconds", "pool" => "replica").record(0.25);
    });
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.series.len(), 2);
    let main = snapshot
        .find("db_query_duration_seconds", &[("pool", "main")])
        .unwrap();
    assert_eq!(main.count, 1000);
    for (actual, expected) in [(main.p50, 0.5), (main.p95, 0.95), (main.p99, 0.99)] {
        let actual = actual.unwrap();
        assert!(
            (actual - expected).abs() <= expected / 32.0,
            "{actual} vs {expected}"
        );
    }
    assert_eq!(main.max, Some(1.0));
    assert!(main.rate_per_second > 0.0);
    let replica = snapshot
        .find("db_query_duration_seconds", &[("pool", "replica")])
        .unwrap();
    assert_eq!((replica.count, replica.max), (1, Some(0.25)));

    let json: serde_json::Value = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["service"], "scanner");
    assert_eq!(json["window_seconds"], 60.0);
    assert_eq!(json["series"][0]["labels"]["pool"], "main");
    assert_eq!(json["series"][0]["count"], 1000);
    assert_eq!(json["series"][0]["max"], 1.0);
    let back: perf_metrics::PerformanceSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back, snapshot);
}

#[test]
fn upkeep_drains_and_keeps_totals() {
    let metrics = Metrics::builder().build().unwrap();
    let runs = metrics.upkeep_runs();
    metrics::with_local_recorder(&metrics.recorder(), || {
        metrics::histogram!("cache_load_duration_seconds", "namespace" => "n").record(0.01);
    });
    metrics.run_upkeep();
    metrics.run_upkeep();
    assert!(metrics.upkeep_runs() >= runs + 2);
    assert!(
        metrics
            .render()
            .contains(r#"cache_load_duration_seconds_count{service_name="#)
    );
    assert_eq!(metrics.snapshot().series[0].count, 1);
    assert_eq!(metrics.histogram_series(), 1);
}

/// NaN and ±∞ are dropped and counted: `_sum` stays finite, no bucket counts them, and the text
/// still parses (prometheus-parse, promtool).
#[test]
fn non_finite_observations_are_counted_not_recorded() {
    let metrics = Metrics::builder().service("scanner").build().unwrap();
    metrics::with_local_recorder(&metrics.recorder(), || {
        let h = metrics::histogram!("db_query_duration_seconds", "pool" => "main");
        for v in [0.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5] {
            h.record(v);
        }
    });
    let text = metrics.render();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |name: &str| match &sample(&scrape, name, |_| true).value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(value("db_query_duration_seconds_sum"), 2.0, "{text}");
    assert_eq!(value("db_query_duration_seconds_count"), 2.0, "{text}");
    assert!(
        text.contains(r#"metrics_rejected_observations_total{service_name="scanner","#)
            && text.contains(r#"metric="db_query_duration_seconds"} 3"#),
        "{text}"
    );
    let snapshot = metrics.snapshot();
    let series = snapshot.find("db_query_duration_seconds", &[]).unwrap();
    assert_eq!((series.count, series.max), (2, Some(1.5)));
}

/// `promtool check metrics` parses `text` (exit 0, or 3 for lint findings such as missing help
/// texts of these made-up metrics, never a parse error); fails naming the package providing
/// promtool when it is missing (never a silent skip).
fn promtool_check_metrics(text: &str) -> String {
    let (status, report) = promtool::check_metrics(text);
    let lint_only = status.code() == Some(3) && !report.contains("error");
    assert!(
        status.success() || lint_only,
        "promtool check metrics:\n{report}\n{text}"
    );
    report
}

/// Metric names that sanitize alike never give two `# TYPE` lines for one name: same-kind
/// histograms merge into one family (identical series add up), a family colliding with another
/// kind is left out; a series label named `le` does not repeat the bucket label. The text parses
/// with prometheus-parse and passes `promtool check metrics`.
#[test]
fn names_and_labels_that_collide_still_render_valid_text() {
    let metrics = Metrics::builder().service("scanner").build().unwrap();
    metrics::with_local_recorder(&metrics.recorder(), || {
        // "a.b" sorts before "a_a" before "a_b": the two a_b families are not adjacent.
        metrics::histogram!("a.b_seconds", "k" => "1").record(0.5);
        metrics::histogram!("a_a_seconds").record(0.5);
        metrics::histogram!("a_b_seconds", "k" => "1").record(1.5);
        metrics::histogram!("a_b_seconds", "k" => "2").record(0.1);
        // A counter and a gauge whose names sanitize alike.
        metrics::counter!("jobs.total").increment(1);
        metrics::gauge!("jobs_total").set(3.0);
        // A gauge and a histogram of one name.
        metrics::gauge!("queue_wait_seconds").set(1.0);
        metrics::histogram!("queue.wait_seconds").record(0.2);
        // A series label named like the bucket label.
        metrics::histogram!("size_bytes", "le" => "x").record(10.0);
    });
    let text = metrics.render();
    let mut types = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(
            types.insert(name.to_owned()),
            "two TYPE lines for {name}:\n{text}"
        );
    }
    assert!(
        text.contains(r#"a_b_seconds_count{service_name="scanner",service_instance_id="#)
            && text.contains(r#"k="1"} 2"#),
        "a.b and a_b series with equal labels merge:\n{text}"
    );
    assert!(text.contains("# TYPE jobs_total counter\n"), "{text}");
    assert!(text.contains("# TYPE queue_wait_seconds gauge\n"), "{text}");
    assert!(!text.contains("queue_wait_seconds_bucket"), "{text}");
    assert!(
        text.lines()
            .all(|l| l.matches(",le=").count() + l.matches("{le=").count() <= 1),
        "{text}"
    );
    assert!(text.contains(r#"exported_le="x",le="10.0"} 1"#), "{text}");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    promtool_check_metrics(&text);
}
