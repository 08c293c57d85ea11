//! [`Backend`]: what every typed cache of one namespace in a process shares — the L1 store
//! and its memory budget, the Redis connection and its circuit breaker, the disk file, and the
//! task that publishes metrics. Typed caches ([`Cache`](crate::Cache)) are cheap views on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use crate::Result;
use crate::stats::Counter;
use crate::tiers::l1::{self, L1Engine, L1Store};
use crate::tiers::{L2, L3, RateLimitedLog};

/// One namespace's shared cache machinery. Build one per namespace and process, then build
/// typed caches on it with [`CacheBuilder::build_on`](crate::CacheBuilder::build_on): they
/// share one Redis connection, one L1 memory budget, one disk file and one metrics task,
/// while each keeps its own key prefix, value type, codec and TTLs. Clones are cheap handles
/// to the same backend.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use perf_cache::{Backend, Cache, Key};
///
/// let backend = Backend::builder().namespace("shop").l1_max_entries(10_000).build().await?;
/// let users = Cache::<String>::builder().prefix("user").build_on(&backend)?;
/// let stock = Cache::<u32>::builder().prefix("stock").build_on(&backend)?;
/// users.set(&Key::new(7_u64), "Ada".to_owned()).await?;
/// stock.set(&Key::new(7_u64), 3).await?;
/// assert_eq!(users.get(&Key::new(7_u64)).await.as_deref(), Some("Ada"));
/// assert_eq!(stock.get(&Key::new(7_u64)).await, Some(3));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Backend {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("namespace", &self.shared.namespace)
            .field("l2", &self.shared.l2)
            .field("l3", &self.shared.l3)
            .finish_non_exhaustive()
    }
}

/// What views of one backend share.
pub(crate) struct Shared {
    pub(crate) namespace: String,
    pub(crate) l1: l1::Store,
    /// `false` with `l1_max_entries(0)`: every read goes to L2/L3.
    pub(crate) l1_enabled: bool,
    pub(crate) l1_capacity: u64,
    pub(crate) by_weight: bool,
    pub(crate) evictions: Arc<Counter>,
    pub(crate) l2: Option<L2>,
    pub(crate) l3: Option<L3>,
    pub(crate) log: RateLimitedLog,
    /// Invalidations that could not reach Redis, replayed before L2 is read again.
    pub(crate) replay: crate::replay::Replay,
    /// Invalidation epochs: fills that began before an invalidation store nothing.
    pub(crate) fence: crate::fence::Fence,
    /// The invalidation bus (with Redis, unless turned off).
    pub(crate) bus: Option<crate::bus::Bus>,
    /// Current tag generations (see [`crate::tag_table`]).
    pub(crate) tags: crate::tag_table::TagTable,
    /// Key space (`<namespace>` or `<namespace>:<prefix>`) → L1 id.
    spaces: Mutex<HashMap<String, u32>>,
    /// Invalidations by kind and keys removed per tier.
    pub(crate) invalidations: crate::group::InvalidationCounters,
    /// Views whose statistics the metrics task publishes (and `Backend::stats` sums).
    pub(crate) views: Mutex<Vec<Weak<dyn Publish>>>,
    metrics_interval: Option<Duration>,
    publisher_started: AtomicBool,
}

/// A view the metrics task can publish.
pub(crate) trait Publish: Send + Sync {
    fn publish(&self);
    /// The view's statistics now.
    fn stats(&self) -> crate::CacheStats;
}

impl Shared {
    /// The L1 id of a key space; views with the same prefix share it (and their entries,
    /// type-checked on read).
    pub(crate) fn space_id(&self, space: &str) -> u32 {
        let mut spaces = self.spaces.lock().unwrap_or_else(PoisonError::into_inner);
        let next = u32::try_from(spaces.len()).unwrap_or(u32::MAX);
        *spaces.entry(space.to_owned()).or_insert(next)
    }

