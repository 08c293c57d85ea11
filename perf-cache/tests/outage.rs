//! Redis outages: a private redis-server is killed and restarted on the same port.
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use common::{PrivateRedis, free_port, namespace, require_binary};
use perf_cache::{Cache, Error, Key};

/// Keeps loading fresh probe keys (up to 400, 25 ms apart) until the breaker of `cache` is
/// closed; whether it closed.
async fn breaker_closes(cache: &Cache<u64>) -> bool {
    for i in 0..400_u64 {
        let _ = cache
            .get_or_load(&Key::new("probe").arg(i), move || async move { i })
            .await;
        if !cache.stats().breaker_open {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

fn builder(url: &str, ns: &str) -> perf_cache::CacheBuilder<u64> {
    Cache::<u64>::builder()
        .namespace(ns)
        .redis_url(url)
        .redis_timeout(Duration::from_millis(100))
        .breaker_threshold(3)
        .breaker_cooldown(Duration::from_millis(100))
        .l1_ttl(Duration::from_secs(60))
        // One instance: L1 keeps serving through the outage (with the bus, the silence would
        // empty it; tests/bus.rs covers that).
        .bus(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_every_call_answers_and_the_breaker_recovers() {
    let port = free_port();
    let server = PrivateRedis::start(port);
    let url = server.url();
    let ns = namespace("outage");
    let cache = builder(&url, &ns).require_l2(true).build().await.unwrap();
    assert_eq!(
        cache.get_or_load(&Key::new("warm"), || async { 1 }).await,
        1
    );

    server.kill();
    for i in 0..50_u64 {
        // Every call answers: from L1 or from the loader.
        assert_eq!(
            cache.get_or_load(&Key::new("warm"), || async { 0 }).await,
            1
        );
        assert_eq!(
            cache
                .get_or_load(&Key::new("cold").arg(i), move || async move { i })
                .await,
            i
        );
    }
    let s = cache.stats();
    assert!(s.breaker_open, "{s:?}");
    let errors = s.l2.as_ref().unwrap().errors;
    assert!(
        (3..50).contains(&errors),
        "breaker stopped the calls after 3 failures (+ probes): {errors}"
    );

    let server = PrivateRedis::start(port);
    let closed = breaker_closes(&cache).await;
    assert!(closed, "breaker closes once Redis is back");
    cache.set(&Key::new("after"), 5).await.unwrap();
    let other = builder(&url, &ns).build().await.unwrap();
    assert_eq!(
        other.get(&Key::new("after")).await,
        Some(5),
        "writes reach Redis again"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_while_redis_is_down_works_and_picks_it_up_later() {
    // Checked first: the server is only started half-way through.
    require_binary("redis-server", "redis-server");
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let ns = namespace("down");
    let err = builder(&url, &ns)
        .require_l2(true)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::L2Unavailable { .. }), "{err}");

    let cache = builder(&url, &ns)
        .build()
        .await
        .expect("builds without Redis");
    assert_eq!(cache.get_or_load(&Key::new("a"), || async { 1 }).await, 1);
    assert_eq!(cache.get(&Key::new("a")).await, Some(1));

    let server = PrivateRedis::start(port);
    let mut reached = false;
    for i in 0..400_u64 {
        cache.set(&Key::new("b"), i).await.unwrap();
        let other = builder(&url, &ns).l1_max_entries(1).build().await.unwrap();
        if other.get(&Key::new("b")).await.is_some() {
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(reached, "the cache picked Redis up");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_redis_never_hangs_callers() {
    let server = PrivateRedis::start(free_port());
    let ns = namespace("frozen");
    let cache = builder(&server.url(), &ns)
        .require_l2(true)
        .build()
        .await
        .unwrap();
    cache.set(&Key::new("warm"), 1).await.unwrap();

    // The server keeps its connections open but stops answering: only timeouts can help.
    server.signal("STOP");
    for i in 0..20_u64 {
        let v = tokio::time::timeout(
            Duration::from_secs(5),
            cache.get_or_load(&Key::new("cold").arg(i), move || async move { i }),
        )
        .await
        .expect("a call waited far beyond the 100 ms Redis timeout");
        assert_eq!(v, i);
    }
    let s = cache.stats();
    assert!(s.breaker_open, "{s:?}");

    server.signal("CONT");
    let closed = breaker_closes(&cache).await;
    assert!(closed, "breaker closes once Redis answers again");
}
