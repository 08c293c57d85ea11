//! [`MetricsBuilder`]: the one-call set-up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use metrics::Recorder;
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::error::{Error, Result};
use crate::handle::Metrics;
use crate::names::{self, MetricKind};
use crate::recorder::{BucketConfig, Core, INSTALLED_GLOBAL, PerfRecorder};
use crate::upkeep;
use crate::window::WindowConfig;

/// Histogram bucket upper bounds used unless [`MetricsBuilder::buckets`] says otherwise:
/// request latencies in seconds, 1 ms to 10 s. They include the alert thresholds (100 ms for
/// p95 latency, 1 s for slow queries), so `histogram_quantile` is exact at those points.
pub const DEFAULT_LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Builder for [`Metrics`]; get one with [`Metrics::builder`].
///
/// Every setter documents its default; values are checked by [`build`](Self::build) and
/// [`install`](Self::install), which name the offending setter in
/// [`Error::InvalidConfig`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` or `install` is called"]
pub struct MetricsBuilder {
    service: Option<String>,
    instance: Option<String>,
    global_labels: Vec<(String, String)>,
    buckets: Vec<f64>,
    metric_buckets: Vec<(String, Vec<f64>)>,
    window: Duration,
    window_slots: usize,
    upkeep_interval: Duration,
    idle_timeout: Option<Duration>,
}

/// [`MetricsBuilder::idle_timeout`]'s default: 10 minutes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for MetricsBuilder {
    fn default() -> Self {
        Self {
            service: None,
            instance: None,
            global_labels: Vec::new(),
            buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            metric_buckets: Vec::new(),
            window: Duration::from_secs(60),
            window_slots: 6,
            upkeep_interval: Duration::from_secs(5),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }
}

