//! Soft and hard load timeouts (`CacheBuilder::soft_timeout`/`hard_timeout`, `LoadOptions`,
//! `#[cached(soft_timeout, hard_timeout)]`): callers stop waiting, the load goes on in the
//! background, fills every tier through the fence, keeps single-flight, and a load that never
//! finishes is abandoned at its documented bound. Loaders are held by `Notify` gates, so each
//! outcome is forced, never a matter of timing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use perf_cache::{Cache, Error, Key, LoadError, LoadOptions, LoadTimeout, cached};
use tokio::sync::Notify;

/// A loader of `value` that counts its runs, says when it started and waits for `release`.
fn gated_loader(
    runs: &Arc<AtomicUsize>,
    started: &Arc<Notify>,
    release: &Arc<Notify>,
    value: u64,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = u64> + Send>> + Send + 'static {
    let (runs, started, release) = (runs.clone(), started.clone(), release.clone());
    move || {
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            started.notify_one();
            release.notified().await;
            value
        })
    }
}

/// A loader that must not run (the call joins a load already in flight).
fn never(runs: &Arc<AtomicUsize>) -> impl FnOnce() -> std::future::Ready<u64> + Send + 'static {
    let runs = runs.clone();
    move || {
        runs.fetch_add(1, Ordering::SeqCst);
        std::future::ready(u64::MAX)
    }
}

/// A Redis-backed cache whose L1 keeps expired values an hour (the stale window).
async fn redis_cache_with(ns: &str, soft: Option<Duration>, hard: Option<Duration>) -> Cache<u64> {
    let mut b = Cache::<u64>::builder()
        .namespace(ns)
        .redis_url(common::redis_url())
        .require_l2(true)
        .stale_if_error(Duration::from_secs(3_600));
    if let Some(s) = soft {
        b = b.soft_timeout(s);
    }
    if let Some(h) = hard {
        b = b.hard_timeout(h);
    }
    b.build().await.unwrap()
}

/// Stores `value` for 30 ms in every tier and waits until it has expired there (L1 keeps it
/// as a stale value).
async fn stale_entry(cache: &Cache<u64>, key: &Key, value: u64) {
    let options = LoadOptions::default().ttl(Duration::from_millis(30));
    let v = cache
        .get_or_load_with(key, options, move || async move { value })
        .await
        .unwrap();
    assert_eq!(v, value);
    assert!(
        common::eventually(100, async || cache.get(key).await.is_none()).await,
        "the 30 ms entry expired in every tier"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_timeout_serves_the_stale_value_and_the_load_fills_every_tier() {
    let ns = common::namespace("soft_stale");
    let cache = redis_cache_with(&ns, Some(Duration::from_millis(20)), None).await;
    let key = Key::new("report").arg(1_u64);
    stale_entry(&cache, &key, 1).await;

    let (runs, started, release) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    // The leader: its loader is held, so only the soft timeout can answer it.
    let v = cache
        .get_or_load(&key, gated_loader(&runs, &started, &release, 2))
        .await;
    assert_eq!(v, 1, "the stale value, past the soft timeout");
    started.notified().await;
    // A caller arriving while the load runs in the background joins it, and gets the stale
    // value the same way (through `try_get_or_load`: the soft timeout applies to every API).
    let joined = cache
        .try_get_or_load(&key, {
            let runs = runs.clone();
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<u64, String>(u64::MAX)
            }
        })
        .await;
    assert_eq!(joined.unwrap(), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one loader run in flight");
    assert_eq!(cache.stats().soft_timeouts, 2);

    release.notify_one();
    assert!(
        common::eventually(200, async || cache.get(&key).await == Some(2)).await,
        "the background load stored its value"
    );
    let full = format!("{ns}:report:1");
    assert!(
        common::raw_exists(&common::redis_url(), &full).await,
        "and in Redis"
    );
    // The next call is a hit on the new value: no loader run.
    assert_eq!(cache.get_or_load(&key, never(&runs)).await, 2);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.soft_timeouts, stats.hard_timeouts), (2, 0));
    assert_eq!(
        stats.stale_served, 0,
        "stale_served counts failed loads only"
    );
    common::cleanup(&common::redis_url(), &ns).await;
}

