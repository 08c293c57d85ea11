//! Set-up shared by the perf-cache benchmarks (`cache_l1`, `cache_l2`, `cache_l2_instr`,
//! `cache_l2_plain`, `cache_paired`): the cached value, the contenders and the task and
//! thread drivers.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use perf_cache::{Backend, Cache, CacheBuilder, Key, L1Engine};
use serde::{Deserialize, Serialize};

/// Number of distinct warm keys every cache benchmark reads.
pub const KEYS: u64 = 1_000;

/// The value cached in the L2 benchmarks: a small user record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// Identifier, also the key argument.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Whether the account is active.
    pub active: bool,
}

/// The user record stored under key number `id`.
#[must_use]
pub fn user(id: u64) -> User {
    User {
        id,
        name: format!("User number {id}"),
        email: format!("user{id}@example.com"),
        roles: vec!["reader".to_owned(), "writer".to_owned()],
        active: true,
    }
}

/// The Redis key a raw redis-rs peer uses for key number `n` in namespace `peer_ns`.
#[must_use]
pub fn peer_key(peer_ns: &str, n: u64) -> String {
    format!("{peer_ns}:user:{n}")
}

/// A perf-cache with L1 off and Redis (at `url`) required as L2, metrics off: every `get` is
/// an L2 hit.
///
/// # Panics
///
/// Panics when the cache cannot be built (Redis unreachable).
pub async fn l2_only_cache(ns: &str, url: &str) -> Cache<User> {
    l2_only_builder(ns, url).build().await.unwrap()
}

/// The builder behind [`l2_only_cache`] (namespace `ns`, Redis at `url` required, L1 off,
/// metrics off), for a bench that sets more (a codec, a storage format) before building.
pub fn l2_only_builder(ns: &str, url: &str) -> CacheBuilder<User> {
    Cache::<User>::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        .l1_max_entries(0)
        .metrics_interval(None)
}

/// Stores `value` postcard-encoded under `key` with a raw `SET`.
///
/// # Panics
///
/// Panics when encoding or the Redis command fails.
pub async fn set_encoded<C: redis::aio::ConnectionLike>(conn: &mut C, key: String, value: &User) {
    let bytes = postcard::to_allocvec(value).unwrap();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(bytes)
        .query_async(conn)
        .await
        .unwrap();
}

/// Reads `key` with a raw `GET` and decodes it with postcard: the raw redis-rs peer of an L2
/// hit.
///
/// # Panics
///
/// Panics when the key is missing, the command fails or the bytes do not decode.
pub async fn get_decode<C: redis::aio::ConnectionLike>(conn: &mut C, key: String) -> User {
    let bytes: Option<Vec<u8>> = redis::cmd("GET").arg(key).query_async(conn).await.unwrap();
    postcard::from_bytes(&bytes.unwrap()).unwrap()
}

/// Removes the `KEYS` peer keys of `peer_ns` with one `UNLINK`.
///
/// # Panics
///
/// Panics when the Redis command fails.
pub async fn unlink_peer_keys<C: redis::aio::ConnectionLike>(conn: &mut C, peer_ns: &str) {
    let keys: Vec<String> = (0..KEYS).map(|n| peer_key(peer_ns, n)).collect();
    let _: i64 = redis::cmd("UNLINK")
        .arg(keys)
        .query_async(conn)
        .await
        .unwrap();
}

/// The L1 contenders, each holding the `KEYS` warm keys with `u64` values.
#[derive(Debug)]
pub struct L1Contenders {
    /// perf-cache: a typed view (prefix `bench`) on a shared in-memory backend.
    pub ours: Cache<u64>,
    /// perf-cache with the moka engine (feature `moka`), same view set-up.
    pub ours_moka: Cache<u64>,
    /// 100 typed views (prefixes `v0`..`v99`) on one shared backend; key `n` lives in view
    /// `n % 100`, so the same 1,000 warm keys are spread over all of them.
    pub hundred_views: Vec<Cache<u64>>,
    /// Raw quick_cache keyed by perf-cache's `Key` type (the engine under our L1).
    pub quick_key: quick_cache::sync::Cache<Key, u64>,
    /// Raw moka sync cache keyed by perf-cache's `Key` type.
    pub moka_sync_key: moka::sync::Cache<Key, u64>,
    /// moka keyed by a `String` built with `format!`.
    pub moka_string: moka::future::Cache<String, u64>,
    /// moka keyed by perf-cache's `Key` type.
    pub moka_key: moka::future::Cache<Key, u64>,
}

