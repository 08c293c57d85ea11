//! A tower layer that records `request_duration_seconds`, `requests_total` and
//! `requests_in_flight` for HTTP services.
//!
//! Labels are `endpoint` (the matched route template, never the raw path, so cardinality stays
//! bounded), `method` (standard methods; anything else is `other`) and `status` (the response
//! code, `error` when the inner service failed, `cancelled` when the response future was dropped
//! before completing, e.g. on client disconnect). The duration runs until the response head is
//! ready; streaming the body is not included.
//!
//! The endpoint comes from, in order: the [classifier](HttpMetricsLayer::endpoint_classifier)
//! when one is set and returns `Some`; axum's `MatchedPath` (with the `axum` feature, when the
//! layer is added with `Router::layer` or `Router::route_layer`, i.e. after routing); else
//! [`UNMATCHED_ENDPOINT`].

mod future;
mod labels;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use labels::UNMATCHED_ENDPOINT;
pub use layer::HttpMetricsLayer;
pub use service::HttpMetrics;
