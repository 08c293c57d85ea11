//! [`GuardLayer`]: the service's own checks around every route, as one tower layer.
//!
//! Before the route: the declared body size (413) and the client's rate limit (429 with
//! `Retry-After`). Around it: a panic in the route (a bug) is caught and answered with a JSON
//! 500, and the service goes on. After it: any 4xx/5xx without a JSON body gets one
//! ([`json_errors`](super::json_errors)).
//!
//! These were three `axum::middleware::from_fn` layers and tower-http's `CatchPanicLayer`;
//! each boxed a future (the panic catcher also boxed every response body) and cloned the
//! service beneath it per request, and under wrk the nesting and the futures moved between
//! them cost more than the checks themselves. As one layer, a request that passes costs a
//! header read, one limiter lookup, an unwinding guard and one status check, and nothing is
//! boxed unless an error body has to be rewritten.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::json_errors::{into_json_error, needs_json_body};
use super::rate_limit::RateLimit;
use crate::error::ApiError;

/// Adds [`Guard`] around a service.
#[derive(Clone, Debug)]
pub struct GuardLayer {
    max_body_bytes: usize,
    limit: RateLimit,
}

impl GuardLayer {
    /// Refuses bodies declared larger than `max_body_bytes` and clients over `limit`.
    #[must_use]
    pub fn new(max_body_bytes: usize, limit: RateLimit) -> Self {
        Self {
            max_body_bytes,
            limit,
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`GuardLayer`] makes.
#[derive(Clone, Debug)]
pub struct Guard<S> {
    inner: S,
    layer: GuardLayer,
}

impl<S> Guard<S> {
    /// The answer for a request refused before the route runs.
    fn refusal(&self, request: &Request) -> Option<Response> {
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let limit = self.layer.max_body_bytes;
        if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Some(ApiError::PayloadTooLarge { limit }.into_response());
        }
        match self.layer.limit.check_request(request) {
            Ok(()) => None,
            Err(retry_after_secs) => {
                Some(ApiError::RateLimited { retry_after_secs }.into_response())
            }
        }
    }
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let refused = |response| GuardFuture {
            state: State::Refused {
                response: Some(response),
            },
        };
        if let Some(response) = self.refusal(&request) {
            return refused(response);
        }
        let inner = &mut self.inner;
        match panic::catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => GuardFuture {
                state: State::Route { future },
            },
            Err(panic) => refused(panic_response(&*panic)),
        }
    }
}

pin_project! {
    /// [`Guard`]'s response future.
    pub struct GuardFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F> {
        // Refused before the route ran; the answer is taken when polled.
        Refused { response: Option<Response> },
        // The route runs.
        Route { #[pin] future: F },
        // The route answered an error without a JSON body: reading it and writing one.
        Rewrite { future: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl<F> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProjection::Refused { response } => {
                    let response = response.take().unwrap_or_else(|| {
                        ApiError::Internal("a refused request was polled again".to_owned())
                            .into_response()
                    });
                    return Poll::Ready(Ok(response));
                }
                StateProjection::Route { future } => {
                    let response = match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(Ok(response))) => response,
                        Err(panic) => {
                            // The route's future is unusable after a panic: never poll it again.
                            state.set(State::Refused { response: None });
                            return Poll::Ready(Ok(panic_response(&*panic)));
                        }
                    };
                    if !needs_json_body(&response) {
                        return Poll::Ready(Ok(response));
                    }
                    state.set(State::Rewrite {
                        future: Box::pin(into_json_error(response)),
                    });
                }
                StateProjection::Rewrite { future } => {
                    return future.as_mut().poll(cx).map(Ok);
                }
            }
        }
    }
}

/// The answer to a panicking route: a JSON 500 (the panic's text is logged, never sent).
fn panic_response(panic: &(dyn Any + Send)) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a handler panicked".to_owned());
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}