/// The view of `L1Contenders::hundred_views` that holds key `n`.
#[must_use]
pub fn view_of(n: u64) -> usize {
    usize::try_from(n % 100).unwrap_or(0)
}

async fn l1_view(engine: L1Engine) -> Cache<u64> {
    let backend = Backend::builder()
        .l1_max_entries(10_000)
        .l1_engine(engine)
        .metrics_interval(None)
        .build()
        .await
        .unwrap();
    Cache::<u64>::builder()
        .prefix("bench")
        .build_on(&backend)
        .unwrap()
}

/// Builds and warms the L1 contenders; `also(n)` runs for every key after the others were
/// filled (the benches warm their `#[cached]` function there).
///
/// # Panics
///
/// Panics when the cache cannot be built.
pub async fn l1_contenders<F, Fut>(mut also: F) -> L1Contenders
where
    F: FnMut(u64) -> Fut,
    Fut: Future,
{
    let ours = l1_view(L1Engine::QuickCache).await;
    let ours_moka = l1_view(L1Engine::Moka).await;
    let shared = Backend::builder()
        .l1_max_entries(10_000)
        .metrics_interval(None)
        .build()
        .await
        .unwrap();
    let hundred_views: Vec<Cache<u64>> = (0..100)
        .map(|i| {
            Cache::<u64>::builder()
                .prefix(format!("v{i}"))
                .build_on(&shared)
                .unwrap()
        })
        .collect();
    let quick_key = quick_cache::sync::Cache::<Key, u64>::new(10_000);
    let moka_sync_key = moka::sync::Cache::<Key, u64>::new(10_000);
    let moka_string = moka::future::Cache::<String, u64>::new(10_000);
    let moka_key = moka::future::Cache::<Key, u64>::new(10_000);
    for n in 0..KEYS {
        ours.set(&Key::new(n), n).await.unwrap();
        ours_moka.set(&Key::new(n), n).await.unwrap();
        hundred_views[view_of(n)]
            .set(&Key::new(n), n)
            .await
            .unwrap();
        quick_key.insert(Key::new(n), n);
        moka_sync_key.insert(Key::new(n), n);
        moka_string.insert(n.to_string(), n).await;
        moka_key.insert(Key::new(n), n).await;
        also(n).await;
    }
    ours.run_pending_tasks().await;
    ours_moka.run_pending_tasks().await;
    moka_sync_key.run_pending_tasks();
    moka_string.run_pending_tasks().await;
    moka_key.run_pending_tasks().await;
    L1Contenders {
        ours,
        ours_moka,
        hundred_views,
        quick_key,
        moka_sync_key,
        moka_string,
        moka_key,
    }
}

/// Runs `op(i)` `ops` times on each of `threads` threads (own current-thread runtime each),
/// returning the slowest thread's time.
///
/// # Panics
///
/// Panics when a thread panics.
pub fn on_threads<F, Fut>(threads: usize, ops: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, op) = (&barrier, &op);
                s.spawn(move || {
                    let rt = crate::current_thread_runtime();
                    barrier.wait();
                    let start = Instant::now();
                    rt.block_on(async {
                        for i in 0..ops {
                            op((i + t as u64 * 7) % KEYS).await;
                        }
                    });
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

/// Runs `ops` operations (rounded up to a multiple of `tasks`) spread over `tasks` concurrent
/// tasks; returns the wall time.
///
/// # Panics
///
/// Panics when a task panics.
pub async fn spread<F, Fut>(tasks: u64, ops: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let per_task = ops.div_ceil(tasks);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    op((t * 31 + i) % KEYS).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    start.elapsed()
}
