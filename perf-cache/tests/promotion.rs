//! Promotion keeps the remaining TTL and fills only L1: a lower-tier hit never goes back into
//! the shared L2.
#![cfg(all(feature = "redis", feature = "disk"))]

mod common;

use std::time::Duration;

use common::{cleanup, namespace, raw, redis_url};
use perf_cache::{Cache, Key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_hit_fills_only_l1_with_the_remaining_ttl() {
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
    assert_eq!(pttl, -2, "an L3 hit is not written into the shared L2");
    let l1 = all.remaining_ttl(&key).await.unwrap();
    assert!(
        l1 <= Duration::from_secs(20),
        "L1 got the remaining TTL: {l1:?}"
    );

    // The next read is an L1 hit.
    assert_eq!(all.get(&key).await.as_deref(), Some("from disk"));
    assert_eq!(all.stats().l1.hits, 1);
    cleanup(&url, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidated_key_is_not_put_back_into_redis_from_another_instance_disk() {
    let url = redis_url();
    let ns = namespace("resurrect");
    let dir = tempfile::tempdir().unwrap();
    let instance = |file: &'static str| {
        let (url, ns, path) = (url.clone(), ns.clone(), dir.path().join(file));
        async move {
            Cache::<String>::builder()
                .namespace(&ns)
                .redis_url(&url)
                .require_l2(true)
                .disk_path(path)
                .l1_max_entries(0) // every read goes below L1
                // Without the bus, so that A's disk still holds the value B invalidated (with
                // it, A's L3 copy is dropped too: tests/bus.rs).
                .bus(false)
                .build()
                .await
                .unwrap()
        }
    };
    let a = instance("a.redb").await;
    let b = instance("b.redb").await;
    let key = Key::new("user").arg(1_u64);
    let stored = format!("{ns}:user:1");

    assert_eq!(
        a.get_or_load(&key, || async { "v1".to_owned() }).await,
        "v1"
    );
    assert!(
        common::raw_exists(&url, &stored).await,
        "A's load reached Redis"
    );
    assert!(b.invalidate(&key).await.is_complete());
    assert!(
        !common::raw_exists(&url, &stored).await,
        "B removed it from Redis"
    );
    // A still has it on its own disk and serves it from there...
    assert_eq!(a.get(&key).await.as_deref(), Some("v1"));
    // ...but must not put it back into Redis for everyone.
    assert!(
        !common::raw_exists(&url, &stored).await,
        "an L3 hit resurrected an invalidated key in the shared L2"
    );
    assert_eq!(b.get(&key).await, None);
    cleanup(&url, &ns).await;
}
