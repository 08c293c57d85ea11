//! Drives the built `scan-baseline` over HTTP against a private PostgreSQL schema and a private
//! Redis key prefix: the row's JSON, which tier answers (L1, Redis, PostgreSQL), and the error
//! answers. Needs PostgreSQL and Redis (`DATABASE_URL`, `REDIS_URL`, else the loopback defaults).

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Ids a test may touch; their Redis keys are removed at the end.
const IDS: [i64; 4] = [1, 2, 3, 999];

static NEXT: AtomicU32 = AtomicU32::new(0);

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// A private schema (its name is ours, so the SQL built with it is safe) holding `scans` exactly as the API contract has it, and a private Redis
/// prefix; both removed on drop.
struct Fixture {
    pool: PgPool,
    schema: String,
    prefix: String,
}

impl Fixture {
    async fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let schema = format!("test_scan_baseline_{}_{n}", std::process::id());
        let prefix = format!("test:scan-baseline:{}:{n}:", std::process::id());
        let pool = PgPool::connect(&database_url()).await.unwrap_or_else(|err| {
            panic!("scan-baseline tests need PostgreSQL (set DATABASE_URL or start one on 127.0.0.1:5432): {err}")
        });
        let ddl = format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.scans (
                 id BIGINT PRIMARY KEY,
                 target TEXT NOT NULL,
                 scan_type TEXT NOT NULL,
                 status TEXT NOT NULL,
                 timestamp TIMESTAMPTZ NOT NULL,
                 created_by TEXT
             );
             CREATE INDEX idx_scans_target ON {schema}.scans(target);
             CREATE INDEX idx_scans_timestamp ON {schema}.scans(timestamp DESC);
             CREATE INDEX idx_scans_status ON {schema}.scans(status);
             CREATE INDEX idx_scans_target_timestamp ON {schema}.scans(target, timestamp DESC);
             CREATE INDEX idx_scans_target_status_timestamp
                 ON {schema}.scans(target, status, timestamp DESC);
             INSERT INTO {schema}.scans VALUES
                 (1, '10.0.3.7', 'full', 'completed', '2026-11-20T10:00:00Z', 'seed'),
                 (2, 'example.com', 'web', 'running', '2026-11-21T08:30:00Z', NULL);"
        );
        sqlx::raw_sql(AssertSqlSafe(ddl))
            .execute(&pool)
            .await
            .unwrap();
        Self {
            pool,
            schema,
            prefix,
        }
    }

    /// The service's `DATABASE_URL`: the shared database with this schema first on the path.
    fn service_database_url(&self) -> String {
        let base = database_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options=-c%20search_path%3D{}", self.schema)
    }

    async fn set_status(&self, id: i64, status: &str) {
        let sql = format!("UPDATE {}.scans SET status = $1 WHERE id = $2", self.schema);
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(status)
            .bind(id)
            .execute(&self.pool)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
    }

    async fn insert(&self, id: i64, target: &str) {
        let sql = format!(
            "INSERT INTO {}.scans VALUES ($1, $2, 'quick', 'pending', '2026-11-22T00:00:00Z', 'test')",
            self.schema
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .bind(target)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(redis_url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap_or_else(|err| {
            panic!("scan-baseline tests need Redis (set REDIS_URL or start one on 127.0.0.1:6379): {err}")
        })
    }

    fn key(&self, id: i64) -> String {
        format!("{}scan:{id}", self.prefix)
    }

    /// Starts the binary on a free port with these extra flags.
    async fn start(&self, flags: &[&str]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scan-baseline"))
            .args(["--port", "0", "--redis-prefix", &self.prefix])
            .args(flags)
            .env("DATABASE_URL", self.service_database_url())
            .env("REDIS_URL", redis_url())
            .env_remove("PORT")
            .env_remove("BIND")
            .env_remove("REDIS_PREFIX")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("scan-baseline did not print its port within 30 s")
            .unwrap()
            .expect("scan-baseline exited before listening");
        let port = line
            .strip_prefix("listening on http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .unwrap();
        Service {
            _child: child,
            port,
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime: clean up from a thread with its own.
        let (schema, keys) = (self.schema.clone(), IDS.map(|id| self.key(id)));
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = PgPool::connect(&database_url()).await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&pool)
                    .await;
                }
                if let Ok(client) = redis::Client::open(redis_url())
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let _ = redis::cmd("DEL").arg(&keys).exec_async(&mut conn).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

struct Service {
    _child: Child,
    port: u16,
}

struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Value,
}

impl Service {
    /// One `GET` over a fresh connection (`Connection: close`), so nothing client-side caches.
    async fn get(&self, path: &str) -> Answer {
        self.request("GET", path, "").await
    }

    async fn request(&self, method: &str, path: &str, body: &str) -> Answer {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut head_lines = head.lines();
        let status = head_lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let content_type = head_lines.find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        });
        let body =
            serde_json::from_str(body).unwrap_or_else(|err| panic!("not JSON ({err}): {body:?}"));
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn status_of(&self, id: i64) -> String {
        let answer = self.get(&format!("/api/scans/{id}")).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["status"].as_str().unwrap().to_owned()
    }
}

fn scan_one(status: &str) -> Value {
    json!({
        "id": 1,
        "target": "10.0.3.7",
        "scan_type": "full",
        "status": status,
        "timestamp": "2026-11-20T10:00:00Z",
        "created_by": "seed"
    })
}

#[tokio::test]
async fn get_answers_the_rows_json() {
    let fixture = Fixture::new().await;
    for flags in [&[][..], &["--no-cache"][..]] {
        let service = fixture.start(flags).await;
        let one = service.get("/api/scans/1").await;
        assert_eq!(one.status, 200, "{flags:?}");
        assert_eq!(one.content_type.as_deref(), Some("application/json"));
        assert_eq!(one.body, scan_one("completed"), "{flags:?}");
        let two = service.get("/api/scans/2").await;
        assert_eq!(two.status, 200);
        assert_eq!(
            two.body,
            json!({"id": 2, "target": "example.com", "scan_type": "web", "status": "running",
                   "timestamp": "2026-11-21T08:30:00Z", "created_by": null})
        );
    }
}

#[tokio::test]
async fn login_answers_a_token_shaped_stub_and_health_answers_ok() {
    let fixture = Fixture::new().await;
    let service = fixture.start(&[]).await;
    let body = r#"{"email":"test@example.com","password":"password123"}"#;
    let answer = service.request("POST", "/api/auth/login", body).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.body["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(answer.body["token_type"], "bearer");
    assert_eq!(answer.body["expires_in"], 3600);

    let health = service.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn cached_reads_keep_the_old_value_within_the_ttl_and_no_cache_sees_the_new_one() {
    let fixture = Fixture::new().await;
    let cached = fixture.start(&[]).await;
    assert_eq!(cached.status_of(1).await, "completed");

    // The miss filled Redis with the same JSON and the TTL.
    let mut redis = fixture.redis().await;
    let stored: Option<String> = redis::cmd("GET")
        .arg(fixture.key(1))
        .query_async(&mut redis)
        .await
        .unwrap();
    let stored: Value =
        serde_json::from_str(&stored.expect("the miss did not fill Redis")).unwrap();
    assert_eq!(stored, scan_one("completed"));
    let ttl: i64 = redis::cmd("TTL")
        .arg(fixture.key(1))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((1..=600).contains(&ttl), "TTL {ttl}");

    fixture.set_status(1, "failed").await;

    // L1 answers the old value (twice, so a refill cannot hide behind the first answer).
    assert_eq!(cached.status_of(1).await, "completed");
    assert_eq!(cached.status_of(1).await, "completed");
    // A second instance without L1 reads the old value from Redis.
    let redis_only = fixture.start(&["--no-l1"]).await;
    assert_eq!(redis_only.status_of(1).await, "completed");
    // Straight to sqlx: the new value.
    let uncached = fixture.start(&["--no-cache"]).await;
    assert_eq!(uncached.status_of(1).await, "failed");

    // Without the Redis entry, the L1-less instance reads PostgreSQL; the first keeps its L1.
    redis::cmd("DEL")
        .arg(fixture.key(1))
        .exec_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(redis_only.status_of(1).await, "failed");
    assert_eq!(cached.status_of(1).await, "completed");

    fixture.set_status(1, "running").await;
    assert_eq!(uncached.status_of(1).await, "running");
}

#[tokio::test]
async fn unknown_ids_are_404_and_bad_ids_400_with_json_bodies_and_misses_are_not_cached() {
    let fixture = Fixture::new().await;
    for flags in [&[][..], &["--no-cache"][..]] {
        let service = fixture.start(flags).await;
        let missing = service.get("/api/scans/999").await;
        assert_eq!(missing.status, 404, "{flags:?}");
        assert_eq!(missing.content_type.as_deref(), Some("application/json"));
        assert_eq!(missing.body["error"], "not_found");
        assert_eq!(missing.body["message"], "scan 999 not found");

        for bad in ["abc", "1.5", "-", "0", "-1", "99999999999999999999", "%FF"] {
            let answer = service.get(&format!("/api/scans/{bad}")).await;
            assert_eq!(answer.status, 400, "{bad}");
            assert_eq!(answer.body["error"], "invalid_id", "{bad}");
            assert!(
                answer.body["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }

    // A 404 is not remembered: once the row exists, the cached instance serves it.
    let cached = fixture.start(&[]).await;
    assert_eq!(cached.get("/api/scans/3").await.status, 404);
    fixture.insert(3, "scanme.example.org").await;
    let found = cached.get("/api/scans/3").await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["target"], "scanme.example.org");
    assert_eq!(found.body["status"], "pending");
}
