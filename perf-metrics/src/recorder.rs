//! The recorder this crate installs: Prometheus export plus windowed percentiles.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};
use metrics_util::registry::{Registry, Storage};

use crate::window::{WindowConfig, WindowedHistogram};

/// A [`metrics::Recorder`] that exports to Prometheus and keeps windowed percentiles.
///
/// Counters and gauges go straight to the Prometheus exporter. A histogram series is a pair:
/// the exporter's histogram (for `/metrics`) and a fixed-size [windowed
/// histogram](crate::PerformanceSnapshot) (for [`Metrics::snapshot`](crate::Metrics::snapshot)).
/// The pair is created once per series and cached, so a `histogram!` call costs one registry
/// lookup, the same as with the exporter alone.
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
    pub(crate) window: WindowConfig,
    pub(crate) service: String,
    pub(crate) instance: String,
    pub(crate) upkeep_runs: AtomicU64,
}

impl Core {
    pub(crate) fn new(
        exporter: PrometheusRecorder,
        window: WindowConfig,
        service: String,
        instance: String,
    ) -> Self {
        let exporter = Arc::new(exporter);
        Self {
            handle: exporter.handle(),
            series: Registry::new(SeriesStorage {
                exporter: Arc::clone(&exporter),
                window,
            }),
            exporter,
            window,
            service,
            instance,
            upkeep_runs: AtomicU64::new(0),
        }
    }

    /// Drains the exporter's sample buffers and advances every window.
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
    exporter: Arc<PrometheusRecorder>,
    window: WindowConfig,
}

/// One histogram series: the exporter's histogram and the windowed one.
pub(crate) struct SeriesHistogram {
    exporter: Histogram,
    pub(crate) window: WindowedHistogram,
}

impl HistogramFn for SeriesHistogram {
    #[inline]
    fn record(&self, value: f64) {
        self.exporter.record(value);
        self.window.record(value);
    }
}

static SERIES_METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, None);

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
        Arc::new(SeriesHistogram {
            exporter: self.exporter.register_histogram(key, &SERIES_METADATA),
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

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.core
            .exporter
            .describe_histogram(key, unit, description);
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
