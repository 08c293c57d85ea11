//! [`HttpMetrics`].

use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;
use tracing::{Level, Span};

use super::future::{RequestTracker, ResponseFuture, Series};
use super::labels::{endpoint_label, method_index};
use super::layer::HttpMetricsLayer;
use super::series::METHODS;
use crate::recorder::is_installed_global;

/// A service instrumented by [`HttpMetricsLayer`].
#[derive(Debug, Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    layer: HttpMetricsLayer,
}

impl<S> HttpMetrics<S> {
    /// Wraps `inner`, configured by `layer`.
    pub fn new(inner: S, layer: HttpMetricsLayer) -> Self {
        Self { inner, layer }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let endpoint = self.layer.classify(request.uri(), request.extensions());
        let method = method_index(request.method());
        // The request scope for N+1 detection and log context (CONVENTIONS: a span with the
        // field `perf.request_scope`). Disabled, and nearly free, without a subscriber. The
        // marker only has to be in the span's metadata, so it is declared and never recorded,
        // and the two values are recorded as `Display`: a formatting subscriber (fmt) writes
        // every recorded field when the span opens, and that was most of the span's cost.
        let span = request_span(self.layer.span_level.0, METHODS[method], &endpoint);
        // Handles of the installed global recorder never change: keep them. Any other
        // recorder (a test's local one) may, and exact status codes are unbounded: look up.
        let cached = !self.layer.exact_status && metrics::with_recorder(is_installed_global);
        let series = if cached {
            Series::Cached(self.layer.series.endpoint(&endpoint))
        } else {
            Series::Lookup(endpoint_label(endpoint))
        };
        let tracker = RequestTracker::start(series, method, self.layer.exact_status);
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture::new(inner, tracker, span)
    }
}

/// The `http_request` span at `level` (a span's level is fixed at its call site, hence one
/// site per level), or a disabled span.
fn request_span(level: Option<Level>, method: &'static str, endpoint: &str) -> Span {
    macro_rules! at {
        ($make:ident) => {
            tracing::$make!(
                "http_request",
                perf.request_scope = tracing::field::Empty,
                http.request.method = %method,
                http.route = %endpoint,
            )
        };
    }
    match level {
        Some(Level::ERROR) => at!(error_span),
        Some(Level::WARN) => at!(warn_span),
        Some(Level::INFO) => at!(info_span),
        Some(Level::DEBUG) => at!(debug_span),
        Some(Level::TRACE) => at!(trace_span),
        None => Span::none(),
    }
}
