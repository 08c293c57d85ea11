//! The recorder this crate installs: Prometheus export plus windowed percentiles.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Label, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};
use metrics_util::registry::{Registry, Storage};

use crate::export::{ExportBuckets, RenderedSeries, render_histograms};
use crate::window::{WindowConfig, WindowedHistogram};

/// A [`metrics::Recorder`] that exports to Prometheus and keeps windowed percentiles.
///
/// Counters and gauges go straight to the Prometheus exporter. A histogram series is a pair of
/// bounded, per-core-sharded structures: cumulative `le` buckets with sum and count (rendered
/// next to the exporter's output on `/metrics`) and a sliding-window histogram (for
/// [`Metrics::snapshot`](crate::Metrics::snapshot)). The pair is created once per series, so a
/// `histogram!` call costs one registry lookup and a record costs two uncontended atomic adds.
///
/// Get one from [`MetricsBuilder::build`](crate::MetricsBuilder::build) to use it without
/// installing it globally (tests: `metrics::with_local_recorder(&recorder, || ...)`);
/// [`MetricsBuilder::install`](crate::MetricsBuilder::install) installs one as the global
/// recorder.
#[derive(Clone)]
pub struct PerfRecorder {
    pub(crate) core: Arc<Core>,
}

impl fmt::Debug for PerfRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerfRecorder")
            .field("service", &self.core.service)
            .field("instance", &self.core.instance)
            .finish_non_exhaustive()
    }
}

/// State shared by the recorder, the [`Metrics`](crate::Metrics) handle and the upkeep thread.
pub(crate) struct Core {
    pub(crate) exporter: Arc<PrometheusRecorder>,
    pub(crate) handle: PrometheusHandle,
    pub(crate) series: Registry<Key, SeriesStorage>,
    /// Counter handles given out while an idle timeout is set (see [`CounterProxy`]).
    counters: Registry<Key, CounterStorage>,
    /// Series unseen for this long, and held by no handle, are dropped.
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) window: WindowConfig,
    pub(crate) service: String,
    pub(crate) instance: String,
    /// `service_name`, `service_instance_id`, then the extra global labels, in rendering order.
    pub(crate) global_labels: Vec<(String, String)>,
    /// `# HELP` texts of histograms (counters' and gauges' live in the exporter).
    histogram_help: RwLock<HashMap<String, String>>,
    pub(crate) upkeep_runs: AtomicU64,
    /// Names already warned about as conflicting (see [`Core::render`]).
    name_conflicts: Mutex<HashSet<String>>,
}

/// Histogram bucket upper bounds: the default and per-metric overrides.
#[derive(Debug, Clone)]
pub(crate) struct BucketConfig {
    pub(crate) default: Arc<[f64]>,
    pub(crate) per_metric: HashMap<String, Arc<[f64]>>,
}

