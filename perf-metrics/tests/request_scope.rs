//! The HTTP layer's per-request span carries `perf.request_scope` (CONVENTIONS item 2).
//!
//! One test in its own binary: `tracing` caches each callsite's interest process-wide, and a
//! test in the same binary hitting the span's callsite on another thread without a subscriber
//! can race the scoped subscriber set up here.

use std::borrow::Cow;
use std::convert::Infallible;

use http::{Request, Response};
use perf_metrics::{HttpMetricsLayer, Metrics};
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[tokio::test(flavor = "current_thread")]
async fn handlers_run_inside_a_request_scope_span() {
    use tracing_subscriber::layer::SubscriberExt;

    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO),
    );
    let metrics = Metrics::builder().service("scanner").build().unwrap();
    let recorder = metrics.recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let service = ServiceBuilder::new()
        .layer(HttpMetricsLayer::new().endpoint_classifier(|_, _| Some(Cow::Borrowed("/scope"))))
        .service(service_fn(|_req: Request<()>| async {
            tokio::task::yield_now().await; // checked after a suspension, not only on first poll
            let span = tracing::Span::current();
            let meta = span.metadata().expect("a current span inside the handler");
            let scoped = meta.fields().field("perf.request_scope").is_some();
            Ok::<_, Infallible>(Response::new(format!("{}:{scoped}", meta.name())))
        }));
    let response = service
        .oneshot(Request::get("/scope").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.into_body(), "http_request:true");
    // Outside the request, no span is current.
    assert!(tracing::Span::current().metadata().is_none());
}
