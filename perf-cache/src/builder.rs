//! [`CacheBuilder`]: every setting of a [`Cache`], with the seed's defaults.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::invalid;
use crate::{Backend, BackendBuilder, Cache, Codec, Postcard, Result};

/// Builds a [`Cache`]; obtain one with [`Cache::builder`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use std::time::Duration;
/// use perf_cache::Cache;
///
/// let cache = Cache::<String>::builder()
///     .namespace("users")
///     .l1_max_entries(10_000)
///     .l1_ttl(Duration::from_secs(30))
///     .negative_ttl(Duration::from_secs(5))
///     .build()
///     .await?;
/// # drop(cache); Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct CacheBuilder<V, C = Postcard> {
    /// Settings of the private backend `build` opens.
    pub(crate) backend: BackendBuilder,
    /// The first backend-level setter called, refused by `build_on` (a shared backend is
    /// configured on its own builder).
    pub(crate) backend_setter: Option<&'static str>,
    pub(crate) prefix: Option<String>,
    pub(crate) l1_ttl: Duration,
    pub(crate) l2_ttl: Duration,
    pub(crate) l3_ttl: Duration,
    pub(crate) codec: C,
    pub(crate) format_version: u32,
    pub(crate) max_value_size: Option<usize>,
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) refresh_ahead: Option<Duration>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) storage: crate::StorageFormat,
    /// Single-flight reach and lease settings (setters in `single_flight.rs`).
    pub(crate) flight: crate::single_flight::FlightSettings,
    pub(crate) timeouts: crate::load_options::Timeouts,
    pub(crate) _value: PhantomData<fn() -> V>,
}

impl<V, C: std::fmt::Debug> std::fmt::Debug for CacheBuilder<V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("backend", &self.backend)
            .field("prefix", &self.prefix)
            .field("l1_ttl", &self.l1_ttl)
            .field("l2_ttl", &self.l2_ttl)
            .field("l3_ttl", &self.l3_ttl)
            .field("codec", &self.codec)
            .field("format_version", &self.format_version)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// Default maximum encoded value size: 1 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1 << 20;

impl<V> CacheBuilder<V, Postcard> {
    pub(crate) fn new() -> Self {
        Self {
            backend: BackendBuilder::new(),
            backend_setter: None,
            prefix: None,
            l1_ttl: Duration::from_secs(60),
            l2_ttl: Duration::from_secs(3_600),
            l3_ttl: Duration::from_secs(86_400),
            codec: Postcard,
            format_version: 0,
            max_value_size: None,
            negative_ttl: None,
            refresh_ahead: None,
            stale_if_error: None,
            storage: crate::StorageFormat::Envelope,
            flight: crate::single_flight::FlightSettings::default(),
            timeouts: crate::load_options::Timeouts::default(),
            _value: PhantomData,
        }
    }
}

