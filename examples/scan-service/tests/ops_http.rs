//! The middleware and the operational endpoints end to end, on the real binary (embedded
//! mode): 429 past the rate limit, compression, 413 / 404 / 405 JSON errors, `/metrics`
//! through a real Prometheus text parser, and the performance JSON.

mod common;

use std::io::Read;

use common::{Answer, Service, start_sqlite};
use hyper::{Method, StatusCode};
use serde_json::Value;

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(answer.headers["content-type"], "application/json");
    let body = answer.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
}

async fn get_with(
    service: &Service,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    service
        .try_request(Method::GET, path, None, token, headers)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn past_the_burst_a_client_gets_429_and_other_clients_and_health_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let service = start_sqlite(
        dir.path(),
        0,
        &[
            "--warm-scans",
            "0",
            "--rate-limit-per-second",
            "1",
            "--rate-limit-burst",
            "3",
        ],
    )
    .await;
    // Two logins: the peer address's bucket, not the tokens'.
    let a = service.login().await;
    let b = service.login().await;

    // Five requests at once with token A: the burst (3) passes, exactly the 2 past it get 429.
    let path = "/api/v1/performance/cache/stats";
    let one = || get_with(&service, path, Some(&a), &[]);
    let (r1, r2, r3, r4, r5) = tokio::join!(one(), one(), one(), one(), one());
    let answers = [r1, r2, r3, r4, r5];
    let ok = answers
        .iter()
        .filter(|x| x.status == StatusCode::OK)
        .count();
    let limited: Vec<&Answer> = answers
        .iter()
        .filter(|x| x.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!((ok, limited.len()), (3, 2), "{answers:?}");
    for answer in limited {
        assert_error(answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let retry: u64 = answer.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1, "Retry-After {retry}");
    }
    // Another client key is unaffected.
    assert_eq!(
        get_with(&service, path, Some(&b), &[]).await.status,
        StatusCode::OK
    );
    // /health and /metrics are never limited.
    for _ in 0..10 {
        assert_eq!(service.get("/health").await.status, StatusCode::OK);
        assert_eq!(service.get("/metrics").await.status, StatusCode::OK);
    }
    service.kill().await;
}

#[tokio::test]
async fn bad_requests_get_json_errors_and_answers_are_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let service = start_sqlite(dir.path(), 0, &["--warm-scans", "0"]).await;

    // 413 over the 64 KiB limit, whatever the endpoint.
    let big = vec![b' '; 64 * 1024 + 1];
    // (`connection: close`: the service answers without reading the body, then closes the
    // connection, which a pooled client must not reuse.)
    let too_large = service
        .try_request(
            Method::POST,
            "/api/auth/login",
            Some(big),
            None,
            &[("connection", "close")],
        )
        .await
        .expect("413 answer");
    assert_error(
        &too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // 404 for an unknown path, 405 for a wrong method (its Allow header kept).
    assert_error(
        &service.get("/no/such/path").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let wrong_method = service.request(Method::DELETE, "/health", None, None).await;
    assert_error(
        &wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert!(wrong_method.headers.contains_key("allow"));
    // 422 for an out-of-range n.
    for bad in ["0", "101", "ten"] {
        let answer = service
            .get(&format!("/api/v1/performance/queries/top?n={bad}"))
            .await;
        assert_error(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let top = service.get("/api/v1/performance/queries/top?n=100").await;
    assert_eq!(top.status, StatusCode::OK);
    assert!(top.json()["queries"].is_array());

    // Compression: gzip decodes to the same JSON document; brotli is offered too; no
    // Accept-Encoding, no compression.
    let path = "/api/v1/performance/database/stats";
    let plain = service.get(path).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(!plain.headers.contains_key("content-encoding"));
    let gz = get_with(&service, path, None, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.headers["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    let decoded: Value = serde_json::from_str(&text).expect("gzip body is JSON");
    let plain = plain.json();
    assert_eq!(decoded["pool"], plain["pool"]);
    assert_eq!(decoded["system"], "sqlite");
    assert_eq!(decoded["max_connections"], plain["max_connections"]);
    assert_eq!(
        decoded.as_object().unwrap().keys().collect::<Vec<_>>(),
        plain.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    let br = get_with(&service, path, None, &[("accept-encoding", "br")]).await;
    assert_eq!(br.headers["content-encoding"], "br");
    service.kill().await;
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(*v),
            prometheus_parse::Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map(|b| b.count),
            _ => None,
        })
}

#[tokio::test]
async fn metrics_and_performance_json_count_the_requests_made() {
    let dir = tempfile::tempdir().unwrap();
    let service = start_sqlite(dir.path(), 0, &["--warm-scans", "0"]).await;
    let token = service.login().await;
    let before = service.get("/api/v1/performance/cache/stats").await.json();

    for _ in 0..5 {
        assert_eq!(
            service
                .get("/api/v1/performance/database/stats")
                .await
                .status,
            StatusCode::OK
        );
    }
    for _ in 0..3 {
        let a = service
            .request(Method::POST, "/api/v1/performance/cache/clear", None, None)
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let cleanup = service
        .request(
            Method::POST,
            "/api/v1/performance/cache/cleanup",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(cleanup.status, StatusCode::OK, "{}", cleanup.text());
    assert!(cleanup.json()["removed"].is_u64());
    for _ in 0..2 {
        assert_eq!(service.get("/nowhere").await.status, StatusCode::NOT_FOUND);
    }

    let text = service.get("/metrics").await;
    assert_eq!(text.status, StatusCode::OK);
    assert!(
        text.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        text.headers
    );
    let lines = text
        .text()
        .lines()
        .map(|l| Ok(l.to_owned()))
        .collect::<Vec<_>>();
    let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).expect("valid Prometheus text");
    let db_stats = [
        ("endpoint", "/api/v1/performance/database/stats"),
        ("method", "GET"),
        ("status", "2xx"),
    ];
    let clear_401 = [
        ("endpoint", "/api/v1/performance/cache/clear"),
        ("method", "POST"),
        ("status", "4xx"),
    ];
    let cleanup_ok = [
        ("endpoint", "/api/v1/performance/cache/cleanup"),
        ("method", "POST"),
        ("status", "2xx"),
    ];
    for (labels, n) in [
        (&db_stats[..], 5.0),
        (&clear_401[..], 3.0),
        (&cleanup_ok[..], 1.0),
    ] {
        assert_eq!(
            sample(&scrape, "requests_total", labels),
            Some(n),
            "{labels:?}"
        );
        assert_eq!(
            sample(&scrape, "request_duration_seconds_count", labels),
            Some(n),
            "{labels:?}"
        );
        assert_eq!(
            sample(&scrape, "request_duration_seconds", labels),
            Some(n),
            "+Inf bucket of {labels:?}"
        );
    }
    // Unknown paths share one series, never their raw path.
    assert!(!text.text().contains("/nowhere"));

    // The performance JSON: every field, with its type.
    let perf = service.get("/api/v1/performance").await;
    assert_eq!(perf.status, StatusCode::OK);
    let perf = perf.json();
    let http = perf["http"].as_object().expect("http object");
    let db = &http["GET /api/v1/performance/database/stats"];
    assert_eq!(db["count"], 5, "{db}");
    for p in ["p50_ms", "p95_ms", "p99_ms"] {
        assert!(db[p].as_f64().is_some_and(|v| v >= 0.0), "{p}: {db}");
    }
    assert!(db["p50_ms"].as_f64() <= db["p99_ms"].as_f64());
    assert_eq!(http["POST /api/v1/performance/cache/clear"]["count"], 3);
    assert!(perf["uptime_seconds"].is_u64());
    assert_eq!(perf["database"]["system"], "sqlite");
    assert!(perf["database"]["max_connections"].is_u64());
    assert_eq!(perf["cache"]["enabled"], true);
    let stats = &perf["cache"]["stats"];
    for field in ["size", "max_size", "hits", "misses", "total_requests"] {
        assert!(stats[field].is_u64(), "{field}: {stats}");
    }
    assert!(stats["hit_ratio"].is_f64(), "{stats}");
    let rate = stats["hit_rate"].as_str().expect("hit_rate string");
    assert!(rate.ends_with('%') && rate.contains('.'), "{rate}");

    // None of those requests used the cache: the counts did not move.
    let after = service.get("/api/v1/performance/cache/stats").await.json();
    assert_eq!(after["enabled"], true);
    for field in ["hits", "misses", "total_requests"] {
        assert_eq!(after["stats"][field], before["stats"][field], "{field}");
    }
    service.kill().await;
}

/// The exact cache counts through the service's cached read.
#[tokio::test]
async fn cache_stats_count_exact_hits_and_misses_of_the_cached_read() {
    let dir = tempfile::tempdir().unwrap();
    let service = start_sqlite(dir.path(), 20, &["--warm-scans", "0"]).await;
    let token = service.login().await;
    let clear = service
        .request(
            Method::POST,
            "/api/v1/performance/cache/clear",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(clear.json()["cleared"], true);
    let before = service.get("/api/v1/performance/cache/stats").await.json()["stats"].clone();
    // 5 distinct ids: 5 misses; each read 3 more times: 15 hits.
    for id in 1..=5 {
        for _ in 0..4 {
            assert_eq!(
                service.get(&format!("/api/scans/{id}")).await.status,
                StatusCode::OK
            );
        }
    }
    let after = service.get("/api/v1/performance/cache/stats").await.json()["stats"].clone();
    let delta = |f: &str| after[f].as_u64().unwrap() - before[f].as_u64().unwrap();
    assert_eq!(
        (delta("hits"), delta("misses"), delta("total_requests")),
        (15, 5, 20)
    );
    service.kill().await;
}