impl Core {
    pub(crate) fn new(
        exporter: PrometheusRecorder,
        window: WindowConfig,
        buckets: BucketConfig,
        global_labels: Vec<(String, String)>,
        idle_timeout: Option<Duration>,
    ) -> Self {
        let exporter = Arc::new(exporter);
        let label = |key: &str| {
            global_labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Self {
            handle: exporter.handle(),
            series: Registry::new(SeriesStorage {
                buckets,
                window,
                exporter: Arc::clone(&exporter),
            }),
            counters: Registry::new(CounterStorage {
                exporter: Arc::clone(&exporter),
            }),
            exporter,
            idle_timeout,
            window,
            service: label(crate::names::SERVICE_LABEL),
            instance: label(crate::names::INSTANCE_LABEL),
            global_labels,
            histogram_help: RwLock::new(HashMap::new()),
            upkeep_runs: AtomicU64::new(0),
            name_conflicts: Mutex::new(HashSet::new()),
        }
    }

    /// The exporter's counters and gauges followed by this crate's histograms, with one
    /// family per name: a family whose name another family already uses (a counter and a
    /// gauge, or a histogram and a counter, whose names sanitize alike) is left out, with a
    /// warning logged once per name.
    pub(crate) fn render(&self) -> String {
        let exported = self.handle.render();
        let mut out = String::with_capacity(exported.len() * 2);
        let mut taken = HashSet::new();
        let mut skipped = Vec::new();
        // The exporter writes one family per block, blocks separated by a blank line.
        for block in exported.split_inclusive("\n\n") {
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("# TYPE "))
                .and_then(|l| l.split(' ').next());
            match name {
                Some(name) if !taken.insert(name.to_owned()) => skipped.push(name.to_owned()),
                _ => out.push_str(block),
            }
        }
        let mut series = Vec::new();
        self.series.visit_histograms(|key, histogram| {
            series.push((key.clone(), Arc::clone(histogram)));
        });
        let rendered = series
            .iter()
            .map(|(key, h)| RenderedSeries {
                key,
                bounds: h.export.bounds(),
                totals: h.export.totals(),
            })
            .collect();
        let help = self
            .histogram_help
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        skipped.extend(render_histograms(
            &mut out,
            rendered,
            &self.global_labels,
            |name| help.get(name).cloned(),
            &taken,
        ));
        if !skipped.is_empty() {
            let mut warned = self
                .name_conflicts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for name in skipped {
                if warned.insert(name.clone()) {
                    tracing::warn!(
                        metric = %name,
                        "metric names that sanitize to the same Prometheus name have different \
                         types; only the first family is exported"
                    );
                }
            }
        }
        out
    }

    /// Runs the exporter's upkeep (counters and gauges), drops idle series and advances every
    /// window.
    pub(crate) fn run_upkeep(&self) {
        self.run_upkeep_at(Instant::now());
    }

    /// [`run_upkeep`](Self::run_upkeep) as if the time were `now`.
    ///
    /// Eviction never loses a record: `retain_*` holds the registry shard's write lock while it
    /// reads the reference count, so no handle can be handed out meanwhile, and a series behind
    /// a handle someone holds (a cached handle: perf-db's per-pool handles, `#[timed]` sites) is
    /// never dropped: dropping it would leave that handle recording into a series nobody renders.
    pub(crate) fn run_upkeep_at(&self, now: Instant) {
        self.handle.run_upkeep();
        if let Some(timeout) = self.idle_timeout {
            // Counters: the exporter drops a series whose value has not changed for the idle
            // timeout (at render). Keep held counters fresh for it, and forget unheld proxies so
            // the next `counter!` registers again (getting the exporter's series, or a new one
            // if it was dropped).
            self.counters.retain_counters(|_, proxy| {
                let held = Arc::strong_count(proxy) > 1;
                if held {
                    proxy.inner.increment(0);
                }
                held
            });
            self.series.retain_histograms(|_, series| {
                Arc::strong_count(series) > 1 || !series.idle_for(now, timeout)
            });
        }
        self.series
            .visit_histograms(|_, series| series.window.rotate(now));
        self.upkeep_runs.fetch_add(1, Ordering::Relaxed);
    }
}

/// Creates the histogram pair for a new series.
pub(crate) struct SeriesStorage {
    buckets: BucketConfig,
    window: WindowConfig,
    exporter: Arc<PrometheusRecorder>,
}

/// Creates [`CounterProxy`]s.
pub(crate) struct CounterStorage {
    exporter: Arc<PrometheusRecorder>,
}

/// A counter handle given out while an idle timeout is set: the exporter's counter behind a
/// reference count this crate can read. metrics-exporter-prometheus drops a counter whose value
/// has not changed for the idle timeout, whether or not a handle to it is held; a held handle
/// would then count into a series nobody renders. Upkeep therefore touches (adds 0 to) every
/// counter whose proxy is held, so only counters nobody holds can go idle.
pub(crate) struct CounterProxy {
    inner: Counter,
}

impl CounterFn for CounterProxy {
    #[inline]
    fn increment(&self, value: u64) {
        self.inner.increment(value);
    }

    #[inline]
    fn absolute(&self, value: u64) {
        self.inner.absolute(value);
    }
}

