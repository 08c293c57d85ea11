//! A tower layer that records `request_duration_seconds`, `requests_total` and
//! `requests_in_flight` for HTTP services.
//!
//! Labels are `endpoint` (the matched route template, never the raw path, so cardinality stays
//! bounded), `method` (standard methods; anything else is `other`) and `status` (the response
//! code's class `1xx`…`5xx`, or the exact code with
//! [`exact_status_codes`](HttpMetricsLayer::exact_status_codes); `error` when the inner service
//! failed, `cancelled` when the response future was dropped before completing, e.g. on client
//! disconnect). The duration runs until the response head is ready; streaming the body is not
//! included.
//!
//! # Request scope
//!
//! Each request runs inside an INFO-level (see
//! [`request_span_level`](HttpMetricsLayer::request_span_level)) `tracing` span named `http_request` with the fields
//! `perf.request_scope` (declared in the span's metadata, never recorded: its presence is the
//! mark), `http.request.method` and `http.route` (the endpoint label; both recorded as
//! `Display`): the span is current while the inner service's `call` and its response future
//! run. perf-db counts N+1 patterns per nearest span carrying `perf.request_scope`; for other
//! entry points (jobs, consumers) open such a span yourself, e.g.
//! `tracing::info_span!("job", perf.request_scope = tracing::field::Empty)`. Without a subscriber (or with INFO
//! disabled for `perf_metrics`) the span is disabled and costs a cached interest check.
//!
//! The endpoint comes from, in order: the [classifier](HttpMetricsLayer::endpoint_classifier)
//! when one is set and returns `Some`; axum's `MatchedPath` (with the `axum` feature, when the
//! layer is added with `Router::layer` or `Router::route_layer`, i.e. after routing); else
//! [`UNMATCHED_ENDPOINT`].

mod future;
mod labels;
mod layer;
mod series;
mod service;

pub use future::ResponseFuture;
pub use labels::UNMATCHED_ENDPOINT;
pub use layer::HttpMetricsLayer;
pub use service::HttpMetrics;
