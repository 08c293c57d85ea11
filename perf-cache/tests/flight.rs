//! Single-flight across APIs, stale-if-error for waiters, waiters served before the leader's
//! tier writes, and request statistics that are exact whatever the interleaving.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use perf_cache::{Cache, Key};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Counts loader runs and lets the test hold the first loader until every caller waits.
#[derive(Clone, Default)]
struct Loaders {
    first: Arc<AtomicUsize>,
    second: Arc<AtomicUsize>,
    started: Arc<Notify>,
    release: Arc<Notify>,
}

impl Loaders {
    /// Starts the leader with `call`, then returns once its loader runs (and is held).
    async fn start_leader<T: Send + 'static>(
        &self,
        call: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        let leader = tokio::spawn(call);
        self.started.notified().await;
        leader
    }

    /// The leader's load: counted in `first`, says it started, and returns `out` once
    /// released.
    fn held<T: Send + 'static>(&self, out: T) -> impl Future<Output = T> + Send + 'static {
        let l = self.clone();
        async move {
            l.first.fetch_add(1, Ordering::SeqCst);
            l.started.notify_one();
            l.release.notified().await;
            out
        }
    }

    /// Lets the held loader return once every spawned caller has reached its wait: the clock
    /// is paused, so the sleep ends only when no task can make progress.
    async fn release_when_all_wait(&self) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.release.notify_one();
    }
}

/// A load that counts its run in `runs` and returns `out` (a future does nothing until the
/// cache awaits it, so a caller served by another load never counts).
fn counted<T: Send + 'static>(
    runs: &Arc<AtomicUsize>,
    out: T,
) -> impl Future<Output = T> + Send + 'static {
    let runs = Arc::clone(runs);
    async move {
        runs.fetch_add(1, Ordering::SeqCst);
        out
    }
}

fn spawn_many<T, Fut>(n: usize, f: impl Fn() -> Fut) -> Vec<JoinHandle<T>>
where
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    (0..n).map(|_| tokio::spawn(f())).collect()
}

async fn all<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// A "not found" from a `get_or_load_optional` leader cannot answer `get_or_load` and
/// `try_get_or_load` callers: they must share one more flight, not each run their loader.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn callers_of_every_api_share_one_flight_after_a_not_found() {
    let cache = Cache::<u64>::builder()
        .negative_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let key = Key::new("mixed");
    let l = Loaders::default();
    let (c, k, load) = (cache.clone(), key.clone(), l.held(Ok::<_, String>(None)));
    let leader = l
        .start_leader(async move { c.get_or_load_optional(&k, move || load).await })
        .await;
    let plain = spawn_many(100, || {
        let (c, k, load) = (cache.clone(), key.clone(), counted(&l.second, 7_u64));
        async move { c.get_or_load(&k, move || load).await }
    });
    let fallible = spawn_many(100, || {
        let (c, k, load) = (
            cache.clone(),
            key.clone(),
            counted(&l.second, Ok::<_, String>(7)),
        );
        async move { c.try_get_or_load(&k, move || load).await }
    });
    let optional = spawn_many(100, || {
        let (c, k, load) = (
            cache.clone(),
            key.clone(),
            counted(&l.first, Ok::<_, String>(None)),
        );
        async move { c.get_or_load_optional(&k, move || load).await }
    });
    l.release_when_all_wait().await;

    assert_eq!(leader.await.unwrap().unwrap(), None);
    assert!(all(plain).await.into_iter().all(|v| v == 7));
    assert!(all(fallible).await.into_iter().all(|v| v.unwrap() == 7));
    assert!(
        all(optional)
            .await
            .into_iter()
            .all(|v| v.unwrap().is_none())
    );
    assert_eq!(l.first.load(Ordering::SeqCst), 1, "one not-found load");
    assert_eq!(l.second.load(Ordering::SeqCst), 1, "one value load");
    let s = cache.stats();
    assert_eq!((s.loads, s.total_requests), (2, 301), "{s:?}");
}