    /// `<space>:` for every L1 id, indexed by id: the head of the stored keys of that space.
    pub(crate) fn space_heads(&self) -> Vec<Vec<u8>> {
        let spaces = self.spaces.lock().unwrap_or_else(PoisonError::into_inner);
        let mut heads = vec![Vec::new(); spaces.len()];
        for (space, &id) in spaces.iter() {
            if let Some(head) = usize::try_from(id).ok().and_then(|i| heads.get_mut(i)) {
                *head = crate::key::join(space, b"");
            }
        }
        heads
    }

    /// The L1 id of a key space if a view of it was ever built.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn existing_space_id(&self, space: &str) -> Option<u32> {
        self.spaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(space)
            .copied()
    }

    /// Registers a view with the metrics task, starting the task on first use inside a tokio
    /// runtime (a backend can be created before any runtime exists).
    pub(crate) fn register(self: &Arc<Self>, view: Weak<dyn Publish>) {
        self.views
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(view);
        self.start_publisher();
    }

    fn start_publisher(self: &Arc<Self>) {
        let Some(every) = self.metrics_interval else {
            return;
        };
        if self.publisher_started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.publisher_started.swap(true, Ordering::Relaxed) {
            return;
        }
        rt.spawn(publish_metrics(Arc::downgrade(self), every));
    }
}

async fn publish_metrics(shared: Weak<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.l1.purge_expired(crate::clock::coarse_ms());
        let views: Vec<Arc<dyn Publish>> = {
            let mut views = shared.views.lock().unwrap_or_else(PoisonError::into_inner);
            views.retain(|v| v.strong_count() > 0);
            views.iter().filter_map(Weak::upgrade).collect()
        };
        for view in views {
            view.publish();
        }
    }
}

impl Backend {
    /// Starts a [`BackendBuilder`] with the defaults: namespace `"default"`, L1 of 1,000
    /// entries, no L2 or L3, metrics published every second.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let backend = perf_cache::Backend::builder().namespace("app").build().await?;
    /// assert_eq!(backend.namespace(), "app");
    /// # Ok(()) }
    /// ```
    pub fn builder() -> BackendBuilder {
        BackendBuilder::new()
    }

    /// The process-wide in-memory backend (namespace `"default"`, L1 of 10,000 entries, no
    /// lower tiers), created on first use. Needs no tokio runtime, so code generated by the
    /// `#[cached]` macro can use it with no set-up; metrics are published once a view is built
    /// inside a runtime.
    ///
    /// ```
    /// use perf_cache::{Backend, Cache};
    ///
    /// let a = Backend::in_memory();
    /// let b = Backend::in_memory();
    /// assert_eq!(a.namespace(), b.namespace());
    /// let cache = Cache::<u64>::builder().prefix("squares").build_on(a).unwrap();
    /// assert_eq!(cache.namespace(), "default:squares");
    /// ```
    pub fn in_memory() -> &'static Backend {
        static DEFAULT: OnceLock<Backend> = OnceLock::new();
        DEFAULT.get_or_init(|| {
            let mut b = BackendBuilder::new();
            b.l1_max_entries = 10_000;
            b.build_memory_only()
        })
    }

    /// The namespace: first segment of every key in Redis and on disk.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let backend = perf_cache::Backend::builder().build().await?;
    /// assert_eq!(backend.namespace(), "default");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }

    /// Entries currently in the shared L1 (all views together).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::{Backend, Cache, Key};
    /// let backend = Backend::builder().build().await?;
    /// let a = Cache::<u8>::builder().prefix("a").build_on(&backend)?;
    /// let b = Cache::<u8>::builder().prefix("b").build_on(&backend)?;
    /// a.set(&Key::new(1_u64), 1).await?;
    /// b.set(&Key::new(1_u64), 2).await?;
    /// backend.run_pending_tasks().await;
    /// assert_eq!(backend.l1_entries(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn l1_entries(&self) -> u64 {
        self.shared.l1.run_pending_tasks();
        self.shared.l1.len()
    }

    /// Runs L1 maintenance now: drops expired entries (the metrics task also does this every
    /// `metrics_interval`) and applies the moka engine's pending evictions.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let backend = perf_cache::Backend::builder().build().await?;
    /// backend.run_pending_tasks().await;
    /// assert_eq!(backend.l1_entries(), 0);
    /// # Ok(()) }
    /// ```
    pub async fn run_pending_tasks(&self) {
        self.shared.l1.purge_expired(crate::clock::coarse_ms());
        self.shared.l1.run_pending_tasks();
    }

    /// The invalidation bus's statistics, or `None` when the backend has none (no Redis, or
    /// [`BackendBuilder::bus`] turned it off). See the crate docs, "Coherence across
    /// instances".
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let memory_only = perf_cache::Backend::builder().build().await?;
    /// assert_eq!(memory_only.bus_stats(), None);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn bus_stats(&self) -> Option<crate::BusStats> {
        self.shared.bus.as_ref().map(crate::bus::Bus::stats)
    }
}

