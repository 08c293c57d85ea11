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