impl Storage<Key> for CounterStorage {
    type Counter = Arc<CounterProxy>;
    type Gauge = Arc<metrics::atomics::AtomicU64>;
    type Histogram = Arc<NoHistogram>;

    fn counter(&self, key: &Key) -> Self::Counter {
        Arc::new(CounterProxy {
            inner: self.exporter.register_counter(key, &METADATA),
        })
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::default()
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        Arc::default()
    }
}

/// Satisfies [`Storage`] for the counter registry, which never holds histograms.
#[derive(Default)]
pub(crate) struct NoHistogram;

impl HistogramFn for NoHistogram {
    fn record(&self, _: f64) {}
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// Name of the counter of rejected (non-finite) histogram observations.
pub(crate) const REJECTED_OBSERVATIONS_TOTAL: &str = "metrics_rejected_observations_total";

/// One histogram series: exported buckets and the windowed histogram.
pub(crate) struct SeriesHistogram {
    pub(crate) export: ExportBuckets,
    pub(crate) window: WindowedHistogram,
    /// The metric's name, for the rejected-observations counter's `metric` label.
    name: KeyName,
    exporter: Arc<PrometheusRecorder>,
    /// `metrics_rejected_observations_total{metric}`, registered on the first rejection.
    rejected: OnceLock<Counter>,
    /// Observation count at the last upkeep, and when it last changed (idle detection).
    activity: Mutex<(u64, Instant)>,
}

impl fmt::Debug for SeriesHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesHistogram")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SeriesHistogram {
    pub(crate) fn memory_bytes(&self) -> usize {
        self.export.memory_bytes() + self.window.memory_bytes()
    }

    /// Whether nothing was recorded since `timeout` before `now` (upkeep-time resolution).
    fn idle_for(&self, now: Instant, timeout: Duration) -> bool {
        let total: u64 = self.export.totals().counts.iter().sum();
        let mut activity = self.activity.lock().unwrap_or_else(PoisonError::into_inner);
        if activity.0 != total {
            *activity = (total, now);
        }
        now.saturating_duration_since(activity.1) >= timeout
    }

    /// NaN and ±∞ would turn `_sum` into NaN/±Inf for good (and NaN lands in no bucket): they
    /// are dropped and counted instead.
    #[cold]
    fn reject(&self) {
        self.rejected
            .get_or_init(|| {
                let key = Key::from_parts(
                    REJECTED_OBSERVATIONS_TOTAL,
                    vec![Label::new("metric", self.name.as_str().to_owned())],
                );
                self.exporter.register_counter(&key, &METADATA)
            })
            .increment(1);
    }
}

impl HistogramFn for SeriesHistogram {
    #[inline]
    fn record(&self, value: f64) {
        if !value.is_finite() {
            self.reject();
            return;
        }
        self.export.record(value);
        self.window.record(value);
    }
}

impl Storage<Key> for SeriesStorage {
    // Counters and gauges never reach this registry; these types only satisfy the trait.
    type Counter = Arc<metrics::atomics::AtomicU64>;
    type Gauge = Arc<metrics::atomics::AtomicU64>;
    type Histogram = Arc<SeriesHistogram>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::default()
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::default()
    }

    fn histogram(&self, key: &Key) -> Self::Histogram {
        let bounds = self
            .buckets
            .per_metric
            .get(key.name())
            .unwrap_or(&self.buckets.default);
        let now = Instant::now();
        Arc::new(SeriesHistogram {
            export: ExportBuckets::new(Arc::clone(bounds), self.window.shards),
            window: WindowedHistogram::new(self.window, now),
            name: key.name_shared(),
            exporter: Arc::clone(&self.exporter),
            rejected: OnceLock::new(),
            activity: Mutex::new((0, now)),
        })
    }
}

