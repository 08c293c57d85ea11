//! [`HttpMetrics`].

use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::future::{RequestTracker, ResponseFuture};
use super::labels::{endpoint_label, method_label};
use super::layer::HttpMetricsLayer;

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
        let endpoint = endpoint_label(self.layer.classify(request.uri(), request.extensions()));
        let method = method_label(request.method());
        // The request scope for N+1 detection and log context (CONVENTIONS: a span with the
        // field `perf.request_scope`). Disabled, and nearly free, without a subscriber.
        let span = tracing::info_span!(
            "http_request",
            perf.request_scope = true,
            http.request.method = method,
            http.route = &*endpoint,
        );
        let tracker = RequestTracker::start(endpoint, method, self.layer.exact_status);
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture::new(inner, tracker, span)
    }
}
