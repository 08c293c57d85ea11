//! [`HttpMetricsLayer`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use tower::Layer;

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
}

impl fmt::Debug for HttpMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetricsLayer")
            .field("classifier", &self.classifier.is_some())
            .field("exact_status", &self.exact_status)
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

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics::new(inner, self.clone())
    }
}

impl HttpMetricsLayer {
    pub(crate) fn classify(
        &self,
        uri: &http::Uri,
        extensions: &http::Extensions,
    ) -> Cow<'static, str> {
        if let Some(endpoint) = self.classifier.as_ref().and_then(|c| c(uri, extensions)) {
            return endpoint;
        }
        #[cfg(feature = "axum")]
        if let Some(path) = extensions.get::<axum::extract::MatchedPath>() {
            return Cow::Owned(path.as_str().to_owned());
        }
        Cow::Borrowed(super::UNMATCHED_ENDPOINT)
    }
}