/// An error of one type cannot answer callers of another API: they share one more flight.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn callers_of_every_api_share_one_flight_after_an_error() {
    let cache = Cache::<u64>::builder().build().await.unwrap();
    let key = Key::new("mixed-error");
    let l = Loaders::default();
    let db_down = || Err::<u64, _>("db down".to_owned());
    let (c, k, load) = (cache.clone(), key.clone(), l.held(db_down()));
    let leader = l
        .start_leader(async move { c.try_get_or_load(&k, move || load).await })
        .await;
    let same_error = spawn_many(100, || {
        let (c, k, load) = (cache.clone(), key.clone(), counted(&l.first, db_down()));
        async move { c.try_get_or_load(&k, move || load).await }
    });
    let plain = spawn_many(100, || {
        let (c, k, load) = (cache.clone(), key.clone(), counted(&l.second, 7_u64));
        async move { c.get_or_load(&k, move || load).await }
    });
    let other_error = spawn_many(100, || {
        let ok = Ok::<_, std::io::Error>(Some(7_u64));
        let (c, k, load) = (cache.clone(), key.clone(), counted(&l.second, ok));
        async move { c.get_or_load_optional(&k, move || load).await }
    });
    l.release_when_all_wait().await;

    assert_eq!(*leader.await.unwrap().unwrap_err(), "db down");
    for r in all(same_error).await {
        assert_eq!(*r.unwrap_err(), "db down", "the leader's error, shared");
    }
    assert!(all(plain).await.into_iter().all(|v| v == 7));
    assert!(
        all(other_error)
            .await
            .into_iter()
            .all(|v| v.unwrap() == Some(7))
    );
    assert_eq!(l.first.load(Ordering::SeqCst), 1, "one failing load");
    assert_eq!(l.second.load(Ordering::SeqCst), 1, "one value load");
    let s = cache.stats();
    assert_eq!(
        (s.loads, s.load_errors, s.total_requests),
        (2, 1, 301),
        "{s:?}"
    );
}

