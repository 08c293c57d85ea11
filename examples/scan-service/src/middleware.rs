//! Middleware around every route, outermost first:
//!
//! 1. perf-metrics' [`HttpMetricsLayer`]: `request_duration_seconds`, `requests_total` and
//!    `requests_in_flight` by route template (never the raw path), method and status class,
//!    and the per-request span at [`REQUEST_SPAN_LEVEL`];
//! 2. the service's guard ([`guard::GuardLayer`], one layer for four jobs):
//!    - a panic catcher: a bug answers a JSON 500 instead of dropping the connection;
//!    - JSON errors: any 4xx/5xx answer that is not JSON already (axum's rejections, its 405,
//!      a body over the limit) gets the service's `{"error", "message"}` body, status and
//!      headers kept;
//!    - per-client rate limiting (governor, GCRA): the key is the bearer token when the
//!      request carries a well-formed one, else the peer address; `rate_limit_per_second`
//!      with a burst of `rate_limit_burst` (0 disables); over it, 429 with `Retry-After` and
//!      the JSON body. `/health` and `/metrics` are never limited. Idle keys are dropped
//!      every [`LIMITER_SWEEP`], so the limiter's memory stays bounded;
//!    - the declared body size: `Content-Length` over `max_body_bytes` is a 413 before the
//!      handler runs;
//! 3. the body limit while reading (axum's `DefaultBodyLimit`, `max_body_bytes`): a body
//!    streamed without a length, or longer than declared, is a 413 too.
//!
//! Inside them, the routes that can answer more than a few hundred bytes are wrapped in
//! [`compress`] (see [`crate::app::router`]).
//!
//! Unknown paths answer a JSON 404.

pub mod guard;
pub mod json_errors;
pub mod rate_limit;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use perf_metrics::HttpMetricsLayer;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::SizeAbove;

use crate::error::ApiError;
use crate::state::AppState;
use guard::GuardLayer;
pub use json_errors::code_for_status;
pub use rate_limit::{LIMITER_SWEEP, RateLimit, UNLIMITED_PATHS};

/// Answers of at most this many bytes are sent as they are: a scan (about 130 bytes) gains
/// nothing from compression, and tower-http's default predicate (over 32 bytes, and not gRPC,
/// an image or an event stream) read three headers per answer to decide. Lists, summaries and
/// the performance JSON are larger and are compressed.
pub const COMPRESS_ABOVE_BYTES: u64 = 256;

/// The level of perf-metrics' per-request `http_request` span. At `DEBUG` (tower-http's
/// `TraceLayer` default) it costs nothing under the default `RUST_LOG=info`; with
/// `RUST_LOG=info,perf_metrics=debug` every request gets its span back: the route and method
/// on each log line it writes, and perf-db's N+1 detection per request. At `INFO` it was
/// about 4,000 instructions of a cached read's 30,000 (callgrind), most of them the log
/// formatter writing the span's fields.
pub const REQUEST_SPAN_LEVEL: tracing::Level = tracing::Level::DEBUG;

/// Wraps `routes` in the service's middleware (see the module docs).
///
/// The layers are stacked with one `ServiceBuilder` and applied with one `Router::layer`:
/// axum boxes each route once per `layer` call, and every box is a clone and an allocation
/// per request.
pub fn apply(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = &state.config;
    let limiter = RateLimit::new(config.rate_limit_per_second, config.rate_limit_burst);
    let max_body = config.max_body_bytes;
    routes.fallback(not_found).layer(
        ServiceBuilder::new()
            .layer(HttpMetricsLayer::new().request_span_level(Some(REQUEST_SPAN_LEVEL)))
            .layer(GuardLayer::new(max_body, limiter))
            .layer(DefaultBodyLimit::max(max_body)),
    )
}

/// Compresses the answers of `routes` (gzip or brotli, per `Accept-Encoding`) when they are
/// over [`COMPRESS_ABOVE_BYTES`].
pub fn compress(routes: Router<AppState>) -> Router<AppState> {
    routes.layer(
        CompressionLayer::new()
            .gzip(true)
            .br(true)
            .compress_when(SizeAbove::new(COMPRESS_ABOVE_BYTES)),
    )
}

/// The JSON 404 for unknown paths.
async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!("no route for {}", request.uri().path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::StatusCode;

    /// A state on a temporary SQLite file, in-process cache and sessions, a local recorder.
    async fn test_state(dir: &std::path::Path, extra: &[&str]) -> AppState {
        use clap::Parser as _;
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let mut args = vec!["scan-service", "--database-url", url.as_str()];
        args.extend_from_slice(extra);
        let config = crate::Config::parse_from(args);
        AppState::new(crate::state::Shared {
            db: crate::db::Db::connect(&config).await.unwrap(),
            cache: perf_cache::Backend::builder().build().await.unwrap(),
            sessions: crate::auth::Sessions::build(&config).await.unwrap(),
            metrics: perf_metrics::Metrics::builder().build().unwrap(),
            config: Arc::new(config),
            ready: Arc::default(),
            started: std::time::Instant::now(),
        })
    }

    async fn call(
        app: &Router,
        request: axum::http::Request<Body>,
    ) -> (StatusCode, serde_json::Value) {
        use tower::Service as _;
        let response = app.clone().call(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_json_500_and_the_service_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let state = test_state(dir.path(), &[]).await;
        let routes = Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/fine", axum::routing::get(|| async { axum::Json(1) }));
        let app = apply(routes, &state).with_state(state);
        let get = |path: &str| axum::http::Request::get(path).body(Body::empty()).unwrap();
        let (status, body) = call(&app, get("/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "internal_error");
        assert_eq!(
            body["message"], "internal error",
            "the panic's text is logged, not sent"
        );
        assert_eq!(
            call(&app, get("/fine")).await,
            (StatusCode::OK, serde_json::json!(1))
        );
    }

    #[tokio::test]
    async fn a_streamed_body_over_the_limit_is_a_json_413() {
        let dir = tempfile::tempdir().unwrap();
        let state = test_state(dir.path(), &["--max-body-bytes", "16"]).await;
        let routes = Router::new().route(
            "/echo",
            axum::routing::post(|body: axum::body::Bytes| async move { axum::Json(body.len()) }),
        );
        let app = apply(routes, &state).with_state(state);
        // No Content-Length: only reading the body finds it too large.
        let post = |body: &'static str| {
            axum::http::Request::post("/echo")
                .body(Body::from_stream(futures::stream::once(async move {
                    Ok::<_, std::io::Error>(axum::body::Bytes::from_static(body.as_bytes()))
                })))
                .unwrap()
        };
        assert_eq!(
            call(&app, post("0123456789")).await,
            (StatusCode::OK, serde_json::json!(10))
        );
        let (status, body) = call(&app, post("0123456789abcdefghij")).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "payload_too_large");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_the_handler_runs() {
        let dir = tempfile::tempdir().unwrap();
        let state = test_state(dir.path(), &["--max-body-bytes", "16"]).await;
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&ran);
        let routes = Router::new().route(
            "/echo",
            axum::routing::post(move || {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { axum::Json(0) }
            }),
        );
        let app = apply(routes, &state).with_state(state);
        let request = axum::http::Request::post("/echo")
            .header(axum::http::header::CONTENT_LENGTH, "17")
            .body(Body::empty())
            .unwrap();
        let (status, body) = call(&app, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "payload_too_large");
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);
        // A plain-text rejection from axum (405) gets the JSON body through the same layer.
        let (status, body) = call(
            &app,
            axum::http::Request::get("/echo")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"], "method_not_allowed");
    }
}
