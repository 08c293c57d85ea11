//! Serializable in-process statistics of every histogram series.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Count, rate and latency percentiles of every histogram series over the recent window, as
/// returned by [`Metrics::snapshot`](crate::Metrics::snapshot).
///
/// Serializes to the JSON a `/api/v1/performance` endpoint returns. Series are sorted by name,
/// then labels.
///
/// ```
/// # fn main() -> perf_metrics::Result<()> {
/// let metrics = perf_metrics::Metrics::builder().service("scanner").build()?;
/// metrics::with_local_recorder(&metrics.recorder(), || {
///     metrics::histogram!("request_duration_seconds", "endpoint" => "/api/scans").record(0.040);
/// });
/// let snapshot = metrics.snapshot();
/// let series = snapshot.find("request_duration_seconds", &[("endpoint", "/api/scans")]).unwrap();
/// assert_eq!(series.count, 1);
/// assert_eq!(series.max, Some(0.040));
/// let json = serde_json::to_string(&snapshot).unwrap();
/// assert!(json.contains("\"p95\""));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PerformanceSnapshot {
    /// The `service` global label.
    pub service: String,
    /// The `instance` global label.
    pub instance: String,
    /// Length of the window the statistics cover, in seconds.
    pub window_seconds: f64,
    /// One entry per histogram series (name + label set).
    pub series: Vec<SeriesSnapshot>,
}

/// Statistics of one histogram series over the recent window.
///
/// Percentiles come from log-linear buckets and are within ±3.1 % of the exact value for values
/// between 2^-40 ≈ 9.1e-13 and 2^40 ≈ 1.1e12 (seconds, bytes, or whatever unit the histogram
/// records); zero and negative values count as 0, larger ones report the exact `max`, which is
/// always exact.
/// They are `None` when the series recorded nothing in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SeriesSnapshot {
    /// Metric name, e.g. `request_duration_seconds`.
    pub name: String,
    /// The series' labels (global labels excluded).
    pub labels: BTreeMap<String, String>,
    /// Values recorded in the window.
    pub count: u64,
    /// `count` divided by the time the window covers (shorter than the window while the series
    /// is younger than it).
    pub rate_per_second: f64,
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest value recorded in the window.
    pub max: Option<f64>,
}

impl PerformanceSnapshot {
    /// Every series of the metric `name`.
    pub fn series_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a SeriesSnapshot> + 'a {
        self.series.iter().filter(move |s| s.name == name)
    }

    /// The series of `name` whose labels include all of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&SeriesSnapshot> {
        self.series.iter().find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|actual| actual == v))
        })
    }
}
