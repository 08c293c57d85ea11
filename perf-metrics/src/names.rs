//! The naming table: every metric the perf crates emit.
//!
//! Names carry their unit (`_seconds`, `_bytes`) and counters end in `_total`. Histograms are
//! exported as `<name>_bucket{le}`, `<name>_sum` and `<name>_count`. Every exported series also
//! carries the global labels `service_name` ([`SERVICE_LABEL`]) and `service_instance_id`
//! ([`INSTANCE_LABEL`]), set by [`MetricsBuilder`](crate::MetricsBuilder). The dashboards and
//! alert rules in `perf-metrics/dashboards/` use only these names; a test checks that.
//!
//! The global labels are not called `service` and `instance`: Prometheus attaches `job` and
//! `instance` to every scraped series, and Kubernetes discovery through the Prometheus Operator
//! adds `service`, `namespace`, `pod`, `container` and `node`. A series label with one of those
//! names is renamed `exported_<name>` on ingestion, so the dashboard's `$service` variable would
//! list Kubernetes service names instead of yours. `service_name` and `service_instance_id`
//! follow OpenTelemetry's `service.name` and `service.instance.id`.
//!
//! | metric | kind | labels | emitted by | meaning |
//! |---|---|---|---|---|
//! | `request_duration_seconds` | histogram | `endpoint`, `method`, `status` | perf-metrics ([`HttpMetricsLayer`](crate::HttpMetricsLayer)) | time to response head; `endpoint` is the route template |
//! | `requests_total` | counter | `endpoint`, `method`, `status` | perf-metrics | completed (or cancelled) requests |
//! | `requests_in_flight` | gauge | `endpoint`, `method` | perf-metrics | requests being handled now |
//! | `function_duration_seconds` | histogram | `function`, `module`, `outcome` (`ok`/`error`/`cancelled`) | perf-metrics ([`timed`](crate::timed)) | duration of a `#[timed]` function |
//! | `cache_requests_total` | counter | `namespace`, `tier` (`l1`/`l2`/`l3`), `outcome` (`hit`/`miss`) | perf-cache | lookups per tier |
//! | `cache_loads_total` | counter | `namespace`, `outcome` (`ok`/`error`) | perf-cache | loader calls after a miss |
//! | `cache_load_duration_seconds` | histogram | `namespace` | perf-cache | loader duration |
//! | `cache_evictions_total` | counter | `namespace`, `tier` | perf-cache | entries evicted |
//! | `cache_errors_total` | counter | `namespace`, `tier` | perf-cache | tier errors (e.g. Redis down) |
//! | `cache_breaker_open` | gauge | `namespace` | perf-cache | 1 while the L2 circuit breaker is open |
//! | `cache_entries` | gauge | `namespace`, `tier` (`l1`) | perf-cache | entries held in process |
//! | `cache_weight_bytes` | gauge | `namespace` | perf-cache | weighted size held in process |
//! | `cache_stale_served_total` | counter | `namespace` | perf-cache | stale values served while refreshing |
//! | `db_queries_total` | counter | `pool`, `outcome` (`ok`/`error`/`timeout`/`cancelled`) | perf-db | queries run; `timeout`: over the statement timeout; `cancelled`: dropped before the answer was read |
//! | `db_query_duration_seconds` | histogram | `pool` | perf-db | query duration |
//! | `db_slow_queries_total` | counter | `pool`, `level` (`warn`/`error`) | perf-db | queries over the slow thresholds |
//! | `db_pool_connections` | gauge | `pool`, `state` (`idle`/`in_use`) | perf-db | pool connections by state |
//! | `db_pool_max_connections` | gauge | `pool` | perf-db | configured pool size |
//! | `db_pool_waiting` | gauge | `pool` | perf-db | tasks waiting to acquire a connection |
//! | `db_pool_acquire_duration_seconds` | histogram | `pool` | perf-db | time to acquire a connection |
//! | `db_pool_acquire_phase_seconds` | histogram | `pool`, `phase` (`wait`/`ping`/`connect`) | perf-db | acquire time split by phase: queue wait, pre-ping, new connection |
//! | `db_pool_acquire_timeouts_total` | counter | `pool` | perf-db | acquires that timed out |
//! | `db_pool_connections_opened_total` | counter | `pool` | perf-db | connections opened |
//! | `db_pool_connections_closed_total` | counter | `pool`, `reason` (`recycled`/`ping_failed`/`other`) | perf-db | connections closed |
//! | `db_connection_held_seconds` | histogram | `pool` | perf-db | how long a connection was held |
//! | `db_n_plus_one_total` | counter | `pool` | perf-db | suspected N+1 query patterns |
//! | `db_connection_leaks_total` | counter | `pool` | perf-db | connections held past the leak-detection threshold |
//! | `async_slow_polls_total` | counter | (none) | perf-async | polls that blocked the runtime |
//! | `metrics_rejected_observations_total` | counter | `metric` | perf-metrics | histogram observations dropped because they were NaN or infinite |
//!
//! ```
//! use perf_metrics::names::{self, MetricKind};
//!
//! let m = names::find("request_duration_seconds").unwrap();
//! assert_eq!(m.kind, MetricKind::Histogram);
//! assert_eq!(m.labels, ["endpoint", "method", "status"]);
//! assert!(names::ALL.iter().all(|m| m.kind != MetricKind::Counter || m.name.ends_with("_total")));
//! // Every label a perf crate sets is reserved for it.
//! assert!(names::ALL.iter().flat_map(|m| m.labels).all(|l| names::RESERVED_LABELS.contains(l)));
//! ```