/// Builds a [`Backend`]; obtain one with [`Backend::builder`]. The backend-level settings of
/// [`CacheBuilder`](crate::CacheBuilder) (namespace, L1 size, Redis, disk, breaker, metrics)
/// are the same setters, documented there.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use std::time::Duration;
/// let backend = perf_cache::Backend::builder()
///     .namespace("app")
///     .l1_max_entries(50_000)
///     .metrics_interval(Some(Duration::from_secs(5)))
///     .build()
///     .await?;
/// # drop(backend); Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct BackendBuilder {
    pub(crate) namespace: Option<String>,
    pub(crate) l1_max_entries: u64,
    pub(crate) l1_max_bytes: Option<u64>,
    pub(crate) l1_engine: L1Engine,
    #[cfg(feature = "redis")]
    pub(crate) redis: crate::tiers::redis::RedisOptions,
    #[cfg(feature = "disk")]
    pub(crate) disk_path: Option<std::path::PathBuf>,
    #[cfg(feature = "disk")]
    pub(crate) disk_max_entries: u64,
    pub(crate) metrics_interval: Option<Duration>,
    pub(crate) bus: bool,
    pub(crate) bus_heartbeat: Duration,
    pub(crate) bus_confirm_timeout: Duration,
    /// The client the bus subscribes with, when given ([`BackendBuilder::bus_redis_client`]).
    #[cfg(feature = "redis")]
    pub(crate) bus_client: Option<redis::Client>,
    pub(crate) tag_table_size: usize,
}

impl std::fmt::Debug for BackendBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("BackendBuilder");
        d.field("namespace", &self.namespace)
            .field("l1_max_entries", &self.l1_max_entries)
            .field("l1_max_bytes", &self.l1_max_bytes);
        #[cfg(feature = "redis")]
        d.field(
            "redis_url",
            &self.redis.url.as_deref().map(crate::redact_url),
        );
        #[cfg(feature = "disk")]
        d.field("disk_path", &self.disk_path)
            .field("disk_max_entries", &self.disk_max_entries);
        d.field("metrics_interval", &self.metrics_interval)
            .field("bus", &self.bus)
            .field("bus_heartbeat", &self.bus_heartbeat)
            .field("bus_confirm_timeout", &self.bus_confirm_timeout)
            .field("tag_table_size", &self.tag_table_size)
            .finish_non_exhaustive()
    }
}

impl BackendBuilder {
    pub(crate) fn new() -> Self {
        Self {
            namespace: None,
            l1_max_entries: 1_000,
            l1_max_bytes: None,
            l1_engine: L1Engine::QuickCache,
            #[cfg(feature = "redis")]
            redis: crate::tiers::redis::RedisOptions::default(),
            #[cfg(feature = "disk")]
            disk_path: None,
            #[cfg(feature = "disk")]
            disk_max_entries: crate::tiers::disk::DEFAULT_MAX_ENTRIES,
            metrics_interval: Some(Duration::from_secs(1)),
            bus: true,
            bus_heartbeat: crate::bus::DEFAULT_HEARTBEAT,
            bus_confirm_timeout: crate::bus::DEFAULT_CONFIRM_TIMEOUT,
            #[cfg(feature = "redis")]
            bus_client: None,
            tag_table_size: crate::tag_table::DEFAULT_TABLE_SIZE,
        }
    }