impl MetricsBuilder {
    /// The service's name, exported as the label `service_name`
    /// ([`names::SERVICE_LABEL`]) on every series.
    ///
    /// Default: the executable's file name (`unknown_service` if it cannot be read).
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// This process's name among the service's replicas, exported as the label
    /// `service_instance_id` ([`names::INSTANCE_LABEL`]) on every series.
    ///
    /// Default: `$HOSTNAME`, else `/etc/hostname`, else `localhost`.
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Another label added to every exported series (e.g. `region`).
    ///
    /// Default: none. The service and instance labels have their own setters. `key` must be a
    /// valid label name that no series or Prometheus sets itself ([`names::RESERVED_LABELS`],
    /// `__`-prefixed names), given once; [`build`](Self::build) rejects it otherwise.
    pub fn global_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.global_labels.push((key.into(), value.into()));
        self
    }

    /// Bucket upper bounds for every exported histogram.
    ///
    /// Default: [`DEFAULT_LATENCY_BUCKETS`]. Must be non-empty, finite and strictly increasing.
    pub fn buckets(mut self, upper_bounds: &[f64]) -> Self {
        self.buckets = upper_bounds.to_vec();
        self
    }

    /// Bucket upper bounds for one metric (e.g. sizes in bytes), overriding
    /// [`buckets`](Self::buckets) for it.
    ///
    /// Default: none. Same rules as `buckets`.
    pub fn buckets_for_metric(mut self, name: impl Into<String>, upper_bounds: &[f64]) -> Self {
        self.metric_buckets
            .push((name.into(), upper_bounds.to_vec()));
        self
    }

    /// How far back [`Metrics::snapshot`] looks.
    ///
    /// Default: 60 s. Allowed: 1 s to 1 h.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Into how many slots the window is split; the window slides by one slot at a time, so
    /// more slots mean a smoother window and more memory (each slot costs, per core up to 4
    /// cores and per histogram series, 1.3 KiB plus 64 bytes per power of two the recorded values
    /// span: about 2.2 KiB for latencies from 1 ms to 10 s, at most 6.5 KiB).
    ///
    /// Default: 6 (a 60 s window slides by 10 s). Allowed: 2 to 60.
    pub fn window_slots(mut self, slots: usize) -> Self {
        self.window_slots = slots;
        self
    }

    /// How often the upkeep thread runs the exporter's upkeep and slides the snapshot windows.
    /// Histograms never buffer samples (their storage is fixed per series), so this bounds how
    /// stale a window can get, not memory.
    ///
    /// Default: 5 s. Allowed: 10 ms to 5 min, and at most the window slot length
    /// (`window / window_slots`).
    pub fn upkeep_interval(mut self, interval: Duration) -> Self {
        self.upkeep_interval = interval;
        self
    }

    /// Drops counter and histogram series that nothing updated for this long, so label values
    /// that stop occurring (an old route, a finished job, a one-off status) do not stay in
    /// `/metrics` and in memory forever. A dropped series reappears, starting from zero, when
    /// it is recorded again (Prometheus' `rate`/`increase` treat that as a counter reset).
    ///
    /// Counters are dropped by metrics-exporter-prometheus' own idle timeout when `/metrics` is
    /// rendered; histograms by the upkeep thread. A series behind a handle the application
    /// keeps (perf-db's per-pool handles, `#[timed]` call sites, any `Counter`/`Histogram`
    /// stored in a struct) is never dropped, since that handle would then record into a series
    /// nobody renders: idleness only applies to series looked up per use through the macros.
    /// Gauges are never dropped: a gauge set once (a pool's size) must keep its value.
    ///
    /// Default: [`DEFAULT_IDLE_TIMEOUT`] (10 min). `None` keeps every series for the life of
    /// the recorder. Allowed: 1 s to 7 days, and at least twice
    /// [`upkeep_interval`](Self::upkeep_interval).
    ///
    /// ```
    /// # fn main() -> perf_metrics::Result<()> {
    /// use std::time::Duration;
    ///
    /// let metrics = perf_metrics::Metrics::builder()
    ///     .idle_timeout(Some(Duration::from_secs(30 * 60)))
    ///     .build()?;
    /// # let _ = metrics;
    /// # Ok(())
    /// # }
    /// ```
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    fn validate(&self) -> Result<()> {
        check_buckets("buckets", &self.buckets)?;
        check_global_labels(&self.global_labels)?;
        for (_, bounds) in &self.metric_buckets {
            check_buckets("buckets_for_metric", bounds)?;
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.window) {
            return Err(Error::invalid("window", self.window, "1s..=1h"));
        }
        if !(2..=60).contains(&self.window_slots) {
            return Err(Error::invalid("window_slots", self.window_slots, "2..=60"));
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(300)).contains(&self.upkeep_interval) {
            return Err(Error::invalid(
                "upkeep_interval",
                self.upkeep_interval,
                "10ms..=5min",
            ));
        }
        if let Some(timeout) = self.idle_timeout
            && (!(Duration::from_secs(1)..=Duration::from_secs(7 * 86_400)).contains(&timeout)
                || timeout < self.upkeep_interval.saturating_mul(2))
        {
            return Err(Error::invalid(
                "idle_timeout",
                timeout,
                "None, or 1s..=7days and at least twice upkeep_interval",
            ));
        }
        let slot = self.window / u32::try_from(self.window_slots).unwrap_or(u32::MAX);
        if self.upkeep_interval > slot {
            return Err(Error::invalid(
                "upkeep_interval",
                self.upkeep_interval,
                format!("at most the window slot length, window / window_slots = {slot:?}"),
            ));
        }
        Ok(())
    }

    /// Builds [`Metrics`] without installing anything globally and starts its upkeep thread
    /// (which stops once every clone of the handle and its recorder are dropped). Record through
    /// [`Metrics::recorder`], e.g. with `metrics::with_local_recorder`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the setter whose value is out of range;
    /// [`Error::Upkeep`] if the upkeep thread cannot be spawned.
    ///
    /// ```
    /// # fn main() -> perf_metrics::Result<()> {
    /// let metrics = perf_metrics::Metrics::builder().service("scanner").instance("a").build()?;
    /// metrics::with_local_recorder(&metrics.recorder(), || {
    ///     metrics::counter!("requests_total", "endpoint" => "/health").increment(1);
    /// });
    /// assert!(metrics.render().contains(r#"requests_total{service_name="scanner",service_instance_id="a",endpoint="/health"} 1"#));
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(self) -> Result<Metrics> {
        self.validate()?;
        let service = self.service.unwrap_or_else(default_service);
        let instance = self.instance.unwrap_or_else(default_instance);

        let mut global_labels = vec![
            (names::SERVICE_LABEL.to_owned(), service),
            (names::INSTANCE_LABEL.to_owned(), instance),
        ];
        global_labels.extend(self.global_labels);
        // Counters only: gauges keep their last value for good, histograms are this crate's.
        let mut exporter = PrometheusBuilder::new()
            .idle_timeout(metrics_util::MetricKindMask::COUNTER, self.idle_timeout);
        for (key, value) in &global_labels {
            exporter = exporter.add_global_label(key.clone(), value.clone());
        }
        let buckets = BucketConfig {
            default: Arc::from(self.buckets),
            per_metric: self
                .metric_buckets
                .into_iter()
                .map(|(name, bounds)| (name, Arc::from(bounds)))
                .collect(),
        };
        let window = WindowConfig::new(self.window, self.window_slots);
        let core = Arc::new(Core::new(
            exporter.build_recorder(),
            window,
            buckets,
            global_labels,
            self.idle_timeout,
        ));
        let recorder = PerfRecorder {
            core: Arc::clone(&core),
        };
        describe_known_metrics(&recorder);
        upkeep::spawn(Arc::downgrade(&core), self.upkeep_interval)?;
        Ok(Metrics { core })
    }

    /// Builds [`Metrics`] and installs its recorder as the process-wide `metrics` recorder, so
    /// every `metrics::counter!`/`histogram!` in the application and its libraries lands in it.
    /// The upkeep thread then runs for the life of the process.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), plus [`Error::AlreadyInstalled`] when a global recorder is
    /// already set (at most one per process: in tests, prefer [`build`](Self::build)).
    ///
    /// ```
    /// # fn main() -> perf_metrics::Result<()> {
    /// let metrics = perf_metrics::Metrics::builder().service("scanner").install()?;
    /// metrics::histogram!("request_duration_seconds", "endpoint" => "/", "method" => "GET", "status" => "200")
    ///     .record(0.012);
    /// assert!(metrics.render().contains("request_duration_seconds_bucket"));
    /// // A second install fails: the facade holds one global recorder.
    /// assert!(perf_metrics::Metrics::builder().install().is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn install(self) -> Result<Metrics> {
        let metrics = self.build()?;
        metrics::set_global_recorder(metrics.recorder()).map_err(|_| Error::AlreadyInstalled)?;
        // The facade owns the recorder now; learn its address from a thread that has no local
        // recorder, so `#[timed]` call sites can recognise it and cache their handles.
        let address = std::thread::spawn(|| {
            metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>().addr())
        })
        .join()
        .unwrap_or(0);
        INSTALLED_GLOBAL.store(address, Ordering::Relaxed);
        Ok(metrics)
    }
}