/// Waiters that hold a recently expired value get it when the leader's loader fails, instead
/// of the leader's error. Here the leader started before the value existed (it holds no stale
/// value of its own and gets the error); the waiters came after the value expired.
#[tokio::test(flavor = "current_thread")]
async fn stale_if_error_holds_for_waiters() {
    let cache = Cache::<u64>::builder()
        .stale_if_error(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let key = Key::new("stale");
    let l = Loaders::default();
    let (c, k, load) = (
        cache.clone(),
        key.clone(),
        l.held(Err::<u64, _>("db down".to_owned())),
    );
    let leader = l
        .start_leader(async move { c.try_get_or_load(&k, move || load).await })
        .await;
    cache
        .set_with_ttl(&key, 1, Duration::from_millis(50))
        .await
        .unwrap();
    // Expiry is measured on the real clock; pause tokio's clock only afterwards.
    tokio::time::sleep(Duration::from_millis(120)).await;
    tokio::time::pause();
    let fallible = spawn_many(50, || {
        let (c, k, load) = (
            cache.clone(),
            key.clone(),
            counted(&l.second, Ok::<_, String>(2)),
        );
        async move { c.try_get_or_load(&k, move || load).await }
    });
    let plain = spawn_many(50, || {
        let (c, k, load) = (cache.clone(), key.clone(), counted(&l.second, 2_u64));
        async move { c.get_or_load(&k, move || load).await }
    });
    l.release_when_all_wait().await;

    assert_eq!(*leader.await.unwrap().unwrap_err(), "db down");
    for r in all(fallible).await {
        assert_eq!(
            r.unwrap(),
            1,
            "a waiter serves its stale value, not the error"
        );
    }
    assert!(all(plain).await.into_iter().all(|v| v == 1));
    assert_eq!(l.first.load(Ordering::SeqCst), 1);
    assert_eq!(
        l.second.load(Ordering::SeqCst),
        0,
        "no waiter ran its loader"
    );
    let s = cache.stats();
    assert_eq!((s.stale_served, s.total_requests), (100, 101), "{s:?}");
}

/// A caller that misses L1 just as the leader finishes (value in L1, flight gone) becomes a
/// leader that finds the value in L1; it must still be counted. Many short rounds with yield
/// points make that interleaving likely; the totals must be exact every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_is_counted_once_whatever_the_interleaving() {
    const ROUNDS: u64 = 2_000;
    const CALLERS: u64 = 64;
    let cache = Cache::<u64>::builder()
        .l1_max_entries(100_000)
        .build()
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    for round in 0..ROUNDS {
        let tasks: Vec<_> = (0..CALLERS)
            .map(|i| {
                let (cache, runs) = (cache.clone(), runs.clone());
                tokio::spawn(async move {
                    // Stagger the callers around the moment the loader returns.
                    for _ in 0..(i % 8) {
                        tokio::task::yield_now().await;
                    }
                    let key = Key::new("round").arg(round);
                    if i % 3 == 0 {
                        cache
                            .get_or_load(&key, move || async move {
                                runs.fetch_add(1, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                round
                            })
                            .await
                    } else {
                        cache
                            .try_get_or_load(&key, move || async move {
                                runs.fetch_add(1, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                Ok::<_, String>(round)
                            })
                            .await
                            .unwrap()
                    }
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), round);
        }
    }
    let s = cache.stats();
    assert_eq!(
        u64::try_from(runs.load(Ordering::SeqCst)).unwrap(),
        ROUNDS,
        "one load per round"
    );
    assert_eq!(s.loads, ROUNDS);
    assert_eq!(s.total_requests, ROUNDS * CALLERS, "{s:?}");
    assert_eq!(s.hits + s.misses, ROUNDS * CALLERS, "{s:?}");
}

/// Waiters get the loaded value as soon as the loader returns, while the leader's Redis `SET`
/// is still pending (here: on a frozen server, for up to the 10 s command timeout).
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_do_not_wait_for_the_leaders_tier_writes() {
    let server = Arc::new(common::PrivateRedis::start(common::free_port()));
    let cache = Cache::<u64>::builder()
        .namespace(common::namespace("early"))
        .redis_url(server.url())
        .redis_timeout(Duration::from_secs(10))
        .require_l2(true)
        .build()
        .await
        .unwrap();
    let key = Key::new("k");
    let l = Loaders::default();
    let (c, k, l2, srv) = (cache.clone(), key.clone(), l.clone(), server.clone());
    let leader = l
        .start_leader(async move {
            c.get_or_load(&k, move || async move {
                l2.started.notify_one();
                l2.release.notified().await;
                // From here on Redis answers nothing: the leader's SET hangs.
                srv.signal("STOP");
                42_u64
            })
            .await
        })
        .await;
    let (c, k) = (cache.clone(), key.clone());
    let waiter = tokio::spawn(async move { c.get_or_load(&k, || async { 0 }).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    l.release.notify_one();
    let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
    server.signal("CONT");
    assert_eq!(
        got.expect("the waiter waited for the leader's Redis SET")
            .unwrap(),
        42
    );
    assert_eq!(leader.await.unwrap(), 42);
}

/// A stored "not found" that a `get_or_load` caller cannot use leads to a load; the request is
/// still counted once (it was counted as the tier's hit and again as a miss).
#[cfg(feature = "disk")]
#[tokio::test]
async fn a_not_found_that_cannot_be_used_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::<u64>::builder()
        .namespace("negative")
        .l1_max_entries(0)
        .negative_ttl(Duration::from_secs(60))
        .disk_path(dir.path().join("l3.redb"))
        .build()
        .await
        .unwrap();
    let key = Key::new("k");
    let none = cache
        .get_or_load_optional(&key, || async { Ok::<_, String>(None) })
        .await;
    assert_eq!(none.unwrap(), None);
    assert_eq!(cache.get_or_load(&key, || async { 5 }).await, 5);
    let s = cache.stats();
    assert_eq!((s.loads, s.total_requests), (2, 2), "{s:?}");
}