/// How a metric is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// Monotonic count; the name ends in `_total`.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Distribution exported as buckets, sum and count.
    Histogram,
}

/// One row of the naming table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricName {
    /// The metric name as exported.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Label keys the emitter sets (global labels excluded).
    pub labels: &'static [&'static str],
    /// The crate that emits it.
    pub emitted_by: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Every value the emitter gives each label with a closed set of values, e.g.
    /// `("outcome", ["ok", "error", "timeout", "cancelled"])` (labels with open values, such as
    /// `pool` or `endpoint`, are not listed). Dashboards and alerts select only these values.
    ///
    /// ```
    /// let m = perf_metrics::names::find("db_queries_total").unwrap();
    /// assert_eq!(m.values_of("outcome"), Some(&["ok", "error", "timeout", "cancelled"][..]));
    /// assert_eq!(m.values_of("pool"), None);
    /// ```
    pub values: &'static [(&'static str, &'static [&'static str])],
}

impl MetricName {
    /// The closed set of values of `label` (see [`values`](Self::values)), if it has one.
    ///
    /// ```
    /// let m = perf_metrics::names::find("function_duration_seconds").unwrap();
    /// assert_eq!(m.values_of("outcome"), Some(&["ok", "error", "cancelled"][..]));
    /// ```
    #[must_use]
    pub fn values_of(&self, label: &str) -> Option<&'static [&'static str]> {
        self.values
            .iter()
            .find(|(name, _)| *name == label)
            .map(|(_, values)| *values)
    }

    const fn with_values(
        mut self,
        values: &'static [(&'static str, &'static [&'static str])],
    ) -> Self {
        self.values = values;
        self
    }
}

/// The global label carrying the service name
/// ([`MetricsBuilder::service`](crate::MetricsBuilder::service)).
pub const SERVICE_LABEL: &str = "service_name";
/// The global label carrying the instance name
/// ([`MetricsBuilder::instance`](crate::MetricsBuilder::instance)).
pub const INSTANCE_LABEL: &str = "service_instance_id";

/// Label names [`MetricsBuilder::global_label`](crate::MetricsBuilder::global_label) rejects:
/// the two global labels above, `le` and `quantile` (set by the exposition format), every label a
/// perf crate sets on its series (the table above), and the target labels Prometheus (`job`,
/// `instance`) and its Kubernetes discovery (`service`, `namespace`, `pod`, `container`,
/// `node`) attach.
pub const RESERVED_LABELS: &[&str] = &[
    SERVICE_LABEL,
    INSTANCE_LABEL,
    "le",
    "quantile",
    "job",
    "instance",
    "service",
    "namespace",
    "pod",
    "container",
    "node",
    "endpoint",
    "method",
    "status",
    "function",
    "module",
    "outcome",
    "tier",
    "pool",
    "level",
    "state",
    "phase",
    "reason",
    "metric",
];

/// `request_duration_seconds`
pub const REQUEST_DURATION_SECONDS: &str = "request_duration_seconds";
/// `requests_total`
pub const REQUESTS_TOTAL: &str = "requests_total";
/// `requests_in_flight`
pub const REQUESTS_IN_FLIGHT: &str = "requests_in_flight";
/// `function_duration_seconds`
pub const FUNCTION_DURATION_SECONDS: &str = "function_duration_seconds";

const fn row(
    name: &'static str,
    kind: MetricKind,
    labels: &'static [&'static str],
    emitted_by: &'static str,
    help: &'static str,
) -> MetricName {
    MetricName {
        name,
        kind,
        labels,
        emitted_by,
        help,
        values: &[],
    }
}

use MetricKind::{Counter, Gauge, Histogram};

