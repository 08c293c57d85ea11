//! The recorder this crate installs: Prometheus export plus windowed percentiles.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};
use metrics_util::registry::{Registry, Storage};

use crate::export::{ExportBuckets, RenderedSeries, render_histograms};
use crate::window::{WindowConfig, WindowedHistogram};

/// A [`metrics::Recorder`] that exports to Prometheus and keeps windowed percentiles.
///
/// Counters and gauges go straight to the Prometheus exporter. A histogram series is a pair of
/// fixed-size, per-core-sharded structures: cumulative `le` buckets with sum and count (rendered
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
    pub(crate) exporter: PrometheusRecorder,
    pub(crate) handle: PrometheusHandle,
    pub(crate) series: Registry<Key, SeriesStorage>,
    pub(crate) window: WindowConfig,
    pub(crate) service: String,
    pub(crate) instance: String,
    /// `service_name`, `service_instance_id`, then the extra global labels, in rendering order.
    pub(crate) global_labels: Vec<(String, String)>,
    /// `# HELP` texts of histograms (counters' and gauges' live in the exporter).
    histogram_help: RwLock<HashMap<String, String>>,
    pub(crate) upkeep_runs: AtomicU64,
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
    ) -> Self {
        let label = |key: &str| {
            global_labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Self {
            handle: exporter.handle(),
            exporter,
            series: Registry::new(SeriesStorage { buckets, window }),
            window,
            service: label(crate::names::SERVICE_LABEL),
            instance: label(crate::names::INSTANCE_LABEL),
            global_labels,
            histogram_help: RwLock::new(HashMap::new()),
            upkeep_runs: AtomicU64::new(0),
        }
    }

    /// The exporter's counters and gauges followed by this crate's histograms.
    pub(crate) fn render(&self) -> String {
        let mut out = self.handle.render();
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
        render_histograms(&mut out, rendered, &self.global_labels, |name| {
            help.get(name).cloned()
        });
        out
    }

    /// Runs the exporter's upkeep (counters and gauges) and advances every window.
    pub(crate) fn run_upkeep(&self) {
        self.handle.run_upkeep();
        let now = Instant::now();
        self.series
            .visit_histograms(|_, series| series.window.rotate(now));
        self.upkeep_runs.fetch_add(1, Ordering::Relaxed);
    }
}

/// Creates the histogram pair for a new series.
pub(crate) struct SeriesStorage {
    buckets: BucketConfig,
    window: WindowConfig,
}

/// One histogram series: exported buckets and the windowed histogram.
#[derive(Debug)]
pub(crate) struct SeriesHistogram {
    pub(crate) export: ExportBuckets,
    pub(crate) window: WindowedHistogram,
}

impl SeriesHistogram {
    pub(crate) fn memory_bytes(&self) -> usize {
        self.export.memory_bytes() + self.window.memory_bytes()
    }
}

impl HistogramFn for SeriesHistogram {
    #[inline]
    fn record(&self, value: f64) {
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
        Arc::new(SeriesHistogram {
            export: ExportBuckets::new(Arc::clone(bounds), self.window.shards),
            window: WindowedHistogram::new(self.window, Instant::now()),
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
        self.core.exporter.register_counter(key, metadata)
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