#[tokio::test(start_paused = true)]
async fn soft_timeout_without_a_stale_value_waits_for_the_load() {
    let cache = Cache::<u64>::builder()
        .stale_if_error(Duration::from_secs(3_600))
        .soft_timeout(Duration::from_millis(10))
        .metrics_interval(None)
        .build()
        .await
        .unwrap();
    let key = Key::new("cold");
    let (runs, started, release) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    let call = tokio::spawn({
        let (cache, key, loader) = (
            cache.clone(),
            key.clone(),
            gated_loader(&runs, &started, &release, 7),
        );
        async move { cache.get_or_load(&key, loader).await }
    });
    started.notified().await;
    // Far past the soft timeout (paused clock): no stale value, so the caller still waits.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!call.is_finished(), "no stale value: the caller waits");
    release.notify_one();
    assert_eq!(call.await.unwrap(), 7);
    assert_eq!(cache.get(&key).await, Some(7));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().soft_timeouts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_timeout_times_out_leader_and_waiters_and_the_load_fills_in_the_background() {
    let ns = common::namespace("hard_fill");
    let hard = Duration::from_millis(50);
    let cache = redis_cache_with(&ns, None, Some(hard)).await;
    let key = Key::new("slow").arg(9_u64);
    let (runs, started, release) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    let opts = LoadOptions::default;
    let leader = tokio::spawn({
        let (cache, key) = (cache.clone(), key.clone());
        let loader = gated_loader(&runs, &started, &release, 5);
        async move { cache.get_or_load_with(&key, opts(), loader).await }
    });
    started.notified().await;
    // Two waiters of the same flight, each through another API.
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let (cache, key, runs) = (cache.clone(), key.clone(), runs.clone());
            tokio::spawn(async move {
                cache
                    .try_get_or_load_with(&key, opts(), move || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<u64, String>(u64::MAX)
                    })
                    .await
            })
        })
        .collect();
    assert!(matches!(
        leader.await.unwrap(),
        Err(LoadError::TimedOut { after }) if after == hard
    ));
    for w in waiters {
        assert!(matches!(w.await.unwrap(), Err(LoadError::TimedOut { after }) if after == hard));
    }
    // A caller while the load still runs in the background joins it: no second loader run.
    let late = cache.get_or_load_with(&key, opts(), never(&runs)).await;
    assert!(matches!(late, Err(LoadError::TimedOut { .. })));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "exactly one loader run");
    assert_eq!(cache.stats().hard_timeouts, 4);

    release.notify_one();
    assert!(
        common::eventually(200, async || cache.get(&key).await == Some(5)).await,
        "the background load filled the cache"
    );
    assert!(common::raw_exists(&common::redis_url(), &format!("{ns}:slow:9")).await);
    assert_eq!(
        cache
            .get_or_load_with(&key, opts(), never(&runs))
            .await
            .unwrap(),
        5,
        "the next call hits"
    );
    let stats = cache.stats();
    assert_eq!((runs.load(Ordering::SeqCst), stats.loads), (1, 1));
    assert_eq!((stats.hard_timeouts, stats.soft_timeouts), (4, 0));
    common::cleanup(&common::redis_url(), &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_the_background_completion_wins() {
    let ns = common::namespace("hard_fence");
    let cache = redis_cache_with(&ns, None, Some(Duration::from_millis(20))).await;
    let key = Key::new("fenced");
    let (runs, started, release) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    let r = cache
        .get_or_load_with(
            &key,
            LoadOptions::default(),
            gated_loader(&runs, &started, &release, 3),
        )
        .await;
    assert!(matches!(r, Err(LoadError::TimedOut { .. })));
    started.notified().await;
    assert!(cache.invalidate(&key).await.is_complete());
    release.notify_one();
    assert!(
        common::eventually(200, async || cache.stats().stale_fills_dropped == 1).await,
        "the background load's fill was turned away"
    );
    assert_eq!(cache.get(&key).await, None, "no tier serves the value");
    assert!(!common::raw_exists(&common::redis_url(), &format!("{ns}:fenced")).await);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    common::cleanup(&common::redis_url(), &ns).await;
}

/// Drops count the loader futures that were given up.
struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_load_that_never_finishes_is_abandoned_after_ten_minutes() {
    let cache = Cache::<u64>::builder()
        .hard_timeout(Duration::from_millis(100))
        .metrics_interval(None)
        .build()
        .await
        .unwrap();
    let key = Key::new("hung");
    let (runs, drops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let hung = {
        let (runs, drops) = (runs.clone(), drops.clone());
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            let _guard = DropCount(drops);
            std::future::pending::<u64>().await
        }
    };
    let r = cache
        .get_or_load_with(&key, LoadOptions::default(), hung)
        .await;
    assert!(matches!(r, Err(LoadError::TimedOut { .. })));
    // Nine minutes on: still running, still joined.
    tokio::time::sleep(Duration::from_secs(540)).await;
    let r = cache
        .get_or_load_with(&key, LoadOptions::default(), never(&runs))
        .await;
    assert!(matches!(r, Err(LoadError::TimedOut { .. })));
    assert_eq!(
        (runs.load(Ordering::SeqCst), drops.load(Ordering::SeqCst)),
        (1, 0)
    );
    // Past ten minutes from its start: abandoned, its loader dropped, nothing stored.
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the hung loader was dropped"
    );
    assert_eq!(cache.get(&key).await, None);
    // The key is free again: the next caller runs its own loader.
    let fresh = {
        let runs = runs.clone();
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            8
        }
    };
    assert_eq!(
        cache
            .get_or_load_with(&key, LoadOptions::default(), fresh)
            .await
            .unwrap(),
        8
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().hard_timeouts, 2);
}

