//! `Backend::stats`: exact sums of every view's counters, per tier, with L2 on Redis.
#![cfg(feature = "redis")]

mod common;

use common::{cleanup, namespace, redis_url};
use perf_cache::{Backend, Cache, Key};

#[tokio::test]
async fn the_backend_sums_its_views_exactly_per_tier() {
    let url = redis_url();
    let ns = namespace("backend_stats");
    let build = || async {
        Backend::builder()
            .namespace(ns.clone())
            .redis_url(url.clone())
            .bus(false)
            .build()
            .await
            .unwrap()
    };
    let (a, b) = (build().await, build().await);
    let scans_a = Cache::<u64>::builder().prefix("scan").build_on(&a).unwrap();
    let pages_a = Cache::<String>::builder()
        .prefix("page")
        .build_on(&a)
        .unwrap();
    let scans_b = Cache::<u64>::builder().prefix("scan").build_on(&b).unwrap();

    for i in 0..5_u64 {
        scans_a.set(&Key::new(i), i).await.unwrap();
    }
    // 7 L1 hits and 4 misses on A, over two views.
    for i in 0..5_u64 {
        assert_eq!(scans_a.get(&Key::new(i)).await, Some(i));
    }
    pages_a.set(&Key::new("p1"), "x".to_owned()).await.unwrap();
    for _ in 0..2 {
        assert!(pages_a.get(&Key::new("p1")).await.is_some());
    }
    for i in 100..104_u64 {
        assert_eq!(scans_a.get(&Key::new(i)).await, None);
    }
    // 3 L2 hits on B (its L1 is empty), then 3 L1 hits.
    for _ in 0..2 {
        for i in 0..3_u64 {
            assert_eq!(scans_b.get(&Key::new(i)).await, Some(i));
        }
    }

    let sa = a.stats();
    assert_eq!((sa.hits, sa.misses, sa.total_requests), (7, 4, 11));
    assert_eq!((sa.l1.hits, sa.l1.misses), (7, 4));
    let l2 = sa.l2.as_ref().expect("L2 configured");
    assert_eq!((l2.hits, l2.misses), (0, 4));
    assert!((sa.hit_rate - 7.0 / 11.0).abs() < 1e-12);
    assert_eq!(sa.size, 6);
    assert_eq!(sa.namespace, ns);

    let sb = b.stats();
    assert_eq!((sb.hits, sb.misses), (6, 0));
    assert_eq!((sb.l1.hits, sb.l1.misses), (3, 3));
    assert_eq!(sb.l2.as_ref().map(|t| (t.hits, t.misses)), Some((3, 0)));

    // A dropped view's counts leave the sum.
    drop(pages_a);
    assert_eq!(a.stats().hits, 5);
    cleanup(&url, &ns).await;
}
