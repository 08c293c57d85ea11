//! [`CacheBuilder`]: every setting of a [`Cache`], with the seed's defaults.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::config;
use crate::{Cache, Codec, Postcard, Result};

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
    pub(crate) namespace: Option<String>,
    pub(crate) l1_max_entries: u64,
    pub(crate) l1_max_bytes: Option<u64>,
    pub(crate) l1_ttl: Duration,
    pub(crate) l2_ttl: Duration,
    pub(crate) l3_ttl: Duration,
    #[cfg(feature = "redis")]
    pub(crate) redis: crate::tiers::redis::RedisOptions,
    #[cfg(feature = "disk")]
    pub(crate) disk_path: Option<std::path::PathBuf>,
    #[cfg(feature = "disk")]
    pub(crate) disk_max_entries: u64,
    pub(crate) codec: C,
    pub(crate) format_version: u32,
    pub(crate) max_value_size: Option<usize>,
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) refresh_ahead: Option<Duration>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) metrics_interval: Option<Duration>,
    pub(crate) _value: PhantomData<fn() -> V>,
}

impl<V, C: std::fmt::Debug> std::fmt::Debug for CacheBuilder<V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("CacheBuilder");
        d.field("namespace", &self.namespace)
            .field("l1_max_entries", &self.l1_max_entries)
            .field("l1_max_bytes", &self.l1_max_bytes)
            .field("l1_ttl", &self.l1_ttl)
            .field("l2_ttl", &self.l2_ttl)
            .field("l3_ttl", &self.l3_ttl);
        #[cfg(feature = "redis")]
        d.field(
            "redis_url",
            &self.redis.url.as_deref().map(crate::redact_url),
        );
        #[cfg(feature = "disk")]
        d.field("disk_path", &self.disk_path)
            .field("disk_max_entries", &self.disk_max_entries);
        d.field("codec", &self.codec)
            .field("format_version", &self.format_version)
            .finish_non_exhaustive()
    }
}

/// Default maximum encoded value size: 1 MiB.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1 << 20;

impl<V> CacheBuilder<V, Postcard> {
    pub(crate) fn new() -> Self {
        Self {
            namespace: None,
            l1_max_entries: 1_000,
            l1_max_bytes: None,
            l1_ttl: Duration::from_secs(60),
            l2_ttl: Duration::from_secs(3_600),
            l3_ttl: Duration::from_secs(86_400),
            #[cfg(feature = "redis")]
            redis: crate::tiers::redis::RedisOptions::default(),
            #[cfg(feature = "disk")]
            disk_path: None,
            #[cfg(feature = "disk")]
            disk_max_entries: crate::tiers::disk::DEFAULT_MAX_ENTRIES,
            codec: Postcard,
            format_version: 0,
            max_value_size: None,
            negative_ttl: None,
            refresh_ahead: None,
            stale_if_error: None,
            metrics_interval: Some(Duration::from_secs(1)),
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
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// L1 capacity in entries. Default 1,000. `0` turns L1 off (every read goes to L2/L3, for
    /// data that must not be served from a per-instance copy). Ignored when
    /// [`l1_max_bytes`](Self::l1_max_bytes) is set.
    pub fn l1_max_entries(mut self, entries: u64) -> Self {
        self.l1_max_entries = entries;
        self
    }

    /// Sizes L1 by weight instead of entries: the sum of the values' encoded sizes (with this
    /// cache's codec, envelope included) stays under `bytes`. Default: unset (sized by entries).
    /// Each value is then encoded once on insert to weigh it.
    pub fn l1_max_bytes(mut self, bytes: u64) -> Self {
        self.l1_max_bytes = Some(bytes);
        self
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
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis.url = Some(url.into());
        #[cfg(feature = "redis-cluster")]
        self.redis.cluster_urls.clear();
        self
    }

    /// Adds L2 on a Redis Cluster, given one or more seed nodes (`redis://host:port` each);
    /// the slot map is discovered from them. Replaces [`redis_url`](Self::redis_url).
    #[cfg(feature = "redis-cluster")]
    pub fn redis_cluster_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cluster_urls: Vec<String> = urls.into_iter().map(Into::into).collect();
        self.redis.url = Some(cluster_urls.first().cloned().unwrap_or_default());
        self.redis.cluster_urls = cluster_urls;
        self
    }

    /// For `rediss://` URLs: trust these PEM root certificates (a private CA) instead of the
    /// system's. Default: the system store.
    #[cfg(feature = "redis-tls")]
    pub fn redis_root_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.redis.root_cert = Some(pem.into());
        self
    }

    /// Fail `build` with [`Error::L2Unavailable`](crate::Error::L2Unavailable) when Redis does
    /// not answer a `PING`. Default `false`: the cache starts without Redis and picks it up later.
    #[cfg(feature = "redis")]
    pub fn require_l2(mut self, require: bool) -> Self {
        self.redis.require = require;
        self
    }

