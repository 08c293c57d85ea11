//! L3 housekeeping with exact row counts: a size bound with eviction, and expired rows purged
//! incrementally (by writes, and by `run_pending_tasks` in bounded transactions). The counts are
//! read from the redb file itself once the cache is dropped.
#![cfg(feature = "disk")]

use std::path::Path;
use std::time::Duration;

use perf_cache::{Cache, Error, Key};
use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

const ROWS: TableDefinition<'_, &[u8], (u64, &[u8])> = TableDefinition::new("perf_cache_rows");
const BY_EXPIRY: TableDefinition<'_, (u64, &[u8]), ()> =
    TableDefinition::new("perf_cache_by_expiry");

async fn open(path: &Path, max_entries: u64) -> Cache<u64> {
    Cache::<u64>::builder()
        .namespace("bound")
        .disk_path(path)
        .disk_max_entries(max_entries)
        // No publisher task: it briefly holds the cache (and the file) while it publishes,
        // and the tests reopen the file as soon as the cache is dropped.
        .metrics_interval(None)
        .build()
        .await
        .unwrap()
}

/// Rows in the file and entries in its expiry index, and whether `key` has a row.
fn count(path: &Path, key: &str) -> (u64, u64, bool) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let rows = txn.open_table(ROWS).unwrap();
    let index = txn.open_table(BY_EXPIRY).unwrap();
    let full = format!("bound:{key}");
    let has = rows.get(full.as_bytes()).unwrap().is_some();
    (rows.len().unwrap(), index.len().unwrap(), has)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_holds_at_most_disk_max_entries_and_evicts_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l3.redb");
    let cache = open(&path, 20).await;
    for i in 0..50_u64 {
        cache.set(&Key::new(i), i).await.unwrap();
    }
    // Rewriting a key keeps one row (and one index entry) for it.
    cache.set(&Key::new(49_u64), 490).await.unwrap();
    drop(cache);
    assert_eq!(count(&path, "49"), (20, 20, true));
    assert!(!count(&path, "0").2, "the oldest row was evicted");

    let cache = open(&path, 20).await;
    assert_eq!(cache.get(&Key::new(49_u64)).await, Some(490));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_rows_are_purged_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l3.redb");
    let cache = open(&path, 1_000).await;
    // 40 rows that expire 1 s after their write (writing them takes far less).
    for i in 0..40_u64 {
        cache
            .set_with_ttl(&Key::new("short").arg(i), i, Duration::from_secs(1))
            .await
            .unwrap();
    }
    drop(cache);
    assert_eq!(
        count(&path, "short:0"),
        (40, 40, true),
        "no row expired while they were written"
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    // Each write also removes up to 32 expired rows, in its own transaction.
    let cache = open(&path, 1_000).await;
    cache.set(&Key::new("long").arg(0_u64), 0).await.unwrap();
    drop(cache);
    assert_eq!(count(&path, "long:0"), (40 - 32 + 1, 40 - 32 + 1, true));
    let cache = open(&path, 1_000).await;
    cache.set(&Key::new("long").arg(1_u64), 1).await.unwrap();
    drop(cache);
    assert_eq!(
        count(&path, "long:1"),
        (2, 2, true),
        "the last 8 expired rows"
    );

    for i in 0..5_u64 {
        let cache = open(&path, 1_000).await;
        cache
            .set_with_ttl(&Key::new("short").arg(i), i, Duration::from_millis(1))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cache = open(&path, 1_000).await;
    cache.run_pending_tasks().await;
    drop(cache);
    assert_eq!(
        count(&path, "long:1"),
        (2, 2, true),
        "only the live rows stay"
    );
}

#[tokio::test]
async fn disk_max_entries_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let err = Cache::<u64>::builder()
        .namespace("bound")
        .disk_path(dir.path().join("l3.redb"))
        .disk_max_entries(0)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field: "disk_max_entries", value, allowed }
            if value == "0" && allowed == "1..=1000000000"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid `disk_max_entries`: got 0, allowed: 1..=1000000000"
    );
}
