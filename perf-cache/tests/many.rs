//! `get_many` / `set_many`: one Redis round trip for many keys, exact statistics.
#![cfg(feature = "redis")]

mod common;

use common::{cleanup, namespace, raw, redis_cache, redis_url};
use perf_cache::{Cache, Key};

/// How many `MGET` calls the server has answered so far.
async fn mget_calls(url: &str) -> u64 {
    let mut c = raw(url).await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut c)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_mget:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn get_many_reads_l1_misses_in_one_mget_and_counts_each_key_once() {
    let url = redis_url();
    let ns = namespace("many");
    let writer = redis_cache::<String>(&ns).await;
    writer
        .set_many((0..5_u64).map(|n| (Key::new("item").arg(n), format!("v{n}"))))
        .await
        .unwrap();
    let mut c = raw(&url).await;
    for n in 0..5 {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(format!("{ns}:item:{n}"))
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(pttl > 0, "item {n} stored in Redis with a TTL: {pttl}");
    }

    let reader = redis_cache::<String>(&ns).await; // its own, empty L1
    assert_eq!(
        reader.get(&Key::new("item").arg(0_u64)).await.as_deref(),
        Some("v0")
    );
    let keys: Vec<Key> = [0_u64, 7, 2, 4, 9]
        .into_iter()
        .map(|n| Key::new("item").arg(n))
        .collect();
    let before = mget_calls(&url).await;
    let got = reader.get_many(&keys).await;
    let after = mget_calls(&url).await;
    assert_eq!(
        got,
        [
            Some("v0".to_owned()),
            None,
            Some("v2".to_owned()),
            Some("v4".to_owned()),
            None
        ]
    );
    assert_eq!(
        after - before,
        1,
        "the four L1 misses went to Redis in one MGET"
    );

    let s = reader.stats();
    // get: 1 L1 miss + 1 L2 hit. get_many: 1 L1 hit (key 0), 4 L1 misses, 2 L2 hits, 2 misses.
    assert_eq!((s.l1.hits, s.l1.misses), (1, 5));
    let l2 = s.l2.unwrap();
    assert_eq!((l2.hits, l2.misses), (3, 2));
    assert_eq!((s.hits, s.misses, s.total_requests), (4, 2, 6));

    // The values Redis had are now in the reader's L1.
    assert_eq!(
        reader.get(&Key::new("item").arg(2_u64)).await.as_deref(),
        Some("v2")
    );
    assert_eq!(reader.stats().l1.hits, 2);
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn set_many_stores_nothing_when_one_value_is_too_large() {
    let url = redis_url();
    let ns = namespace("many-large");
    let c = Cache::<String>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .max_value_size(64)
        .build()
        .await
        .unwrap();
    let err = c
        .set_many([
            (Key::new("a"), "small".to_owned()),
            (Key::new("b"), "x".repeat(100)),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, perf_cache::Error::ValueTooLarge { .. }),
        "{err}"
    );
    assert_eq!(c.get(&Key::new("a")).await, None, "nothing stored");
    assert!(!common::raw_exists(&url, &format!("{ns}:a")).await);
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn set_with_options_sets_the_ttl_in_redis() {
    let url = redis_url();
    let ns = namespace("set-with");
    let c = redis_cache::<String>(&ns).await;
    c.set_with(
        &Key::new("t"),
        "v".to_owned(),
        perf_cache::SetOptions::default().ttl(std::time::Duration::from_secs(7)),
    )
    .await
    .unwrap();
    let mut raw = raw(&url).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{ns}:t"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 7_000, "{pttl}");
    let err = c
        .set_with(
            &Key::new("t"),
            "v".to_owned(),
            perf_cache::SetOptions::default().ttl(std::time::Duration::ZERO),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, perf_cache::Error::InvalidConfig { field: "ttl", .. }),
        "{err}"
    );
    cleanup(&url, &ns).await;
}