#[tokio::test(start_paused = true)]
async fn the_views_hard_timeout_applies_only_to_calls_that_can_report_it() {
    let cache = Cache::<u64>::builder()
        .hard_timeout(Duration::from_millis(10))
        .metrics_interval(None)
        .build()
        .await
        .unwrap();
    let slow = |v: u64| {
        move || async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<u64, String>(v)
        }
    };
    // `try_get_or_load` cannot return a timeout: it waits for its loader.
    assert_eq!(cache.try_get_or_load(&Key::new("a"), slow(1)).await, Ok(1));
    assert_eq!(
        cache
            .get_or_load_optional(
                &Key::new("b"),
                move || async move { slow(2)().await.map(Some) }
            )
            .await,
        Ok(Some(2))
    );
    assert_eq!(cache.stats().hard_timeouts, 0);
    // `try_get_or_load_with` can.
    let r = cache
        .try_get_or_load_with(&Key::new("c"), LoadOptions::default(), slow(3))
        .await;
    assert!(matches!(r, Err(LoadError::TimedOut { after }) if after == Duration::from_millis(10)));
    assert_eq!(cache.stats().hard_timeouts, 1);
    // A per-call hard timeout overrides the view's.
    let r = cache
        .try_get_or_load_with(
            &Key::new("d"),
            LoadOptions::default().hard_timeout(Duration::from_secs(5)),
            slow(4),
        )
        .await;
    assert_eq!(r.unwrap(), 4);
}

fn field(e: &Error) -> &'static str {
    match e {
        Error::InvalidConfig { field, .. } => field,
        other => panic!("not an InvalidConfig: {other}"),
    }
}

