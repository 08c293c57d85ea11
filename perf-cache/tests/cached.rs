//! `#[cached]` end to end: L1 + the real Redis (`REDIS_URL`), one namespace per test. Every
//! test builds its own backend and hands it to its functions with `backend = ..`, so tests
//! never share the process default.
#![deny(warnings)]

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use perf_cache::{Backend, Cache, CacheKey, Key, cached};
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

async fn pttl(key: &str) -> i64 {
    common::pttl(&common::redis_url(), key).await
}

// --- the seed example -------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ScanResults {
    id: String,
    findings: u32,
}

static SEED: OnceLock<Backend> = OnceLock::new();
static SEED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = "10m", prefix = "scans", backend = SEED.get().expect("the test sets SEED"))]
async fn get_scan_results(scan_id: &str) -> Result<ScanResults, String> {
    let n = SEED_RUNS.fetch_add(1, SeqCst);
    Ok(ScanResults {
        id: scan_id.to_owned(),
        findings: u32::try_from(n).unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_example_loads_once_hits_and_invalidates_exactly_one_entry() {
    let backend = redis_backend("seed").await;
    let ns = backend.namespace().to_owned();
    SEED.set(backend.clone()).unwrap();
    let url = common::redis_url();

    let first = get_scan_results("scan:1*").await.unwrap();
    assert_eq!(SEED_RUNS.load(SeqCst), 1);
    assert_eq!(
        get_scan_results("scan:1*").await.unwrap(),
        first,
        "second call is a hit"
    );
    assert_eq!(SEED_RUNS.load(SeqCst), 1);
    let other = get_scan_results("scan-2").await.unwrap();
    assert_eq!(SEED_RUNS.load(SeqCst), 2);

    // Stored under <namespace>:scans:<escaped argument>, with the function's TTL.
    let key = get_scan_results_cache_key("scan:1*");
    assert_eq!(key.as_str(), "scan%3A1%2A");
    let stored = format!("{ns}:scans:{key}");
    let stored_other = format!("{ns}:scans:scan-2");
    assert!(common::raw_exists(&url, &stored).await);
    assert!(common::raw_exists(&url, &stored_other).await);
    let ttl = pttl(&stored).await;
    assert!((590_000..=600_000).contains(&ttl), "PTTL {ttl}");

    // A second instance (its own L1) shares the Redis entries.
    let second = Backend::builder()
        .namespace(ns.clone())
        .redis_url(url.clone())
        .build()
        .await
        .unwrap();
    let view = Cache::<ScanResults>::builder()
        .prefix("scans")
        .build_on(&second)
        .unwrap();
    assert_eq!(view.get(&key).await, Some(first.clone()));

    let reached = invalidate_get_scan_results("scan:1*").await;
    assert!(reached.is_complete());
    assert!(
        !common::raw_exists(&url, &stored).await,
        "the entry is gone"
    );
    assert!(
        common::raw_exists(&url, &stored_other).await,
        "and only that one"
    );
    // The second instance's L2 read sees the invalidation (fresh view: no L1 copy of its own).
    let fresh = Cache::<ScanResults>::builder()
        .prefix("scans")
        .build_on(
            &Backend::builder()
                .namespace(ns.clone())
                .redis_url(url.clone())
                .build()
                .await
                .unwrap(),
        )
        .unwrap();
    assert_eq!(fresh.get(&key).await, None);

    let reloaded = get_scan_results("scan:1*").await.unwrap();
    assert_eq!(SEED_RUNS.load(SeqCst), 3);
    assert_ne!(reloaded, first);

    // refresh_: reruns the body now and stores the new value everywhere.
    let refreshed = refresh_get_scan_results("scan-2").await.unwrap();
    assert_eq!(SEED_RUNS.load(SeqCst), 4);
    assert_ne!(refreshed, other);
    assert_eq!(get_scan_results("scan-2").await.unwrap(), refreshed);
    assert_eq!(
        fresh.get(&Key::from_key("scan-2")).await,
        Some(refreshed),
        "refresh wrote L2"
    );

    // invalidate_..._all: every key of the function, nothing else.
    assert!(invalidate_get_scan_results_all().await.is_complete());
    assert!(!common::raw_exists(&url, &stored_other).await);
    common::cleanup(&url, &ns).await;
}

// --- methods ----------------------------------------------------------------------------

static METHODS: OnceLock<Backend> = OnceLock::new();

struct Repo {
    runs: AtomicUsize,
}

impl Repo {
    #[cached(skip(self), backend = METHODS.get().expect("set"))]
    async fn user_name(&self, id: u64) -> String {
        self.runs.fetch_add(1, SeqCst);
        format!("user-{id}")
    }
}

#[derive(CacheKey, Debug, Clone)]
struct Tenant {
    name: String,
    region: Option<u8>,
}

static TENANT_RUNS: AtomicUsize = AtomicUsize::new(0);

impl Tenant {
    #[cached(backend = METHODS.get().expect("set"))]
    async fn greeting(&self, n: u32) -> String {
        TENANT_RUNS.fetch_add(1, SeqCst);
        format!("{}#{n}", self.name)
    }

    #[cached(key = "{self.name}:fixed", backend = METHODS.get().expect("set"))]
    async fn by_name(&self) -> String {
        format!("{:?}", self.region)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_key_on_self_or_skip_it() {
    let backend = redis_backend("methods").await;
    let ns = backend.namespace().to_owned();
    METHODS.set(backend).unwrap();

    // skip(self): two repos share the entries.
    let (a, b) = (
        Repo {
            runs: AtomicUsize::new(0),
        },
        Repo {
            runs: AtomicUsize::new(0),
        },
    );
    assert_eq!(a.user_name(7).await, "user-7");
    assert_eq!(b.user_name(7).await, "user-7");
    assert_eq!(a.runs.load(SeqCst) + b.runs.load(SeqCst), 1);
    assert_eq!(Repo::user_name_cache_key(&7).as_str(), "7");
    assert!(Repo::invalidate_user_name(&7).await.is_complete());
    assert_eq!(b.user_name(7).await, "user-7");
    assert_eq!(b.runs.load(SeqCst), 1);

    // self in the key: two tenants never share an entry.
    let t1 = Tenant {
        name: "acme".into(),
        region: Some(1),
    };
    let t2 = Tenant {
        name: "globex".into(),
        region: None,
    };
    assert_eq!(t1.greeting(1).await, "acme#1");
    assert_eq!(t2.greeting(1).await, "globex#1");
    assert_eq!(t1.greeting(1).await, "acme#1");
    assert_eq!(TENANT_RUNS.load(SeqCst), 2);
    assert_eq!(t1.greeting_cache_key(&1).as_str(), "(acme,(1,),):1");
    assert_eq!(t2.greeting_cache_key(&1).as_str(), "(globex,~,):1");
    assert!(t1.invalidate_greeting(&1).await.is_complete());
    assert_eq!(t2.greeting(1).await, "globex#1");
    assert_eq!(
        TENANT_RUNS.load(SeqCst),
        2,
        "t2's entry survived t1's invalidation"
    );

    // A key template over a field of self.
    assert_eq!(t1.by_name_cache_key().as_str(), "acme:fixed");
    assert_eq!(t1.by_name().await, "Some(1)");
    common::cleanup(&common::redis_url(), &ns).await;
}

// --- borrowed and generic arguments, Option and Result ------------------------------------

static SHAPES: OnceLock<Backend> = OnceLock::new();
static SHAPE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = SHAPES.get().expect("set"))]
async fn total(label: &str, items: &[u32]) -> u64 {
    SHAPE_RUNS.fetch_add(1, SeqCst);
    u64::try_from(label.len()).unwrap() + items.iter().map(|&i| u64::from(i)).sum::<u64>()
}

static GENERIC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = SHAPES.get().expect("set"), prefix = "describe")]
async fn describe<T: CacheKey + std::fmt::Debug + Sync>(value: &T) -> String {
    GENERIC_RUNS.fetch_add(1, SeqCst);
    format!("{value:?}")
}

static OPTION_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = SHAPES.get().expect("set"))]
async fn find(id: u64) -> Option<String> {
    OPTION_RUNS.fetch_add(1, SeqCst);
    id.is_multiple_of(2).then(|| format!("even-{id}"))
}

