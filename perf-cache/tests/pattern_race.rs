//! No stale fills in Redis when a pattern (or `invalidate_all`) on one instance races a load
//! on another: every pattern raises the namespace's pattern epoch before its `SCAN`, and a
//! fill whose load began before the epoch moved is refused by the fill script (one server:
//! both keys in one script, exact). Two backends with separate L1s share the real Redis; the
//! bus is off on both so that only the Redis fence is at work (with the bus, B's local fence
//! could turn the fill away first and hide a hole in Redis). 10,000 rounds; `Notify` holds
//! B's load in flight while A invalidates, half of the rounds let it finish during the call.
#![cfg(feature = "redis")]

mod common;

use common::race::load_in_flight;
use common::{PrivateRedis, cleanup, free_port, namespace, raw_exists, redis_url};
use perf_cache::{Backend, Key, Pattern};

const ROUNDS: u64 = 10_000;

async fn instance(ns: &str, url: &str) -> Backend {
    Backend::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        // A loaded machine runs the whole suite at once: give Redis ample time; every
        // invalidation is still asserted to have reached it.
        .redis_timeout(std::time::Duration::from_secs(10))
        .bus(false)
        .build()
        .await
        .unwrap()
}

async fn race(all: bool) {
    // A private server: each of the 10,000 patterns `SCAN`s the whole database, and on the
    // shared server that is every other test's keys too (minutes instead of seconds).
    let server = PrivateRedis::start(free_port());
    let url = server.url();
    let ns = namespace(if all { "pe-race-all" } else { "pe-race" });
    let (a, b) = (instance(&ns, &url).await, instance(&ns, &url).await);
    let view_a = common::view(&a, "v");
    let view_b = common::view(&b, "v");
    let mut stale = 0;
    for round in 0..ROUNDS {
        let key = Key::new(round).arg("x");
        let stored = format!("{ns}:v:{round}:x");
        let (load, release) = load_in_flight(&view_b, &key, round).await;
        let invalidate = async {
            let done = if all {
                view_a.invalidate_all().await
            } else {
                a.invalidate_pattern(&Pattern::new().lit("v").lit(round).any())
                    .await
            };
            assert!(done.is_complete(), "round {round}: {done:?}");
        };
        if round % 2 == 0 {
            // B's fill comes after A's call returned.
            invalidate.await;
            release.notify_one();
        } else {
            // B's fill races A's `SCAN`.
            tokio::join!(invalidate, async { release.notify_one() });
        }
        assert_eq!(load.await.unwrap(), round, "B's caller gets its value");
        if raw_exists(&url, &stored).await || view_a.get(&key).await == Some(round) {
            stale += 1;
        }
    }
    assert_eq!(stale, 0, "values loaded before a pattern left in Redis");
    // Every fill was refused by the epoch, or written before the epoch moved and removed by
    // the `SCAN` that followed (`invalidate_all` reports no per-key counts).
    let dropped = view_b.stats().stale_fills_dropped;
    assert!(dropped >= ROUNDS / 2, "{dropped}");
    if !all {
        let removed = a.invalidation_stats().l2_removed;
        assert_eq!(
            dropped + removed,
            ROUNDS,
            "dropped {dropped}, removed {removed}"
        );
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_on_a_racing_a_fill_on_b_leaves_nothing_in_redis() {
    race(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_all_on_a_racing_a_fill_on_b_leaves_nothing_in_redis() {
    race(true).await;
}

/// A load that began after the pattern is not turned away: the epoch it read is current.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_began_after_the_pattern_is_stored() {
    let url = redis_url();
    let ns = namespace("pe-after");
    let (a, b) = (instance(&ns, &url).await, instance(&ns, &url).await);
    let view_b = common::view(&b, "v");
    let done = a.invalidate_pattern(&Pattern::new().lit("v").any()).await;
    assert!(done.is_complete());
    let key = Key::new(1_u64);
    assert_eq!(view_b.get_or_load(&key, || async { 5 }).await, 5);
    assert!(raw_exists(&url, &format!("{ns}:v:1")).await);
    assert_eq!(view_b.stats().stale_fills_dropped, 0);
    cleanup(&url, &ns).await;
}
