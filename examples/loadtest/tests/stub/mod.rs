//! A tiny stand-in for scan-service: only the endpoints the load test calls, with the API
//! contract's shapes, counting what it receives and answering faults on a fixed schedule.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub(crate) const EMAIL: &str = "test@example.com";
pub(crate) const PASSWORD: &str = "password123";
/// Lifetime cache counters before any run (50 % hit rate).
pub(crate) const LIFETIME_HITS: u64 = 5_000;
pub(crate) const LIFETIME_MISSES: u64 = 5_000;
/// The stub's "cache" holds ids up to this one: lower ids are hits, higher ones misses.
pub(crate) const CACHED_IDS: u64 = 10;

/// What the stub answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every request succeeds.
    Healthy,
    /// `GET /api/scans/{id}`: the n-th (from 0) gets a 500 when n % 10 == 3, a 429 when
    /// n % 10 == 5, and (for the first `SLOW_ANSWERS` of n % 10 == 7) an answer after 5 s.
    /// `POST /api/scans`: the n-th gets a 422 when n % 4 == 1.
    Faulty,
    /// The cache stats endpoint does not exist (404).
    NoCacheStats,
    /// Every odd-numbered login (the 2nd, 4th, ...) gets a 429 with `Retry-After: 0`.
    ThrottledLogins,
}

/// How many slow answers the faulty stub sends.
pub(crate) const SLOW_ANSWERS: u64 = 3;

#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) logins: AtomicU64,
    pub(crate) failed_logins: AtomicU64,
    pub(crate) view_list: AtomicU64,
    pub(crate) view_one: AtomicU64,
    pub(crate) create: AtomicU64,
    pub(crate) cache_stats: AtomicU64,
    pub(crate) unauthorized: AtomicU64,
    pub(crate) sent_500: AtomicU64,
    pub(crate) sent_429: AtomicU64,
    pub(crate) sent_422: AtomicU64,
    pub(crate) sent_slow: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
    /// Requests per id of `GET /api/scans/{id}`.
    pub(crate) ids: Mutex<BTreeMap<u64, u64>>,
    /// Requests per page of the list view.
    pub(crate) pages: Mutex<BTreeMap<u64, u64>>,
    /// List views with a target or status filter.
    pub(crate) filtered: AtomicU64,
    /// Tokens issued, and tokens seen on scenario requests.
    pub(crate) issued: Mutex<HashSet<String>>,
    pub(crate) used: Mutex<HashSet<String>>,
    /// Query or body problems the contract would answer with 4xx (must stay 0).
    pub(crate) contract_violations: Mutex<Vec<String>>,
    pub(crate) health: AtomicU64,
    /// `Accept-Encoding` values seen, by path kind (`scenario`, `login`, `stats`).
    pub(crate) encodings: Mutex<BTreeMap<(String, String), u64>>,
}

impl Counts {
    pub(crate) fn get(c: &AtomicU64) -> u64 {
        c.load(SeqCst)
    }
}

pub(crate) struct Stub {
    pub(crate) mode: Mode,
    pub(crate) counts: Counts,
    slow_tickets: AtomicU64,
    /// `GET /health` answers 503 this many times, then 200.
    ready_after: u64,
}

type Shared = State<Arc<Stub>>;

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(status: StatusCode, code: &str) -> Response {
    json(
        status,
        format!(r#"{{"error":"{code}","message":"{code} (stub)"}}"#),
    )
}

fn scan(id: u64, target: &str, status: &str) -> String {
    format!(
        r#"{{"id":{id},"target":"{target}","scan_type":"full","status":"{status}","timestamp":"2026-11-20T10:00:00Z","created_by":"seed"}}"#
    )
}

fn note_encoding(stub: &Stub, kind: &str, headers: &HeaderMap) {
    let encoding = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    *stub
        .counts
        .encodings
        .lock()
        .unwrap()
        .entry((kind.to_owned(), encoding))
        .or_insert(0) += 1;
}

/// Checks the bearer token; `None` means authorized.
fn authorize(stub: &Stub, headers: &HeaderMap) -> Option<Response> {
    note_encoding(stub, "scenario", headers);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    match token {
        Some(token) if stub.counts.issued.lock().unwrap().contains(&token) => {
            stub.counts.used.lock().unwrap().insert(token);
            None
        }
        _ => {
            stub.counts.unauthorized.fetch_add(1, SeqCst);
            Some(error(StatusCode::UNAUTHORIZED, "unauthorized"))
        }
    }
}

fn violation(stub: &Stub, what: String) -> Response {
    stub.counts.contract_violations.lock().unwrap().push(what);
    error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
}

async fn login(State(stub): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let n = stub.counts.logins.fetch_add(1, SeqCst);
    note_encoding(&stub, "login", &headers);
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_json");
    };
    if stub.mode == Mode::ThrottledLogins && n % 2 == 1 {
        stub.counts.sent_429.fetch_add(1, SeqCst);
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, "0".parse().unwrap());
        return response;
    }
    if body["email"] != EMAIL || body["password"] != PASSWORD {
        stub.counts.failed_logins.fetch_add(1, SeqCst);
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let token = format!("token-{n}");
    stub.counts.issued.lock().unwrap().insert(token.clone());
    json(
        StatusCode::OK,
        format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":3600}}"#),
    )
}