#[tokio::test]
async fn out_of_range_timeouts_are_refused_naming_the_field() {
    let build = |soft: Option<Duration>, hard: Option<Duration>| async move {
        let mut b = Cache::<u64>::builder().stale_if_error(Duration::from_secs(60));
        if let Some(s) = soft {
            b = b.soft_timeout(s);
        }
        if let Some(h) = hard {
            b = b.hard_timeout(h);
        }
        b.build().await.map(drop)
    };
    let ms = Duration::from_millis;
    let cases = [
        (Some(Duration::ZERO), None, "soft_timeout"),
        (Some(Duration::from_micros(999)), None, "soft_timeout"),
        (None, Some(Duration::ZERO), "hard_timeout"),
        (None, Some(Duration::from_secs(86_401)), "hard_timeout"),
        (Some(ms(200)), Some(ms(200)), "soft_timeout"),
        (Some(ms(300)), Some(ms(200)), "soft_timeout"),
    ];
    for (soft, hard, name) in cases {
        let e = build(soft, hard).await.unwrap_err();
        assert_eq!(field(&e), name, "{soft:?} {hard:?}: {e}");
    }
    let e = build(Some(ms(200)), Some(ms(300))).await;
    assert!(e.is_ok(), "1 ms ..= 1 day, soft below hard");
    let e = build(Some(ms(1)), Some(Duration::from_secs(86_400))).await;
    assert!(e.is_ok());
    assert_eq!(
        build(Some(ms(100)), Some(ms(50)))
            .await
            .unwrap_err()
            .to_string(),
        "invalid `soft_timeout`: got 100ms, allowed: 1 ms ..= 1 day and below hard_timeout (50ms)"
    );

    // A soft timeout needs a stale window to serve from.
    let e = Cache::<u64>::builder()
        .soft_timeout(ms(10))
        .build()
        .await
        .unwrap_err();
    assert_eq!(field(&e), "soft_timeout");
    assert!(e.to_string().contains("stale_if_error"), "{e}");
    let no_window = Cache::<u64>::builder().build().await.unwrap();
    let r = no_window
        .get_or_load_with(
            &Key::new("x"),
            LoadOptions::default().soft_timeout(ms(10)),
            || async { 1 },
        )
        .await;
    assert!(matches!(r, Err(LoadError::InvalidOptions(e)) if field(&e) == "soft_timeout"));

    // Per call: the same ranges, soft against the view's hard, and `ttl`.
    let cache = Cache::<u64>::builder()
        .stale_if_error(Duration::from_secs(60))
        .hard_timeout(ms(50))
        .build()
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let per_call = [
        (LoadOptions::default().soft_timeout(ms(50)), "soft_timeout"),
        (
            LoadOptions::default().hard_timeout(Duration::ZERO),
            "hard_timeout",
        ),
        (LoadOptions::default().ttl(Duration::ZERO), "ttl"),
        (
            LoadOptions::default().ttl(Duration::from_secs(366 * 86_400)),
            "ttl",
        ),
    ];
    for (options, name) in per_call {
        match cache
            .get_or_load_with(&Key::new("x"), options, never(&runs))
            .await
        {
            Err(LoadError::InvalidOptions(e)) => assert_eq!(field(&e), name, "{e}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing ran");
    // A per-call soft timeout below a per-call hard one is fine even above the view's hard.
    let ok = cache
        .get_or_load_with(
            &Key::new("x"),
            LoadOptions::default()
                .soft_timeout(ms(60))
                .hard_timeout(ms(70)),
            || async { 1 },
        )
        .await;
    assert_eq!(ok.unwrap(), 1);
}

#[test]
fn load_errors_display_and_convert() {
    let t = LoadTimeout::new(Duration::from_secs(2));
    let e: LoadError<std::io::Error> = t.into();
    assert!(e.is_timeout());
    assert_eq!(
        e.to_string(),
        "the load timed out after 2s (it goes on in the background)"
    );
    let io = LoadError::Loader(Arc::new(std::io::Error::other("db down")));
    assert_eq!(io.to_string(), "the loader failed: db down");
    let source = std::error::Error::source(&io).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("db down"));
}

// ---- `#[cached]` ----

#[derive(Debug, Clone, PartialEq)]
enum FetchError {
    Timeout(Duration),
    Db,
}

impl From<LoadTimeout> for FetchError {
    fn from(t: LoadTimeout) -> Self {
        Self::Timeout(t.after)
    }
}

static HARD_RUNS: AtomicUsize = AtomicUsize::new(0);
static HARD_GATE: std::sync::LazyLock<(Notify, Notify)> =
    std::sync::LazyLock::new(|| (Notify::new(), Notify::new()));

#[cached(hard_timeout = "50ms")]
async fn fetch_slow(id: u64) -> Result<u64, FetchError> {
    HARD_RUNS.fetch_add(1, Ordering::SeqCst);
    HARD_GATE.0.notify_one();
    HARD_GATE.1.notified().await;
    if id == 0 {
        return Err(FetchError::Db);
    }
    Ok(id * 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_hard_timeout_returns_the_functions_error_and_fills_in_the_background() {
    let callers: Vec<_> = (0..3).map(|_| tokio::spawn(fetch_slow(4))).collect();
    for c in callers {
        assert_eq!(
            c.await.unwrap(),
            Err(FetchError::Timeout(Duration::from_millis(50)))
        );
    }
    HARD_GATE.0.notified().await;
    assert_eq!(
        HARD_RUNS.load(Ordering::SeqCst),
        1,
        "one body run for three callers"
    );
    HARD_GATE.1.notify_one();
    assert!(
        common::eventually(200, async || fetch_slow(4).await == Ok(40)).await,
        "the background run stored its value: a later call hits"
    );
    assert_eq!(HARD_RUNS.load(Ordering::SeqCst), 1);
}

static SOFT_RUNS: AtomicUsize = AtomicUsize::new(0);
static SOFT_GATE: std::sync::LazyLock<Notify> = std::sync::LazyLock::new(Notify::new);

#[cached(stale_if_error = "1h", soft_timeout = "20ms", hard_timeout = "10s")]
async fn report(name: String) -> Result<String, FetchError> {
    let run = SOFT_RUNS.fetch_add(1, Ordering::SeqCst);
    if run == 0 {
        // The first value lives 30 ms: then it is stale.
        perf_cache::set_result_ttl(Duration::from_millis(30));
    } else {
        SOFT_GATE.notified().await;
    }
    Ok(format!("{name} v{run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_soft_timeout_serves_the_stale_value() {
    assert_eq!(report("q3".into()).await.unwrap(), "q3 v0");
    // Until the 30 ms entry expires, calls are hits; then the soft timeout serves it stale.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        report("q3".into()).await.unwrap(),
        "q3 v0",
        "stale, past 20 ms"
    );
    assert_eq!(SOFT_RUNS.load(Ordering::SeqCst), 2, "the reload is running");
    SOFT_GATE.notify_one();
    assert!(
        common::eventually(200, async || {
            report("q3".into()).await.is_ok_and(|v| v == "q3 v1")
        })
        .await,
        "the background reload stored its value"
    );
    assert_eq!(SOFT_RUNS.load(Ordering::SeqCst), 2);
}

#[test]
fn timeouts_are_counted_in_the_metric_by_kind() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let cache = Cache::<u64>::builder()
                .namespace("timeout-metrics")
                .stale_if_error(Duration::from_secs(3_600))
                .soft_timeout(Duration::from_millis(10))
                .hard_timeout(Duration::from_millis(20))
                .metrics_interval(None)
                .build()
                .await
                .unwrap();
            let slow = |v: u64| {
                move || async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    v
                }
            };
            // Two hard timeouts (no stale value yet), then the background load fills.
            for _ in 0..2 {
                let r = cache
                    .get_or_load_with(&Key::new("k"), LoadOptions::default(), slow(1))
                    .await;
                assert!(r.unwrap_err().is_timeout());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(cache.get(&Key::new("k")).await, Some(1));
            // One soft timeout: a stale value (a 1 ms entry, expired) and a slow reload.
            let short = LoadOptions::default().ttl(Duration::from_millis(1));
            let _ = cache
                .get_or_load_with(&Key::new("s"), short, || async { 5 })
                .await;
            std::thread::sleep(Duration::from_millis(5)); // the L1 clock is real time
            let v = cache
                .get_or_load_with(&Key::new("s"), LoadOptions::default(), slow(6))
                .await;
            assert_eq!(v.unwrap(), 5);
            cache.publish_metrics();
            let stats = cache.stats();
            assert_eq!((stats.soft_timeouts, stats.hard_timeouts), (1, 2));
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |kind: &str| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let k = key.key();
            let hit = k.name() == "cache_load_timeouts_total"
                && k.labels()
                    .any(|l| l.key() == "namespace" && l.value() == "timeout-metrics")
                && k.labels().any(|l| l.key() == "kind" && l.value() == kind);
            match (hit, value) {
                (true, DebugValue::Counter(n)) => Some(*n),
                _ => None,
            }
        })
    };
    assert_eq!(counter("soft"), Some(1));
    assert_eq!(counter("hard"), Some(2));
}

