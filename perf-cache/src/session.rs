//! [`SessionStore`]: sessions on the shared tier (Redis), so service instances stay stateless.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::{self, Decoded};
use crate::session_memory::MemorySessions;
use crate::stats::Counter;
use crate::tiers::redis::{RedisOptions, RedisTier, px};
use crate::tiers::{RateLimitedLog, TierError};
use crate::{Error, Json, Key, Result, SessionStats};

/// Sliding read: the value, and when there is one its TTL restarted and the expiry in its
/// envelope rewritten in place (`SETRANGE` keeps the TTL), in one round trip. The envelope is
/// only patched when it is an envelope this version reads (at least the v2 header's 42 bytes,
/// our magic byte, writer version 2 or later, minimum-reader version 2..=ours), at the v2
/// header's expiry field (bytes 12..20).
const SLIDING_GET: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  local r = string.byte(v, 3)
  if #v >= tonumber(ARGV[5]) and #v >= tonumber(ARGV[2]) + 8
    and string.byte(v, 1) == tonumber(ARGV[4]) and string.byte(v, 2) >= 2
    and r >= 2 and r <= tonumber(ARGV[6]) then
    redis.call('SETRANGE', KEYS[1], ARGV[2], ARGV[3])
  end
end
return v
";

/// Session data of type `S` in Redis under `<namespace>:<session id>`, JSON-encoded (with the
/// envelope) so services in other languages can read it, each with a time to live that can
/// slide forward on every read.
///
/// Unlike [`Cache`](crate::Cache), a session store is the source of truth, so Redis failures are
/// returned as [`Error::L2Unavailable`] rather than read as misses. A stored session that cannot
/// be decoded (another format, corrupt bytes) reads as absent, but it is logged (at most one
/// warning per 10 s, naming the namespace and the reason, never the session id or its data) and
/// counted in [`SessionStore::stats`] and the `cache_session_decode_failures_total` counter.
///
/// Redis is reached the way [`CacheBuilder`](crate::CacheBuilder) reaches it, with the same
/// options: a standalone server (`redis://`, or `rediss://` with feature `redis-tls` and
/// optionally a private CA) or a Redis Cluster (feature `redis-cluster`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
/// use std::time::Duration;
/// use perf_cache::SessionStore;
///
/// let sessions = SessionStore::<Vec<String>>::builder()
///     .redis_url(url)
///     .namespace(format!("sessions-{}", std::process::id()))
///     .ttl(Duration::from_secs(1800))
///     .sliding(true)
///     .build()
///     .await?;
/// sessions.set("s-1", &vec!["admin".to_owned()]).await?;
/// assert_eq!(sessions.get("s-1").await?, Some(vec!["admin".to_owned()]));
/// sessions.delete("s-1").await?;
/// assert_eq!(sessions.get("s-1").await?, None);
/// # Ok(()) }
/// ```
///
/// **In-process mode** ([`SessionStoreBuilder::in_process`]): for a single instance with no
/// Redis, the same API over a bounded map in this process (TTL and sliding expiry honoured;
/// when full, expired sessions go first, then the one closest to expiry). Nothing is shared
/// with other instances or survives a restart, and no call ever fails for want of Redis.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use std::time::Duration;
/// use perf_cache::SessionStore;
///
/// let sessions = SessionStore::<String>::builder()
///     .in_process(10_000) // at most 10,000 sessions
///     .ttl(Duration::from_secs(3600))
///     .sliding(true)
///     .build()
///     .await?;
/// sessions.set("s-1", &"ada".to_owned()).await?;
/// assert_eq!(sessions.get("s-1").await?.as_deref(), Some("ada"));
/// sessions.delete("s-1").await?;
/// assert_eq!(sessions.get("s-1").await?, None);
/// assert!(sessions.is_in_process());
/// # Ok(()) }
/// ```
pub struct SessionStore<S> {
    tier: Tier,
    namespace: String,
    ttl: Duration,
    sliding: bool,
    decode_failures: Arc<Counter>,
    log: Arc<RateLimitedLog>,
    _session: PhantomData<fn() -> S>,
}

