//! `#[cached(local)]`, plain (non-`async`) `#[cached]` functions and `#[cached(plain)]`, end to
//! end: every test builds its own backend (L1 + the real Redis at `REDIS_URL` where Redis
//! matters) and hands it to its functions with `backend = ..`.
#![deny(warnings)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

use perf_cache::{Backend, Key, cached, set_result_ttl};
use serde::{Deserialize, Serialize};

async fn redis_backend(test: &str) -> Backend {
    Backend::builder()
        .namespace(common::namespace(test))
        .redis_url(common::redis_url())
        .require_l2(true)
        .build()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is needed at {} (set REDIS_URL): {e}",
                common::redis_url()
            )
        })
}

/// Every key Redis holds under `<ns>:`.
async fn keys_of(ns: &str) -> Vec<String> {
    let mut c = common::raw(&common::redis_url()).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    keys.sort();
    keys
}

// --- local: values without serde ---------------------------------------------------------

/// Deliberately not `Serialize`: only `local` can cache it.
#[derive(Clone, Debug, PartialEq)]
struct Handle {
    id: u64,
    shared: Arc<str>,
}

static LOCAL: OnceLock<Backend> = OnceLock::new();
static LOCAL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(local, ttl = "10m", prefix = "handles", backend = LOCAL.get().expect("set by the test"))]
async fn open_handle(id: u64) -> Handle {
    LOCAL_RUNS.fetch_add(1, SeqCst);
    tokio::task::yield_now().await;
    Handle {
        id,
        shared: Arc::from(format!("h{id}")),
    }
}

#[cached(local, cache_none, backend = LOCAL.get().expect("set by the test"))]
async fn maybe_handle(id: u64) -> Option<u64> {
    LOCAL_RUNS.fetch_add(1, SeqCst);
    id.is_multiple_of(2).then_some(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_values_need_no_serde_stay_in_l1_and_invalidate() {
    let backend = redis_backend("local_values").await;
    let ns = backend.namespace().to_owned();
    LOCAL.set(backend.clone()).unwrap();

    // 1,000 concurrent first calls of one cold key: one body run.
    let calls: Vec<_> = (0..1_000).map(|_| tokio::spawn(open_handle(7))).collect();
    for c in calls {
        assert_eq!(c.await.unwrap().id, 7);
    }
    assert_eq!(LOCAL_RUNS.load(SeqCst), 1);
    let first = open_handle(7).await;
    assert!(Arc::ptr_eq(&first.shared, &open_handle(7).await.shared));
    assert_eq!(LOCAL_RUNS.load(SeqCst), 1);
    // In the backend's L1 (one entry), never in Redis.
    assert_eq!(backend.l1_entries(), 1);
    assert_eq!(keys_of(&ns).await, Vec::<String>::new());

    // Companions.
    assert_eq!(open_handle_cache_key(&7).as_str(), "7");
    assert!(invalidate_open_handle(&7).await.is_complete());
    assert_eq!(open_handle(7).await.id, 7);
    assert_eq!(LOCAL_RUNS.load(SeqCst), 2);
    let refreshed = refresh_open_handle(7).await;
    assert_eq!(LOCAL_RUNS.load(SeqCst), 3);
    assert!(Arc::ptr_eq(&refreshed.shared, &open_handle(7).await.shared));
    assert_eq!(open_handle(8).await.id, 8);
    assert_eq!(LOCAL_RUNS.load(SeqCst), 4);
    assert!(invalidate_open_handle_all().await.is_complete());
    open_handle(7).await;
    open_handle(8).await;
    assert_eq!(LOCAL_RUNS.load(SeqCst), 6);

    // `cache_none` remembers a `None` in L1.
    assert_eq!(maybe_handle(3).await, None);
    assert_eq!(maybe_handle(3).await, None);
    assert_eq!(maybe_handle(4).await, Some(4));
    assert_eq!(maybe_handle(4).await, Some(4));
    assert_eq!(LOCAL_RUNS.load(SeqCst), 8);
    assert_eq!(keys_of(&ns).await, Vec::<String>::new());
}

static BUDGET: OnceLock<Backend> = OnceLock::new();

#[cached(local, backend = BUDGET.get().expect("set by the test"))]
async fn small(n: u64) -> Arc<u64> {
    Arc::new(n)
}

#[cached(backend = BUDGET.get().expect("set by the test"))]
async fn shared_tier(n: u64) -> u64 {
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_views_share_the_backend_l1_budget() {
    let backend = Backend::builder()
        .namespace(common::namespace("local_budget"))
        .l1_max_entries(1_000)
        .build()
        .await
        .unwrap();
    BUDGET.set(backend.clone()).unwrap();
    for n in 0..50 {
        shared_tier(n).await;
        small(n).await;
    }
    backend.run_pending_tasks().await;
    assert_eq!(backend.l1_entries(), 100);
    for n in 50..5_000 {
        small(n).await;
    }
    backend.run_pending_tasks().await;
    // One budget for both functions: the local view cannot grow past it.
    assert!(backend.l1_entries() <= 1_000, "{}", backend.l1_entries());
}

// --- plain (non-async) fns ----------------------------------------------------------------

static SYNC: OnceLock<Backend> = OnceLock::new();
static SYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(prefix = "fib", backend = SYNC.get().expect("set by the test"))]
fn slow_fib(n: u64) -> u64 {
    SYNC_RUNS.fetch_add(1, SeqCst);
    // Long enough for the 8 threads to pile up on the cold key.
    std::thread::sleep(Duration::from_millis(50));
    (1..=n).sum()
}

static SYNC_ERRS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = SYNC.get().expect("set by the test"))]
fn parse_sync(text: &str) -> Result<u32, String> {
    SYNC_ERRS.fetch_add(1, SeqCst);
    text.parse::<u32>().map_err(|e| e.to_string())
}

