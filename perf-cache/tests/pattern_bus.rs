//! Pattern and group invalidations across instances (backends with separate L1s and disk
//! files sharing one Redis): what A invalidates leaves B's L1 and C's disk file exactly, and
//! nothing else; the invalidation and bus counters are exact.
#![cfg(all(feature = "redis", feature = "disk"))]

mod common;

use std::time::Duration;

use common::{cleanup, eventually, namespace, redis_url};
use perf_cache::{Backend, Cache, InvalidationGroup, Key, Pattern};

/// An instance; `disk` gives it a disk file, `l1` an L1. Heartbeats are a minute apart so
/// that the message counts below are the invalidations' alone.
async fn instance(url: &str, ns: &str, disk: Option<&std::path::Path>, l1: bool) -> Backend {
    let mut b = Backend::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        .bus_heartbeat(Duration::from_secs(60));
    if let Some(dir) = disk {
        b = b.disk_path(dir.join("l3.redb"));
    }
    if !l1 {
        b = b.l1_max_entries(0);
    }
    b.build().await.unwrap()
}

fn views(backend: &Backend) -> (Cache<u64>, Cache<u64>) {
    let view = |prefix| common::view(backend, prefix);
    (view("user"), view("order"))
}

/// Which of `user:1..=4` and `order:1..=4` a pair of views serves.
async fn present(users: &Cache<u64>, orders: &Cache<u64>) -> Vec<String> {
    let mut out = Vec::new();
    for n in 1..=4_u64 {
        if users.get(&Key::new(n)).await == Some(n) {
            out.push(format!("user:{n}"));
        }
        if orders.get(&Key::new(n)).await == Some(10 + n) {
            out.push(format!("order:{n}"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_and_group_invalidations_on_a_reach_b_and_c_exactly() {
    let url = redis_url();
    let ns = namespace("pattern-bus");
    let (dir_b, dir_c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = instance(&url, &ns, None, true).await;
    // B: L1 (and a disk file it never fills: it only reads what C loaded into Redis).
    let b = instance(&url, &ns, Some(dir_b.path()), true).await;
    // C: no L1, so every read goes to Redis, then its disk file.
    let c = instance(&url, &ns, Some(dir_c.path()), false).await;
    let (b_users, b_orders) = views(&b);
    let (c_users, c_orders) = views(&c);

    // C loads everything (Redis and its disk file), B reads it from Redis into its L1.
    for n in 1..=4_u64 {
        c_users.get_or_load(&Key::new(n), async move || n).await;
        c_orders
            .get_or_load(&Key::new(n), async move || 10 + n)
            .await;
    }
    assert_eq!(present(&b_users, &b_orders).await.len(), 8);
    assert_eq!(b.l1_entries(), 8);
    for bus in [&a, &b, &c] {
        assert!(eventually(500, async || bus.bus_stats().unwrap().sent >= 1).await);
    }
    let before = [&a, &b, &c].map(|x| x.bus_stats().unwrap());

    // A pattern: users 1 and 2.
    let done = a
        .invalidate_pattern(&Pattern::new().lit("user").glob("[12]"))
        .await;
    assert!(done.is_complete(), "{done:?}");
    assert_eq!((done.l1_removed, done.l2_removed), (0, 2));
    assert!(eventually(500, async || b.l1_entries() == 6).await);

    // A group: order 1 exactly, and order 2 by pattern.
    let group = InvalidationGroup::new()
        .key(&Key::new("order").arg(1_u64))
        .pattern(Pattern::new().lit("order").glob("2"));
    let done = a.invalidate_group(&group).await;
    assert!(done.is_complete(), "{done:?}");
    assert_eq!((done.l1_removed, done.l2_removed), (0, 2));
    assert!(eventually(500, async || b.l1_entries() == 4).await);
    // C's operations arrive too (one per pattern and exact key: 3).
    assert!(
        eventually(500, async || c.bus_stats().unwrap().applied
            == before[2].applied + 3)
        .await
    );

    // Redis loses whatever the namespace still holds: each instance now serves only what
    // its own L1 and disk file kept.
    cleanup(&url, &ns).await;
    let kept = ["user:3", "order:3", "user:4", "order:4"];
    assert_eq!(present(&b_users, &b_orders).await, kept, "B's L1");
    assert_eq!(present(&c_users, &c_orders).await, kept, "C's disk file");
    let l3_hits = |v: &Cache<u64>| v.stats().l3.unwrap().hits;
    assert_eq!(l3_hits(&c_users) + l3_hits(&c_orders), 4);
    // Nothing was in Redis, nor did B's disk file ever hold anything.
    assert_eq!(l3_hits(&b_users) + l3_hits(&b_orders), 0);

    // Counters: A made one pattern and one group invalidation, removing 4 Redis keys; B and
    // C made none (remote operations are counted on the bus).
    let stats = a.invalidation_stats();
    assert_eq!(
        (stats.patterns, stats.groups, stats.keys, stats.all),
        (1, 1, 0, 0)
    );
    assert_eq!(
        (stats.l1_removed, stats.l2_removed, stats.l3_removed),
        (0, 4, 0)
    );
    for other in [&b, &c] {
        let s = other.invalidation_stats();
        assert_eq!((s.patterns, s.groups, s.l2_removed), (0, 0, 0));
    }
    let after = [&a, &b, &c].map(|x| x.bus_stats().unwrap());
    assert_eq!(after[0].sent - before[0].sent, 3, "{:?}", after[0]);
    assert_eq!(after[0].applied, before[0].applied, "A ignores its own");
    assert_eq!(after[1].applied - before[1].applied, 3);
    assert_eq!(after[2].applied - before[2].applied, 3);
    for s in &after {
        assert_eq!((s.resyncs, s.publish_failures), (0, 0), "{s:?}");
    }
}

/// A pattern that is not UTF-8 (`Pattern::glob` takes bytes) crosses the bus intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_of_any_bytes_reaches_the_other_instance() {
    let url = redis_url();
    let ns = namespace("pattern-bus-bytes");
    let a = instance(&url, &ns, None, true).await;
    let b = instance(&url, &ns, None, true).await;
    let (users, _) = views(&b);
    users.set(&Key::new("caf\u{e9}"), 1).await.unwrap();
    users.set(&Key::new("cafe"), 2).await.unwrap();
    assert_eq!(b.l1_entries(), 2);
    // `caf`, the first byte of `é` (0xC3: not UTF-8 alone), then anything.
    let done = a
        .invalidate_pattern(&Pattern::new().lit("user").glob(b"caf\xc3*"))
        .await;
    assert_eq!(done.l2_removed, 1);
    assert!(eventually(500, async || b.l1_entries() == 1).await);
    assert_eq!(users.get(&Key::new("cafe")).await, Some(2));
    cleanup(&url, &ns).await;
}

/// A load on B that began before A invalidated its key as an exact key of a group never
/// writes its value into Redis, nor keeps it: the group raised the key's generation. The bus
/// is off, so only the compare-and-set in Redis stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_key_raises_its_generation_against_another_instances_load() {
    let url = redis_url();
    let ns = namespace("pattern-bus-generation");
    let quiet = async |disk| {
        let mut b = Backend::builder()
            .namespace(&ns)
            .redis_url(&url)
            .require_l2(true)
            .bus(false);
        if let Some(dir) = disk {
            b = b.disk_path(dir);
        }
        b.build().await.unwrap()
    };
    let a = quiet(None).await;
    let dir = tempfile::tempdir().unwrap();
    let b = quiet(Some(dir.path().join("l3.redb"))).await;
    let (b_users, _) = views(&b);
    let mut conn = common::raw(&url).await;
    let rounds = 300_u64;
    let mut stale = 0;
    for round in 0..rounds {
        let key = Key::new(round);
        let (load, release) = common::race::load_in_flight(&b_users, &key, round).await;
        let group = InvalidationGroup::new().key(&Key::new("user").arg(round));
        assert!(a.invalidate_group(&group).await.is_complete());
        release.notify_one();
        assert_eq!(load.await.unwrap(), round, "B's caller gets its value");
        let in_redis: Option<Vec<u8>> = redis::cmd("GET")
            .arg(format!("{ns}:user:{round}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if in_redis.is_some() || b_users.get(&key).await == Some(round) {
            stale += 1;
        }
    }
    assert_eq!(stale, 0);
    assert_eq!(b_users.stats().stale_fills_dropped, rounds);
    assert_eq!(a.invalidation_stats().groups, rounds);
    cleanup(&url, &ns).await;
}
