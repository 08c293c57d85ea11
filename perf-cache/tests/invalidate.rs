//! Invalidation never fails silently: with Redis frozen or gone it says what it did not reach,
//! counts it, and still removes the L1 copy.
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use common::{PrivateRedis, free_port, namespace};
use perf_cache::{Cache, Key, Reach};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_that_cannot_reach_redis_is_reported_and_counted() {
    let server = PrivateRedis::start(free_port());
    let ns = namespace("inv-outage");
    let cache = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(server.url())
        .require_l2(true)
        .redis_timeout(Duration::from_millis(100))
        .breaker_threshold(1)
        .breaker_cooldown(Duration::from_secs(3_600))
        .build()
        .await
        .unwrap();
    let key = Key::new("k");
    cache.set(&key, 1).await.unwrap();
    let done = cache.invalidate(&key).await;
    assert_eq!(done.l2, Reach::Done);
    assert!(done.is_complete());
    cache.set(&key, 2).await.unwrap();

    // Frozen: the connection stays open and nothing answers, so the command times out.
    server.signal("STOP");
    let first = cache.invalidate(&key).await;
    assert_eq!(first.l2, Reach::Failed, "a timed-out UNLINK is reported");
    assert!(!first.is_complete());
    // The breaker opened on that failure: the next one is skipped, and says so.
    let second = cache.invalidate_all().await;
    assert_eq!(second.l2, Reach::Skipped);
    assert!(!second.is_complete());
    assert_eq!(
        cache.stats().l2.unwrap().errors,
        2,
        "both unreached invalidations are counted"
    );
    // L1 was still emptied (last).
    assert_eq!(cache.get(&key).await, None);
    server.signal("CONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_that_missed_redis_is_replayed_before_l2_is_read_again() {
    let server = PrivateRedis::start(free_port());
    let url = server.url();
    let ns = namespace("inv-replay");
    let cache = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .l1_max_entries(0) // every read goes to Redis
        .redis_timeout(Duration::from_millis(100))
        .breaker_threshold(1)
        .breaker_cooldown(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let key = Key::new("k");
    let stored = format!("{ns}:k");
    cache.set(&key, 1).await.unwrap();

    // Open the breaker: one read times out against the frozen server.
    server.signal("STOP");
    assert_eq!(cache.get(&Key::new("other")).await, None);
    server.signal("CONT");
    assert!(cache.stats().breaker_open);

    // The invalidation is skipped by the open breaker: Redis still holds the old value.
    let done = cache.invalidate(&key).await;
    assert_eq!(done.l2, Reach::Skipped);
    let mut raw = common::raw(&url).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&stored)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 1, "not reached yet");

    // Once Redis answers again, the kept invalidation runs before L2 is read.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        cache.get(&key).await,
        None,
        "the invalidated value must not be served from Redis"
    );
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&stored)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0, "the kept UNLINK was replayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_unreached_invalidations_make_l2_suspect_until_its_ttl_has_passed() {
    let server = PrivateRedis::start(free_port());
    let ns = namespace("inv-overflow");
    let cache = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(server.url())
        .require_l2(true)
        .l1_max_entries(0)
        .l2_ttl(Duration::from_secs(2))
        .redis_timeout(Duration::from_millis(100))
        .breaker_threshold(1)
        // Long enough for the 10,001 skipped invalidations below (a debug build on a loaded
        // machine needs well over 100 ms for them), so that none of them is the probe.
        .breaker_cooldown(Duration::from_secs(1))
        // One instance; the bus's heartbeat would probe the breaker during the loop below.
        .bus(false)
        .build()
        .await
        .unwrap();
    let kept = Key::new("kept");
    cache.set(&kept, 7).await.unwrap();
    server.signal("STOP");
    assert_eq!(cache.get(&Key::new("other")).await, None);
    server.signal("CONT");
    // 10,001 invalidations skipped by the open breaker: one more than can be kept.
    for i in 0..10_001_u64 {
        let done = cache.invalidate(&Key::new("gone").arg(i)).await;
        assert_ne!(done.l2, Reach::Done);
    }
    // Past the cooldown: the breaker would let a probe through.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Redis answers again and still holds `kept`, but L2 is suspect: not read.
    assert_eq!(cache.get(&kept).await, None, "suspect L2 is not read");
    // After the longest L2 TTL (2 s) every value written before the overflow has expired.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    cache.set(&kept, 8).await.unwrap();
    assert_eq!(cache.get(&kept).await, Some(8), "L2 is read again");
}

/// `Cache::invalidate` runs the one invalidation path: the stored key leaves every view of the
/// backend that can hold it (here the backend's own unprefixed cache holds `user:1`, and the
/// view `user` holds `1`: both are `<ns>:user:1`), and the report counts each tier's removals.
#[cfg(feature = "disk")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_invalidation_reaches_every_view_and_counts_what_each_tier_removed() {
    let url = common::redis_url();
    let ns = namespace("inv-views");
    let dir = tempfile::tempdir().unwrap();
    let root = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .disk_path(dir.path().join("l3.redb"))
        .build()
        .await
        .unwrap();
    let backend = root.backend();
    let users = common::view(&backend, "user");
    let other = common::view(&backend, "team");
    root.set(&Key::new("user").arg(1_u64), 7).await.unwrap();
    other.set(&Key::new(1_u64), 9).await.unwrap();
    // The view reads it from Redis into its own L1 entry.
    assert_eq!(users.get(&Key::new(1_u64)).await, Some(7));
    backend.run_pending_tasks().await;
    assert_eq!(backend.l1_entries(), 3);

    let done = users.invalidate(&Key::new(1_u64)).await;
    assert!(done.is_complete());
    assert_eq!(
        (done.l1_removed, done.l2_removed, done.l3_removed),
        (2, 1, 1),
        "both L1 entries, the Redis key, the disk row"
    );
    backend.run_pending_tasks().await;
    assert_eq!(backend.l1_entries(), 1, "the other view's entry stays");
    assert_eq!(other.get(&Key::new(1_u64)).await, Some(9));
    assert!(!common::raw_exists(&url, &format!("{ns}:user:1")).await);
    assert_eq!(root.get(&Key::new("user").arg(1_u64)).await, None);

    // Nothing left to remove: zeros, still complete.
    let again = users.invalidate(&Key::new(1_u64)).await;
    assert_eq!(
        (again.l1_removed, again.l2_removed, again.l3_removed),
        (0, 0, 0)
    );
    let stats = backend.invalidation_stats();
    assert_eq!(
        (
            stats.keys,
            stats.l1_removed,
            stats.l2_removed,
            stats.l3_removed
        ),
        (2, 2, 1, 1)
    );
    common::cleanup(&url, &ns).await;
}