impl<V, C> CacheBuilder<V, C>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    C: Codec,
{
    /// Prefix of every key in Redis and on disk, and the `namespace` label of every metric.
    /// 1 to 64 characters from `[A-Za-z0-9_.-]`. Required when L2 or L3 is configured;
    /// default `"default"` for an in-memory cache.
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        self.on_backend("namespace", |b| b.namespace(namespace))
    }

    /// This cache's key prefix inside the namespace: keys are stored as
    /// `<namespace>:<prefix>:<key>`. Same character set as the namespace. Required for a view
    /// of a shared backend ([`build_on`](Self::build_on)); default: none (`<namespace>:<key>`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// L1 capacity in entries. Default 1,000. `0` turns L1 off (every read goes to L2/L3, for
    /// data that must not be served from a per-instance copy). Ignored when
    /// [`l1_max_bytes`](Self::l1_max_bytes) is set.
    pub fn l1_max_entries(self, entries: u64) -> Self {
        self.on_backend("l1_max_entries", |b| b.l1_max_entries(entries))
    }

    /// Sizes L1 by weight instead of entries: the sum of the values' encoded sizes (with this
    /// cache's codec, envelope included) stays under `bytes`. Default: unset (sized by entries).
    /// Each value is then encoded once on insert to weigh it.
    pub fn l1_max_bytes(self, bytes: u64) -> Self {
        self.on_backend("l1_max_bytes", |b| b.l1_max_bytes(bytes))
    }

    /// Time an entry stays fresh in L1. Default 60 s. From 1 ms to 1 year. Entries promoted from
    /// a lower tier get the smaller of this and their remaining time there.
    pub fn l1_ttl(mut self, ttl: Duration) -> Self {
        self.l1_ttl = ttl;
        self
    }

    /// Default time to live in L2 (Redis). Default 1 h. From 1 ms to 1 year.
    pub fn l2_ttl(mut self, ttl: Duration) -> Self {
        self.l2_ttl = ttl;
        self
    }

    /// Default time to live in L3 (disk). Default 1 day. From 1 ms to 1 year.
    pub fn l3_ttl(mut self, ttl: Duration) -> Self {
        self.l3_ttl = ttl;
        self
    }

    /// Adds L2: Redis at `url` (`redis://[user:password@]host:port/db`, or `rediss://` with
    /// feature `redis-tls`). Default: no L2. Building does not wait for Redis unless
    /// [`require_l2`](Self::require_l2) is set.
    #[cfg(feature = "redis")]
    pub fn redis_url(self, url: impl Into<String>) -> Self {
        self.on_backend("redis_url", |b| b.redis_url(url))
    }

    /// Uses an existing `redis::Client` for L2 instead of a URL (see
    /// [`BackendBuilder::redis_client`]).
    #[cfg(feature = "redis")]
    pub fn redis_client(self, client: redis::Client) -> Self {
        self.on_backend("redis_client", |b| b.redis_client(client))
    }

    /// Shares an existing `ConnectionManager` for L2 (see
    /// [`BackendBuilder::redis_connection_manager`]).
    #[cfg(feature = "redis")]
    pub fn redis_connection_manager(self, manager: redis::aio::ConnectionManager) -> Self {
        self.on_backend("redis_connection_manager", |b| {
            b.redis_connection_manager(manager)
        })
    }

    /// Names the Redis connection (see [`BackendBuilder::redis_client_name`]).
    #[cfg(feature = "redis")]
    pub fn redis_client_name(self, name: impl Into<String>) -> Self {
        self.on_backend("redis_client_name", |b| b.redis_client_name(name))
    }

    /// Adds L2 on a Redis Cluster, given one or more seed nodes (`redis://host:port` each);
    /// the slot map is discovered from them. Replaces [`redis_url`](Self::redis_url).
    #[cfg(feature = "redis-cluster")]
    pub fn redis_cluster_urls<I, S>(self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.on_backend("redis_cluster_urls", |b| b.redis_cluster_urls(urls))
    }

    /// For `rediss://` URLs: trust these PEM root certificates (a private CA) instead of the
    /// system's. Default: the system store.
    #[cfg(feature = "redis-tls")]
    pub fn redis_root_cert_pem(self, pem: impl Into<Vec<u8>>) -> Self {
        self.on_backend("redis_root_cert_pem", |b| b.redis_root_cert_pem(pem))
    }

    /// Fail `build` with [`Error::L2Unavailable`](crate::Error::L2Unavailable) when Redis does
    /// not answer a `PING`. Default `false`: the cache starts without Redis and picks it up later.
    #[cfg(feature = "redis")]
    pub fn require_l2(self, require: bool) -> Self {
        self.on_backend("require_l2", |b| b.require_l2(require))
    }

    /// Connect and per-command timeout for Redis. Default 250 ms. From 1 ms to 60 s. A command
    /// that exceeds it counts as a failure (and as a miss).
    #[cfg(feature = "redis")]
    pub fn redis_timeout(self, timeout: Duration) -> Self {
        self.on_backend("redis_timeout", |b| b.redis_timeout(timeout))
    }

    /// Consecutive Redis outages (I/O errors, timeouts, dropped connections; not error replies
    /// such as `WRONGTYPE`) that open the circuit breaker. Default 5. From 1 to 1,000.
    #[cfg(feature = "redis")]
    pub fn breaker_threshold(self, failures: u32) -> Self {
        self.on_backend("breaker_threshold", |b| b.breaker_threshold(failures))
    }

    /// See [`BackendBuilder::bus`]: the invalidation bus of the private backend. Default
    /// `true` with Redis. A single instance (nothing else writes its namespace) can turn it
    /// off and keep serving L1 through a Redis outage instead of resyncing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    /// let cache = perf_cache::Cache::<u8>::builder()
    ///     .namespace("alone")
    ///     .redis_url(url)
    ///     .bus(false)
    ///     .build()
    ///     .await?;
    /// assert_eq!(cache.backend().bus_stats(), None);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn bus(self, enabled: bool) -> Self {
        self.on_backend("bus", |b| b.bus(enabled))
    }

    /// How long the open breaker skips Redis before letting one probe through. Default 5 s.
    /// Up to 1 hour.
    #[cfg(feature = "redis")]
    pub fn breaker_cooldown(self, cooldown: Duration) -> Self {
        self.on_backend("breaker_cooldown", |b| b.breaker_cooldown(cooldown))
    }

    /// Adds L3: a redb file at `path` (created if missing). Default: no L3. One cache per file:
    /// `build` waits up to about 2 s for a file this process still has open (a dropped cache
    /// whose last handle a background task still holds), then fails with
    /// [`Error::Disk`](crate::Error::Disk).
    #[cfg(feature = "disk")]
    pub fn disk_path(self, path: impl Into<std::path::PathBuf>) -> Self {
        self.on_backend("disk_path", |b| b.disk_path(path))
    }

    /// Most rows the disk file holds. Default 100,000. From 1 to 1,000,000,000. A write that
    /// goes over it evicts the rows that expire soonest (with one TTL: the oldest).
    #[cfg(feature = "disk")]
    pub fn disk_max_entries(self, entries: u64) -> Self {
        self.on_backend("disk_max_entries", |b| b.disk_max_entries(entries))
    }

    /// Replaces the codec used for L2/L3 (default [`Postcard`]); e.g. [`Json`](crate::Json) for
    /// values other languages' services read.
    pub fn codec<C2: Codec>(self, codec: C2) -> CacheBuilder<V, C2> {
        CacheBuilder {
            backend: self.backend,
            backend_setter: self.backend_setter,
            prefix: self.prefix,
            l1_ttl: self.l1_ttl,
            l2_ttl: self.l2_ttl,
            l3_ttl: self.l3_ttl,
            codec,
            format_version: self.format_version,
            max_value_size: self.max_value_size,
            negative_ttl: self.negative_ttl,
            refresh_ahead: self.refresh_ahead,
            stale_if_error: self.stale_if_error,
            storage: self.storage,
            flight: self.flight,
            timeouts: self.timeouts,
            _value: PhantomData,
        }
    }

    /// How values are written into Redis: [`StorageFormat::Envelope`](crate::StorageFormat)
    /// (default; this crate's header, then the codec's bytes) or
    /// [`StorageFormat::Plain`](crate::StorageFormat::Plain) (the codec's bytes alone, TTL kept
    /// by Redis; for keys shared with services in other languages). Plain needs a
    /// self-describing codec ([`Json`](crate::Json)) and refuses `negative_ttl` and a non-zero
    /// `format_version` with [`Error::InvalidConfig`](crate::Error::InvalidConfig) at build.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// use perf_cache::{Cache, Json, StorageFormat};
    /// let err = Cache::<u32>::builder()
    ///     .codec(Json)
    ///     .storage_format(StorageFormat::Plain)
    ///     .negative_ttl(Duration::from_secs(5))
    ///     .build()
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("negative_ttl"));
    /// # Ok(()) }
    /// ```
    pub fn storage_format(mut self, format: crate::StorageFormat) -> Self {
        self.storage = format;
        self
    }

    /// Version of the cached type's layout, written in every stored value. Bump it when `V`
    /// changes: entries written with another version read as misses and are overwritten.
    /// Default 0.
    pub fn format_version(mut self, version: u32) -> Self {
        self.format_version = version;
        self
    }

    /// Largest encoded value (envelope included) that may be stored; larger ones make `set`
    /// return [`Error::ValueTooLarge`](crate::Error::ValueTooLarge) and are not cached by loads.
    /// Default 1 MiB, checked whenever a value is encoded (L2/L3 configured, L1 sized in bytes,
    /// or this setter called). From 16 bytes to 512 MiB.
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = Some(bytes);
        self
    }

    /// Caches "not found" (a loader's `Ok(None)`) for `ttl` in every tier. Default: off, so
    /// `None` is never cached. From 1 ms to 1 year.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// Refresh-ahead: a hit through a `get_or_load` method less than `window` before the
    /// entry's L1 expiry returns the current value and starts one background load. Default:
    /// off. Must be shorter than `l1_ttl`.
    pub fn refresh_ahead(mut self, window: Duration) -> Self {
        self.refresh_ahead = Some(window);
        self
    }

    /// Stale-if-error: L1 keeps entries `grace` past their expiry; when a loader fails, that
    /// stale value is returned instead of the error (counted in `stale_served`). Default: off.
    /// Up to 1 day.
    pub fn stale_if_error(mut self, grace: Duration) -> Self {
        self.stale_if_error = Some(grace);
        self
    }

    /// Soft load timeout: when a load has not finished after `after`, a caller that holds a
    /// stale value (an L1 entry expired less than [`stale_if_error`](Self::stale_if_error) ago)
    /// gets it at once, and the load goes on in the background and stores its value when it
    /// finishes (through the same fence as any load: an invalidation or `set` that begins
    /// meanwhile still wins). A caller without a stale value keeps waiting (up to the hard
    /// timeout). Applies to every load API with a `'static` loader (`get_or_load*`,
    /// `#[cached]` with owned arguments); counted in `soft_timeouts`. Default: none. From 1 ms
    /// to 1 day, below [`hard_timeout`](Self::hard_timeout); refused without `stale_if_error`
    /// (there would never be a stale value to serve).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// use perf_cache::Cache;
    /// let cache = Cache::<u64>::builder()
    ///     .stale_if_error(Duration::from_secs(300)) // the window a stale value is kept for
    ///     .soft_timeout(Duration::from_millis(200))
    ///     .build()
    ///     .await?;
    /// let err = Cache::<u64>::builder().soft_timeout(Duration::ZERO).build().await.unwrap_err();
    /// assert!(err.to_string().contains("soft_timeout"));
    /// # drop(cache); Ok(()) }
    /// ```
    pub fn soft_timeout(mut self, after: Duration) -> Self {
        self.timeouts.soft = Some(after);
        self
    }

    /// Hard load timeout: a caller stops waiting for a load after `after` and gets
    /// [`LoadError::TimedOut`](crate::LoadError::TimedOut); the load goes on in the background
    /// and stores its value when it finishes, so a later call hits (a call arriving meanwhile
    /// joins it: one loader run). Waiters of the same load time out the same way. A load
    /// still running 10 minutes after it began (or `after`, if longer) is abandoned and
    /// nothing is stored (10 minutes is how long Redis fences its fill). Counted in
    /// `hard_timeouts`. Default: none. From 1 ms to 1 day.
    ///
    /// **Only calls that can report it use it:** [`Cache::get_or_load_with`] and
    /// [`Cache::try_get_or_load_with`] (and `#[cached(hard_timeout = ..)]`, which has its own).
    /// `get_or_load`, `try_get_or_load` and `get_or_load_optional` have no error to report a
    /// timeout with and wait for the loader as before (they still use the soft timeout).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use std::time::Duration;
    /// use perf_cache::{Cache, Key, LoadError, LoadOptions};
    /// let cache = Cache::<u64>::builder().hard_timeout(Duration::from_millis(20)).build().await?;
    /// let r = cache
    ///     .get_or_load_with(&Key::new("k"), LoadOptions::default(), || async {
    ///         tokio::time::sleep(Duration::from_secs(60)).await;
    ///         1
    ///     })
    ///     .await;
    /// assert!(matches!(r, Err(LoadError::TimedOut { .. })));
    /// assert_eq!(cache.stats().hard_timeouts, 1);
    /// # Ok(()) }
    /// ```
    pub fn hard_timeout(mut self, after: Duration) -> Self {
        self.timeouts.hard = Some(after);
        self
    }

    /// How often a background task publishes the statistics through the `metrics` facade.
    /// Default every 1 s (only when built inside a tokio runtime); `None` publishes only when
    /// [`Cache::stats`] is called. From 10 ms to 1 hour.
    pub fn metrics_interval(self, interval: Option<Duration>) -> Self {
        self.on_backend("metrics_interval", |b| b.metrics_interval(interval))
    }

    /// Applies a backend-level setting to the private backend's builder, remembering the
    /// first one so that [`build_on`](Self::build_on) can refuse it.
    fn on_backend(
        mut self,
        field: &'static str,
        set: impl FnOnce(BackendBuilder) -> BackendBuilder,
    ) -> Self {
        self.backend_setter.get_or_insert(field);
        self.backend = set(self.backend);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        const YEAR: Duration = Duration::from_secs(365 * 86_400);
        let ttl_range = |field: &'static str, d: Duration| {
            if d < Duration::from_millis(1) || d > YEAR {
                Err(invalid(field, format!("{d:?}"), "1 ms..=1 year"))
            } else {
                Ok(())
            }
        };
        ttl_range("l1_ttl", self.l1_ttl)?;
        ttl_range("l2_ttl", self.l2_ttl)?;
        ttl_range("l3_ttl", self.l3_ttl)?;
        if let Some(t) = self.negative_ttl {
            ttl_range("negative_ttl", t)?;
        }
        if let Some(m) = self.max_value_size
            && !(16..=512 << 20).contains(&m)
        {
            return Err(invalid(
                "max_value_size",
                m,
                "16..=536870912 (bytes, 16 B to 512 MiB)",
            ));
        }
        if let Some(w) = self.refresh_ahead
            && (w.is_zero() || w >= self.l1_ttl)
        {
            return Err(invalid(
                "refresh_ahead",
                format!("{w:?}"),
                format!("above 0 and below l1_ttl ({:?})", self.l1_ttl),
            ));
        }
        if let Some(g) = self.stale_if_error
            && g > Duration::from_secs(86_400)
        {
            return Err(invalid("stale_if_error", format!("{g:?}"), "0..=1 day"));
        }
        if let Some(prefix) = &self.prefix {
            crate::key::validate_prefix(prefix)?;
        }
        self.flight.validate()?;
        self.timeouts.validate()?;
        if let Some(soft) = self.timeouts.soft
            && self.stale_if_error.is_none()
        {
            return Err(invalid(
                "soft_timeout",
                format!("{soft:?}"),
                crate::load_options::SOFT_NEEDS_STALE,
            ));
        }
        self.storage
            .validate::<C>(self.negative_ttl, self.format_version)
    }

    /// Validates the settings, opens the tiers and returns the cache.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming the field out of range,
    /// [`Error::L2Unavailable`](crate::Error::L2Unavailable) when `require_l2` is set and Redis
    /// does not answer, [`Error::Disk`](crate::Error::Disk) when the disk file cannot be opened.
    pub async fn build(self) -> Result<Cache<V, C>> {
        self.validate()?;
        let backend = self.backend.clone().build().await?;
        Cache::on_backend(self, &backend)
    }

    /// Builds this cache as a view on a shared [`Backend`]: no connection or file is opened,
    /// and no runtime is needed. The view has its own key prefix (required, see
    /// [`prefix`](Self::prefix)), value type, codec and TTLs; the backend's L1 budget, Redis
    /// connection, disk file and metrics task are shared.
    ///
    /// ```
    /// use perf_cache::{Backend, Cache};
    ///
    /// let users = Cache::<String>::builder().prefix("user").build_on(Backend::in_memory()).unwrap();
    /// assert_eq!(users.namespace(), "default:user");
    /// // Backend-level settings belong to the backend's own builder.
    /// let err = Cache::<String>::builder().prefix("x").l1_max_entries(5).build_on(Backend::in_memory());
    /// assert!(err.unwrap_err().to_string().contains("l1_max_entries"));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming the field out of range, a missing
    /// `prefix`, or a backend-level setting (set those on [`Backend::builder`]).
    pub fn build_on(self, backend: &Backend) -> Result<Cache<V, C>> {
        if let Some(field) = self.backend_setter {
            return Err(invalid(
                field,
                "set on a view of a shared backend",
                "only on Backend::builder() (a backend setting)",
            ));
        }
        if self.prefix.is_none() {
            return Err(invalid(
                "prefix",
                "none",
                "1 to 64 characters from [A-Za-z0-9_.-]; required for a view of a shared backend",
            ));
        }
        self.validate()?;
        Cache::on_backend(self, backend)
    }
}