#[cached(ttl = "1h", backend = SYNC.get().expect("set by the test"))]
fn short_lived(n: u64) -> u64 {
    assert!(set_result_ttl(Duration::from_millis(1)));
    n
}

#[test]
fn sync_fn_a_thousand_calls_from_eight_threads_run_the_body_once() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let backend = runtime
        .block_on(
            Backend::builder()
                .namespace(common::namespace("sync_fn"))
                .build(),
        )
        .unwrap();
    SYNC.set(backend).unwrap();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                (0..125).map(|_| slow_fib(100)).collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().iter().all(|&v| v == 5050));
    }
    assert_eq!(SYNC_RUNS.load(SeqCst), 1);

    // Companions are plain `fn`s too.
    assert_eq!(slow_fib_cache_key(&100).as_str(), "100");
    assert!(invalidate_slow_fib(&100).is_complete());
    assert_eq!(slow_fib(100), 5050);
    assert_eq!(SYNC_RUNS.load(SeqCst), 2);
    assert_eq!(refresh_slow_fib(100), 5050);
    assert_eq!(SYNC_RUNS.load(SeqCst), 3);
    assert_eq!(slow_fib(100), 5050);
    assert_eq!(SYNC_RUNS.load(SeqCst), 3);
    assert!(invalidate_slow_fib_all().is_complete());
    assert_eq!(slow_fib(100), 5050);
    assert_eq!(SYNC_RUNS.load(SeqCst), 4);

    // `Ok` cached, `Err` never.
    assert_eq!(parse_sync("12"), Ok(12));
    assert_eq!(parse_sync("12"), Ok(12));
    assert!(parse_sync("x").is_err());
    assert!(parse_sync("x").is_err());
    assert_eq!(SYNC_ERRS.load(SeqCst), 3);

    // `set_result_ttl` works in a plain body: 1 ms instead of an hour.
    assert_eq!(short_lived(1), 1);
    std::thread::sleep(Duration::from_millis(20));
    assert!(!set_result_ttl(Duration::from_secs(1)), "outside a body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_fn_inside_a_runtime_does_not_need_one() {
    // A plain `fn` on the lazily built in-memory default backend, called from a task.
    #[cached]
    fn double(n: u64) -> u64 {
        n * 2
    }
    let got = tokio::task::spawn_blocking(|| double(21)).await.unwrap();
    assert_eq!(got, 42);
    assert_eq!(double(21), 42);
    assert_eq!(double_cache_key(&21).as_str(), "21");
}

// --- plain: JSON in Redis, readable by another instance and by other languages ------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Price {
    sku: String,
    cents: u64,
}

static PLAIN_A: OnceLock<Backend> = OnceLock::new();
static PLAIN_B: OnceLock<Backend> = OnceLock::new();
static PLAIN_RUNS_A: AtomicUsize = AtomicUsize::new(0);
static PLAIN_RUNS_B: AtomicUsize = AtomicUsize::new(0);