/// Every metric the perf crates emit, in the order of the table above.
pub const ALL: &[MetricName] = &[
    row(
        REQUEST_DURATION_SECONDS,
        Histogram,
        &["endpoint", "method", "status"],
        "perf-metrics",
        "HTTP request duration until the response head, by route template",
    ),
    row(
        REQUESTS_TOTAL,
        Counter,
        &["endpoint", "method", "status"],
        "perf-metrics",
        "HTTP requests completed or cancelled, by route template",
    ),
    row(
        REQUESTS_IN_FLIGHT,
        Gauge,
        &["endpoint", "method"],
        "perf-metrics",
        "HTTP requests being handled",
    ),
    row(
        FUNCTION_DURATION_SECONDS,
        Histogram,
        &["function", "module", "outcome"],
        "perf-metrics",
        "Duration of #[timed] functions by outcome (ok, error, cancelled)",
    )
    .with_values(&[("outcome", &["ok", "error", "cancelled"])]),
    row(
        "cache_requests_total",
        Counter,
        &["namespace", "tier", "outcome"],
        "perf-cache",
        "Cache lookups by tier and outcome (hit, miss)",
    )
    .with_values(&[("tier", &["l1", "l2", "l3"]), ("outcome", &["hit", "miss"])]),
    row(
        "cache_loads_total",
        Counter,
        &["namespace", "outcome"],
        "perf-cache",
        "Cache loader calls after a miss, by outcome",
    )
    .with_values(&[("outcome", &["ok", "error"])]),
    row(
        "cache_load_duration_seconds",
        Histogram,
        &["namespace"],
        "perf-cache",
        "Cache loader duration",
    ),
    row(
        "cache_evictions_total",
        Counter,
        &["namespace", "tier"],
        "perf-cache",
        "Cache entries evicted",
    ),
    row(
        "cache_errors_total",
        Counter,
        &["namespace", "tier"],
        "perf-cache",
        "Cache tier errors",
    ),
    row(
        "cache_breaker_open",
        Gauge,
        &["namespace"],
        "perf-cache",
        "1 while the cache's L2 circuit breaker is open",
    ),
    row(
        "cache_entries",
        Gauge,
        &["namespace", "tier"],
        "perf-cache",
        "Entries held by the in-process cache tier",
    ),
    row(
        "cache_weight_bytes",
        Gauge,
        &["namespace"],
        "perf-cache",
        "Weighted size of the in-process cache tier",
    ),
    row(
        "cache_stale_served_total",
        Counter,
        &["namespace"],
        "perf-cache",
        "Stale cache values served while refreshing",
    ),
    row(
        "db_queries_total",
        Counter,
        &["pool", "outcome"],
        "perf-db",
        "Database queries by outcome (ok, error, timeout, cancelled)",
    )
    .with_values(&[("outcome", &["ok", "error", "timeout", "cancelled"])]),
    row(
        "db_query_duration_seconds",
        Histogram,
        &["pool"],
        "perf-db",
        "Database query duration",
    ),
    row(
        "db_slow_queries_total",
        Counter,
        &["pool", "level"],
        "perf-db",
        "Queries over the slow-query thresholds, by level (warn, error)",
    )
    .with_values(&[("level", &["warn", "error"])]),
    row(
        "db_pool_connections",
        Gauge,
        &["pool", "state"],
        "perf-db",
        "Pool connections by state (idle, in_use)",
    )
    .with_values(&[("state", &["idle", "in_use"])]),
    row(
        "db_pool_max_connections",
        Gauge,
        &["pool"],
        "perf-db",
        "Configured maximum pool size",
    ),
    row(
        "db_pool_waiting",
        Gauge,
        &["pool"],
        "perf-db",
        "Tasks waiting to acquire a pool connection",
    ),
    row(
        "db_pool_acquire_duration_seconds",
        Histogram,
        &["pool"],
        "perf-db",
        "Time to acquire a pool connection",
    ),
    row(
        "db_pool_acquire_phase_seconds",
        Histogram,
        &["pool", "phase"],
        "perf-db",
        "Pool acquire time by phase (wait, ping, connect)",
    )
    .with_values(&[("phase", &["wait", "ping", "connect"])]),
    row(
        "db_pool_acquire_timeouts_total",
        Counter,
        &["pool"],
        "perf-db",
        "Pool acquires that timed out",
    ),
    row(
        "db_pool_connections_opened_total",
        Counter,
        &["pool"],
        "perf-db",
        "Pool connections opened",
    ),
    row(
        "db_pool_connections_closed_total",
        Counter,
        &["pool", "reason"],
        "perf-db",
        "Pool connections closed, by reason",
    )
    .with_values(&[("reason", &["recycled", "ping_failed", "other"])]),
    row(
        "db_connection_held_seconds",
        Histogram,
        &["pool"],
        "perf-db",
        "How long a pool connection was held",
    ),
    row(
        "db_n_plus_one_total",
        Counter,
        &["pool"],
        "perf-db",
        "Suspected N+1 query patterns",
    ),
    row(
        "db_connection_leaks_total",
        Counter,
        &["pool"],
        "perf-db",
        "Pool connections held past the leak-detection threshold",
    ),
    row(
        "async_slow_polls_total",
        Counter,
        &[],
        "perf-async",
        "Future polls that blocked the runtime thread",
    ),
    row(
        crate::recorder::REJECTED_OBSERVATIONS_TOTAL,
        Counter,
        &["metric"],
        "perf-metrics",
        "Histogram observations dropped because they were NaN or infinite",
    ),
];

/// The table row for `name`, if the perf crates emit it.
pub fn find(name: &str) -> Option<&'static MetricName> {
    ALL.iter().find(|m| m.name == name)
}