/// Where a [`SessionStore`] keeps its sessions.
#[derive(Clone, Debug)]
enum Tier {
    Redis(Arc<RedisTier>),
    Memory(Arc<MemorySessions>),
}

impl<S> Clone for SessionStore<S> {
    fn clone(&self) -> Self {
        Self {
            tier: self.tier.clone(),
            namespace: self.namespace.clone(),
            ttl: self.ttl,
            sliding: self.sliding,
            decode_failures: Arc::clone(&self.decode_failures),
            log: Arc::clone(&self.log),
            _session: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for SessionStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("tier", &self.tier)
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .field("sliding", &self.sliding)
            .finish()
    }
}

/// Builds a [`SessionStore`]; obtain one with [`SessionStore::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct SessionStoreBuilder<S> {
    /// The cache's own connection options (URL or cluster seeds, private CA, timeout).
    redis: RedisOptions,
    namespace: String,
    ttl: Duration,
    sliding: bool,
    /// `Some(max_sessions)`: the in-process mode.
    in_process: Option<usize>,
    _session: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for SessionStoreBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStoreBuilder")
            .field("url", &self.redis.url.as_deref().map(crate::redact_url))
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .field("sliding", &self.sliding)
            .field("in_process", &self.in_process)
            .finish_non_exhaustive()
    }
}