static NONE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = SHAPES.get().expect("set"), cache_none, ttl = "1m")]
async fn find_cached_none(id: u64) -> Option<String> {
    NONE_RUNS.fetch_add(1, SeqCst);
    id.is_multiple_of(2).then(|| format!("even-{id}"))
}

static RESULT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = SHAPES.get().expect("set"))]
async fn parse(text: String) -> Result<u32, std::num::ParseIntError> {
    RESULT_RUNS.fetch_add(1, SeqCst);
    let n: u32 = text.parse()?;
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn borrowed_generic_option_and_result_behave() {
    let backend = redis_backend("shapes").await;
    let ns = backend.namespace().to_owned();
    SHAPES.set(backend).unwrap();

    // Borrowed &str and &[u32]: the body borrows them, the key encodes them.
    assert_eq!(total("ab", &[1, 2]).await, 5);
    assert_eq!(total("ab", &[1, 2]).await, 5);
    assert_eq!(total("ab", &[1, 2, 0]).await, 5);
    assert_eq!(
        SHAPE_RUNS.load(SeqCst),
        2,
        "[1,2] and [1,2,0] are different keys"
    );
    assert_eq!(total_cache_key("ab", &[1, 2]).as_str(), "ab:(1,2,)");

    // Generic argument types share the function's site; keys differ by value.
    assert_eq!(describe(&3_u8).await, "3");
    assert_eq!(describe(&"x").await, "\"x\"");
    assert_eq!(describe(&3_u8).await, "3");
    assert_eq!(describe(&(1_u8, "y")).await, "(1, \"y\")");
    assert_eq!(GENERIC_RUNS.load(SeqCst), 3);

    // Option: Some cached, None not (without cache_none).
    assert_eq!(find(2).await.as_deref(), Some("even-2"));
    assert_eq!(find(2).await.as_deref(), Some("even-2"));
    assert_eq!(find(3).await, None);
    assert_eq!(find(3).await, None);
    assert_eq!(OPTION_RUNS.load(SeqCst), 3);
    // cache_none: None cached too (in Redis as well).
    assert_eq!(find_cached_none(3).await, None);
    assert_eq!(find_cached_none(3).await, None);
    assert_eq!(NONE_RUNS.load(SeqCst), 1);
    let prefix = perf_cache::__private::default_prefix("cached::find_cached_none");
    assert!(
        common::raw_exists(&common::redis_url(), &format!("{ns}:{prefix}:3")).await,
        "the negative entry is in Redis under the default prefix (module path + name)"
    );

    // Result: Ok cached, Err never, and `?` works in the body.
    assert!(parse("x".into()).await.is_err());
    assert!(parse("x".into()).await.is_err());
    assert_eq!(parse("12".into()).await, Ok(12));
    assert_eq!(parse("12".into()).await, Ok(12));
    assert_eq!(RESULT_RUNS.load(SeqCst), 3);
    common::cleanup(&common::redis_url(), &ns).await;
}

// --- stampedes and errors -------------------------------------------------------------------

static STAMPEDE: OnceLock<Backend> = OnceLock::new();
static STAMPEDE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = STAMPEDE.get().expect("set"))]
async fn slow_square(n: u64) -> u64 {
    STAMPEDE_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    n * n
}

