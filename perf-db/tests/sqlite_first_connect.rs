//! SQLite: the first connections to a brand-new database file, opened concurrently.
#![cfg(feature = "sqlite")]

mod common;

use std::str::FromStr;
use std::time::Duration;

use common::Capture;
use perf_db::{Pool, PoolConfig};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Sqlite};

/// Switching a new file to WAL takes an exclusive lock, and SQLite answers `SQLITE_BUSY` at
/// once (without the busy timeout) to a connection that would otherwise deadlock with another
/// one doing the same. Eight first acquires at once on each of several fresh files all succeed,
/// and the file ends up in WAL mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_acquires_on_a_new_file_all_succeed() {
    const FILES: usize = 40;
    const ACQUIRES: usize = 8;
    for file in 0..FILES {
        let dir = tempfile::tempdir().unwrap();
        let config = PoolConfig::builder()
            .url(format!("sqlite://{}", dir.path().join("new.db").display()))
            .max_connections(u32::try_from(ACQUIRES).unwrap())
            .build()
            .unwrap();
        let pool = Pool::<Sqlite>::connect_lazy(&config).unwrap();
        let acquired = futures::future::join_all((0..ACQUIRES).map(|_| pool.acquire())).await;
        let failed: Vec<String> = acquired
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert!(failed.is_empty(), "file {file}: {failed:?}");
        let mut conns: Vec<_> = acquired.into_iter().map(Result::unwrap).collect();
        for conn in &mut conns {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(mode, "wal", "file {file}");
        }
        let stats = pool.stats();
        assert_eq!(stats.acquire.count, ACQUIRES as u64);
        assert_eq!(stats.acquire.errors, 0);
        assert_eq!(stats.connections.opened, ACQUIRES as u64);
    }
}

/// The same lost race, made certain: another connection holds the new file's lock while the
/// pool's first connection switches it to WAL, with no busy timeout, so that switch fails with
/// `SQLITE_BUSY` every time. The acquire retries and succeeds once the lock is released.
#[tokio::test]
async fn a_first_connect_that_finds_the_file_locked_is_retried_within_the_acquire_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let mut holder = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE; CREATE TABLE t (x INTEGER)")
        .execute(&mut holder)
        .await
        .unwrap();
    let config = PoolConfig::builder()
        .url(format!("sqlite://{}", path.display()))
        .sqlite_busy_timeout(Duration::ZERO)
        .acquire_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let pool = Pool::<Sqlite>::connect_lazy(&config).unwrap();
    let (capture, _guard) = Capture::install();
    let done = std::cell::Cell::new(false);
    let acquire = async {
        let acquired = pool.acquire().await;
        done.set(true);
        acquired
    };
    let release = async {
        // release the lock once the pool has lost the race at least once (or given up)
        let lost = || {
            capture.with_target("perf_db::pool").iter().any(|e| {
                e.text.contains("lost a lock race") && e.text.contains("database is locked")
            })
        };
        while !done.get() && !lost() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    };
    let (acquired, ()) = tokio::join!(acquire, release);
    let mut conn = acquired.expect("the acquire is retried, not failed");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let stats = pool.stats();
    assert_eq!((stats.acquire.count, stats.acquire.errors), (1, 0));
    drop(conn);
    holder.close().await.unwrap();
}