impl Recorder for PerfRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.core.exporter.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.core.exporter.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        let mut help = self
            .core
            .histogram_help
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        help.insert(key.as_str().to_owned(), description.into_owned());
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if self.core.idle_timeout.is_none() {
            return self.core.exporter.register_counter(key, metadata);
        }
        self.core
            .counters
            .get_or_create_counter(key, |proxy| Counter::from_arc(Arc::clone(proxy)))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.core.exporter.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        self.core
            .series
            .get_or_create_histogram(key, |series| Histogram::from_arc(Arc::clone(series)))
    }
}

/// Whether `recorder` is the global recorder this crate installed (whose handles never change,
/// so call sites may cache them).
pub(crate) fn is_installed_global(recorder: &dyn Recorder) -> bool {
    let address = std::ptr::from_ref(recorder).cast::<()>().addr();
    INSTALLED_GLOBAL.load(Ordering::Relaxed) == address && address != 0
}

/// Address of the `PerfRecorder` inside the facade's global slot, once installed.
pub(crate) static INSTALLED_GLOBAL: AtomicUsize = AtomicUsize::new(0);

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::Metrics;

    /// Histogram eviction on a controlled clock: an unheld series is dropped once idle for the
    /// timeout, a held one never is, and recording again brings a dropped series back.
    #[test]
    fn idle_histograms_are_dropped_unless_held() {
        let metrics = Metrics::builder()
            .upkeep_interval(Duration::from_secs(10))
            .idle_timeout(Some(Duration::from_secs(60)))
            .build()
            .unwrap();
        let recorder = metrics.recorder();
        let held = metrics::with_local_recorder(
            &recorder,
            || metrics::histogram!("job_duration_seconds", "job" => "held"),
        );
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("job_duration_seconds", "job" => "once").record(0.5);
        });
        let t0 = Instant::now();
        metrics.core.run_upkeep_at(t0 + Duration::from_secs(30));
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("job_duration_seconds", "job" => "busy").record(0.5);
        });
        metrics.core.run_upkeep_at(t0 + Duration::from_secs(59));
        assert_eq!(metrics.histogram_series(), 3);

        // Changes are noticed at upkeep: "once" was last seen changing at 30 s.
        metrics.core.run_upkeep_at(t0 + Duration::from_secs(89));
        assert_eq!(metrics.histogram_series(), 3);
        metrics.core.run_upkeep_at(t0 + Duration::from_secs(91));
        let text = metrics.render();
        assert!(!text.contains(r#"job="once""#), "{text}");
        assert!(text.contains(r#"job="busy""#), "{text}");
        assert!(text.contains(r#"job="held""#), "{text}");

        // "busy" changed between the upkeeps at 30 s and 59 s: seen at 59 s, idle from 119 s.
        metrics.core.run_upkeep_at(t0 + Duration::from_secs(118));
        assert!(metrics.render().contains(r#"job="busy""#));
        metrics.core.run_upkeep_at(t0 + Duration::from_secs(120));
        let text = metrics.render();
        assert!(!text.contains(r#"job="busy""#), "{text}");

        // The held handle still records into a rendered series, however long it was idle.
        held.record(2.0);
        let text = metrics.render();
        assert!(
            text.contains(r#"job_duration_seconds_count{service_name="#)
                && text.contains(r#"job="held"} 1"#),
            "{text}"
        );
        assert_eq!(metrics.histogram_series(), 1);

        // Recorded again, a dropped series starts over.
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("job_duration_seconds", "job" => "once").record(0.25);
        });
        assert_eq!(
            metrics
                .snapshot()
                .find("job_duration_seconds", &[("job", "once")])
                .unwrap()
                .count,
            1
        );
    }

    #[test]
    fn without_idle_timeout_nothing_is_dropped() {
        let metrics = Metrics::builder()
            .upkeep_interval(Duration::from_secs(10))
            .idle_timeout(None)
            .build()
            .unwrap();
        metrics::with_local_recorder(&metrics.recorder(), || {
            metrics::histogram!("job_duration_seconds").record(0.5);
        });
        metrics
            .core
            .run_upkeep_at(Instant::now() + Duration::from_secs(86_400));
        assert_eq!(metrics.histogram_series(), 1);
    }
}
