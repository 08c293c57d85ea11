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
    let service = |layer: HttpMetricsLayer| {
        ServiceBuilder::new()
            .layer(layer.endpoint_classifier(|_, _| Some(Cow::Borrowed("/scope"))))
            .service(service_fn(|_req: Request<()>| async {
                tokio::task::yield_now().await; // checked after a suspension, not only on first poll
                let span = tracing::Span::current();
                let Some(meta) = span.metadata() else {
                    return Ok::<_, Infallible>(Response::new("no span".to_owned()));
                };
                let scoped = meta.fields().field("perf.request_scope").is_some();
                Ok(Response::new(format!(
                    "{}:{}:{scoped}",
                    meta.name(),
                    meta.level()
                )))
            }))
    };
    let call = |layer: HttpMetricsLayer| async move {
        service(layer)
            .oneshot(Request::get("/scope").body(()).unwrap())
            .await
            .unwrap()
            .into_body()
    };
    assert_eq!(
        call(HttpMetricsLayer::new()).await,
        "http_request:INFO:true"
    );
    // Outside the request, no span is current.
    assert!(tracing::Span::current().metadata().is_none());

    // A DEBUG span is off under an INFO filter; `None` never opens one.
    let debug = || HttpMetricsLayer::new().request_span_level(Some(tracing::Level::DEBUG));
    assert_eq!(call(debug()).await, "no span");
    assert_eq!(
        call(HttpMetricsLayer::new().request_span_level(None)).await,
        "no span"
    );
    drop(_subscriber);
    let _debug_subscriber = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::DEBUG),
    );
    assert_eq!(call(debug()).await, "http_request:DEBUG:true");
    assert_eq!(
        call(HttpMetricsLayer::new().request_span_level(None)).await,
        "no span"
    );
    // Requests are still counted either way.
    let body = metrics.render();
    assert!(
        body.lines().any(|l| l.starts_with("requests_total{")
            && l.ends_with(r#"endpoint="/scope",method="GET",status="2xx"} 5"#)),
        "{body}"
    );
}
