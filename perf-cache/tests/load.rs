//! Single-flight, cancelled and panicking loaders, refresh-ahead and stale-if-error.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use perf_cache::{Cache, Key};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Spawns `callers` tasks, each running `call` with its own clone of `cache` and of the loader
/// run counter `runs`.
fn spawn_callers<T, F, Fut>(
    cache: &Cache<u64>,
    runs: &Arc<AtomicUsize>,
    callers: usize,
    call: F,
) -> Vec<JoinHandle<T>>
where
    F: Fn(Cache<u64>, Arc<AtomicUsize>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    (0..callers)
        .map(|_| tokio::spawn(call(cache.clone(), runs.clone())))
        .collect()
}

/// A cache whose entries live 2 s and are reloaded in the background once 10 ms old.
async fn refresh_ahead_cache() -> Cache<u64> {
    Cache::<u64>::builder()
        .l1_ttl(Duration::from_secs(2))
        .refresh_ahead(Duration::from_millis(1_990))
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_callers_of_a_cold_key_run_the_loader_once() {
    let cache = Cache::<u64>::builder().build().await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks = spawn_callers(&cache, &runs, 1_000, |cache, runs| async move {
        cache
            .get_or_load(&Key::new("cold"), move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                42
            })
            .await
    });
    for t in tasks {
        assert_eq!(t.await.unwrap(), 42);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let s = cache.stats();
    assert_eq!(s.loads, 1);
    assert_eq!(s.total_requests, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_shared_by_waiters_not_cached() {
    let cache = Cache::<u64>::builder().build().await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks = spawn_callers(&cache, &runs, 100, |cache, runs| async move {
        cache
            .try_get_or_load(&Key::new("k"), move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err::<u64, _>(String::from("db down"))
            })
            .await
    });
    for t in tasks {
        assert_eq!(*t.await.unwrap().unwrap_err(), "db down");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn cancelled_loader_does_not_wedge_the_key() {
    let cache = Cache::<u64>::builder().build().await.unwrap();
    let started = Arc::new(Notify::new());
    let s = started.clone();
    let c = cache.clone();
    let leader = tokio::spawn(async move {
        c.get_or_load(&Key::new("k"), move || async move {
            s.notify_one();
            std::future::pending::<u64>().await
        })
        .await
    });
    started.notified().await;
    let c = cache.clone();
    let waiter = tokio::spawn(async move { c.get_or_load(&Key::new("k"), || async { 7 }).await });
    tokio::task::yield_now().await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    assert_eq!(waiter.await.unwrap(), 7, "the waiter ran its own loader");
    assert_eq!(cache.get(&Key::new("k")).await, Some(7));
}

#[tokio::test]
async fn panicking_loader_does_not_wedge_the_key() {
    let cache = Cache::<u64>::builder().build().await.unwrap();
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, r) = (started.clone(), release.clone());
    let c = cache.clone();
    let leader = tokio::spawn(async move {
        c.get_or_load(&Key::new("k"), move || async move {
            s.notify_one();
            r.notified().await;
            panic!("loader panicked");
        })
        .await
    });
    started.notified().await;
    let c = cache.clone();
    let waiter = tokio::spawn(async move { c.get_or_load(&Key::new("k"), || async { 9 }).await });
    tokio::task::yield_now().await;
    release.notify_one();
    assert!(leader.await.unwrap_err().is_panic());
    assert_eq!(waiter.await.unwrap(), 9);
    assert_eq!(cache.get_or_load(&Key::new("k"), || async { 0 }).await, 9);
}

#[tokio::test]
async fn stale_if_error_serves_the_expired_value() {
    let cache = Cache::<u64>::builder()
        .l1_ttl(Duration::from_millis(50))
        .stale_if_error(Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let key = Key::new("k");
    assert_eq!(
        cache
            .try_get_or_load(&key, || async { Ok::<_, String>(1) })
            .await
            .unwrap(),
        1
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(cache.get(&key).await, None, "expired for plain reads");
    let v = cache
        .try_get_or_load(&key, || async { Err::<u64, _>("db down".to_owned()) })
        .await;
    assert_eq!(v.unwrap(), 1, "stale value served");
    assert_eq!(cache.stats().stale_served, 1);
    let v = cache
        .try_get_or_load(&key, || async { Ok::<_, String>(2) })
        .await;
    assert_eq!(v.unwrap(), 2, "a working loader replaces the stale value");
}

#[tokio::test]
async fn refresh_ahead_reloads_in_the_background() {
    let cache = refresh_ahead_cache().await;
    let key = Key::new("k");
    assert_eq!(cache.get_or_load(&key, || async { 1 }).await, 1);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        cache.get_or_load(&key, || async { 2 }).await,
        1,
        "current value served at once"
    );
    let mut seen = None;
    for _ in 0..200 {
        seen = cache.get(&key).await;
        if seen == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(seen, Some(2));
    assert_eq!(cache.stats().refreshes, 1);
}

#[tokio::test]
async fn l1_capacity_by_entries_and_by_weight() {
    let cache = Cache::<u64>::builder()
        .l1_max_entries(10)
        .build()
        .await
        .unwrap();
    for i in 0..100_u64 {
        cache.set(&Key::new(i), i).await.unwrap();
    }
    cache.run_pending_tasks().await;
    let s = cache.stats();
    assert!(s.size <= 10, "{s:?}");
    assert!(s.evictions >= 90, "{s:?}");

    let cache = Cache::<String>::builder()
        .l1_max_bytes(1_000)
        .build()
        .await
        .unwrap();
    for i in 0..100_u64 {
        cache.set(&Key::new(i), "x".repeat(100)).await.unwrap();
    }
    cache.run_pending_tasks().await;
    assert!(cache.stats().l1_weight <= 1_000);
}

#[tokio::test]
async fn l1_can_be_turned_off() {
    let cache = Cache::<u64>::builder()
        .l1_max_entries(0)
        .build()
        .await
        .unwrap();
    cache.set(&Key::new("k"), 1).await.unwrap();
    assert_eq!(cache.get(&Key::new("k")).await, None, "no tier holds it");
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let r = runs.clone();
        cache
            .get_or_load(&Key::new("k"), move || async move {
                r.fetch_add(1, Ordering::SeqCst);
                1
            })
            .await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn entries_shorter_than_l1_ttl_expire_on_time() {
    let cache = Cache::<u64>::builder()
        .l1_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    cache
        .set_with_ttl(&Key::new("short"), 1, Duration::from_millis(50))
        .await
        .unwrap();
    cache.set(&Key::new("long"), 2).await.unwrap();
    assert_eq!(cache.get(&Key::new("short")).await, Some(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(cache.get(&Key::new("short")).await, None);
    assert_eq!(
        cache.get_or_load(&Key::new("short"), || async { 3 }).await,
        3,
        "reloaded"
    );
    assert_eq!(cache.get(&Key::new("long")).await, Some(2));
}

#[tokio::test]
async fn stats_are_published_through_the_metrics_facade() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    // Built before any recorder exists: publication looks metrics up at publication time.
    let cache = Cache::<u64>::builder()
        .namespace("metrics-test")
        .metrics_interval(None)
        .build()
        .await
        .unwrap();
    cache.set(&Key::new("a"), 1).await.unwrap();
    let _ = cache.get(&Key::new("a")).await;
    let _ = cache.get(&Key::new("b")).await;
    let _ = cache.get_or_load(&Key::new("c"), || async { 3 }).await;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let _ = cache.stats();
    });
    assert!(
        snapshotter.snapshot().into_vec().is_empty(),
        "reading stats publishes nothing"
    );
    metrics::with_local_recorder(&recorder, || cache.publish_metrics());
    // One snapshot: taking one resets the debugging recorder's counters.
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, labels: &[(&str, &str)]| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let k = key.key();
            let matches = k.name() == name
                && labels
                    .iter()
                    .all(|(n, v)| k.labels().any(|l| l.key() == *n && l.value() == *v));
            matches.then_some(value)
        })
    };
    let hits = find(
        "cache_requests_total",
        &[
            ("namespace", "metrics-test"),
            ("tier", "l1"),
            ("outcome", "hit"),
        ],
    );
    assert!(matches!(hits, Some(&DebugValue::Counter(1))), "{hits:?}");
    let misses = find(
        "cache_requests_total",
        &[("tier", "l1"), ("outcome", "miss")],
    );
    assert!(
        matches!(misses, Some(&DebugValue::Counter(2))),
        "{misses:?}"
    );
    let loads = find("cache_loads_total", &[("outcome", "ok")]);
    assert!(matches!(loads, Some(&DebugValue::Counter(1))), "{loads:?}");
    assert!(matches!(
        find("cache_entries", &[("tier", "l1")]),
        Some(&DebugValue::Gauge(_))
    ));
    assert!(find("cache_breaker_open", &[]).is_some());
}

#[tokio::test]
async fn failing_refresh_ahead_is_not_retried_on_every_hit() {
    let cache = refresh_ahead_cache().await;
    let key = Key::new("k");
    assert_eq!(cache.get_or_load(&key, || async { 1 }).await, 1);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let r = runs.clone();
        let v = cache
            .try_get_or_load(&key, move || async move {
                r.fetch_add(1, Ordering::SeqCst);
                Err::<u64, _>("backend down")
            })
            .await;
        assert_eq!(v.unwrap(), 1, "the current value is served");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "one refresh attempt, not one per hit"
    );
    assert_eq!(cache.stats().load_errors, 1);
}