async fn list(State(stub): Shared, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    stub.counts.view_list.fetch_add(1, SeqCst);
    if let Some(denied) = authorize(&stub, &headers) {
        return denied;
    }
    let query = query.unwrap_or_default();
    let mut page = None;
    let mut page_size = None;
    for (key, value) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        match key {
            "page" => page = value.parse::<u64>().ok(),
            "page_size" => page_size = value.parse::<u64>().ok(),
            "status" | "target" => {
                stub.counts.filtered.fetch_add(1, SeqCst);
                let ok = if key == "status" {
                    ["pending", "running", "completed", "failed"].contains(&value)
                } else {
                    !value.is_empty()
                        && value
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
                };
                if !ok {
                    return violation(&stub, format!("bad filter {key}={value}"));
                }
            }
            other => return violation(&stub, format!("unknown query key {other}")),
        }
    }
    let (Some(page @ 1..), Some(page_size @ 1..=1000)) = (page, page_size) else {
        return violation(&stub, format!("bad paging in `{query}`"));
    };
    *stub.counts.pages.lock().unwrap().entry(page).or_insert(0) += 1;
    let first = (page - 1) * page_size + 1;
    let scans: Vec<String> = (first..first + 3)
        .map(|id| scan(id, "10.0.3.7", "completed"))
        .collect();
    json(
        StatusCode::OK,
        format!(
            r#"{{"scans":[{}],"page":{page},"page_size":{page_size},"total":10000,"pages":{}}}"#,
            scans.join(","),
            10_000u64.div_ceil(page_size)
        ),
    )
}

async fn view_one(State(stub): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let n = stub.counts.view_one.fetch_add(1, SeqCst);
    if let Some(denied) = authorize(&stub, &headers) {
        return denied;
    }
    let Ok(id) = id.parse::<u64>() else {
        return violation(&stub, format!("non-numeric id {id}"));
    };
    *stub.counts.ids.lock().unwrap().entry(id).or_insert(0) += 1;
    if id <= CACHED_IDS {
        stub.counts.cache_hits.fetch_add(1, SeqCst);
    } else {
        stub.counts.cache_misses.fetch_add(1, SeqCst);
    }
    if stub.mode == Mode::Faulty {
        match n % 10 {
            3 => {
                stub.counts.sent_500.fetch_add(1, SeqCst);
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal");
            }
            5 => {
                stub.counts.sent_429.fetch_add(1, SeqCst);
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, "1".parse().unwrap());
                return response;
            }
            7 if stub.slow_tickets.fetch_add(1, SeqCst) < SLOW_ANSWERS => {
                stub.counts.sent_slow.fetch_add(1, SeqCst);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            _ => {}
        }
    }
    json(StatusCode::OK, scan(id, "10.0.3.7", "completed"))
}

async fn create(State(stub): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let n = stub.counts.create.fetch_add(1, SeqCst);
    if let Some(denied) = authorize(&stub, &headers) {
        return denied;
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return violation(&stub, "create body is not JSON".to_owned());
    };
    let target = body["target"].as_str().unwrap_or_default().to_owned();
    let scan_type = body["scan_type"].as_str().unwrap_or_default();
    let target_ok = (1..=253).contains(&target.len())
        && target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    if !is_json || !target_ok || !["full", "quick", "web", "network", "ssl"].contains(&scan_type) {
        return violation(&stub, format!("bad create body {body}"));
    }
    if stub.mode == Mode::Faulty && n % 4 == 1 {
        stub.counts.sent_422.fetch_add(1, SeqCst);
        return error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    json(StatusCode::CREATED, scan(100_000 + n, &target, "pending"))
}

async fn health(State(stub): Shared) -> Response {
    if stub.counts.health.fetch_add(1, SeqCst) < stub.ready_after {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"starting","ready":false,"database":"ok","cache":"ok"}"#.to_owned(),
        );
    }
    json(
        StatusCode::OK,
        r#"{"status":"ok","ready":true,"database":"ok","cache":"ok"}"#.to_owned(),
    )
}

async fn cache_stats(State(stub): Shared, headers: HeaderMap) -> Response {
    stub.counts.cache_stats.fetch_add(1, SeqCst);
    note_encoding(&stub, "stats", &headers);
    if stub.mode == Mode::NoCacheStats {
        return error(StatusCode::NOT_FOUND, "not_found");
    }
    let hits = LIFETIME_HITS + stub.counts.cache_hits.load(SeqCst);
    let misses = LIFETIME_MISSES + stub.counts.cache_misses.load(SeqCst);
    let total = hits + misses;
    #[allow(clippy::cast_precision_loss)]
    let ratio = hits as f64 / total as f64;
    json(
        StatusCode::OK,
        format!(
            r#"{{"enabled":true,"stats":{{"size":245,"max_size":100000,"hits":{hits},"misses":{misses},"hit_rate":"{:.2}%","hit_ratio":{ratio:.4},"total_requests":{total}}}}}"#,
            ratio * 100.0
        ),
    )
}

/// Starts a stub on a free loopback port, ready at once.
pub(crate) async fn start(mode: Mode) -> (SocketAddr, Arc<Stub>) {
    start_warming(mode, 0).await
}

/// Starts a stub whose `/health` answers 503 `ready_after` times before 200.
pub(crate) async fn start_warming(mode: Mode, ready_after: u64) -> (SocketAddr, Arc<Stub>) {
    let stub = Arc::new(Stub {
        mode,
        counts: Counts::default(),
        slow_tickets: AtomicU64::new(0),
        ready_after,
    });
    let app = Router::new()
        .route("/health", get(health))
        .route("/api/auth/login", post(login))
        .route("/api/scans", get(list).post(create))
        .route("/api/scans/{id}", get(view_one))
        .route("/api/v1/performance/cache/stats", get(cache_stats))
        .with_state(Arc::clone(&stub));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, stub)
}