#[cached(plain, prefix = "prices", ttl = "10m", backend = PLAIN_A.get().expect("set by the test"))]
async fn price_a(sku: &str) -> Price {
    PLAIN_RUNS_A.fetch_add(1, SeqCst);
    Price {
        sku: sku.to_owned(),
        cents: 1999,
    }
}

#[cached(plain, prefix = "prices", ttl = "10m", backend = PLAIN_B.get().expect("set by the test"))]
async fn price_b(sku: &str) -> Price {
    PLAIN_RUNS_B.fetch_add(1, SeqCst);
    Price {
        sku: sku.to_owned(),
        cents: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_stores_exactly_the_json_and_a_second_backend_reads_it() {
    let a = redis_backend("plain_mode").await;
    let ns = a.namespace().to_owned();
    let b = Backend::builder()
        .namespace(&ns)
        .redis_url(common::redis_url())
        .require_l2(true)
        .build()
        .await
        .unwrap();
    PLAIN_A.set(a).unwrap();
    PLAIN_B.set(b).unwrap();
    let url = common::redis_url();

    assert_eq!(price_a("sku-1").await.cents, 1999);
    let full = format!("{ns}:prices:sku-1");
    assert_eq!(keys_of(&ns).await, std::slice::from_ref(&full));
    let mut c = common::raw(&url).await;
    let stored: Vec<u8> = redis::cmd("GET")
        .arg(&full)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(stored).unwrap(),
        r#"{"sku":"sku-1","cents":1999}"#
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&full)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ttl > 590_000 && ttl <= 600_000, "{ttl}");

    // Another instance (its own L1) reads the value from Redis without running its body.
    assert_eq!(price_b("sku-1").await.cents, 1999);
    assert_eq!(PLAIN_RUNS_B.load(SeqCst), 0);

    // A value written by another language's service, as plain JSON.
    let _: () = redis::cmd("SET")
        .arg(format!("{ns}:prices:sku-2"))
        .arg(r#"{"sku":"sku-2","cents":5}"#)
        .arg("PX")
        .arg(60_000)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(price_a("sku-2").await.cents, 5);
    assert_eq!(PLAIN_RUNS_A.load(SeqCst), 1);

    assert!(invalidate_price_a("sku-1").await.is_complete());
    assert_eq!(keys_of(&ns).await, [format!("{ns}:prices:sku-2")]);
    common::cleanup(&url, &ns).await;
}

// --- key bytes ----------------------------------------------------------------------------

#[test]
fn key_bytes_are_pinned() {
    assert_eq!(Key::new("user").arg(42_u64).as_str(), "user:42");
    assert_eq!(
        Key::new("user").arg(-7_i32).arg(true).as_str(),
        "user:-7:true"
    );
    assert_eq!(
        Key::new("a:b*").arg("x y{z}").as_str(),
        "a%3Ab%2A:x%20y%7Bz%7D"
    );
    assert_eq!(
        Key::new("k").arg('%').arg(String::from("é")).as_str(),
        "k:%25:é"
    );
    assert_eq!(
        Key::new("k").arg("ref").arg(u128::MAX).as_str(),
        format!("k:ref:{}", u128::MAX)
    );
    assert_eq!(
        Key::from_key(&("a,b", Some(7_u32))).as_str(),
        "(a%2Cb,(7,),)"
    );
}

// --- the stale-fill fence, the bus, a panicking body ---------------------------------------

static FENCE: OnceLock<Backend> = OnceLock::new();
static FENCE_RUNS: AtomicUsize = AtomicUsize::new(0);
static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[cached(local, backend = FENCE.get().expect("set by the test"))]
async fn gated(n: u64) -> u64 {
    FENCE_RUNS.fetch_add(1, SeqCst);
    if n == 1 {
        GATE.notified().await;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_body_that_began_before_an_invalidation_is_not_stored() {
    FENCE
        .set(
            Backend::builder()
                .namespace(common::namespace("local_fence"))
                .build()
                .await
                .unwrap(),
        )
        .unwrap();
    let running = tokio::spawn(gated(1));
    while FENCE_RUNS.load(SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    assert!(invalidate_gated(&1).await.is_complete());
    GATE.notify_one();
    assert_eq!(running.await.unwrap(), 1); // returned to its caller...
    GATE.notify_one(); // (a permit for the second run's wait)
    assert_eq!(gated(1).await, 1); // ...but not cached: the body runs again
    assert_eq!(FENCE_RUNS.load(SeqCst), 2);
    assert_eq!(gated(1).await, 1);
    assert_eq!(FENCE_RUNS.load(SeqCst), 2);
}

static SYNC_FENCE: OnceLock<Backend> = OnceLock::new();
static SYNC_FENCE_RUNS: AtomicUsize = AtomicUsize::new(0);
static SYNC_GATE: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>> =
    std::sync::Mutex::new(None);

#[cached(backend = SYNC_FENCE.get().expect("set by the test"))]
fn sync_gated(n: u64) -> u64 {
    SYNC_FENCE_RUNS.fetch_add(1, SeqCst);
    let gate = SYNC_GATE.lock().unwrap().take();
    if let Some(gate) = gate {
        gate.recv().unwrap();
    }
    n
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = SYNC_FENCE.get().expect("set by the test"))]
fn panics_once(n: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(20));
    assert!(PANICS.fetch_add(1, SeqCst) != 0, "first body run panics");
    n
}

#[test]
fn sync_fence_and_a_panicking_body() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let backend = runtime
        .block_on(
            Backend::builder()
                .namespace(common::namespace("sync_fence"))
                .build(),
        )
        .unwrap();
    SYNC_FENCE.set(backend).unwrap();

    // A body that began before `invalidate_` returns its value, which is not stored.
    let (release, gate) = std::sync::mpsc::channel();
    *SYNC_GATE.lock().unwrap() = Some(gate);
    let running = std::thread::spawn(|| sync_gated(5));
    while SYNC_FENCE_RUNS.load(SeqCst) == 0 {
        std::thread::yield_now();
    }
    assert!(invalidate_sync_gated(&5).is_complete());
    release.send(()).unwrap();
    assert_eq!(running.join().unwrap(), 5);
    assert_eq!(sync_gated(5), 5);
    assert_eq!(SYNC_FENCE_RUNS.load(SeqCst), 2);
    assert_eq!(sync_gated(5), 5);
    assert_eq!(SYNC_FENCE_RUNS.load(SeqCst), 2);

    // The leader's body panics: its waiters are not wedged, one of them runs the body.
    let callers: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| panics_once(9)))
        .collect();
    let results: Vec<_> = callers.into_iter().map(|c| c.join()).collect();
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert!(results.iter().flatten().all(|&v| v == 9));
    assert_eq!(PANICS.load(SeqCst), 2);
    assert_eq!(panics_once(9), 9);
    assert_eq!(PANICS.load(SeqCst), 2);
}

