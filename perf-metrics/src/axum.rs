//! `/metrics` for axum applications (feature `axum`).

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

use crate::error::{Error, Result};
use crate::handle::{Metrics, PROMETHEUS_CONTENT_TYPE};

impl Metrics {
    /// A router answering `GET /metrics` with [`render`](Self::render); merge it into the
    /// application's router or [`serve`](Self::serve) it on its own port.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> perf_metrics::Result<()> {
    /// use axum::body::{Body, to_bytes};
    /// use tower::ServiceExt;
    ///
    /// let metrics = perf_metrics::Metrics::builder().service("scanner").build()?;
    /// metrics::with_local_recorder(&metrics.recorder(), || metrics::counter!("requests_total").increment(2));
    ///
    /// let app = axum::Router::new().merge(metrics.router());
    /// let request = http::Request::get("/metrics").body(Body::empty()).unwrap();
    /// let response = app.oneshot(request).await.unwrap();
    /// assert_eq!(response.headers()["content-type"], perf_metrics::PROMETHEUS_CONTENT_TYPE);
    /// let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    /// assert!(std::str::from_utf8(&body).unwrap().contains("requests_total{"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn router(&self) -> Router {
        let metrics = self.clone();
        Router::new().route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { ([(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], metrics.render()) }
            }),
        )
    }

    /// Serves [`router`](Self::router) on `listener` until the future is dropped (a dedicated
    /// scrape port, e.g. `0.0.0.0:9000`, kept off the public listener).
    ///
    /// # Errors
    ///
    /// [`Error::Listener`] if accepting connections fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> perf_metrics::Result<()> {
    /// let metrics = perf_metrics::Metrics::builder().service("scanner").build()?;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let server = tokio::spawn(metrics.clone().serve(listener));
    /// server.abort();
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve(self, listener: tokio::net::TcpListener) -> Result<()> {
        axum::serve(listener, self.router())
            .await
            .map_err(Error::Listener)
    }
}
