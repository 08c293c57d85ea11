//! No stale fills after a pattern or group invalidation, on one instance with every tier (L1,
//! the real Redis, a disk file): after `invalidate_pattern` or `invalidate_group` returns, no
//! tier serves a value whose load began before the call. Each test runs 10,000 real races;
//! `Notify` forces the load to be in flight when the invalidation starts, and half of the
//! rounds let it finish while the invalidation runs.
#![cfg(all(feature = "redis", feature = "disk"))]

mod common;

use common::race::load_in_flight;
use common::{PrivateRedis, free_port, namespace, redis_url};
use perf_cache::{Backend, Cache, InvalidationGroup, Key, Pattern};

const ROUNDS: u64 = 10_000;

/// How a round invalidates the key `v:<round>:x` of the view `v`.
#[derive(Clone, Copy)]
enum How {
    /// `Backend::invalidate_pattern(v:<round>:*)`.
    BackendPattern,
    /// `Cache::invalidate_pattern(<round>:*)` on the view.
    ViewPattern,
    /// A group of one pattern (`v:<round>:*`) and an unrelated exact key.
    GroupPattern,
    /// A group of the exact key alone (fenced per key, and by its Redis generation).
    GroupKey,
}

async fn invalidate(backend: &Backend, cache: &Cache<u64>, how: How, round: u64) {
    let report = match how {
        How::BackendPattern => {
            backend
                .invalidate_pattern(&Pattern::new().lit("v").lit(round).any())
                .await
        }
        How::ViewPattern => {
            cache
                .invalidate_pattern(&Pattern::new().lit(round).any())
                .await
        }
        How::GroupPattern => {
            let group = InvalidationGroup::new()
                .pattern(Pattern::new().lit("v").lit(round).any())
                .key(&Key::new("other").arg(round));
            backend.invalidate_group(&group).await
        }
        How::GroupKey => {
            let group = InvalidationGroup::new().key(&Key::new("v").arg(round).arg("x"));
            backend.invalidate_group(&group).await
        }
    };
    assert!(report.is_complete(), "round {round}: {report:?}");
}

/// 10,000 rounds of a slow load racing the invalidations `hows` (in turn); 0 stale values
/// readable (from any tier) after the call returns.
async fn race(redis: bool, hows: &[How]) {
    // A private server: each pattern `SCAN`s the whole database, and on the shared server that
    // is every other test's keys too (minutes instead of seconds for 10,000 rounds).
    let server = redis.then(|| PrivateRedis::start(free_port()));
    let url = server.as_ref().map_or_else(redis_url, PrivateRedis::url);
    let ns = namespace("pattern-fence");
    let dir = tempfile::tempdir().unwrap();
    let mut builder = Backend::builder()
        .namespace(&ns)
        .disk_path(dir.path().join("l3.redb"))
        .l1_max_entries(100_000);
    if redis {
        // A loaded machine (the whole test suite runs at once) can delay a reply past the
        // default 250 ms command timeout; this test is about the fence, not timeouts, so it
        // gives Redis ample time and still asserts that every invalidation reached it.
        builder = builder
            .redis_url(&url)
            .require_l2(true)
            .redis_timeout(std::time::Duration::from_secs(10))
            .bus(false);
    }
    let backend = builder.build().await.unwrap();
    let cache = common::view(&backend, "v");
    let mut stale = 0;
    for round in 0..ROUNDS {
        let how = hows[usize::try_from(round).unwrap() % hows.len()];
        let key = Key::new(round).arg("x");
        let (load, release) = load_in_flight(&cache, &key, round).await;
        if (round / hows.len() as u64).is_multiple_of(2) {
            // The load finishes only after the invalidation returned.
            invalidate(&backend, &cache, how, round).await;
            release.notify_one();
        } else {
            // The load finishes while the invalidation runs.
            tokio::join!(invalidate(&backend, &cache, how, round), async {
                release.notify_one()
            });
        }
        assert_eq!(load.await.unwrap(), round, "the load's own caller gets it");
        if cache.get(&key).await == Some(round) {
            stale += 1;
        }
    }
    assert_eq!(
        stale, 0,
        "values loaded before the invalidation read afterwards"
    );
    // Every load was either turned away (the fence, or Redis's generation for exact keys) or
    // stored before the invalidation began and removed by it, from every tier.
    let stats = backend.invalidation_stats();
    let dropped = cache.stats().stale_fills_dropped;
    assert!(dropped >= ROUNDS / 2, "{dropped}");
    assert_eq!(dropped + stats.l1_removed, ROUNDS);
    assert_eq!(stats.l3_removed, stats.l1_removed);
    let l2_removed = if redis { stats.l1_removed } else { 0 };
    assert_eq!(stats.l2_removed, l2_removed);
    let count = |h: fn(&How) -> bool| hows.iter().filter(|x| h(x)).count() as u64;
    let per = ROUNDS / hows.len() as u64;
    assert_eq!(
        stats.patterns,
        per * count(|h| matches!(h, How::BackendPattern | How::ViewPattern))
    );
    assert_eq!(
        stats.groups,
        per * count(|h| matches!(h, How::GroupPattern | How::GroupKey))
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_racing_invalidate_pattern_is_never_readable_afterwards() {
    race(true, &[How::BackendPattern, How::ViewPattern]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_racing_invalidate_group_is_never_readable_afterwards() {
    race(true, &[How::GroupPattern, How::GroupKey]).await;
}

/// Without Redis, an exact key of a group is fenced by its stripe alone (no generation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_group_key_still_fences_its_fills() {
    race(false, &[How::GroupKey, How::GroupPattern]).await;
}

/// A pattern turns away only the fills in flight whose key it matches: a load of another key
/// that was in flight during the pattern is stored. When more patterns than the log keeps ran
/// during a load, the load is turned away whatever its key (it cannot be checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_turns_away_only_the_fills_it_matches() {
    let backend = Backend::builder()
        .l1_max_entries(1_000)
        .build()
        .await
        .unwrap();
    let cache = common::view(&backend, "v");
    let (matching, other) = (Key::new(1_u64).arg("x"), Key::new(2_u64).arg("x"));
    let (load_m, release_m) = load_in_flight(&cache, &matching, 10).await;
    let (load_o, release_o) = load_in_flight(&cache, &other, 20).await;
    let done = backend
        .invalidate_pattern(&Pattern::new().lit("v").lit(1_u64).any())
        .await;
    assert!(done.is_complete());
    release_m.notify_one();
    release_o.notify_one();
    assert_eq!((load_m.await.unwrap(), load_o.await.unwrap()), (10, 20));
    assert_eq!(
        cache.get(&matching).await,
        None,
        "the matching fill was turned away"
    );
    assert_eq!(
        cache.get(&other).await,
        Some(20),
        "the other fill was stored"
    );
    assert_eq!(cache.stats().stale_fills_dropped, 1);

    // 40 pattern invalidations (each logs its pattern twice: before the shared tiers and
    // before L1; the log keeps 64) while a load of a key none of them matches is in flight:
    // it cannot be checked against the first ones, so it is turned away.
    let key = Key::new(3_u64);
    let (load, release) = load_in_flight(&cache, &key, 30).await;
    for i in 0..40_u64 {
        let _ = backend
            .invalidate_pattern(&Pattern::new().lit("none").lit(i).any())
            .await;
    }
    release.notify_one();
    assert_eq!(load.await.unwrap(), 30);
    assert_eq!(cache.get(&key).await, None);
    assert_eq!(cache.stats().stale_fills_dropped, 2);
}
