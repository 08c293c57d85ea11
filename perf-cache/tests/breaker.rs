//! The circuit breaker opens on outages only: server error replies about one key or one
//! command are tier errors; half-open lets exactly one probe through.
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use common::{PrivateRedis, cleanup, free_port, namespace, raw, redis_url};
use perf_cache::{Cache, Key};

fn builder(url: &str, ns: &str) -> perf_cache::CacheBuilder<u64> {
    Cache::<u64>::builder()
        .namespace(ns)
        .redis_url(url)
        .breaker_threshold(3)
        .breaker_cooldown(Duration::from_secs(3_600))
        .require_l2(true)
}

#[tokio::test]
async fn wrongtype_on_one_key_leaves_other_keys_served_from_l2() {
    let url = redis_url();
    let ns = namespace("wrongtype");
    builder(&url, &ns)
        .build()
        .await
        .unwrap()
        .set(&Key::new("good"), 1)
        .await
        .unwrap();
    // Another service wrote this key as a hash.
    let mut c = raw(&url).await;
    let _: i64 = redis::cmd("HSET")
        .arg(format!("{ns}:bad"))
        .arg("field")
        .arg("value")
        .query_async(&mut c)
        .await
        .unwrap();

    // No L1: every read goes to Redis.
    let reader = builder(&url, &ns).l1_max_entries(0).build().await.unwrap();
    // More consecutive errors than the breaker's threshold, all about one key.
    for _ in 0..10 {
        assert_eq!(
            reader.get(&Key::new("bad")).await,
            None,
            "WRONGTYPE is a miss"
        );
    }
    for _ in 0..10 {
        assert_eq!(
            reader.get(&Key::new("good")).await,
            Some(1),
            "served from L2"
        );
    }
    let s = reader.stats();
    let l2 = s.l2.clone().unwrap();
    assert!(!s.breaker_open, "{s:?}");
    assert_eq!((l2.hits, l2.misses, l2.errors), (10, 10, 10), "{s:?}");
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn oom_on_set_is_a_tier_error_and_never_opens_the_breaker() {
    let server = PrivateRedis::start(free_port());
    let url = server.url();
    let ns = namespace("oom");
    let cache = builder(&url, &ns).build().await.unwrap();
    cache.set(&Key::new("good"), 1).await.unwrap();
    let mut c = raw(&url).await;
    for (k, v) in [("maxmemory-policy", "noeviction"), ("maxmemory", "1")] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query_async(&mut c)
            .await
            .unwrap();
    }

    for i in 0..10_u64 {
        // Fail-open: the value stays in L1, the SET is refused with OOM.
        cache.set(&Key::new("new").arg(i), i).await.unwrap();
    }
    let s = cache.stats();
    assert!(!s.breaker_open, "{s:?}");
    assert_eq!(s.l2.as_ref().unwrap().errors, 10, "each OOM counted: {s:?}");
    let reader = builder(&url, &ns).l1_max_entries(0).build().await.unwrap();
    assert_eq!(reader.get(&Key::new("good")).await, Some(1), "reads go on");
    assert_eq!(reader.get(&Key::new("new").arg(0_u64)).await, None);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(keys, vec![format!("{ns}:good")]);
}

/// With Redis frozen, the breaker opens after one timeout. Once the cooldown has passed, many
/// callers keep writing for a while; only the probe reaches Redis (its `SET` waits on the
/// frozen server), every other call is skipped while the probe is out. Each call writes its
/// own key, so the keys in Redis afterwards count the probes exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admits_exactly_one_probe() {
    let server = PrivateRedis::start(free_port());
    let url = server.url();
    let ns = namespace("probe");
    let cache = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .redis_timeout(Duration::from_secs(5))
        .breaker_threshold(1)
        .breaker_cooldown(Duration::from_millis(20))
        .require_l2(true)
        .build()
        .await
        .unwrap();
    cache.set(&Key::new("warm"), 0).await.unwrap();
    server.signal("STOP");
    cache.set(&Key::new("opens"), 0).await.unwrap();
    assert!(cache.stats().breaker_open, "one timeout opens it");
    tokio::time::sleep(Duration::from_millis(40)).await;

    let burst = Duration::from_millis(300);
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..20_u64)
        .map(|t| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut i = 0_u64;
                while start.elapsed() < burst {
                    cache
                        .set(&Key::new("burst").arg(t).arg(i), i)
                        .await
                        .unwrap();
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    // Let every caller but the probe finish its burst, then let Redis answer the probe.
    tokio::time::sleep(burst + Duration::from_millis(50)).await;
    server.signal("CONT");
    for t in tasks {
        t.await.unwrap();
    }

    assert!(!cache.stats().breaker_open, "the probe's answer closes it");
    let mut c = raw(&url).await;
    let probes: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:burst:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(probes.len(), 1, "{probes:?}");
}
