//! Promotion through all three tiers keeps the remaining TTL.
#![cfg(all(feature = "redis", feature = "disk"))]

mod common;

use std::time::Duration;

use common::{cleanup, namespace, raw, redis_url};
use perf_cache::{Cache, Key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_hit_fills_l2_and_l1_with_the_remaining_ttl() {
    let url = redis_url();
    let ns = namespace("promote3");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l3.redb");
    let key = Key::new("report").arg(9_u64);
    {
        let disk_only = Cache::<String>::builder()
            .namespace(&ns)
            .disk_path(&path)
            .build()
            .await
            .unwrap();
        disk_only
            .set_with_ttl(&key, "from disk".into(), Duration::from_secs(20))
            .await
            .unwrap();
    }
    let all = Cache::<String>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .disk_path(&path)
        .l2_ttl(Duration::from_secs(3_600))
        .build()
        .await
        .unwrap();
    assert_eq!(all.get(&key).await.as_deref(), Some("from disk"));
    let s = all.stats();
    assert_eq!(
        (
            s.l1.misses,
            s.l2.as_ref().unwrap().misses,
            s.l3.as_ref().unwrap().hits
        ),
        (1, 1, 1)
    );

    let mut c = raw(&url).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{ns}:report:9"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        pttl > 0 && pttl <= 20_000,
        "L2 got the remaining TTL, not l2_ttl: {pttl} ms"
    );
    let l1 = all.remaining_ttl(&key).await.unwrap();
    assert!(
        l1 <= Duration::from_secs(20),
        "L1 got the remaining TTL: {l1:?}"
    );

    // The next read is an L1 hit; a fresh instance finds it in L2 without touching L3.
    assert_eq!(all.get(&key).await.as_deref(), Some("from disk"));
    assert_eq!(all.stats().l1.hits, 1);
    cleanup(&url, &ns).await;
}
