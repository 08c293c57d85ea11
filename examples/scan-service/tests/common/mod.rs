//! End-to-end test support: starts the real `scan-service` binary on a free port with its own
//! database (a SQLite file in a temp dir, or a private PostgreSQL schema) and its own Redis
//! namespace, and talks to it over HTTP.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The shared Redis (scripts/test makes sure one answers here).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The shared PostgreSQL.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A name no other test (in this or another process) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A private PostgreSQL schema, dropped (with everything in it) on drop.
pub struct PgSchema {
    pub name: String,
    /// `DATABASE_URL` whose connections use only this schema.
    pub url: String,
}

impl PgSchema {
    pub async fn create() -> Self {
        let name = unique("scan_e2e");
        let admin = sqlx::PgPool::connect(&database_url())
            .await
            .expect("PostgreSQL at DATABASE_URL must answer (scripts/test starts one)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let base = database_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Self { name, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime in most tests: use a small one of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&database_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {name} CASCADE"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A running scan-service process, killed on drop.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Service {
    /// Starts the binary with `args` and `env` (on top of a clean environment for the
    /// service's own variables), `--port 0`, and waits until it prints its address.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scan-service"));
        for var in [
            "DATABASE_URL",
            "REDIS_URL",
            "PORT",
            "BIND",
            "SEED",
            "RATE_LIMIT_PER_SECOND",
            "RATE_LIMIT_BURST",
            "CACHE_NAMESPACE",
            "WARM_SCANS",
        ] {
            cmd.env_remove(var);
        }
        cmd.args(["--port", "0"]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn scan-service");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(120), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.trim().to_owned();
                }
            }
            panic!("scan-service exited before listening (see its stderr above)")
        })
        .await
        .expect("scan-service did not print its address within 120 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            child,
            base,
            client,
        }
    }

    /// Polls `/health` until it answers 200 (warming done), at most 120 s.
    pub async fn wait_ready(&self) {
        for _ in 0..1_200 {
            if let Ok(a) = self
                .try_request(Method::GET, "/health", None, None, &[])
                .await
                && a.status == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("scan-service at {} never reported ready", self.base);
    }

    pub async fn try_request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
    ) -> Answer {
        self.try_request(method, path, body, token, &[])
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path, None, None).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        json: &serde_json::Value,
        token: Option<&str>,
    ) -> Answer {
        self.request(
            Method::POST,
            path,
            Some(json.to_string().into_bytes()),
            token,
        )
        .await
    }

    pub async fn put_json(
        &self,
        path: &str,
        json: &serde_json::Value,
        token: Option<&str>,
    ) -> Answer {
        self.request(
            Method::PUT,
            path,
            Some(json.to_string().into_bytes()),
            token,
        )
        .await
    }

    /// Logs in with the demo account and returns the access token.
    pub async fn login(&self) -> String {
        let a = self
            .post_json(
                "/api/auth/login",
                &serde_json::json!({"email": "test@example.com", "password": "password123"}),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "login: {}", a.text());
        a.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Embedded mode in `dir`: a SQLite file, no Redis, `seed` scans.
pub async fn start_sqlite(dir: &std::path::Path, seed: u64, extra: &[&str]) -> Service {
    let url = format!("sqlite://{}?mode=rwc", dir.join("scans.db").display());
    let seed = seed.to_string();
    let mut args = vec!["--database-url", url.as_str(), "--seed", seed.as_str()];
    args.extend_from_slice(extra);
    let service = Service::start(&args, &[]).await;
    service.wait_ready().await;
    service
}

/// Parses Prometheus text into (name, labels) → value with a real exposition parser.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let mut out = HashMap::new();
    for sample in scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        out.insert(format!("{}{:?}", sample.metric, sample.labels), value);
    }
    out
}