static BUS_A: OnceLock<Backend> = OnceLock::new();
static BUS_B: OnceLock<Backend> = OnceLock::new();
static BUS_RUNS_A: AtomicUsize = AtomicUsize::new(0);

#[cached(local, prefix = "tpl", backend = BUS_A.get().expect("set by the test"))]
async fn template_a(name: &str) -> Handle {
    BUS_RUNS_A.fetch_add(1, SeqCst);
    Handle {
        id: 1,
        shared: Arc::from(name),
    }
}

#[cached(local, prefix = "tpl", backend = BUS_B.get().expect("set by the test"))]
async fn template_b(name: &str) -> Handle {
    Handle {
        id: 2,
        shared: Arc::from(name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_invalidation_reaches_other_instances_over_the_bus() {
    let a = redis_backend("local_bus").await;
    let b = Backend::builder()
        .namespace(a.namespace())
        .redis_url(common::redis_url())
        .require_l2(true)
        .build()
        .await
        .unwrap();
    BUS_A.set(a.clone()).unwrap();
    BUS_B.set(b).unwrap();
    assert!(
        common::eventually(200, async || a.bus_stats().is_some_and(|s| s.subscribed)).await,
        "A subscribes to the bus"
    );
    let resyncs = a.bus_stats().map(|s| s.resyncs);
    assert_eq!(template_a("home").await.id, 1);
    assert_eq!(template_a("home").await.id, 1);
    assert_eq!(BUS_RUNS_A.load(SeqCst), 1);
    // B's process invalidates the same function's key: A drops its copy.
    assert!(invalidate_template_b("home").await.is_complete());
    assert!(
        common::eventually(200, async || {
            template_a("home").await;
            BUS_RUNS_A.load(SeqCst) == 2
        })
        .await,
        "A reloads after B's invalidation"
    );
    // Not a resync that emptied A's L1: the message itself.
    assert_eq!(a.bus_stats().map(|s| s.resyncs), resyncs);
    assert!(a.bus_stats().is_some_and(|s| s.applied >= 1));
}
