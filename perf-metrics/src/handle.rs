//! [`Metrics`]: the application's handle on its recorder.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::builder::MetricsBuilder;
use crate::recorder::{Core, PerfRecorder};
use crate::snapshot::{PerformanceSnapshot, SeriesSnapshot};

/// `Content-Type` of [`Metrics::render`]'s output (Prometheus text exposition format 0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The application's metrics: a Prometheus recorder with windowed percentiles, running upkeep.
///
/// Create it once at start-up with [`Metrics::builder`], then serve
/// [`render`](Self::render) on `/metrics` (or use `router()` with the `axum`
/// feature) and [`snapshot`](Self::snapshot) on a JSON endpoint. Cloning is cheap and shares
/// everything.
///
/// ```
/// # fn main() -> perf_metrics::Result<()> {
/// use perf_metrics::Metrics;
///
/// let metrics = Metrics::builder()
///     .service("scanner")
///     .instance("scanner-1")
///     .build()?; // `.install()?` in an application
/// metrics::with_local_recorder(&metrics.recorder(), || {
///     for ms in [12.0, 15.0, 80.0] {
///         metrics::histogram!("request_duration_seconds", "endpoint" => "/api/scans").record(ms / 1000.0);
///     }
/// });
/// let body = metrics.render();
/// assert!(body.contains(r#"request_duration_seconds_count{service_name="scanner",service_instance_id="scanner-1",endpoint="/api/scans"} 3"#));
/// let p99 = metrics.snapshot().find("request_duration_seconds", &[]).unwrap().p99.unwrap();
/// assert!((p99 - 0.080).abs() < 0.080 / 32.0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Metrics {
    pub(crate) core: Arc<Core>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("service", &self.core.service)
            .field("instance", &self.core.instance)
            .field("upkeep_runs", &self.upkeep_runs())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// A builder with the defaults documented on each setter.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    /// The recorder behind this handle, for `metrics::with_local_recorder` or
    /// `metrics::set_default_local_recorder` (tests, or a second recorder next to a global one).
    pub fn recorder(&self) -> PerfRecorder {
        PerfRecorder {
            core: Arc::clone(&self.core),
        }
    }

    /// Every series in the Prometheus text exposition format (serve it with
    /// [`PROMETHEUS_CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        self.core.render()
    }

    /// Count, rate, p50/p95/p99 and max of every histogram series over the recent window.
    pub fn snapshot(&self) -> PerformanceSnapshot {
        let now = Instant::now();
        let mut series = Vec::new();
        self.core.series.visit_histograms(|key, histogram| {
            let stats = histogram.window.stats(now);
            series.push(SeriesSnapshot {
                name: key.name().to_owned(),
                labels: key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect(),
                count: stats.count,
                rate_per_second: stats.rate_per_second,
                p50: stats.p50,
                p95: stats.p95,
                p99: stats.p99,
                max: stats.max,
            });
        });
        series.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        let window = self.core.window;
        PerformanceSnapshot {
            service: self.core.service.clone(),
            instance: self.core.instance.clone(),
            window_seconds: window.slot.as_secs_f64() * window.slots as f64,
            series,
        }
    }

    /// Runs one upkeep pass now (the upkeep thread does this every
    /// [`upkeep_interval`](MetricsBuilder::upkeep_interval)).
    pub fn run_upkeep(&self) {
        self.core.run_upkeep();
    }

    /// How many upkeep passes have completed (thread and [`run_upkeep`](Self::run_upkeep)); a
    /// health check can verify it keeps growing.
    pub fn upkeep_runs(&self) -> u64 {
        self.core.upkeep_runs.load(Ordering::Relaxed)
    }

    /// Number of histogram series tracked for snapshots.
    pub fn histogram_series(&self) -> usize {
        let mut n = 0;
        self.core.series.visit_histograms(|_, _| n += 1);
        n
    }

    /// Bytes of counters held for histograms (exported buckets and snapshot windows): a fixed
    /// amount per series, however many values are recorded.
    pub fn histogram_memory_bytes(&self) -> usize {
        let mut bytes = 0;
        self.core
            .series
            .visit_histograms(|_, h| bytes += h.memory_bytes());
        bytes
    }
}
