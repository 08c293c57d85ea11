//! Handles of the HTTP series, registered once per endpoint, method and status class while
//! recording into the global recorder this crate installed (whose handles never change).
//!
//! Looking a series up with the `metrics` macros builds a key (a label vector, the endpoint
//! copied into it) and searches the registry, three times per request. With the handles kept
//! here a request costs one read-locked map lookup by the endpoint's `&str`, and recording is
//! the handles' atomic adds.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString};

use crate::names::{REQUEST_DURATION_SECONDS, REQUESTS_IN_FLIGHT, REQUESTS_TOTAL};

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// The method labels, in index order (see [`super::labels::method_index`]).
pub(crate) const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "other",
];

/// The status labels cached per endpoint and method, in index order.
pub(crate) const STATUSES: [&str; 7] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error", "cancelled"];

/// Index into [`STATUSES`] of `error` (the inner service failed).
pub(crate) const STATUS_ERROR: usize = 5;
/// Index into [`STATUSES`] of `cancelled` (the response future was dropped).
pub(crate) const STATUS_CANCELLED: usize = 6;

/// Every endpoint seen so far, shared by all clones of one layer.
#[derive(Default)]
pub(crate) struct SeriesCache {
    endpoints: RwLock<HashMap<Box<str>, Arc<EndpointSeries>>>,
}

impl SeriesCache {
    /// The series of `endpoint`, created on its first request.
    pub(crate) fn endpoint(&self, endpoint: &str) -> Arc<EndpointSeries> {
        let known = self
            .endpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(endpoint)
            .cloned();
        if let Some(series) = known {
            return series;
        }
        let mut endpoints = self
            .endpoints
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            endpoints
                .entry(endpoint.into())
                .or_insert_with(|| Arc::new(EndpointSeries::new(endpoint))),
        )
    }
}

/// One endpoint's handles, each registered on first use.
pub(crate) struct EndpointSeries {
    endpoint: SharedString,
    in_flight: [OnceLock<Gauge>; METHODS.len()],
    finished: [[OnceLock<(Histogram, Counter)>; STATUSES.len()]; METHODS.len()],
}

impl EndpointSeries {
    fn new(endpoint: &str) -> Self {
        Self {
            endpoint: SharedString::from_owned(endpoint.to_owned()),
            in_flight: Default::default(),
            finished: Default::default(),
        }
    }

    /// `requests_in_flight{endpoint, method}`, registered with `recorder` on first use.
    pub(crate) fn in_flight(&self, recorder: &dyn Recorder, method: usize) -> &Gauge {
        self.in_flight[method].get_or_init(|| {
            let labels = vec![
                Label::new("endpoint", self.endpoint.clone()),
                Label::from_static_parts("method", METHODS[method]),
            ];
            recorder.register_gauge(&Key::from_parts(REQUESTS_IN_FLIGHT, labels), &METADATA)
        })
    }

    /// `requests_in_flight{endpoint, method}` if it was registered.
    pub(crate) fn in_flight_registered(&self, method: usize) -> Option<&Gauge> {
        self.in_flight[method].get()
    }

    /// `request_duration_seconds` and `requests_total`, `{endpoint, method, status}`,
    /// registered with `recorder` on first use.
    pub(crate) fn finished(
        &self,
        recorder: &dyn Recorder,
        method: usize,
        status: usize,
    ) -> &(Histogram, Counter) {
        self.finished[method][status].get_or_init(|| {
            let labels = vec![
                Label::new("endpoint", self.endpoint.clone()),
                Label::from_static_parts("method", METHODS[method]),
                Label::from_static_parts("status", STATUSES[status]),
            ];
            let duration = Key::from_parts(REQUEST_DURATION_SECONDS, labels.clone());
            let total = Key::from_parts(REQUESTS_TOTAL, labels);
            (
                recorder.register_histogram(&duration, &METADATA),
                recorder.register_counter(&total, &METADATA),
            )
        })
    }
}
