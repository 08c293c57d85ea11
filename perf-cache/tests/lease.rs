//! Cluster-wide single-flight: two backends with separate L1s sharing one Redis act as two
//! instances; the lease in Redis lets one of them run the loader of a cold key.
#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{cleanup, eventually, namespace, raw, raw_exists, redis_url};
use perf_cache::{Cache, Key, Pattern, SingleFlight};
use tokio::sync::Notify;

/// One instance: its own backend (L1, bus) on the shared Redis, in cluster mode.
async fn instance(ns: &str, url: &str) -> Cache<u64> {
    Cache::<u64>::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        .single_flight(SingleFlight::Cluster)
        // Far above anything these tests wait for: a timeout would show in the counters.
        .lease_wait(Duration::from_secs(30))
        .lease_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap()
}

/// The lease key of `key` (its bytes as `Key` writes them) in namespace `ns`.
fn lease_key(ns: &str, key: &str) -> String {
    format!("{ns}%:l:{{{ns}:{key}}}")
}

/// Removes the namespace's bookkeeping keys too (generations, leases).
async fn cleanup_all(ns: &str) {
    cleanup(&redis_url(), ns).await;
    let mut c = raw(&redis_url()).await;
    let keys: Vec<String> = common::scan(&mut c, format!("{ns}%:*").as_str(), 1_000).await;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

/// A loader that counts its runs and takes a moment, so that every caller arrives while the
/// first load is running.
fn slow_loader(
    runs: &Arc<AtomicU32>,
    value: u64,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = u64> + Send>> + Send + 'static {
    let runs = Arc::clone(runs);
    move || {
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            value
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_fifty_callers_each_one_loader_run() {
    let (ns, url) = (namespace("lease-two"), redis_url());
    let a = instance(&ns, &url).await;
    let b = instance(&ns, &url).await;
    for round in 0..3_u64 {
        let key = Key::new("report").arg(round);
        let runs = Arc::new(AtomicU32::new(0));
        let mut calls = Vec::new();
        for i in 0..100 {
            let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (key, loader) = (key.clone(), slow_loader(&runs, 40 + round));
            calls.push(tokio::spawn(async move {
                cache.get_or_load(&key, loader).await
            }));
        }
        for call in calls {
            assert_eq!(call.await.unwrap(), 40 + round);
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "round {round}: one loader run in total"
        );
        assert!(
            !raw_exists(&url, &lease_key(&ns, &format!("report:{round}"))).await,
            "the lease is released once the value is stored"
        );
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.loads + sb.loads, 3, "{sa:?} {sb:?}");
    assert_eq!(sa.lease_acquired + sb.lease_acquired, 3);
    assert_eq!(sa.lease_wait_timeouts + sb.lease_wait_timeouts, 0);
    assert_eq!(sa.lease_fallbacks + sb.lease_fallbacks, 0);
    // Per round, the instance that did not load either waited for the lease or found the value
    // already stored when it missed L2 (its 50 callers shared one flight either way).
    assert!(sa.lease_waits + sb.lease_waits <= 3);
    cleanup_all(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_publishes_the_value_key_for_the_waiters() {
    let (ns, url) = (namespace("lease-wake"), redis_url());
    let a = instance(&ns, &url).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let client = redis::Client::open(format!("{url}?protocol=resp3")).unwrap();
    let config = redis::AsyncConnectionConfig::new().set_push_sender(tx);
    let mut sub = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    sub.subscribe(format!("{ns}%:lease")).await.unwrap();
    assert_eq!(
        a.get_or_load(&Key::new("w").arg(1_u64), || async { 1 })
            .await,
        1
    );
    let published = loop {
        let push = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the release publishes within 5 s")
            .unwrap();
        if push.kind == redis::PushKind::Message {
            break push.data;
        }
    };
    assert_eq!(
        published[1],
        redis::Value::BulkString(format!("{ns}:w:1").into_bytes()),
        "the value key, on <ns>%:lease"
    );
    cleanup_all(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_releases_its_lease_and_the_other_instance_loads() {
    let (ns, url) = (namespace("lease-cancel"), redis_url());
    let a = instance(&ns, &url).await;
    let b = instance(&ns, &url).await;
    let key = Key::new("slow").arg(1_u64);
    let lease = lease_key(&ns, "slow:1");
    let started = Arc::new(Notify::new());
    let leader = {
        let (a, key, started) = (a.clone(), key.clone(), Arc::clone(&started));
        tokio::spawn(async move {
            a.get_or_load(&key, move || async move {
                started.notify_one();
                std::future::pending::<u64>().await
            })
            .await
        })
    };
    started.notified().await;
    assert!(
        raw_exists(&url, &lease).await,
        "A holds the lease while loading"
    );
    let waiter = {
        let (b, key) = (b.clone(), key.clone());
        tokio::spawn(async move { b.get_or_load(&key, || async { 7 }).await })
    };
    assert!(
        eventually(500, async || b.stats().lease_waits == 1).await,
        "B waits for A's lease: {:?}",
        b.stats()
    );
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // The lease outlives B's wait bound (60 s > 30 s): only A's release lets B in.
    assert_eq!(waiter.await.unwrap(), 7);
    let s = b.stats();
    assert_eq!(
        (
            s.loads,
            s.lease_waits,
            s.lease_acquired,
            s.lease_wait_timeouts
        ),
        (1, 1, 1, 0),
        "{s:?}"
    );
    assert!(!raw_exists(&url, &lease).await, "no lease left behind");
    assert_eq!(a.get(&key).await, Some(7), "B's value, through Redis");
    cleanup_all(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_leader_releases_its_lease_at_once() {
    let (ns, url) = (namespace("lease-fail"), redis_url());
    let a = instance(&ns, &url).await;
    let b = instance(&ns, &url).await;
    let key = Key::new("flaky");
    let leader = {
        let (a, b, key) = (a.clone(), b.clone(), key.clone());
        tokio::spawn(async move {
            a.try_get_or_load(&key, move || async move {
                // Fails only once B waits on this load's lease.
                for _ in 0..500 {
                    if b.stats().lease_waits == 1 {
                        return Err::<u64, _>("database down");
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err("B never waited")
            })
            .await
        })
    };
    assert!(
        eventually(500, async || a.stats().lease_acquired == 1).await,
        "A takes the lease first"
    );
    let got = b.try_get_or_load(&key, || async { Ok::<_, &str>(5) }).await;
    assert_eq!(got.unwrap(), 5, "B loads after A's failure");
    assert_eq!(*leader.await.unwrap().unwrap_err(), "database down");
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.loads, sa.load_errors, sa.lease_acquired), (1, 1, 1));
    assert_eq!(
        (
            sb.loads,
            sb.lease_waits,
            sb.lease_acquired,
            sb.lease_wait_timeouts
        ),
        (1, 1, 1, 0),
        "B took the freed lease instead of waiting out its bound: {sb:?}"
    );
    assert!(!raw_exists(&url, &lease_key(&ns, "flaky")).await);
    cleanup_all(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_is_bounded_by_lease_wait() {
    let (ns, url) = (namespace("lease-bound"), redis_url());
    let a = instance(&ns, &url).await;
    let b = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .single_flight(SingleFlight::Cluster)
        .lease_wait(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    let key = Key::new("stuck");
    let started = Arc::new(Notify::new());
    let leader = {
        let (a, key, started) = (a.clone(), key.clone(), Arc::clone(&started));
        tokio::spawn(async move {
            a.get_or_load(&key, move || async move {
                started.notify_one();
                std::future::pending::<u64>().await
            })
            .await
        })
    };
    started.notified().await;
    assert_eq!(b.get_or_load(&key, || async { 9 }).await, 9);
    let s = b.stats();
    assert_eq!(
        (
            s.loads,
            s.lease_waits,
            s.lease_wait_timeouts,
            s.lease_acquired
        ),
        (1, 1, 1, 0),
        "{s:?}"
    );
    assert!(
        raw_exists(&url, &lease_key(&ns, "stuck")).await,
        "A's lease is A's: B never deletes it"
    );
    leader.abort();
    let _ = leader.await;
    assert!(
        eventually(500, async || !raw_exists(&url, &lease_key(&ns, "stuck"))
            .await)
        .await,
        "the aborted holder's guard releases it"
    );
    cleanup_all(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_loads_fall_back_to_process_single_flight() {
    let server = common::PrivateRedis::start(common::free_port());
    let ns = namespace("lease-down");
    let cache = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(server.url())
        .require_l2(true)
        .single_flight(SingleFlight::Cluster)
        .redis_timeout(Duration::from_millis(100))
        .breaker_threshold(1)
        .breaker_cooldown(Duration::from_secs(3_600))
        .build()
        .await
        .unwrap();
    server.kill();
    for (round, expect_fallbacks) in [(0_u64, 1), (1, 2)] {
        let runs = Arc::new(AtomicU32::new(0));
        let key = Key::new("k").arg(round);
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let (cache, key, loader) = (cache.clone(), key.clone(), slow_loader(&runs, 3));
                tokio::spawn(async move { cache.get_or_load(&key, loader).await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), 3);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one run in this process");
        let s = cache.stats();
        assert_eq!(
            (s.lease_fallbacks, s.lease_acquired, s.lease_waits),
            (expect_fallbacks, 0, 0),
            "{s:?}"
        );
    }
    assert!(
        cache.stats().breaker_open,
        "the second round ran with the breaker open"
    );
    // A backend without Redis at all.
    let local = Cache::<u64>::builder()
        .single_flight(SingleFlight::Cluster)
        .build()
        .await
        .unwrap();
    assert_eq!(local.get_or_load(&Key::new(1_u64), || async { 1 }).await, 1);
    assert_eq!(local.stats().lease_fallbacks, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_out_of_reach_of_patterns_clears_and_scans() {
    let (ns, url) = (namespace("lease-reach"), redis_url());
    let a = instance(&ns, &url).await;
    let key = Key::new("held");
    let lease = lease_key(&ns, "held");
    let (started, finish) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let leader = {
        let (a, key) = (a.clone(), key.clone());
        let (started, finish) = (Arc::clone(&started), Arc::clone(&finish));
        tokio::spawn(async move {
            a.get_or_load(&key, move || async move {
                started.notify_one();
                finish.notified().await;
                1
            })
            .await
        })
    };
    started.notified().await;
    let by_pattern = a.backend().invalidate_pattern(&Pattern::new().any()).await;
    assert!(by_pattern.is_complete());
    assert!(a.invalidate_all().await.is_complete());
    assert!(
        a.invalidate_pattern(&Pattern::new().any())
            .await
            .is_complete()
    );
    assert!(
        raw_exists(&url, &lease).await,
        "no pattern or clear reaches the lease"
    );
    let mut c = raw(&url).await;
    let user_keys: Vec<String> = common::scan(&mut c, format!("{ns}:*").as_str(), 1_000).await;
    assert!(
        user_keys.iter().all(|k| !k.contains('%')),
        "SCAN of <ns>:* never lists a bookkeeping key: {user_keys:?}"
    );
    finish.notify_one();
    assert_eq!(leader.await.unwrap(), 1);
    assert!(!raw_exists(&url, &lease).await, "released after the load");
    cleanup_all(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generation_read_with_the_lease_still_fences_the_fill() {
    let (ns, url) = (namespace("lease-fence"), redis_url());
    // No bus on A: only the generation in Redis can turn its fill away.
    let a = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .bus(false)
        .single_flight(SingleFlight::Cluster)
        .build()
        .await
        .unwrap();
    let b = instance(&ns, &url).await;
    // A key invalidated long before its load: the generation read after the lease is the
    // current one, so the fill is written.
    let before = Key::new("before");
    assert!(b.invalidate(&before).await.is_complete());
    assert_eq!(a.get_or_load(&before, || async { 2 }).await, 2);
    assert!(raw_exists(&url, &format!("{ns}:before")).await, "filled");
    assert_eq!(a.stats().stale_fills_dropped, 0);
    // An invalidation while the leased load runs: its fill is refused.
    let key = Key::new("fenced");
    let (started, finish) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let leader = {
        let (a, key) = (a.clone(), key.clone());
        let (started, finish) = (Arc::clone(&started), Arc::clone(&finish));
        tokio::spawn(async move {
            a.get_or_load(&key, move || async move {
                started.notify_one();
                finish.notified().await;
                1
            })
            .await
        })
    };
    started.notified().await;
    assert!(b.invalidate(&key).await.is_complete());
    finish.notify_one();
    assert_eq!(
        leader.await.unwrap(),
        1,
        "the load's own caller still gets its value"
    );
    let s = a.stats();
    assert_eq!((s.lease_acquired, s.stale_fills_dropped), (2, 1), "{s:?}");
    assert!(
        !raw_exists(&url, &format!("{ns}:fenced")).await,
        "not written into Redis"
    );
    assert!(!raw_exists(&url, &lease_key(&ns, "fenced")).await);
    cleanup_all(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_outcomes_reach_the_metrics_facade() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let (ns, url) = (namespace("lease-metrics"), redis_url());
    let a = instance(&ns, &url).await;
    assert_eq!(a.get_or_load(&Key::new("m"), || async { 1 }).await, 1);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || a.publish_metrics());
    let snapshot = snapshotter.snapshot().into_vec();
    let lease = |outcome: &str| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let k = key.key();
            let hit = k.name() == "cache_lease_total"
                && k.labels()
                    .any(|l| l.key() == "namespace" && l.value() == ns)
                && k.labels()
                    .any(|l| l.key() == "outcome" && l.value() == outcome);
            match (hit, value) {
                (true, DebugValue::Counter(n)) => Some(*n),
                _ => None,
            }
        })
    };
    assert_eq!(
        ["acquired", "waited", "timeout", "fallback"].map(lease),
        [Some(1), Some(0), Some(0), Some(0)]
    );
    cleanup_all(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lease_settings_name_the_field() {
    let e = Cache::<u64>::builder()
        .lease_ttl(Duration::from_millis(1))
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lease_ttl") && e.contains("10 ms..=1 hour"),
        "{e}"
    );
    let e = Cache::<u64>::builder()
        .lease_wait(Duration::from_secs(7_200))
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lease_wait") && e.contains("1 ms..=1 hour"),
        "{e}"
    );
}

#[cfg(feature = "redis-cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_two_instances_run_one_loader() {
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, ports) = common::cluster::start_cluster(dir.path());
    let ns = namespace("lease-cluster");
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect();
    let instance = || async {
        Cache::<u64>::builder()
            .namespace(&ns)
            .redis_cluster_urls(urls.clone())
            .redis_timeout(Duration::from_secs(1))
            .require_l2(true)
            .single_flight(SingleFlight::Cluster)
            .lease_wait(Duration::from_secs(30))
            .build()
            .await
            .unwrap()
    };
    let (a, b) = (instance().await, instance().await);
    // Keys spread over the three primaries: each lease lives in its own key's slot.
    for round in 0..6_u64 {
        let key = Key::new("c").arg(round);
        let runs = Arc::new(AtomicU32::new(0));
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
                let (key, loader) = (key.clone(), slow_loader(&runs, round));
                tokio::spawn(async move { cache.get_or_load(&key, loader).await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), round);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "round {round}");
        // The lease is gone from every node (a node not owning the slot answers MOVED).
        let mut left = 0;
        for url in &urls {
            let mut c = raw(url).await;
            left += redis::cmd("EXISTS")
                .arg(lease_key(&ns, &format!("c:{round}")))
                .query_async::<i64>(&mut c)
                .await
                .unwrap_or(0);
        }
        assert_eq!(left, 0, "round {round}");
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.lease_acquired + sb.lease_acquired, 6, "{sa:?} {sb:?}");
    assert_eq!(sa.l2.unwrap().errors + sb.l2.unwrap().errors, 0);
    assert_eq!(sa.lease_fallbacks + sb.lease_fallbacks, 0);
}

mod macro_on_two_backends {
    use super::*;
    use perf_cache::{Backend, cached};
    use std::sync::OnceLock;

    static A: OnceLock<Backend> = OnceLock::new();
    static B: OnceLock<Backend> = OnceLock::new();
    static RUNS: AtomicU32 = AtomicU32::new(0);

    async fn body(id: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        id * 2
    }

    mod on_a {
        use super::*;
        #[cached(prefix = "leased", single_flight = "cluster",
                 backend = A.get().expect("backend A is built before the first call"))]
        pub(super) async fn report(id: u64) -> u64 {
            body(id).await
        }
    }

    mod on_b {
        use super::*;
        #[cached(prefix = "leased", single_flight = "cluster",
                 backend = B.get().expect("backend B is built before the first call"))]
        pub(super) async fn report(id: u64) -> u64 {
            body(id).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn single_flight_cluster_runs_the_body_once_across_backends() {
        let (ns, url) = (namespace("lease-macro"), redis_url());
        for slot in [&A, &B] {
            let backend = Backend::builder()
                .namespace(&ns)
                .redis_url(&url)
                .require_l2(true)
                .build()
                .await
                .unwrap();
            assert!(slot.set(backend).is_ok());
        }
        let calls: Vec<_> = (0..40)
            .map(|i| {
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        on_a::report(21).await
                    } else {
                        on_b::report(21).await
                    }
                })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), 42);
        }
        assert_eq!(
            RUNS.load(Ordering::SeqCst),
            1,
            "one body run on two backends"
        );
        assert!(!raw_exists(&url, &format!("{ns}%:l:{{{ns}:leased:21}}")).await);
        cleanup_all(&ns).await;
    }
}
