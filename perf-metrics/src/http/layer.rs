//! [`HttpMetricsLayer`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::series::SeriesCache;
use super::service::HttpMetrics;

pub(crate) type Classifier =
    Arc<dyn Fn(&http::Uri, &http::Extensions) -> Option<Cow<'static, str>> + Send + Sync>;

/// Wraps a service in [`HttpMetrics`]: request duration, count and in-flight gauge per route
/// template. See [the module docs](crate::http) for labels.
///
/// With axum (feature `axum`), add it with `Router::layer` so `MatchedPath` is known:
///
/// ```
/// # #[cfg(feature = "axum")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> perf_metrics::Result<()> {
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use perf_metrics::{HttpMetricsLayer, Metrics};
/// use tower::ServiceExt;
///
/// let metrics = Metrics::builder().service("scanner").build()?;
/// let recorder = metrics.recorder();
/// let _guard = metrics::set_default_local_recorder(&recorder);
///
/// let app = Router::new()
///     .route("/api/scans/{id}", get(|| async { "scan" }))
///     .layer(HttpMetricsLayer::new());
/// let request = Request::get("/api/scans/123").body(Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
///
/// let body = metrics.render();
/// assert!(body.contains(r#"endpoint="/api/scans/{id}",method="GET",status="2xx"} 1"#));
/// assert!(!body.contains("/api/scans/123"));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "axum"))]
/// # fn main() {}
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct HttpMetricsLayer {
    classifier: Option<Classifier>,
    pub(crate) exact_status: bool,
    /// Handles for the installed global recorder, shared by every clone of this layer.
    pub(crate) series: Arc<SeriesCache>,
    pub(crate) span_level: SpanLevel,
}

/// The level of the per-request span; `None`: no span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanLevel(pub(crate) Option<tracing::Level>);

impl Default for SpanLevel {
    fn default() -> Self {
        Self(Some(tracing::Level::INFO))
    }
}

impl fmt::Debug for HttpMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetricsLayer")
            .field("classifier", &self.classifier.is_some())
            .field("exact_status", &self.exact_status)
            .field("request_span_level", &self.span_level.0)
            .finish()
    }
}

impl HttpMetricsLayer {
    /// A layer that labels by axum's `MatchedPath` (feature `axum`), else
    /// [`UNMATCHED_ENDPOINT`](crate::http::UNMATCHED_ENDPOINT).
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps a request to its route template (e.g. `/api/scans/{id}`), for routers other than
    /// axum's. Return `None` to fall back to `MatchedPath` / `unmatched`. Never return the raw
    /// path: every distinct value is a new time series.
    ///
    /// Default: none.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use perf_metrics::HttpMetricsLayer;
    ///
    /// let layer = HttpMetricsLayer::new().endpoint_classifier(|uri, _extensions| {
    ///     let path = uri.path();
    ///     path.starts_with("/api/scans/").then_some(Cow::Borrowed("/api/scans/{id}"))
    /// });
    /// # let _ = layer;
    /// ```
    pub fn endpoint_classifier<F>(mut self, classifier: F) -> Self
    where
        F: Fn(&http::Uri, &http::Extensions) -> Option<Cow<'static, str>> + Send + Sync + 'static,
    {
        self.classifier = Some(Arc::new(classifier));
        self
    }
}

impl HttpMetricsLayer {
    /// Label `status` with the exact code (`200`, `404`, ...) instead of its class (`2xx`,
    /// `4xx`, ...). Every distinct code is a new series per endpoint and method (with a
    /// histogram's buckets each), so enable it only when clients cannot send requests that
    /// provoke arbitrary codes.
    ///
    /// Default: `false`: `1xx`, `2xx`, `3xx`, `4xx`, `5xx` (non-standard 600–999 count as `5xx`),
    /// plus `error` and `cancelled`.
    ///
    /// ```
    /// use perf_metrics::HttpMetricsLayer;
    ///
    /// let layer = HttpMetricsLayer::new().exact_status_codes(true);
    /// # let _ = layer;
    /// ```
    pub fn exact_status_codes(mut self, exact: bool) -> Self {
        self.exact_status = exact;
        self
    }
}

impl HttpMetricsLayer {
    /// The level of the `http_request` span each request runs in (see [the module
    /// docs](crate::http#request-scope)), or `None` for no span.
    ///
    /// The span is what perf-db's N+1 detection counts in and what gives log lines their
    /// request context, and it is not free: a formatting subscriber (tracing-subscriber's
    /// `fmt`) writes its fields when it opens, which under callgrind was about 4,000
    /// instructions per request, around an eighth of scan-service's cached read. At
    /// `DEBUG` (tower-http's `TraceLayer` default) it costs an interest check unless debug
    /// logging is on for `perf_metrics`.
    ///
    /// Default: `Some(Level::INFO)`.
    ///
    /// ```
    /// use perf_metrics::HttpMetricsLayer;
    ///
    /// let layer = HttpMetricsLayer::new().request_span_level(Some(tracing::Level::DEBUG));
    /// # let _ = layer;
    /// ```
    pub fn request_span_level(mut self, level: Option<tracing::Level>) -> Self {
        self.span_level = SpanLevel(level);
        self
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics::new(inner, self.clone())
    }
}

impl HttpMetricsLayer {
    pub(crate) fn classify<'a>(
        &self,
        uri: &http::Uri,
        extensions: &'a http::Extensions,
    ) -> Cow<'a, str> {
        if let Some(endpoint) = self.classifier.as_ref().and_then(|c| c(uri, extensions)) {
            return endpoint;
        }
        #[cfg(feature = "axum")]
        if let Some(path) = extensions.get::<axum::extract::MatchedPath>() {
            return Cow::Borrowed(path.as_str());
        }
        Cow::Borrowed(super::UNMATCHED_ENDPOINT)
    }
}
