//! Prometheus export, latency percentiles, `#[timed]` and a tower layer on the `metrics` facade.
//!
//! Libraries (perf-cache, perf-db, perf-async, your own) emit through the [`metrics`] facade and
//! never install a recorder. The application calls [`Metrics::builder`] once:
//!
//! ```
//! # fn main() -> perf_metrics::Result<()> {
//! use perf_metrics::Metrics;
//!
//! let metrics = Metrics::builder()
//!     .service("scanner")   // global labels `service_name`, `service_instance_id`
//!     .instance("scanner-1")
//!     .install()?;          // the process-wide recorder; upkeep thread started
//!
//! metrics::histogram!("request_duration_seconds", "endpoint" => "/api/scans", "method" => "GET", "status" => "200")
//!     .record(0.042);
//!
//! let exposition = metrics.render(); // serve on /metrics (or `metrics.router()` with `axum`)
//! assert!(exposition.contains("request_duration_seconds_bucket{"));
//! let snapshot = metrics.snapshot(); // serde-serializable p50/p95/p99 for a JSON endpoint
//! assert_eq!(snapshot.find("request_duration_seconds", &[("endpoint", "/api/scans")]).unwrap().count, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # What you get
//!
//! - [`Metrics`]: installs a Prometheus recorder with `service_name`/`service_instance_id`
//!   labels (see [`names`] for why not `service`/`instance`) and latency
//!   buckets ([`DEFAULT_LATENCY_BUCKETS`]), runs upkeep, renders `/metrics`
//!   (`Metrics::router` and `Metrics::serve` with the `axum` feature), and
//!   [`Metrics::snapshot`]s windowed percentiles. [`MetricsBuilder::build`] gives the same
//!   without touching the global recorder (tests).
//! - [`timed`]: `#[timed]` on sync and async functions records `function_duration_seconds`
//!   with `outcome="ok|error|cancelled"`.
//! - [`HttpMetricsLayer`]: a tower layer recording `request_duration_seconds`, `requests_total`
//!   and `requests_in_flight` by route template.
//! - [`names`]: the naming table of every metric the perf crates emit; the Grafana dashboard
//!   and Prometheus alert rules in `perf-metrics/dashboards/` are checked against it.
//!
//! # Why metrics-exporter-prometheus, and why not for histograms
//!
//! It is the `metrics` facade's own Prometheus exporter: it renders counters and gauges in the
//! text format with `HELP`/`TYPE` lines and global labels, and needs no HTTP stack of its own (we
//! disable its listener and push-gateway features; `/metrics` is served through axum when
//! wanted). The `prometheus` crate would need its own registry and macros, bypassing the facade
//! the libraries use.
//!
//! Its histograms, though, store every sample (value and timestamp) in a shared buffer until
//! upkeep or a scrape drains it: memory grows with the record rate between drains, and a record
//! costs about 60–100 ns on one core and 150–240 ns with two cores writing one series
//! (BENCHMARKS.md). So [`PerfRecorder`] keeps histograms itself, in fixed per-core-sharded
//! cumulative buckets ([`DEFAULT_LATENCY_BUCKETS`] unless configured) with sum and count, and
//! renders them after the exporter's output in the same format. Nothing buffers samples, memory
//! per series is fixed ([`Metrics::histogram_memory_bytes`]), and a record is two uncontended
//! atomic adds. The upkeep thread ([`MetricsBuilder::upkeep_interval`]) still runs the exporter's
//! upkeep and slides the snapshot windows.
//!
//! # Percentiles
//!
//! Next to the exported buckets, every histogram series feeds a bounded sliding-window
//! histogram (log-linear buckets from 2^-40 to 2^40, ±3.1 %, exact max, one shard per core so
//! concurrent recording does not contend) for [`Metrics::snapshot`]: the same percentile error
//! for nanosecond latencies and gigabyte sizes. A power of two's 16 counters are allocated when
//! a value first lands in it. With the defaults on two cores a latency series spanning 1 ms –
//! 10 s holds about 27 KiB for the window (at most 78 KiB, whatever it records) plus 0.3 KiB for
//! the exported buckets, however many values are recorded.
//!
//! # Features
//!
//! - `macros` (default): `#[timed]`.
//! - `axum`: `MatchedPath` endpoints in the layer, `Metrics::router`, `Metrics::serve`.
#![doc(test(attr(deny(warnings))))]