impl<S: Serialize + DeserializeOwned + Send + Sync + 'static> SessionStore<S> {
    /// Starts a builder: namespace `"sessions"`, TTL 30 minutes, fixed (not sliding) expiry,
    /// 500 ms command timeout.
    pub fn builder() -> SessionStoreBuilder<S> {
        SessionStoreBuilder {
            redis: RedisOptions {
                timeout: Duration::from_millis(500),
                breaker_cooldown: Duration::from_secs(1),
                ..RedisOptions::default()
            },
            namespace: "sessions".to_owned(),
            ttl: Duration::from_secs(1_800),
            sliding: false,
            in_process: None,
            _session: PhantomData,
        }
    }

    /// Whether this store keeps its sessions in this process
    /// ([`SessionStoreBuilder::in_process`]) rather than in Redis.
    #[must_use]
    pub fn is_in_process(&self) -> bool {
        matches!(self.tier, Tier::Memory(_))
    }

    /// Statistics since the store was built.
    #[must_use]
    pub fn stats(&self) -> SessionStats {
        SessionStats {
            decode_failures: self.decode_failures.get(),
        }
    }

    fn key(&self, id: &str) -> Vec<u8> {
        crate::key::full_key(&self.namespace, &Key::new(id))
    }

    fn unavailable(tier: &RedisTier, e: TierError) -> Error {
        let message = match e {
            TierError::Failed(m) => m,
            TierError::Skipped(_) => "circuit breaker open".to_owned(),
        };
        Error::L2Unavailable {
            url: tier.url().to_owned(),
            message,
        }
    }

    /// A stored session that cannot be decoded: counted and logged, read as absent.
    fn undecodable(&self, reason: &str) -> Option<S> {
        self.decode_failures.incr();
        metrics::counter!("cache_session_decode_failures_total", "namespace" => self.namespace.clone())
            .increment(1);
        self.log.warn(
            &self.namespace,
            "l2",
            "session_decode",
            "",
            &format!("stored session could not be decoded ({reason}); read as absent"),
        );
        None
    }

    /// The session `id`, or `None` if absent, expired or unreadable (unreadable ones are
    /// logged and counted). With sliding expiry the session's TTL restarts, in Redis and in the
    /// stored value's envelope, in the same round trip as the read (one `EVAL`).
    ///
    /// # Errors
    /// [`Error::L2Unavailable`] when Redis fails.
    pub async fn get(&self, id: &str) -> Result<Option<S>> {
        let tier = match &self.tier {
            Tier::Redis(tier) => tier,
            Tier::Memory(memory) => {
                let Some(json) = memory.get(id, self.ttl, self.sliding) else {
                    return Ok(None);
                };
                return Ok(match crate::session_memory::decode(&json) {
                    Ok(session) => Some(session),
                    Err(reason) => self.undecodable(&reason),
                });
            }
        };
        let key = self.key(id);
        let cmd = if self.sliding {
            let (offset, expiry) = envelope::expiry_patch(self.ttl);
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(SLIDING_GET)
                .arg(1)
                .arg(&key)
                .arg(px(self.ttl))
                .arg(offset)
                .arg(&expiry[..])
                .arg(envelope::MAGIC)
                .arg(envelope::MIN_HEADER_LEN)
                .arg(envelope::ENVELOPE_VERSION);
            cmd
        } else {
            let mut cmd = redis::cmd("GET");
            cmd.arg(&key);
            cmd
        };
        let bytes: Option<Vec<u8>> = tier
            .query(cmd)
            .await
            .map_err(|e| Self::unavailable(tier, e))?;
        let Some(mut bytes) = bytes else {
            return Ok(None);
        };
        if self.sliding {
            // Keep the envelope's expiry in step with Redis's.
            envelope::set_expiry(&mut bytes, self.ttl);
        }
        let reason = match envelope::decode_entry::<Json, S>(&Json, 0, &bytes) {
            Decoded::Value(v, _) => return Ok(Some(v)),
            // Redis expires sessions itself; an envelope that says so only lags behind it.
            Decoded::Miss(envelope::MissReason::Expired) => return Ok(None),
            Decoded::Miss(reason) => format!("{reason:?}"),
            Decoded::Negative(_) => "negative entry".to_owned(),
        };
        Ok(self.undecodable(&reason))
    }

    /// Stores the session for the store's TTL.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::ValueTooLarge`] (over 1 MiB), or [`Error::L2Unavailable`].
    pub async fn set(&self, id: &str, session: &S) -> Result<()> {
        let tier = match &self.tier {
            Tier::Redis(tier) => tier,
            Tier::Memory(memory) => {
                let json = crate::session_memory::encode(session, crate::DEFAULT_MAX_VALUE_SIZE)?;
                memory.set(id, json, self.ttl);
                return Ok(());
            }
        };
        let bytes = envelope::encode_entry(
            &Json,
            0,
            Some(session),
            self.ttl,
            crate::DEFAULT_MAX_VALUE_SIZE,
        )?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(id)).arg(bytes).arg("PX").arg(px(self.ttl));
        tier.query::<redis::Value>(cmd)
            .await
            .map_err(|e| Self::unavailable(tier, e))?;
        Ok(())
    }

    /// Removes the session.
    ///
    /// # Errors
    /// [`Error::L2Unavailable`] when Redis fails.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let tier = match &self.tier {
            Tier::Redis(tier) => tier,
            Tier::Memory(memory) => {
                memory.delete(id);
                return Ok(());
            }
        };
        let mut cmd = redis::cmd("UNLINK");
        cmd.arg(self.key(id));
        tier.query::<redis::Value>(cmd)
            .await
            .map_err(|e| Self::unavailable(tier, e))?;
        Ok(())
    }
}

