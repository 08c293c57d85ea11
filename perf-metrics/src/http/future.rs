//! [`ResponseFuture`] and the per-request tracker.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use std::fmt;
use std::sync::Arc;

use http::{Response, StatusCode};
use metrics::{Gauge, SharedString};
use pin_project_lite::pin_project;

use super::labels::{status_class_index, status_label};
use super::series::{EndpointSeries, METHODS, STATUS_CANCELLED, STATUS_ERROR};
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
            Ok(response) => Status::Code(response.status()),
            Err(_) => Status::Error,
        };
        this.tracker.finish(status);
        Poll::Ready(output)
    }
}

/// Holds a request's labels, start time and in-flight increment until it is recorded.
/// Where a request's series come from.
pub(crate) enum Series {
    /// Handles kept for the installed global recorder.
    Cached(Arc<EndpointSeries>),
    /// Looked up in the current recorder per request, by this endpoint label.
    Lookup(SharedString),
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cached(_) => f.write_str("Cached"),
            Self::Lookup(endpoint) => f.debug_tuple("Lookup").field(endpoint).finish(),
        }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Status {
    Code(StatusCode),
    Error,
    Cancelled,
}

#[derive(Debug)]
pub(crate) struct RequestTracker {
    series: Series,
    method: usize,
    start: Instant,
    /// The looked-up in-flight gauge (cached series keep theirs).
    in_flight: Option<Gauge>,
    finished: bool,
    exact_status: bool,
}

impl RequestTracker {
    pub(crate) fn start(series: Series, method: usize, exact_status: bool) -> Self {
        let in_flight = match &series {
            Series::Cached(cached) => {
                metrics::with_recorder(|r| cached.in_flight(r, method).increment(1.0));
                None
            }
            Series::Lookup(endpoint) => {
                let gauge = metrics::gauge!(
                    REQUESTS_IN_FLIGHT,
                    "endpoint" => endpoint.clone(),
                    "method" => METHODS[method]
                );
                gauge.increment(1.0);
                Some(gauge)
            }
        };
        Self {
            series,
            method,
            start: Instant::now(),
            in_flight,
            finished: false,
            exact_status,
        }
    }

    fn finish(&mut self, status: Status) {
        if self.finished {
            return;
        }
        self.finished = true;
        let seconds = self.start.elapsed().as_secs_f64();
        match &self.series {
            Series::Cached(cached) => {
                let index = match status {
                    Status::Code(code) => status_class_index(code),
                    Status::Error => STATUS_ERROR,
                    Status::Cancelled => STATUS_CANCELLED,
                };
                metrics::with_recorder(|r| {
                    let (duration, total) = cached.finished(r, self.method, index);
                    duration.record(seconds);
                    total.increment(1);
                });
            }
            Series::Lookup(endpoint) => {
                let status = match status {
                    Status::Code(code) => status_label(code, self.exact_status),
                    Status::Error => SharedString::const_str("error"),
                    Status::Cancelled => SharedString::const_str("cancelled"),
                };
                let labels = [
                    ("endpoint", endpoint.clone()),
                    ("method", SharedString::const_str(METHODS[self.method])),
                    ("status", status),
                ];
                metrics::histogram!(REQUEST_DURATION_SECONDS, &labels).record(seconds);
                metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
            }
        }
    }
}

impl Drop for RequestTracker {
    fn drop(&mut self) {
        self.finish(Status::Cancelled);
        match (&self.series, &self.in_flight) {
            (_, Some(gauge)) => gauge.decrement(1.0),
            (Series::Cached(cached), None) => {
                if let Some(gauge) = cached.in_flight_registered(self.method) {
                    gauge.decrement(1.0);
                }
            }
            (Series::Lookup(_), None) => {}
        }
    }
}
