//! No stale fills, locally: after `invalidate`, `invalidate_all` or `set` returns, no tier of
//! the process serves a value whose load, promotion or refresh began before the call. Each
//! test runs 10,000 real races; `Notify` forces the load to be in flight when the
//! invalidation starts, and half of the rounds let it finish while the invalidation runs.

mod common;

use std::sync::Arc;

use common::race::load_in_flight;
use perf_cache::{Cache, Key};
use tokio::sync::Notify;

const ROUNDS: u64 = 10_000;

async fn race(all: bool) {
    let cache = Cache::<u64>::builder()
        .l1_max_entries(100_000)
        .build()
        .await
        .unwrap();
    let mut stale = 0;
    for round in 0..ROUNDS {
        let key = Key::new(round);
        let (load, release) = load_in_flight(&cache, &key, round).await;
        let invalidate = async {
            if all {
                let _ = cache.invalidate_all().await;
            } else {
                let _ = cache.invalidate(&key).await;
            }
        };
        if round % 2 == 0 {
            // The load finishes only after the invalidation returned.
            invalidate.await;
            release.notify_one();
        } else {
            // The load finishes while the invalidation runs.
            tokio::join!(invalidate, async { release.notify_one() });
        }
        assert_eq!(
            load.await.unwrap(),
            round,
            "the load's own caller gets its value"
        );
        if cache.get(&key).await == Some(round) {
            stale += 1;
        }
    }
    assert_eq!(
        stale, 0,
        "values loaded before the invalidation read afterwards"
    );
    assert!(cache.stats().stale_fills_dropped >= ROUNDS / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_racing_invalidate_is_never_readable_afterwards() {
    race(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_racing_invalidate_all_is_never_readable_afterwards() {
    race(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_racing_set_never_overwrites_the_set_value() {
    let cache = Cache::<u64>::builder()
        .l1_max_entries(100_000)
        .build()
        .await
        .unwrap();
    for round in 0..ROUNDS {
        let key = Key::new(round);
        let (load, release) = load_in_flight(&cache, &key, round).await;
        cache.set(&key, u64::MAX).await.unwrap();
        release.notify_one();
        assert_eq!(load.await.unwrap(), round);
        assert_eq!(
            cache.get(&key).await,
            Some(u64::MAX),
            "round {round}: the older load overwrote the set"
        );
    }
}

/// A refresh-ahead in flight when the key is invalidated (or set): whether it succeeds or
/// fails afterwards, the old value does not come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_ahead_in_flight_never_brings_the_old_value_back() {
    use std::time::Duration;
    let cache = Cache::<u64>::builder()
        .l1_ttl(Duration::from_secs(60))
        .refresh_ahead(Duration::from_secs(30))
        .l1_max_entries(100_000)
        .build()
        .await
        .unwrap();
    let mut stale = 0;
    for round in 0..ROUNDS {
        let key = Key::new(round);
        let old = round * 2;
        // Fresh for 5 s: inside the refresh window, so the next hit starts a refresh.
        cache
            .set_with_ttl(&key, old, Duration::from_secs(5))
            .await
            .unwrap();
        let started = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (s, r) = (Arc::clone(&started), Arc::clone(&release));
        let fails = round % 2 == 1;
        let hit = cache
            .try_get_or_load(&key, move || async move {
                s.notify_one();
                r.notified().await;
                if fails {
                    Err("refresh failed")
                } else {
                    Ok(old + 1)
                }
            })
            .await
            .unwrap();
        assert_eq!(hit, old, "the hit serves the current value");
        started.notified().await;
        let dropped = cache.stats().stale_fills_dropped;
        if round % 4 < 2 {
            let _ = cache.invalidate(&key).await;
        } else {
            cache.set(&key, u64::MAX).await.unwrap();
        }
        release.notify_one();
        // Wait (bounded, by count, not by time) until the refresh has finished its store.
        let mut finished = false;
        for _ in 0..100_000 {
            if cache.stats().stale_fills_dropped > dropped {
                finished = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(finished, "round {round}: the refresh did not finish");
        let now = cache.get(&key).await;
        if now == Some(old) || now == Some(old + 1) {
            stale += 1;
        }
    }
    assert_eq!(stale, 0);
}