impl<S: Serialize + DeserializeOwned + Send + Sync + 'static> SessionStoreBuilder<S> {
    /// Redis URL (`redis://[user:password@]host:port/db`, or `rediss://` with feature
    /// `redis-tls`). Required, unless [`redis_cluster_urls`](Self::redis_cluster_urls) is set.
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis.set_url(url.into());
        self
    }

    /// Sessions on a Redis Cluster, given one or more seed nodes (`redis://host:port` each),
    /// as [`CacheBuilder::redis_cluster_urls`](crate::CacheBuilder::redis_cluster_urls).
    /// Replaces [`redis_url`](Self::redis_url).
    #[cfg(feature = "redis-cluster")]
    pub fn redis_cluster_urls<I, T>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.redis
            .set_cluster_urls(urls.into_iter().map(Into::into).collect());
        self
    }

    /// For `rediss://` URLs: trust these PEM root certificates (a private CA) instead of the
    /// system's, as [`CacheBuilder::redis_root_cert_pem`](crate::CacheBuilder::redis_root_cert_pem).
    /// Default: the system store.
    #[cfg(feature = "redis-tls")]
    pub fn redis_root_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.redis.root_cert = Some(pem.into());
        self
    }

    /// Key prefix, 1 to 64 characters from `[A-Za-z0-9_.-]`. Default `"sessions"`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Session lifetime. Default 30 minutes. From 1 s to 1 year.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sliding expiry: every `get` restarts the TTL, in Redis and in the stored envelope, in
    /// the same round trip as the read (one `EVAL`; see [`SessionStore::get`]). Default
    /// `false`.
    pub fn sliding(mut self, sliding: bool) -> Self {
        self.sliding = sliding;
        self
    }

    /// In-process mode: keep at most `max_sessions` (1 to 10,000,000) sessions in a map of
    /// this process instead of Redis, for a single instance without Redis (see
    /// [`SessionStore`], "In-process mode"). Excludes a Redis URL. Default: off.
    pub fn in_process(mut self, max_sessions: usize) -> Self {
        self.in_process = Some(max_sessions);
        self
    }

    /// Per-command timeout. Default 500 ms. From 1 ms to 60 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.redis.timeout = timeout;
        self
    }

    /// Validates the settings and prepares the connection (made lazily on first use).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field out of range (or a Redis URL given with
    /// [`in_process`](Self::in_process)).
    pub async fn build(self) -> Result<SessionStore<S>> {
        crate::key::validate_namespace(&self.namespace)?;
        if let Some(max) = self.in_process {
            return self.build_in_process(max);
        }
        let Some(url) = self.redis.url.clone() else {
            return Err(crate::error::invalid(
                "redis_url",
                "none",
                "a redis:// URL (required)",
            ));
        };
        self.validate_ttl()?;
        self.redis.validate_timeout("timeout")?;
        let tier = RedisTier::connect(&self.namespace, &url, &self.redis).await?;
        Ok(SessionStore {
            tier: Tier::Redis(Arc::new(tier)),
            namespace: self.namespace,
            ttl: self.ttl,
            sliding: self.sliding,
            decode_failures: Arc::default(),
            log: Arc::new(RateLimitedLog::new(Duration::from_secs(10))),
            _session: PhantomData,
        })
    }

    fn build_in_process(self, max: usize) -> Result<SessionStore<S>> {
        if self.redis.url.is_some() {
            return Err(crate::error::invalid(
                "in_process",
                "set with a Redis URL",
                "either in_process or a Redis URL",
            ));
        }
        if !(1..=crate::session_memory::MAX_SESSIONS_LIMIT).contains(&max) {
            return Err(crate::error::invalid(
                "in_process",
                max,
                "1..=10000000 sessions",
            ));
        }
        self.validate_ttl()?;
        Ok(SessionStore {
            tier: Tier::Memory(Arc::new(MemorySessions::new(max))),
            namespace: self.namespace,
            ttl: self.ttl,
            sliding: self.sliding,
            decode_failures: Arc::default(),
            log: Arc::new(RateLimitedLog::new(Duration::from_secs(10))),
            _session: PhantomData,
        })
    }

    fn validate_ttl(&self) -> Result<()> {
        if self.ttl < Duration::from_secs(1) || self.ttl > Duration::from_secs(365 * 86_400) {
            return Err(crate::error::invalid(
                "ttl",
                format!("{:?}", self.ttl),
                "1 s..=1 year",
            ));
        }
        Ok(())
    }
}
