//! A lean HTTP/1.1 client: hyper-util's pooled client with keep-alive, one pool for every user,
//! each request timed from hand-off to the pool until its whole body has arrived.

use std::error::Error as StdError;
use std::time::{Duration, Instant};

use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How one request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The service answered (any status); the body was read to the end.
    Response {
        /// HTTP status code.
        status: u16,
        /// `Retry-After` in whole seconds, when present and numeric.
        retry_after: Option<u64>,
        /// The response body.
        body: Bytes,
    },
    /// No complete answer within the request timeout.
    Timeout,
    /// The TCP connection could not be opened.
    Connect(String),
    /// Anything else on the way (connection reset, malformed response, broken body).
    Transport(String),
}

/// One timed request.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// How it ended.
    pub outcome: Outcome,
    /// From hand-off to the pool until the end of the body (or the failure).
    pub latency: Duration,
    /// When it ended.
    pub finished: Instant,
}

impl Exchange {
    /// The status code, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Response { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a 2xx answer.
    pub fn is_success(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }

    /// The body, when the service answered.
    pub fn body(&self) -> Option<&Bytes> {
        match &self.outcome {
            Outcome::Response { body, .. } => Some(body),
            _ => None,
        }
    }

    /// A short description for messages: `HTTP 401: {...}` or the transport failure. Bodies are
    /// cut at 200 bytes; a login answer is never described when it succeeded (it holds a token).
    pub fn describe(&self) -> String {
        match &self.outcome {
            Outcome::Response { status, body, .. } => {
                let text = String::from_utf8_lossy(body);
                let text: String = text.chars().take(200).collect();
                format!("HTTP {status}: {}", text.trim())
            }
            Outcome::Timeout => format!("no answer within {:.1} s", self.latency.as_secs_f64()),
            Outcome::Connect(e) => format!("cannot connect: {e}"),
            Outcome::Transport(e) => format!("transport error: {e}"),
        }
    }
}

/// The shared HTTP client of a run.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    base: String,
    timeout: Duration,
}

impl HttpClient {
    /// A client for the service at `url` (`http://host:port`, optionally with a path prefix).
    /// `pool_size` is the most idle keep-alive connections kept (one per user is enough).
    pub fn new(url: &str, timeout: Duration, pool_size: usize) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("`{}` is not a URL: {e}", perf_redact::redact_url(url)))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "scheme `{other}` is not supported: the load test speaks plain HTTP/1.1"
                ));
            }
            None => {
                return Err(format!(
                    "`{}` has no scheme; use http://host:port",
                    perf_redact::redact_url(url)
                ));
            }
        }
        if uri.host().is_none() {
            return Err(format!("`{}` has no host", perf_redact::redact_url(url)));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let inner = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool_size.max(1))
            .build(connector);
        Ok(HttpClient {
            inner,
            base: url.trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request to `path_and_query` (starting with `/`), with the bearer `token`, a
    /// JSON `body` and an `Accept-Encoding` when given, and reads the whole answer (compressed
    /// bodies are read as they come, not decompressed).
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        token: Option<&str>,
        json_body: Option<Bytes>,
        accept_encoding: Option<&str>,
    ) -> Exchange {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path_and_query))
            .header(
                USER_AGENT,
                concat!("perf-loadtest/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(token) = token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(encoding) = accept_encoding {
            builder = builder.header(ACCEPT_ENCODING, encoding);
        }
        let request = match json_body {
            Some(body) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(body)),
            None => builder.body(Full::new(Bytes::new())),
        };
        let started = Instant::now();
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                return Exchange {
                    outcome: Outcome::Transport(format!("invalid request: {e}")),
                    latency: Duration::ZERO,
                    finished: started,
                };
            }
        };
        let exchange = async {
            let response = self.inner.request(request).await.map_err(|e| {
                if e.is_connect() {
                    Outcome::Connect(error_chain(&e))
                } else {
                    Outcome::Transport(error_chain(&e))
                }
            })?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| Outcome::Transport(error_chain(&e)))?
                .to_bytes();
            let retry_after = parts
                .headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            Ok::<_, Outcome>(Outcome::Response {
                status: parts.status.as_u16(),
                retry_after,
                body,
            })
        };
        let outcome = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(outcome) | Err(outcome)) => outcome,
            Err(_elapsed) => Outcome::Timeout,
        };
        let finished = Instant::now();
        Exchange {
            outcome,
            latency: finished.saturating_duration_since(started),
            finished,
        }
    }
}

/// `error: cause: cause`, so "client error (Connect)" says why.
fn error_chain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