    /// Connect and per-command timeout for Redis. Default 250 ms. From 1 ms to 60 s. A command
    /// that exceeds it counts as a failure (and as a miss).
    #[cfg(feature = "redis")]
    pub fn redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis.timeout = timeout;
        self
    }

    /// Consecutive Redis outages (I/O errors, timeouts, dropped connections; not error replies
    /// such as `WRONGTYPE`) that open the circuit breaker. Default 5. From 1 to 1,000.
    #[cfg(feature = "redis")]
    pub fn breaker_threshold(mut self, failures: u32) -> Self {
        self.redis.breaker_threshold = failures;
        self
    }

    /// How long the open breaker skips Redis before letting one probe through. Default 5 s.
    /// Up to 1 hour.
    #[cfg(feature = "redis")]
    pub fn breaker_cooldown(mut self, cooldown: Duration) -> Self {
        self.redis.breaker_cooldown = cooldown;
        self
    }

    /// Adds L3: a redb file at `path` (created if missing). Default: no L3. One cache per file.
    #[cfg(feature = "disk")]
    pub fn disk_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.disk_path = Some(path.into());
        self
    }

    /// Most rows the disk file holds. Default 100,000. From 1 to 1,000,000,000. A write that
    /// goes over it evicts the rows that expire soonest (with one TTL: the oldest).
    #[cfg(feature = "disk")]
    pub fn disk_max_entries(mut self, entries: u64) -> Self {
        self.disk_max_entries = entries;
        self
    }

    /// Replaces the codec used for L2/L3 (default [`Postcard`]); e.g. [`Json`](crate::Json) for
    /// values other languages' services read.
    pub fn codec<C2: Codec>(self, codec: C2) -> CacheBuilder<V, C2> {
        CacheBuilder {
            namespace: self.namespace,
            l1_max_entries: self.l1_max_entries,
            l1_max_bytes: self.l1_max_bytes,
            l1_ttl: self.l1_ttl,
            l2_ttl: self.l2_ttl,
            l3_ttl: self.l3_ttl,
            #[cfg(feature = "redis")]
            redis: self.redis,
            #[cfg(feature = "disk")]
            disk_path: self.disk_path,
            #[cfg(feature = "disk")]
            disk_max_entries: self.disk_max_entries,
            codec,
            format_version: self.format_version,
            max_value_size: self.max_value_size,
            negative_ttl: self.negative_ttl,
            refresh_ahead: self.refresh_ahead,
            stale_if_error: self.stale_if_error,
            metrics_interval: self.metrics_interval,
            _value: PhantomData,
        }
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

    /// How often a background task publishes the statistics through the `metrics` facade.
    /// Default every 1 s (only when built inside a tokio runtime); `None` publishes only when
    /// [`Cache::stats`] is called. From 10 ms to 1 hour.
    pub fn metrics_interval(mut self, interval: Option<Duration>) -> Self {
        self.metrics_interval = interval;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        const YEAR: Duration = Duration::from_secs(365 * 86_400);
        let ttl_range = |field: &'static str, d: Duration| {
            if d < Duration::from_millis(1) || d > YEAR {
                Err(config(
                    field,
                    format!("must be between 1 ms and 1 year, got {d:?}"),
                ))
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
        if self.l1_max_bytes == Some(0) {
            return Err(config("l1_max_bytes", "must be at least 1"));
        }
        if let Some(m) = self.max_value_size
            && !(16..=512 << 20).contains(&m)
        {
            return Err(config(
                "max_value_size",
                format!("must be between 16 bytes and 512 MiB, got {m}"),
            ));
        }
        if let Some(w) = self.refresh_ahead
            && (w.is_zero() || w >= self.l1_ttl)
        {
            return Err(config(
                "refresh_ahead",
                format!(
                    "must be above 0 and below l1_ttl ({:?}), got {w:?}",
                    self.l1_ttl
                ),
            ));
        }
        if let Some(g) = self.stale_if_error
            && g > Duration::from_secs(86_400)
        {
            return Err(config(
                "stale_if_error",
                format!("must be at most 1 day, got {g:?}"),
            ));
        }
        if let Some(i) = self.metrics_interval
            && (i < Duration::from_millis(10) || i > Duration::from_secs(3_600))
        {
            return Err(config(
                "metrics_interval",
                format!("must be between 10 ms and 1 hour, got {i:?}"),
            ));
        }
        #[cfg(feature = "redis")]
        {
            if self.redis.timeout < Duration::from_millis(1)
                || self.redis.timeout > Duration::from_secs(60)
            {
                return Err(config(
                    "redis_timeout",
                    format!(
                        "must be between 1 ms and 60 s, got {:?}",
                        self.redis.timeout
                    ),
                ));
            }
            if !(1..=1_000).contains(&self.redis.breaker_threshold) {
                return Err(config(
                    "breaker_threshold",
                    format!(
                        "must be between 1 and 1000, got {}",
                        self.redis.breaker_threshold
                    ),
                ));
            }
            if self.redis.breaker_cooldown > Duration::from_secs(3_600) {
                return Err(config(
                    "breaker_cooldown",
                    format!(
                        "must be at most 1 hour, got {:?}",
                        self.redis.breaker_cooldown
                    ),
                ));
            }
        }
        #[cfg(feature = "disk")]
        if !(1..=1_000_000_000).contains(&self.disk_max_entries) {
            return Err(crate::error::invalid_config(
                "disk_max_entries",
                self.disk_max_entries,
                "1..=1000000000",
            ));
        }
        match &self.namespace {
            Some(ns) => crate::key::validate_namespace(ns),
            None if self.has_lower_tier() => Err(config(
                "namespace",
                "is required when L2 (Redis) or L3 (disk) is configured",
            )),
            None => Ok(()),
        }
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

    /// Validates the settings, opens the tiers and returns the cache.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) naming the field out of range,
    /// [`Error::L2Unavailable`](crate::Error::L2Unavailable) when `require_l2` is set and Redis
    /// does not answer, [`Error::Disk`](crate::Error::Disk) when the disk file cannot be opened.
    pub async fn build(self) -> Result<Cache<V, C>> {
        self.validate()?;
        Cache::from_builder(self).await
    }
}
