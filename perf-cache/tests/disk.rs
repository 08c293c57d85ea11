//! L3 on disk: survives a restart, honours TTL.
#![cfg(feature = "disk")]

use std::time::Duration;

use perf_cache::{Cache, Error, Key};

async fn open(path: &std::path::Path) -> Cache<String> {
    Cache::<String>::builder()
        .namespace("disk")
        .disk_path(path)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_survives_restart_and_honours_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    {
        let cache = open(&path).await;
        cache.set(&Key::new("long"), "kept".into()).await.unwrap();
        cache
            .set_with_ttl(
                &Key::new("short"),
                "gone".into(),
                Duration::from_millis(200),
            )
            .await
            .unwrap();
    }
    // A new process would do exactly this: open the file again.
    let cache = open(&path).await;
    assert_eq!(cache.get(&Key::new("long")).await.as_deref(), Some("kept"));
    assert_eq!(cache.stats().l3.unwrap().hits, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get(&Key::new("short")).await, None, "expired on disk");
    cache.run_pending_tasks().await; // purges expired rows
    assert!(cache.invalidate_all().await.is_complete());
    drop(cache);
    let cache = open(&path).await;
    assert_eq!(
        cache.get(&Key::new("long")).await,
        None,
        "clear removed the namespace"
    );
}

/// The last handle of a dropped cache can sit with a background task for a while (here a
/// clone held 300 ms, as a refresh or a metrics tick would): opening the same path again
/// right after the drop waits for it instead of failing with "already open".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_right_after_a_drop_waits_for_the_last_background_handle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    let cache = open(&path).await;
    cache.set(&Key::new("k"), "v".into()).await.unwrap();
    let held = cache.clone();
    let holder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(held);
    });
    drop(cache);
    let reopened = open(&path).await;
    assert_eq!(reopened.get(&Key::new("k")).await.as_deref(), Some("v"));
    holder.await.unwrap();
}

/// Two live caches on one file: the second gets a clear error naming the path (after the
/// bounded wait), and the first keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_live_cache_on_the_same_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    let first = open(&path).await;
    let second = Cache::<String>::builder()
        .namespace("disk")
        .disk_path(&path)
        .build()
        .await;
    match second {
        Err(Error::Disk { path: p, message }) => {
            assert_eq!(p, path.display().to_string());
            assert!(message.contains("already open"), "{message}");
        }
        other => panic!("expected Error::Disk, got {other:?}"),
    }
    first.set(&Key::new("k"), "v".into()).await.unwrap();
    assert_eq!(first.get(&Key::new("k")).await.as_deref(), Some("v"));
}
