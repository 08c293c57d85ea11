//! Sessions end to end, on the real binary: login, wrong password, missing and unknown tokens,
//! logout; sessions shared by two instances on one Redis (full mode, PostgreSQL + Redis);
//! the embedded mode without Redis; a Redis outage answers 503, not 401 or 500.

mod common;

use common::{PgSchema, Service, redis_url, start_sqlite, unique};
use hyper::{Method, StatusCode};
use serde_json::json;

/// The protected endpoint the tests use (it needs a session and nothing from the scans).
const PROTECTED: &str = "/api/v1/performance/cache/clear";

async fn post(service: &Service, path: &str, token: Option<&str>) -> common::Answer {
    service.request(Method::POST, path, None, token).await
}

fn assert_error(answer: &common::Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(
        answer.headers["content-type"],
        "application/json",
        "{}",
        answer.text()
    );
    let body = answer.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Removes every Redis key of `namespace` (the cache's and the sessions').
async fn drop_redis_keys(namespace: &str) {
    let client = redis::Client::open(redis_url()).expect("REDIS_URL parses");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at REDIS_URL must answer (scripts/test starts one)");
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{namespace}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        for key in keys {
            let _: () = redis::cmd("UNLINK")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("UNLINK");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// The whole login / logout cycle on one instance.
async fn login_cycle(service: &Service) {
    // Wrong password, wrong user, malformed body.
    let wrong = service
        .post_json(
            "/api/auth/login",
            &json!({"email": "test@example.com", "password": "password124"}),
            None,
        )
        .await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "unauthorized");
    let stranger = service
        .post_json(
            "/api/auth/login",
            &json!({"email": "x@example.com", "password": "password123"}),
            None,
        )
        .await;
    assert_error(&stranger, StatusCode::UNAUTHORIZED, "unauthorized");
    let garbage = service
        .request(
            Method::POST,
            "/api/auth/login",
            Some(b"{nope".to_vec()),
            None,
        )
        .await;
    assert_error(&garbage, StatusCode::BAD_REQUEST, "invalid_json");

    // The login answer.
    let ok = service
        .post_json(
            "/api/auth/login",
            &json!({"email": "test@example.com", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let body = ok.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let other = service.login().await;
    assert_ne!(token, other, "every login gets its own token");

    // The protected endpoint: no token, garbage, an unknown well-formed token, then the real one.
    assert_error(
        &post(service, PROTECTED, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &post(service, PROTECTED, Some("garbage")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &post(service, PROTECTED, Some(&"0".repeat(64))).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let allowed = post(service, PROTECTED, Some(&token)).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text());
    assert_eq!(allowed.json()["cleared"], true);

    // Logout: 204, then the token is refused (logout too); the other session lives on.
    let out = post(service, "/api/auth/logout", Some(&token)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text());
    assert_error(
        &post(service, PROTECTED, Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &post(service, "/api/auth/logout", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(
        post(service, PROTECTED, Some(&other)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn embedded_mode_logs_in_and_out_without_redis() {
    let dir = tempfile::tempdir().unwrap();
    let service = start_sqlite(dir.path(), 0, &["--warm-scans", "0"]).await;
    let health = service.get("/health").await.json();
    assert_eq!(health["cache"], "disabled", "{health}");
    login_cycle(&service).await;
    service.kill().await;
}

#[tokio::test]
async fn two_instances_on_one_redis_honour_each_others_sessions() {
    let schema = PgSchema::create().await;
    let namespace = unique("ops_auth");
    let redis = redis_url();
    let env = [
        ("DATABASE_URL", schema.url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("CACHE_NAMESPACE", namespace.as_str()),
    ];
    let args = ["--seed", "0", "--warm-scans", "0"];
    let a = Service::start(&args, &env).await;
    a.wait_ready().await;
    let b = Service::start(&args, &env).await;
    b.wait_ready().await;
    let health = a.get("/health").await.json();
    assert_eq!(health["cache"], "ok", "{health}");
    assert_eq!(health["database"], "ok", "{health}");

    login_cycle(&a).await;

    // Made on A, honoured by B; ended on B, refused by A.
    let token = a.login().await;
    assert_eq!(
        post(&b, PROTECTED, Some(&token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        post(&b, "/api/auth/logout", Some(&token)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &post(&a, PROTECTED, Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &post(&b, PROTECTED, Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    a.kill().await;
    b.kill().await;
    drop_redis_keys(&namespace).await;
}

#[tokio::test]
async fn a_redis_outage_answers_503_for_sessions_and_the_service_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let namespace = unique("ops_down");
    // Nothing listens on port 1.
    let service = Service::start(
        &[
            "--database-url",
            &format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display()),
            "--seed",
            "0",
            "--warm-scans",
            "0",
        ],
        &[
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("CACHE_NAMESPACE", namespace.as_str()),
        ],
    )
    .await;
    service.wait_ready().await;
    let health = service.get("/health").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text());
    assert_eq!(health.json()["cache"], "degraded");
    let login = service
        .post_json(
            "/api/auth/login",
            &json!({"email": "test@example.com", "password": "password123"}),
            None,
        )
        .await;
    assert_error(
        &login,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    assert_error(
        &post(&service, PROTECTED, Some(&"a".repeat(64))).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    // No token at all is still a 401: the store is not asked.
    assert_error(
        &post(&service, PROTECTED, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    service.kill().await;
}