/// An error without `Clone`: given only to the caller whose body failed.
#[derive(Debug)]
struct Opaque;

static OPAQUE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = STAMPEDE.get().expect("set"))]
async fn always_fails_opaque(n: u64) -> Result<u64, Opaque> {
    OPAQUE_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = n;
    Err(Opaque)
}

static SHARED_ERR_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = STAMPEDE.get().expect("set"))]
async fn always_fails_clone(n: u64) -> Result<u64, String> {
    SHARED_ERR_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Err(format!("no {n}"))
}

static UNSHARED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = STAMPEDE.get().expect("set"), single_flight = "off")]
async fn no_flight(n: u64) -> u64 {
    UNSHARED_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_first_calls_run_the_body_once() {
    let backend = redis_backend("stampede").await;
    let ns = backend.namespace().to_owned();
    STAMPEDE.set(backend).unwrap();

    let calls = (0..1_000).map(|_| tokio::spawn(slow_square(12)));
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap(), 144);
    }
    assert_eq!(STAMPEDE_RUNS.load(SeqCst), 1);

    // A cloneable error is shared by the callers that waited on it.
    let calls = (0..50).map(|_| always_fails_clone(1));
    for r in futures::future::join_all(calls).await {
        assert_eq!(r, Err("no 1".to_owned()));
    }
    assert_eq!(SHARED_ERR_RUNS.load(SeqCst), 1);

    // An error that is not Clone reaches only its own caller; the others run the body
    // themselves, one flight at a time: every caller gets an error of its own.
    let calls = (0..10).map(|_| always_fails_opaque(1));
    for r in futures::future::join_all(calls).await {
        assert!(matches!(r, Err(Opaque)));
    }
    assert_eq!(OPAQUE_RUNS.load(SeqCst), 10);

    // single_flight = "off": each concurrent caller of a cold key runs the body.
    let calls = (0..10).map(|_| no_flight(5));
    for r in futures::future::join_all(calls).await {
        assert_eq!(r, 5);
    }
    assert_eq!(UNSHARED_RUNS.load(SeqCst), 10);
    assert_eq!(no_flight(5).await, 5);
    assert_eq!(UNSHARED_RUNS.load(SeqCst), 10, "then it is a hit");
    common::cleanup(&common::redis_url(), &ns).await;
}

