//! A private PostgreSQL server (initdb + pg_ctl on a free port) restarted under load: callers get
//! clear errors during the outage, none hangs past the acquire timeout, and the pool recovers on
//! its own.
#![cfg(feature = "postgres")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::eventually;
use perf_db::{Pool, PoolConfig};
use sqlx::Postgres;

fn pg_bindir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    candidates.retain(|p| p.join("initdb").exists());
    candidates.sort();
    if let Some(dir) = candidates.pop() {
        return dir;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    }
    panic!(
        "initdb/pg_ctl not found: set PG_BINDIR or install postgresql (apt-get install postgresql)"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary, as the `postgres` user when we are root (initdb refuses root).
fn run(bin: &Path, args: &[&str]) {
    let status = if is_root() {
        Command::new("runuser")
            .arg("-u")
            .arg("postgres")
            .arg("--")
            .arg(bin)
            .args(args)
            .status()
    } else {
        Command::new(bin).args(args).status()
    }
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(
        status.success(),
        "{} {args:?} failed: {status}",
        bin.display()
    );
}

struct PrivateServer {
    bindir: PathBuf,
    data: String,
    log: String,
    options: String,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    fn start() -> Self {
        let bindir = pg_bindir();
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.path().join("data").display().to_string();
        let log = dir.path().join("pg.log").display().to_string();
        run(
            &bindir.join("initdb"),
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        let server = Self {
            bindir,
            data,
            log,
            options,
            port,
            _dir: dir,
        };
        server.pg_ctl_start();
        server
    }

    fn pg_ctl_start(&self) {
        run(
            &self.bindir.join("pg_ctl"),
            &[
                "-D",
                &self.data,
                "-l",
                &self.log,
                "-o",
                &self.options,
                "-w",
                "start",
            ],
        );
    }

    fn stop_immediately(&self) {
        run(
            &self.bindir.join("pg_ctl"),
            &["-D", &self.data, "-m", "immediate", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bindir.join("pg_ctl"))
            .args(["-D", &self.data, "-m", "immediate", "stop"])
            .status();
        if !is_root() {
            let _ = Command::new(self.bindir.join("pg_ctl"))
                .args(["-D", &self.data, "-m", "immediate", "stop"])
                .status();
        }
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
    hung: AtomicU64,
    unexpected: std::sync::Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_recovers_from_a_restart_under_load() {
    let server = PrivateServer::start();
    let acquire_timeout = Duration::from_secs(1);
    let config = PoolConfig::builder()
        .url(server.url())
        .name("outage")
        .max_connections(4)
        .acquire_timeout(acquire_timeout)
        .pre_ping_window(Duration::from_millis(50))
        .build()
        .unwrap();
    let pool = Pool::<Postgres>::connect(&config).await.unwrap();

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (pool, tally, stop) = (pool.clone(), Arc::clone(&tally), Arc::clone(&stop));
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // Bounded by the acquire timeout plus a generous margin for a noisy machine;
                // a call that outlives it counts as hung.
                let call = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&pool);
                match tokio::time::timeout(acquire_timeout * 4, call).await {
                    Ok(Ok(1)) => {
                        tally.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Ok(other)) => panic!("SELECT 1 returned {other}"),
                    Ok(Err(error)) => {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                        let clear = matches!(
                            error,
                            sqlx::Error::PoolTimedOut
                                | sqlx::Error::Io(_)
                                | sqlx::Error::Database(_)
                                | sqlx::Error::Protocol(_)
                        ) && !error.to_string().is_empty();
                        if !clear {
                            tally.unexpected.lock().unwrap().push(format!("{error:?}"));
                        }
                    }
                    Err(_) => {
                        tally.hung.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }

    assert!(
        eventually(Duration::from_secs(10), || tally.ok.load(Ordering::Relaxed)
            > 50)
        .await
    );
    server.stop_immediately();
    let ok_before_outage = tally.ok.load(Ordering::Relaxed);
    assert!(
        eventually(Duration::from_secs(10), || tally
            .errors
            .load(Ordering::Relaxed)
            >= 8)
        .await,
        "callers must see errors while the server is down"
    );
    tokio::time::sleep(acquire_timeout * 2).await;
    let ok_at_restart = tally.ok.load(Ordering::Relaxed);
    server.pg_ctl_start();
    assert!(
        eventually(Duration::from_secs(20), || tally.ok.load(Ordering::Relaxed)
            > ok_at_restart + 50)
        .await,
        "the pool must recover without manual action"
    );
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    assert!(
        ok_at_restart - ok_before_outage < 8,
        "queries cannot succeed while the server is down: {ok_before_outage} then {ok_at_restart}"
    );
    assert_eq!(
        tally.hung.load(Ordering::Relaxed),
        0,
        "a call hung past the acquire timeout"
    );
    let unexpected = tally.unexpected.lock().unwrap().clone();
    assert!(unexpected.is_empty(), "unclear errors: {unexpected:#?}");
    let stats = pool.stats();
    assert!(
        stats.queries.errors + stats.acquire.timeouts + stats.acquire.errors > 0,
        "{stats:#?}"
    );
    assert!(
        stats.connections.opened > 4,
        "connections were replaced: {stats:#?}"
    );
    pool.close().await;
}