    /// See [`CacheBuilder::namespace`](crate::CacheBuilder::namespace).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// See [`CacheBuilder::l1_max_entries`](crate::CacheBuilder::l1_max_entries); the budget
    /// is shared by every view.
    pub fn l1_max_entries(mut self, entries: u64) -> Self {
        self.l1_max_entries = entries;
        self
    }

    /// See [`CacheBuilder::l1_max_bytes`](crate::CacheBuilder::l1_max_bytes); the budget is
    /// shared by every view.
    pub fn l1_max_bytes(mut self, bytes: u64) -> Self {
        self.l1_max_bytes = Some(bytes);
        self
    }

    /// The L1 engine. Default [`L1Engine::QuickCache`]; [`L1Engine::Moka`] with feature
    /// `moka`.
    pub fn l1_engine(mut self, engine: L1Engine) -> Self {
        self.l1_engine = engine;
        self
    }

    /// See [`CacheBuilder::redis_url`](crate::CacheBuilder::redis_url).
    #[cfg(feature = "redis")]
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis.set_url(url.into());
        self
    }

    /// Uses an existing `redis::Client` (its connection settings, TLS and credentials) for L2
    /// instead of a URL; the backend makes one multiplexed connection from it.
    #[cfg(feature = "redis")]
    pub fn redis_client(mut self, client: redis::Client) -> Self {
        let url = client.get_connection_info().addr().to_string();
        self.redis.url = Some(url);
        self.redis.client = Some(client);
        self
    }

    /// Uses an existing `ConnectionManager` for L2: the backend shares it (and its
    /// reconnection) rather than opening another connection. Its own response timeout
    /// applies; [`redis_timeout`](Self::redis_timeout) does not change it. A manager cannot
    /// subscribe, so the backend has **no invalidation bus** unless
    /// [`bus_redis_client`](Self::bus_redis_client) gives it a client for the subscriber.
    #[cfg(feature = "redis")]
    pub fn redis_connection_manager(mut self, manager: redis::aio::ConnectionManager) -> Self {
        self.redis.url = Some("redis://(connection manager)".to_owned());
        self.redis.manager = Some(manager);
        self
    }

    /// Names the backend's Redis connection (`CLIENT SETNAME`, sent when the backend is
    /// built), so that `CLIENT LIST` shows which service holds it. Default: unnamed. A
    /// connection re-made after an outage comes back unnamed. 1 to 64 characters without
    /// spaces.
    #[cfg(feature = "redis")]
    pub fn redis_client_name(mut self, name: impl Into<String>) -> Self {
        self.redis.client_name = Some(name.into());
        self
    }

    /// See [`CacheBuilder::redis_cluster_urls`](crate::CacheBuilder::redis_cluster_urls).
    #[cfg(feature = "redis-cluster")]
    pub fn redis_cluster_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redis
            .set_cluster_urls(urls.into_iter().map(Into::into).collect());
        self
    }

    /// See [`CacheBuilder::redis_root_cert_pem`](crate::CacheBuilder::redis_root_cert_pem).
    #[cfg(feature = "redis-tls")]
    pub fn redis_root_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.redis.root_cert = Some(pem.into());
        self
    }

    /// See [`CacheBuilder::require_l2`](crate::CacheBuilder::require_l2).
    #[cfg(feature = "redis")]
    pub fn require_l2(mut self, require: bool) -> Self {
        self.redis.require = require;
        self
    }

    /// See [`CacheBuilder::redis_timeout`](crate::CacheBuilder::redis_timeout).
    #[cfg(feature = "redis")]
    pub fn redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis.timeout = timeout;
        self
    }

    /// See [`CacheBuilder::breaker_threshold`](crate::CacheBuilder::breaker_threshold).
    #[cfg(feature = "redis")]
    pub fn breaker_threshold(mut self, failures: u32) -> Self {
        self.redis.breaker_threshold = failures;
        self
    }

    /// See [`CacheBuilder::breaker_cooldown`](crate::CacheBuilder::breaker_cooldown).
    #[cfg(feature = "redis")]
    pub fn breaker_cooldown(mut self, cooldown: Duration) -> Self {
        self.redis.breaker_cooldown = cooldown;
        self
    }

    /// See [`CacheBuilder::disk_path`](crate::CacheBuilder::disk_path). One backend per file.
    #[cfg(feature = "disk")]
    pub fn disk_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.disk_path = Some(path.into());
        self
    }

    /// See [`CacheBuilder::disk_max_entries`](crate::CacheBuilder::disk_max_entries).
    #[cfg(feature = "disk")]
    pub fn disk_max_entries(mut self, entries: u64) -> Self {
        self.disk_max_entries = entries;
        self
    }

    /// See [`CacheBuilder::metrics_interval`](crate::CacheBuilder::metrics_interval).
    pub fn metrics_interval(mut self, interval: Option<Duration>) -> Self {
        self.metrics_interval = interval;
        self
    }

    /// Whether a backend with Redis runs the invalidation bus (a second Redis connection
    /// that keeps the L1 and L3 of every instance coherent; see the crate docs, "Coherence
    /// across instances"). Default: `true`. Without Redis there is no bus. A backend built on
    /// a [`redis_connection_manager`](Self::redis_connection_manager) has no URL to open the
    /// subscriber with and runs without it unless given
    /// [`bus_redis_client`](Self::bus_redis_client).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// let single = perf_cache::Backend::builder()
    ///     .namespace("single-instance")
    ///     .redis_url(url)
    ///     .bus(false)
    ///     .build()
    ///     .await?;
    /// assert_eq!(single.bus_stats(), None);
    /// # Ok(()) }
    /// ```
    pub fn bus(mut self, enabled: bool) -> Self {
        self.bus = enabled;
        self
    }

    /// The client the invalidation bus subscribes with (a second connection, RESP3, made from
    /// the client's settings: address, TLS, credentials). Needed for a bus on a backend built
    /// on a [`redis_connection_manager`](Self::redis_connection_manager), which cannot
    /// subscribe; without it that backend has no bus (logged once at build): other
    /// instances' invalidations then never reach its L1 and disk copies, which live until
    /// their TTL. Otherwise it replaces the client made from the URL (or the cluster seeds).
    /// Default: none. Ignored with [`bus(false)`](Self::bus).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// let client = redis::Client::open(url.as_str()).expect("a valid URL");
    /// let manager = redis::aio::ConnectionManager::new(client.clone()).await.expect("Redis");
    /// let backend = perf_cache::Backend::builder()
    ///     .namespace(format!("bus-client-doc-{}", std::process::id()))
    ///     .redis_connection_manager(manager)
    ///     .bus_redis_client(client)
    ///     .build()
    ///     .await?;
    /// assert!(backend.bus_stats().expect("a bus").subscribed);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn bus_redis_client(mut self, client: redis::Client) -> Self {
        self.bus_client = Some(client);
        self
    }

    /// `SCAN … COUNT` of pattern invalidation and `invalidate_all`: how many slots of the
    /// keyspace Redis walks per call (each page's matches are unlinked in the same round trip
    /// as the next `SCAN`). Larger means fewer round trips and a faster invalidation, but a
    /// longer time the server is busy with each call (it serves nobody else meanwhile): see
    /// `BENCHMARKS.md` for both at 1,000 and 10,000. Default 1,000; 10 to 100,000.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// let backend = perf_cache::Backend::builder()
    ///     .namespace("scan-count-doc")
    ///     .redis_url(url)
    ///     .scan_count(10_000)
    ///     .build()
    ///     .await?;
    /// # drop(backend);
    /// let err = perf_cache::Backend::builder().scan_count(5).build().await.unwrap_err();
    /// assert!(err.to_string().contains("scan_count"));
    /// assert!(err.to_string().contains("10..=100000"));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn scan_count(mut self, count: usize) -> Self {
        self.redis.scan_count = count;
        self
    }

    /// How often the backend publishes a heartbeat on the bus. A subscription that receives
    /// nothing for three heartbeats counts as gone (a frozen Redis sends no disconnect): the
    /// backend empties its L1 and distrusts older L3 entries. Default 500 ms (a gap is noticed
    /// within 1.5 s); 10 ms to 60 s.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// let err = perf_cache::Backend::builder()
    ///     .bus_heartbeat(Duration::from_millis(1))
    ///     .build()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("bus_heartbeat"));
    /// # Ok(()) }
    /// ```
    pub fn bus_heartbeat(mut self, every: Duration) -> Self {
        self.bus_heartbeat = every;
        self
    }

    /// How long a write waits for the other instances to confirm that they applied it.
    ///
    /// Every `invalidate*`, `set` and `set_many` publishes on the bus once Redis is done, then
    /// waits until every subscriber the `PUBLISH` reached (this instance's own included) has
    /// confirmed applying it to its L1 and disk file. So once the call returns, a read on any
    /// other instance that was subscribed sees the new value (read-your-writes across instances
    /// behind a load balancer), not just "within the bus's delivery lag". The cost is about one
    /// more round trip per write (the other instances apply, then answer on
    /// `<namespace>%:ack:<id>`); the reported counts are in
    /// [`Invalidation::bus_reached`](crate::Invalidation::bus_reached) and
    /// [`bus_confirmed`](crate::Invalidation::bus_confirmed).
    ///
    /// A subscriber that does not confirm in time (a frozen or overloaded process, or an
    /// older version during a rolling upgrade, which resyncs instead) makes each write wait the
    /// whole timeout; the write still returns, counted in
    /// [`BusStats::unconfirmed`](crate::BusStats::unconfirmed) and logged. On a Redis Cluster,
    /// `PUBLISH` counts only the subscribers of the node that took it, so the wait covers as
    /// many confirmations as that count.
    ///
    /// Default 1 s; `Duration::ZERO` to not wait (announcements are then published as before
    /// and other instances follow within the delivery lag); at most 60 s.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// let err = perf_cache::Backend::builder()
    ///     .bus_confirm_timeout(Duration::from_secs(61))
    ///     .build()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("bus_confirm_timeout"));
    /// assert!(err.to_string().contains("0..=60 s"));
    /// # Ok(()) }
    /// ```
    pub fn bus_confirm_timeout(mut self, timeout: Duration) -> Self {
        self.bus_confirm_timeout = timeout;
        self
    }

    /// How many tags the in-process tag table holds (see the crate docs, "Tags"). Default
    /// 10,000; 32 (one entry's tags) to 10,000,000. Past it the oldest tag is evicted: entries that depend on it
    /// become misses (never stale hits) and it is fetched again when next used.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let err = perf_cache::Backend::builder().tag_table_size(0).build().await.unwrap_err();
    /// assert!(err.to_string().contains("tag_table_size"));
    /// # Ok(()) }
    /// ```
    pub fn tag_table_size(mut self, tags: usize) -> Self {
        self.tag_table_size = tags;
        self
    }

    pub(crate) fn has_lower_tier(&self) -> bool {
        #[allow(unused_mut)]
        let mut lower = false;
        #[cfg(feature = "redis")]
        {
            lower |= self.redis.url.is_some();
        }
        #[cfg(feature = "disk")]
        {
            lower |= self.disk_path.is_some();
        }
        lower
    }

    pub(crate) fn validate(&self) -> Result<()> {
        use crate::error::invalid;
        if self.l1_max_bytes == Some(0) {
            return Err(invalid("l1_max_bytes", 0, "1..=u64::MAX"));
        }
        if let Some(i) = self.metrics_interval
            && (i < Duration::from_millis(10) || i > Duration::from_secs(3_600))
        {
            return Err(invalid(
                "metrics_interval",
                format!("{i:?}"),
                "10 ms..=1 hour, or None",
            ));
        }
        if self.bus_heartbeat < Duration::from_millis(10)
            || self.bus_heartbeat > Duration::from_secs(60)
        {
            return Err(invalid(
                "bus_heartbeat",
                format!("{:?}", self.bus_heartbeat),
                "10 ms..=60 s",
            ));
        }
        if self.bus_confirm_timeout > Duration::from_secs(60) {
            return Err(invalid(
                "bus_confirm_timeout",
                format!("{:?}", self.bus_confirm_timeout),
                "0..=60 s (0: do not wait)",
            ));
        }
        // At least one entry's worth of tags (32), so resolving one entry never evicts its own.
        if !(crate::tag::MAX_TAGS..=10_000_000).contains(&self.tag_table_size) {
            return Err(invalid(
                "tag_table_size",
                self.tag_table_size,
                "32..=10000000",
            ));
        }
        #[cfg(feature = "redis")]
        {
            let r = &self.redis;
            r.validate_timeout("redis_timeout")?;
            if !(10..=100_000).contains(&r.scan_count) {
                return Err(invalid("scan_count", r.scan_count, "10..=100000"));
            }
            if !(1..=1_000).contains(&r.breaker_threshold) {
                return Err(invalid(
                    "breaker_threshold",
                    r.breaker_threshold,
                    "1..=1000",
                ));
            }
            if r.breaker_cooldown > Duration::from_secs(3_600) {
                return Err(invalid(
                    "breaker_cooldown",
                    format!("{:?}", r.breaker_cooldown),
                    "0..=1 hour",
                ));
            }
            if let Some(name) = &r.client_name
                && (name.is_empty() || name.len() > 64 || name.bytes().any(|b| b <= b' '))
            {
                return Err(invalid(
                    "redis_client_name",
                    format!("{name:?}"),
                    "1 to 64 characters, no spaces or control characters",
                ));
            }
        }
        #[cfg(feature = "disk")]
        if !(1..=1_000_000_000).contains(&self.disk_max_entries) {
            return Err(invalid(
                "disk_max_entries",
                self.disk_max_entries,
                "1..=1000000000",
            ));
        }
        match &self.namespace {
            Some(ns) => crate::key::validate_namespace(ns),
            None if self.has_lower_tier() => Err(invalid(
                "namespace",
                "none",
                "1 to 64 characters from [A-Za-z0-9_.-]; required when L2 (Redis) or L3 (disk) is configured",
            )),
            None => Ok(()),
        }
    }

    /// Validates the settings and opens the tiers: Redis (connected lazily unless
    /// [`require_l2`](Self::require_l2)) and the disk file.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// let err = perf_cache::Backend::builder().namespace("bad ns").build().await.unwrap_err();
    /// assert!(err.to_string().contains("namespace"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming the field out of range,
    /// [`Error::L2Unavailable`](crate::Error::L2Unavailable) when `require_l2` is set and Redis
    /// does not answer, [`Error::Disk`](crate::Error::Disk) when the disk file cannot be opened.
    pub async fn build(self) -> Result<Backend> {
        self.validate()?;
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        #[allow(unused_mut)]
        let mut l2: Option<L2> = None;
        #[cfg(feature = "redis")]
        if let Some(url) = &self.redis.url {
            l2 = Some(crate::tiers::redis::RedisTier::connect(&namespace, url, &self.redis).await?);
        }
        #[allow(unused_mut)]
        let mut l3: Option<L3> = None;
        #[cfg(feature = "disk")]
        if let Some(path) = &self.disk_path {
            l3 = Some(crate::tiers::disk::DiskTier::open(path, self.disk_max_entries).await?);
        }
        #[cfg(feature = "redis")]
        let bus_clients = if l2.is_some() {
            self.bus_clients(&namespace)
        } else {
            Vec::new()
        };
        #[cfg(feature = "redis")]
        let with_bus = !bus_clients.is_empty();
        #[cfg(not(feature = "redis"))]
        let with_bus = false;
        let backend = self.assemble(namespace, l2, l3, with_bus);
        #[cfg(feature = "redis")]
        if with_bus {
            crate::bus::start(&backend.shared, bus_clients, self.redis.timeout).await;
        }
        Ok(backend)
    }

    /// The clients the bus may subscribe through (tried in turn), when the backend will have
    /// a bus: the one given with [`bus_redis_client`](Self::bus_redis_client), else every
    /// seed of a cluster, else the L2 server's. None for a `ConnectionManager` alone (logged
    /// once, here).
    #[cfg(feature = "redis")]
    fn bus_clients(&self, namespace: &str) -> Vec<redis::Client> {
        if !self.bus {
            return Vec::new();
        }
        if let Some(client) = &self.bus_client {
            return vec![client.clone()];
        }
        if self.redis.manager.is_some() {
            tracing::warn!(
                namespace,
                "no invalidation bus: the backend was built on a ConnectionManager without \
                 bus_redis_client; other instances' invalidations do not reach this L1 and L3 \
                 (their copies live until their TTL)"
            );
            return Vec::new();
        }
        #[cfg(feature = "redis-cluster")]
        if !self.redis.cluster_urls.is_empty() {
            // Classic pub/sub reaches every node of a cluster: one subscriber is enough, through
            // whichever seed answers.
            return self
                .redis
                .cluster_urls
                .iter()
                .filter_map(|url| crate::tiers::redis::open_client(url, &self.redis).ok())
                .collect();
        }
        self.redis
            .url
            .as_deref()
            .and_then(|url| crate::tiers::redis::open_client(url, &self.redis).ok())
            .into_iter()
            .collect()
    }

    /// An in-memory backend, without awaiting anything (no lower tiers are opened).
    fn build_memory_only(self) -> Backend {
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        self.assemble(namespace, None, None, false)
    }

    fn assemble(
        &self,
        namespace: String,
        l2: Option<L2>,
        l3: Option<L3>,
        with_bus: bool,
    ) -> Backend {
        let evictions = Arc::new(Counter::default());
        let by_weight = self.l1_max_bytes.is_some();
        let bus = with_bus.then(|| {
            crate::bus::Bus::new(&namespace, self.bus_heartbeat, self.bus_confirm_timeout)
        });
        let stamps = l3.is_some();
        let has_redis = l2.is_some();
        let l1_capacity = self.l1_max_bytes.unwrap_or(self.l1_max_entries);
        crate::clock::start();
        let l1 = l1::build(
            self.l1_engine,
            l1_capacity,
            by_weight,
            Arc::clone(&evictions),
        );
        let shared = Arc::new(Shared {
            namespace,
            l1,
            l1_enabled: by_weight || self.l1_max_entries > 0,
            l1_capacity,
            by_weight,
            evictions,
            l2,
            l3,
            log: RateLimitedLog::new(Duration::from_secs(10)),
            spaces: Mutex::default(),
            invalidations: crate::group::InvalidationCounters::default(),
            views: Mutex::default(),
            metrics_interval: self.metrics_interval,
            publisher_started: AtomicBool::new(false),
            replay: crate::replay::Replay::default(),
            fence: crate::fence::Fence::new(stamps),
            bus,
            tags: crate::tag_table::TagTable::new(self.tag_table_size, !has_redis),
        });
        if has_redis && !with_bus {
            // Nothing pushes new tag generations: re-read those held longer than 1 s.
            shared.tags.set_max_age(1_000);
        }
        Backend { shared }
    }
}