fn check_buckets(field: &'static str, bounds: &[f64]) -> Result<()> {
    let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
    if bounds.is_empty() || !increasing || bounds.iter().any(|b| !b.is_finite()) {
        return Err(Error::invalid(
            field,
            bounds,
            "a non-empty list of finite, strictly increasing upper bounds",
        ));
    }
    Ok(())
}

fn check_global_labels(labels: &[(String, String)]) -> Result<()> {
    for (i, (key, _)) in labels.iter().enumerate() {
        let valid = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !key.starts_with("__");
        let duplicate = labels[..i].iter().any(|(k, _)| k == key);
        if !valid || duplicate || names::RESERVED_LABELS.contains(&key.as_str()) {
            return Err(Error::invalid(
                "global_label",
                key,
                format!(
                    "a label name matching [a-zA-Z_][a-zA-Z0-9_]* without a `__` prefix, given \
                     once, and none of {}",
                    names::RESERVED_LABELS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn describe_known_metrics(recorder: &PerfRecorder) {
    for metric in names::ALL {
        let name = metrics::KeyName::from_const_str(metric.name);
        let help = metrics::SharedString::const_str(metric.help);
        match metric.kind {
            MetricKind::Counter => recorder.describe_counter(name, None, help),
            MetricKind::Gauge => recorder.describe_gauge(name, None, help),
            MetricKind::Histogram => recorder.describe_histogram(name, None, help),
        }
    }
}

fn default_service() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown_service".to_owned())
}

fn default_instance() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_name_their_setter() {
        let field = |b: MetricsBuilder| match b.build() {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        assert_eq!(field(Metrics::builder().buckets(&[])), "buckets");
        assert_eq!(field(Metrics::builder().buckets(&[0.1, 0.1])), "buckets");
        assert_eq!(
            field(Metrics::builder().buckets(&[0.1, f64::INFINITY])),
            "buckets"
        );
        assert_eq!(
            field(Metrics::builder().buckets_for_metric("x", &[2.0, 1.0])),
            "buckets_for_metric"
        );
        assert_eq!(
            field(Metrics::builder().window(Duration::from_millis(10))),
            "window"
        );
        for key in [
            "le",
            "quantile",
            "status",
            "endpoint",
            "outcome",
            "pool",
            "service_name",
            "job",
            "instance",
            "__name__",
            "my-label",
            "9lives",
            "",
        ] {
            assert_eq!(
                field(Metrics::builder().global_label(key, "x")),
                "global_label",
                "{key:?}"
            );
        }
        assert_eq!(
            field(
                Metrics::builder()
                    .global_label("region", "eu")
                    .global_label("region", "us")
            ),
            "global_label"
        );
        assert!(
            Metrics::builder()
                .global_label("region", "eu")
                .build()
                .is_ok()
        );
        assert_eq!(field(Metrics::builder().window_slots(1)), "window_slots");
        assert_eq!(
            field(Metrics::builder().idle_timeout(Some(Duration::from_millis(500)))),
            "idle_timeout"
        );
        assert_eq!(
            field(
                Metrics::builder()
                    .upkeep_interval(Duration::from_secs(1))
                    .idle_timeout(Some(Duration::from_millis(1500)))
            ),
            "idle_timeout"
        );
        assert_eq!(
            field(Metrics::builder().upkeep_interval(Duration::ZERO)),
            "upkeep_interval"
        );
        assert_eq!(
            field(
                Metrics::builder()
                    .window(Duration::from_secs(6))
                    .upkeep_interval(Duration::from_secs(2))
            ),
            "upkeep_interval"
        );
    }

    #[test]
    fn error_message_names_the_field_and_range() {
        let err = Metrics::builder().window_slots(0).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid `window_slots`: got 0, allowed: 2..=60"
        );
    }
}