mod builder;
mod error;
mod export;
mod handle;
pub mod http;
pub mod names;
mod recorder;
mod shard;
mod snapshot;
mod timed;
mod upkeep;
mod window;

#[cfg(feature = "_bench")]
mod bench_support;
/// Benchmark access to the windowed histogram, only with the internal feature `_bench`.
#[cfg(feature = "_bench")]
#[doc(hidden)]
pub use bench_support::WindowHistogram as __WindowHistogram;

#[cfg(feature = "axum")]
mod axum;

pub use crate::http::{HttpMetrics, HttpMetricsLayer};
pub use builder::{DEFAULT_IDLE_TIMEOUT, DEFAULT_LATENCY_BUCKETS, MetricsBuilder};
pub use error::{Error, Result};
pub use handle::{Metrics, PROMETHEUS_CONTENT_TYPE};
pub use recorder::PerfRecorder;
pub use snapshot::{PerformanceSnapshot, SeriesSnapshot};

/// Records how long a function takes, as a histogram labelled by outcome.
///
/// Default metric: `function_duration_seconds{function, module, outcome}` where `outcome` is
/// `ok`, `error` (the function returned `Err`, or panicked) or `cancelled` (an async function's
/// future was dropped before it completed). Options:
///
/// - `name = "scan_duration_seconds"`: another metric name (must be a valid Prometheus name
///   ending in `_seconds`);
/// - `labels(scan_type = "nmap")`: static labels added to every series (valid label names, not
///   `function`, `module`, `outcome`, `service_name`, `service_instance_id` or `le`).
///
/// Mistakes are compile errors pointing at the offending token.
///
/// With the recorder installed by [`MetricsBuilder::install`], a call site registers its three
/// outcome series on first call and reuses the handles (so `rate()` of errors reads 0 rather than
/// absent, and a call costs no registry lookup). An async function's timer starts at its first
/// poll; a future dropped without ever being polled records nothing.
///
/// ```
/// use perf_metrics::timed;
///
/// #[timed]
/// fn parse(input: &str) -> Result<u32, std::num::ParseIntError> {
///     input.parse()
/// }
///
/// #[timed(name = "scan_duration_seconds", labels(scan_type = "nmap"))]
/// async fn scan(host: &str) -> Result<usize, String> {
///     Ok(host.len())
/// }
///
/// # fn main() -> perf_metrics::Result<()> {
/// let metrics = perf_metrics::Metrics::builder().service("scanner").build()?;
/// metrics::with_local_recorder(&metrics.recorder(), || {
///     parse("42").unwrap();
///     parse("x").unwrap_err();
///     let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
///     rt.block_on(scan("10.0.0.1")).unwrap();
/// });
/// let snapshot = metrics.snapshot();
/// assert_eq!(snapshot.find("function_duration_seconds", &[("function", "parse"), ("outcome", "ok")]).unwrap().count, 1);
/// assert_eq!(snapshot.find("function_duration_seconds", &[("function", "parse"), ("outcome", "error")]).unwrap().count, 1);
/// assert_eq!(snapshot.find("scan_duration_seconds", &[("scan_type", "nmap"), ("outcome", "ok")]).unwrap().count, 1);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "macros")]
pub use perf_metrics_macros::timed;

/// The README's example runs as a doctest.
#[cfg(all(doctest, feature = "macros"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;

/// Support for generated code; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::timed::{
        Outcome, OutcomeProbe, ResultOutcome, TimedGuard, TimedSite, ValueOutcome, call_typed,
        typed_future,
    };
}