// --- TTL expiry, size bound, refresh-ahead --------------------------------------------------

static BOUNDED: OnceLock<Backend> = OnceLock::new();
static BOUNDED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = BOUNDED.get().expect("set"), prefix = "bounded")]
async fn bounded(n: u64) -> u64 {
    BOUNDED_RUNS.fetch_add(1, SeqCst);
    n + 1
}

static EXPIRING_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = BOUNDED.get().expect("set"), ttl = "150ms")]
async fn expiring(n: u64) -> u64 {
    EXPIRING_RUNS.fetch_add(1, SeqCst);
    n
}

static REFRESH_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = BOUNDED.get().expect("set"), l1_ttl = "1h", refresh_ahead = "3599990ms")]
async fn refreshed(name: String) -> usize {
    REFRESH_RUNS.fetch_add(1, SeqCst) + name.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_size_bound_and_refresh_ahead() {
    // In memory, 100 entries: like the `cached` crate's `size = 100`, the cache holds at most
    // that many and recomputes what it evicted.
    let backend = Backend::builder()
        .namespace(common::namespace("bounded"))
        .l1_max_entries(100)
        .build()
        .await
        .unwrap();
    BOUNDED.set(backend.clone()).unwrap();
    for n in 0..1_000 {
        assert_eq!(bounded(n).await, n + 1);
    }
    backend.run_pending_tasks().await;
    assert!(
        backend.l1_entries() <= 100,
        "{} entries",
        backend.l1_entries()
    );
    assert_eq!(BOUNDED_RUNS.load(SeqCst), 1_000);
    for n in 0..1_000 {
        assert_eq!(bounded(n).await, n + 1);
    }
    let reruns = BOUNDED_RUNS.load(SeqCst) - 1_000;
    assert!(
        reruns >= 900,
        "at most 100 of 1,000 were still cached: {reruns} reruns"
    );

    // TTL: a hit until it expires, then the body runs again.
    assert_eq!(expiring(1).await, 1);
    assert_eq!(expiring(1).await, 1);
    assert_eq!(EXPIRING_RUNS.load(SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(expiring(1).await, 1);
    assert_eq!(EXPIRING_RUNS.load(SeqCst), 2);

    // Refresh-ahead: inside the window a hit returns the current value and reloads once in
    // the background.
    assert_eq!(refreshed("ab".into()).await, 2);
    // The window opens 10 ms after the load.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        refreshed("ab".into()).await,
        2,
        "the current value is served"
    );
    for _ in 0..500 {
        if REFRESH_RUNS.load(SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(REFRESH_RUNS.load(SeqCst), 2, "one background reload");
    // The reload is published before it is stored in L1: wait for the store.
    let mut got = 0;
    for _ in 0..500 {
        got = refreshed("ab".into()).await;
        if got != 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(got, 3, "the reloaded value replaced the old one");
}

// --- options wired through to the view: codec, stale_if_error ----------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
}

static OPTIONS: OnceLock<Backend> = OnceLock::new();

#[cached(backend = OPTIONS.get().expect("set"), prefix = "profiles", codec = perf_cache::Json)]
async fn profile(id: u64) -> Profile {
    Profile {
        name: format!("p{id}"),
    }
}

static FLAKY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = OPTIONS.get().expect("set"), l1_ttl = "100ms", l2_ttl = "100ms", stale_if_error = "1h")]
async fn flaky(id: u64) -> Result<u64, String> {
    if FLAKY_RUNS.fetch_add(1, SeqCst) == 0 {
        Ok(id)
    } else {
        Err("down".to_owned())
    }
}

static RUNNING_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = OPTIONS.get().expect("set"), prefix = "running", ttl = "10m")]
async fn scan_status(id: u64) -> String {
    RUNNING_RUNS.fetch_add(1, SeqCst);
    if id == 1 {
        // Still running: keep this answer 5 s, not 10 minutes.
        assert!(perf_cache::set_result_ttl(Duration::from_secs(5)));
        "running".to_owned()
    } else {
        "done".to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_and_stale_if_error_reach_the_view() {
    let backend = redis_backend("options").await;
    let ns = backend.namespace().to_owned();
    OPTIONS.set(backend).unwrap();

    // codec = Json: the payload in Redis is JSON (after the envelope header).
    assert_eq!(profile(3).await.name, "p3");
    let mut c = common::raw(&common::redis_url()).await;
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(format!("{ns}:profiles:3"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        bytes.ends_with(br#"{"name":"p3"}"#),
        "stored {:?}",
        String::from_utf8_lossy(&bytes)
    );

    // A body sets its own result's TTL at run time (loads and refresh_ alike).
    assert_eq!(scan_status(1).await, "running");
    assert_eq!(scan_status(2).await, "done");
    let short = pttl(&format!("{ns}:running:1")).await;
    let long = pttl(&format!("{ns}:running:2")).await;
    assert!((1..=5_000).contains(&short), "PTTL {short}");
    assert!((590_000..=600_000).contains(&long), "PTTL {long}");
    assert_eq!(refresh_scan_status(1).await, "running");
    let short = pttl(&format!("{ns}:running:1")).await;
    assert!((1..=5_000).contains(&short), "PTTL after refresh_ {short}");
    assert!(
        !perf_cache::set_result_ttl(Duration::from_secs(5)),
        "outside a body"
    );
    assert_eq!(RUNNING_RUNS.load(SeqCst), 3);

    // stale_if_error: once the entry has expired, a failing body gets the stale value.
    assert_eq!(flaky(1).await, Ok(1));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(flaky(1).await, Ok(1), "the stale value replaces the error");
    assert_eq!(FLAKY_RUNS.load(SeqCst), 2, "the body did run and fail");
    common::cleanup(&common::redis_url(), &ns).await;
}

// --- a Redis outage degrades, never fails the call ------------------------------------------

static OUTAGE: OnceLock<Backend> = OnceLock::new();
static OUTAGE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(backend = OUTAGE.get().expect("set"), prefix = "outage")]
async fn during_outage(id: u64) -> u64 {
    OUTAGE_RUNS.fetch_add(1, SeqCst);
    id * 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_degrades_to_l1_and_the_body() {
    let server = common::PrivateRedis::start(common::free_port());
    let backend = Backend::builder()
        .namespace(common::namespace("outage"))
        .redis_url(server.url())
        .redis_timeout(Duration::from_millis(100))
        .require_l2(true)
        // One instance's degradation: with the bus on, losing Redis also empties L1 (a resync,
        // since invalidations from other instances can no longer arrive; tests/bus.rs).
        .bus(false)
        .build()
        .await
        .unwrap();
    OUTAGE.set(backend).unwrap();
    assert_eq!(during_outage(1).await, 10);
    server.kill();

    // A cached key is still an L1 hit; a new key runs the body and answers.
    assert_eq!(during_outage(1).await, 10);
    assert_eq!(during_outage(2).await, 20);
    assert_eq!(during_outage(2).await, 20, "and is cached in L1");
    assert_eq!(OUTAGE_RUNS.load(SeqCst), 2);
    // The invalidation says it could not reach Redis instead of pretending.
    let reached = invalidate_during_outage(&1).await;
    assert!(!reached.is_complete(), "{reached:?}");
    assert_eq!(during_outage(1).await, 10);
    assert_eq!(OUTAGE_RUNS.load(SeqCst), 3, "L1 was still invalidated");
}
