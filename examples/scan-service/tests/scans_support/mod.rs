//! Support for the scans end-to-end tests (beside `common`, which starts the service): direct
//! database access for the checks the tests make themselves, a private Redis namespace that
//! is cleaned up, and assertions on the JSON error body.
#![allow(dead_code, unreachable_pub)]

use hyper::StatusCode;

use crate::common::{Answer, Service, unique};

/// The SQLite URL `common::start_sqlite` gives the service for `dir`.
pub fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("scans.db").display())
}

/// A connection pool of the test's own on the service's SQLite file.
pub async fn sqlite_pool(dir: &std::path::Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&sqlite_url(dir))
        .await
        .expect("open the service's SQLite file")
}

/// Asserts a 4xx/5xx answer with the contract's JSON error body and `code`.
#[track_caller]
pub fn assert_error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "body: {}", a.text());
    let json = a.json();
    assert_eq!(json["error"], code, "body: {json}");
    assert!(
        json["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {json}"
    );
}

/// A Redis namespace of the test's own; every key under it (entries and bookkeeping) is
/// deleted on drop.
pub struct RedisNamespace {
    pub name: String,
}

impl RedisNamespace {
    pub fn new() -> Self {
        Self {
            name: unique("scan_e2e"),
        }
    }
}

impl Drop for RedisNamespace {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(client) = redis::Client::open(crate::common::redis_url()) else {
                return;
            };
            let Ok(mut conn) = client.get_connection() else {
                return;
            };
            // `<ns>:…` entries and `<ns>%:…` bookkeeping (tag generations, epochs).
            for pattern in [format!("{name}:*"), format!("{name}%:*")] {
                let mut cursor = 0_u64;
                loop {
                    let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query(&mut conn)
                    else {
                        break;
                    };
                    if !keys.is_empty() {
                        let _: Result<(), _> = redis::cmd("UNLINK").arg(&keys).query(&mut conn);
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
        })
        .join();
    }
}

/// Logs in with the demo account.
pub async fn token(service: &Service) -> String {
    service.login().await
}

/// A private `redis-server` on a free loopback port (for outage tests: killing it touches no
/// one else), killed on drop.
pub struct PrivateRedis {
    child: Option<std::process::Child>,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
}

impl PrivateRedis {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test starts its own redis-server (apt-get install redis-server): {e}")
            });
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    child: Some(child),
                    url: format!("redis://127.0.0.1:{port}"),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("private redis-server did not start on port {port}");
    }

    /// Kills the server now (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