/// Two instances (two backends, separate L1s, one Redis): a background completion on A after
/// B invalidated the key writes nothing into Redis (the generation fence) and A's L1 does not
/// keep it, with the bus off (so only Redis's compare-and-set can stop it) and on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instances_invalidation_during_the_background_completion_wins() {
    for bus in [false, true] {
        let ns = common::namespace("hard_two_instances");
        let backend = |bus: bool| {
            let ns = ns.clone();
            async move {
                perf_cache::Backend::builder()
                    .namespace(&ns)
                    .redis_url(common::redis_url())
                    .require_l2(true)
                    .bus(bus)
                    .build()
                    .await
                    .unwrap()
            }
        };
        let (ba, bb) = (backend(bus).await, backend(bus).await);
        let view = |b: &perf_cache::Backend| {
            Cache::<u64>::builder()
                .prefix("v")
                .hard_timeout(Duration::from_millis(20))
                .build_on(b)
                .unwrap()
        };
        let (a, b) = (view(&ba), view(&bb));
        let key = Key::new("k");
        let (runs, started, release) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(Notify::new()),
            Arc::new(Notify::new()),
        );
        let r = a
            .get_or_load_with(
                &key,
                LoadOptions::default(),
                gated_loader(&runs, &started, &release, 1),
            )
            .await;
        assert!(r.unwrap_err().is_timeout());
        started.notified().await;
        assert!(b.invalidate(&key).await.is_complete());
        if bus {
            // A has applied B's message: its local fence turns the fill away too.
            assert!(
                common::eventually(200, async || {
                    ba.bus_stats().is_some_and(|s| s.applied >= 1)
                })
                .await
            );
        }
        release.notify_one();
        assert!(
            common::eventually(200, async || a.stats().loads == 1).await,
            "the background load finished"
        );
        // Give the fill (written after the loader returned) time to run or be refused.
        assert!(
            !common::eventually(20, async || {
                common::raw_exists(&common::redis_url(), &format!("{ns}:v:k")).await
            })
            .await,
            "bus {bus}: the value never reaches Redis"
        );
        assert_eq!(b.get(&key).await, None, "bus {bus}");
        assert_eq!(
            a.get(&key).await,
            None,
            "bus {bus}: A's L1 does not keep it"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        common::cleanup(&common::redis_url(), &ns).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_detached_loader_reaches_its_caller_and_frees_the_key() {
    let cache = Cache::<u64>::builder()
        .hard_timeout(Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let key = Key::new("boom");
    let call = tokio::spawn({
        let (cache, key) = (cache.clone(), key.clone());
        async move {
            cache
                .get_or_load_with(&key, LoadOptions::default(), || async {
                    panic!("loader failed hard")
                })
                .await
        }
    });
    let e = call.await.unwrap_err();
    assert!(e.is_panic(), "the caller panics as with an inline load");
    let v = cache
        .get_or_load_with(&key, LoadOptions::default(), || async { 2 })
        .await;
    assert_eq!(v.unwrap(), 2, "the key is not wedged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_load_goes_on_when_its_caller_is_cancelled() {
    let cache = Cache::<u64>::builder()
        .hard_timeout(Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let key = Key::new("cancelled");
    let (runs, started, release) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    let call = tokio::spawn({
        let (cache, key) = (cache.clone(), key.clone());
        let loader = gated_loader(&runs, &started, &release, 6);
        async move {
            cache
                .get_or_load_with(&key, LoadOptions::default(), loader)
                .await
        }
    });
    started.notified().await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    release.notify_one();
    assert!(
        common::eventually(200, async || cache.get(&key).await == Some(6)).await,
        "the load went on and filled the cache"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
