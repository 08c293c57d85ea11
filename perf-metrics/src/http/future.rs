//! [`ResponseFuture`] and the per-request tracker.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::Response;
use metrics::{Gauge, SharedString};
use pin_project_lite::pin_project;

use super::labels::status_label;
use crate::names::{REQUEST_DURATION_SECONDS, REQUESTS_IN_FLIGHT, REQUESTS_TOTAL};

pin_project! {
    /// Response future of [`HttpMetrics`](super::HttpMetrics): records the request when the
    /// inner future completes, or as `status="cancelled"` when dropped first.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        tracker: RequestTracker,
        span: tracing::Span,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, tracker: RequestTracker, span: tracing::Span) -> Self {
        Self {
            inner,
            tracker,
            span,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = {
            let _entered = this.span.enter();
            ready!(this.inner.poll(cx))
        };
        let status = match &output {
            Ok(response) => status_label(response.status(), this.tracker.exact_status),
            Err(_) => SharedString::const_str("error"),
        };
        this.tracker.finish(status);
        Poll::Ready(output)
    }
}

/// Holds a request's labels, start time and in-flight increment until it is recorded.
#[derive(Debug)]
pub(crate) struct RequestTracker {
    endpoint: SharedString,
    method: &'static str,
    start: Instant,
    in_flight: Gauge,
    finished: bool,
    exact_status: bool,
}

impl RequestTracker {
    pub(crate) fn start(endpoint: SharedString, method: &'static str, exact_status: bool) -> Self {
        let in_flight =
            metrics::gauge!(REQUESTS_IN_FLIGHT, "endpoint" => endpoint.clone(), "method" => method);
        in_flight.increment(1.0);
        Self {
            endpoint,
            method,
            start: Instant::now(),
            in_flight,
            finished: false,
            exact_status,
        }
    }

    fn finish(&mut self, status: SharedString) {
        if self.finished {
            return;
        }
        self.finished = true;
        let seconds = self.start.elapsed().as_secs_f64();
        let labels = [
            ("endpoint", self.endpoint.clone()),
            ("method", SharedString::const_str(self.method)),
            ("status", status),
        ];
        metrics::histogram!(REQUEST_DURATION_SECONDS, &labels).record(seconds);
        metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    }
}

impl Drop for RequestTracker {
    fn drop(&mut self) {
        self.finish(SharedString::const_str("cancelled"));
        self.in_flight.decrement(1.0);
    }
}
