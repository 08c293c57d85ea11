//! L3 on disk: survives a restart, honours TTL.
#![cfg(feature = "disk")]

use std::time::Duration;

use perf_cache::{Cache, Key};

async fn open(path: &std::path::Path) -> Cache<String> {
    Cache::<String>::builder()
        .namespace("disk")
        .disk_path(path)
        // No publisher task: it briefly holds the cache (and the file) while it publishes,
        // and the test reopens the file as soon as the cache is dropped.
        .metrics_interval(None)
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
