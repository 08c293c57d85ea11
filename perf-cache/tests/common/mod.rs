//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod capture;
pub mod cluster;
pub mod race;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A namespace no other test (or run) uses.
pub fn namespace(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "t-{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A raw connection to the shared Redis; panics with a clear message when it is unreachable.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis is not reachable at {url} (set REDIS_URL): {e}"))
}

pub async fn raw_exists(url: &str, key: &str) -> bool {
    let mut c = raw(url).await;
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(&mut c)
        .await
        .unwrap()
        == 1
}

/// `PTTL key` on the shared Redis: milliseconds left, -1 without expiry, -2 when absent.
pub async fn pttl(key: &str) -> i64 {
    let mut c = raw(&redis_url()).await;
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

/// Removes every key of a namespace (tests clean up after themselves).
pub async fn cleanup(url: &str, ns: &str) {
    let mut c = raw(url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

/// A cache of `V` in namespace `ns` with L2 on the shared Redis (which must answer).
#[cfg(feature = "redis")]
pub async fn redis_cache<V>(ns: &str) -> perf_cache::Cache<V>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    perf_cache::Cache::<V>::builder()
        .namespace(ns)
        .redis_url(redis_url())
        .require_l2(true)
        .build()
        .await
        .unwrap()
}

/// A `u64` view with key prefix `prefix` on `backend`.
pub fn view(backend: &perf_cache::Backend, prefix: &str) -> perf_cache::Cache<u64> {
    perf_cache::Cache::<u64>::builder()
        .prefix(prefix)
        .build_on(backend)
        .unwrap()
}

/// Every key matching `pattern` (`SCAN MATCH <pattern> COUNT <count>` to the end of the
/// cursor, on the server `conn` talks to).
pub async fn scan<K: redis::FromRedisValue>(
    conn: &mut redis::aio::MultiplexedConnection,
    pattern: impl redis::ToRedisArgs + Copy,
    count: usize,
) -> Vec<K> {
    let mut out = Vec::new();
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<K>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count)
            .query_async(conn)
            .await
            .unwrap();
        out.extend(keys);
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

/// The `CLIENT LIST` lines of the connections named `name`.
pub async fn clients_named(url: &str, name: &str) -> Vec<String> {
    let mut c = raw(url).await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut c)
        .await
        .unwrap();
    let needle = format!(" name={name} ");
    list.lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

/// Polls `f` up to `tries` times (10 ms apart) until it is true.
pub async fn eventually(tries: u32, mut f: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..tries {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails the test with one clear message when `binary` is not on `PATH`, naming the Debian
/// package that provides it (tests that start private servers need `redis-server`,
/// `redis-cli` and `openssl`).
pub fn require_binary(binary: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()));
    assert!(
        found,
        "this test needs `{binary}` on PATH and it is missing: install it (apt-get install {package})"
    );
}

/// A private redis-server on `port`, killed on drop.
pub struct PrivateRedis {
    child: Child,
    pub port: u16,
}

impl PrivateRedis {
    pub fn start(port: u16) -> Self {
        require_binary("redis-server", "redis-server");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server (apt-get install redis-server): {e}")
            });
        // Owned by `Self` at once, so a failed start still kills and reaps the process.
        let server = Self { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("private redis-server did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends a signal (`STOP` freezes the server: connections stay open, nothing answers).
    pub fn signal(&self, signal: &str) {
        require_binary("kill", "procps");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
