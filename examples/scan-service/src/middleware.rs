//! Middleware around every route, outermost first:
//!
//! 1. perf-metrics' [`HttpMetricsLayer`]: `request_duration_seconds`, `requests_total` and
//!    `requests_in_flight` by route template (never the raw path), method and status class;
//! 2. a panic catcher (tower-http's `CatchPanicLayer`): a bug answers a JSON 500 instead of
//!    dropping the connection;
//! 3. response compression (gzip or brotli, per `Accept-Encoding`);
//! 4. JSON errors: any 4xx/5xx answer that is not JSON already (axum's rejections, its 405,
//!    a body over the limit) gets the service's `{"error", "message"}` body, status and
//!    headers kept;
//! 5. per-client rate limiting (governor, GCRA): the key is the bearer token when the request
//!    carries a well-formed one, else the peer address; `rate_limit_per_second` with a burst of
//!    `rate_limit_burst` (0 disables); over it, 429 with `Retry-After` and the JSON body.
//!    `/health` and `/metrics` are never limited. Idle keys are dropped every
//!    [`LIMITER_SWEEP`], so the limiter's memory stays bounded;
//! 6. the body limit: `max_body_bytes`, checked on `Content-Length` before the handler runs
//!    and enforced while reading (axum's `DefaultBodyLimit`), 413 either way.
//!
//! Unknown paths answer a JSON 404.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use perf_metrics::HttpMetricsLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;

use crate::auth::{bearer_token, is_well_formed};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// How often idle rate-limiter keys are dropped.
pub const LIMITER_SWEEP: Duration = Duration::from_secs(10);

/// Paths that are never rate limited.
pub const UNLIMITED_PATHS: [&str; 2] = ["/health", "/metrics"];

/// Longest error text of an inner answer carried into the JSON `message`.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Wraps `routes` in the service's middleware (see the module docs).
pub fn apply(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = &state.config;
    let limiter = RateLimit::new(config.rate_limit_per_second, config.rate_limit_burst);
    let max_body = config.max_body_bytes;
    routes
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(max_body, content_length_limit))
        .layer(from_fn_with_state(limiter, rate_limit))
        .layer(from_fn(json_errors))
        .layer(CompressionLayer::new().gzip(true).br(true))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(HttpMetricsLayer::new())
}

/// The JSON 404 for unknown paths.
async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!("no route for {}", request.uri().path()))
}

/// A panicking handler: logged, answered with a JSON 500.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a handler panicked".to_owned());
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}

/// 413 before the handler runs when `Content-Length` is over the limit.
async fn content_length_limit(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > u64::try_from(limit).unwrap_or(u64::MAX) => {
            ApiError::PayloadTooLarge { limit }.into_response()
        }
        _ => next.run(request).await,
    }
}

/// The machine-readable code for a status that an inner layer answered without a JSON body.
#[must_use]
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "request_failed",
    }
}

/// Gives every 4xx/5xx answer that is not JSON the service's JSON error body.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .filter(|t| !t.is_empty());
    let code = match (status, &text) {
        (StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY, Some(t))
            if t.contains("JSON") && !t.contains("deserialize") =>
        {
            "invalid_json"
        }
        _ => code_for_status(status),
    };
    let message = match (status, text) {
        (StatusCode::PAYLOAD_TOO_LARGE, _) => "the request body is too large".to_owned(),
        (_, Some(text)) if !status.is_server_error() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let body = ErrorBody {
        error: code,
        message,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(bytes))
}

/// The keyed limiter, or none when disabled.
#[derive(Clone, Debug)]
pub struct RateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl RateLimit {
    /// `per_second` requests per second per client with a burst of `burst` (at least 1); `0`
    /// for either disables limiting. Starts the sweep of idle keys when a tokio runtime runs.
    #[must_use]
    pub fn new(per_second: u32, burst: u32) -> Self {
        let (Some(rate), Some(burst)) = (NonZeroU32::new(per_second), NonZeroU32::new(burst))
        else {
            return Self { limiter: None };
        };
        let limiter = Arc::new(DefaultKeyedRateLimiter::dashmap(
            Quota::per_second(rate).allow_burst(burst),
        ));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&limiter)));
        }
        Self {
            limiter: Some(limiter),
        }
    }

    /// `Ok` when `key` may make a request now, else the seconds (at least 1) until it may.
    ///
    /// # Errors
    /// The seconds to wait.
    pub fn check(&self, key: &String) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

/// Drops idle keys (those whose state equals a fresh one) every [`LIMITER_SWEEP`], until the
/// limiter is gone.
async fn sweep(limiter: Weak<DefaultKeyedRateLimiter<String>>) {
    let mut tick = tokio::time::interval(LIMITER_SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

/// The rate-limit key: the bearer token when well-formed, else the peer address.
fn client_key(request: &Request) -> String {
    if let Some(token) = bearer_token(request.headers()).filter(|t| is_well_formed(t)) {
        return format!("token:{token}");
    }
    match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
        None => "ip:unknown".to_owned(),
    }
}

/// 429 with `Retry-After` past the client's limit.
async fn rate_limit(State(limit): State<RateLimit>, request: Request, next: Next) -> Response {
    if limit.limiter.is_none() || UNLIMITED_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    match limit.check(&client_key(&request)) {
        Ok(()) => next.run(request).await,
        Err(retry_after_secs) => ApiError::RateLimited { retry_after_secs }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_gets_its_burst_then_waits_and_other_keys_are_unaffected() {
        let limit = RateLimit::new(1, 3);
        let a = "a".to_owned();
        for _ in 0..3 {
            assert_eq!(limit.check(&a), Ok(()));
        }
        let wait = limit.check(&a).unwrap_err();
        assert_eq!(wait, 1);
        assert_eq!(limit.check(&"b".to_owned()), Ok(()));
        let off = RateLimit::new(0, 3);
        for _ in 0..1_000 {
            assert_eq!(off.check(&a), Ok(()));
        }
    }

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

    #[test]
    fn every_error_status_has_a_code() {
        assert_eq!(
            code_for_status(StatusCode::METHOD_NOT_ALLOWED),
            "method_not_allowed"
        );
        assert_eq!(
            code_for_status(StatusCode::PAYLOAD_TOO_LARGE),
            "payload_too_large"
        );
        assert_eq!(code_for_status(StatusCode::BAD_GATEWAY), "internal_error");
        assert_eq!(code_for_status(StatusCode::IM_A_TEAPOT), "request_failed");
    }
}
