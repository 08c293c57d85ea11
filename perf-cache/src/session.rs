//! [`SessionStore`]: sessions on the shared tier (Redis), so service instances stay stateless.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::{self, Decoded};
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
pub struct SessionStore<S> {
    tier: Arc<RedisTier>,
    namespace: String,
    ttl: Duration,
    sliding: bool,
    decode_failures: Arc<Counter>,
    log: Arc<RateLimitedLog>,
    _session: PhantomData<fn() -> S>,
}

impl<S> Clone for SessionStore<S> {
    fn clone(&self) -> Self {
        Self {
            tier: Arc::clone(&self.tier),
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
    _session: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for SessionStoreBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStoreBuilder")
            .field("url", &self.redis.url.as_deref().map(crate::redact_url))
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .field("sliding", &self.sliding)
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
            _session: PhantomData,
        }
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

    fn unavailable(&self, e: TierError) -> Error {
        let message = match e {
            TierError::Failed(m) => m,
            TierError::Skipped(_) => "circuit breaker open".to_owned(),
        };
        Error::L2Unavailable {
            url: self.tier.url().to_owned(),
            message,
        }
    }

    /// The session `id`, or `None` if absent, expired or unreadable (unreadable ones are
    /// logged and counted). With sliding expiry the session's TTL restarts, in Redis and in the
    /// stored value's envelope, in the same round trip as the read (one `EVAL`).
    ///
    /// # Errors
    /// [`Error::L2Unavailable`] when Redis fails.
    pub async fn get(&self, id: &str) -> Result<Option<S>> {
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
        let bytes: Option<Vec<u8>> = self
            .tier
            .query(cmd)
            .await
            .map_err(|e| self.unavailable(e))?;
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
        Ok(None)
    }

    /// Stores the session for the store's TTL.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::ValueTooLarge`] (over 1 MiB), or [`Error::L2Unavailable`].
    pub async fn set(&self, id: &str, session: &S) -> Result<()> {
        let bytes = envelope::encode_entry(
            &Json,
            0,
            Some(session),
            self.ttl,
            crate::DEFAULT_MAX_VALUE_SIZE,
        )?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(id)).arg(bytes).arg("PX").arg(px(self.ttl));
        self.tier
            .query::<redis::Value>(cmd)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    /// Removes the session.
    ///
    /// # Errors
    /// [`Error::L2Unavailable`] when Redis fails.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let mut cmd = redis::cmd("UNLINK");
        cmd.arg(self.key(id));
        self.tier
            .query::<redis::Value>(cmd)
            .await
            .map_err(|e| self.unavailable(e))?;
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

    /// Per-command timeout. Default 500 ms. From 1 ms to 60 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.redis.timeout = timeout;
        self
    }

    /// Validates the settings and prepares the connection (made lazily on first use).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field out of range.
    pub async fn build(self) -> Result<SessionStore<S>> {
        crate::key::validate_namespace(&self.namespace)?;
        let Some(url) = self.redis.url.clone() else {
            return Err(crate::error::invalid(
                "redis_url",
                "none",
                "a redis:// URL (required)",
            ));
        };
        if self.ttl < Duration::from_secs(1) || self.ttl > Duration::from_secs(365 * 86_400) {
            return Err(crate::error::invalid(
                "ttl",
                format!("{:?}", self.ttl),
                "1 s..=1 year",
            ));
        }
        self.redis.validate_timeout("timeout")?;
        let tier = RedisTier::connect(&self.namespace, &url, &self.redis).await?;
        Ok(SessionStore {
            tier: Arc::new(tier),
            namespace: self.namespace,
            ttl: self.ttl,
            sliding: self.sliding,
            decode_failures: Arc::default(),
            log: Arc::new(RateLimitedLog::new(Duration::from_secs(10))),
            _session: PhantomData,
        })
    }
}
