//! [`SessionStore`]: sessions on the shared tier (Redis), so service instances stay stateless.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::envelope::{self, Decoded};
use crate::tiers::TierError;
use crate::tiers::redis::{RedisOptions, RedisTier};
use crate::{Error, Json, Key, Result};

/// Session data of type `S` in Redis under `<namespace>:<session id>`, JSON-encoded (with the
/// envelope) so services in other languages can read it, each with a time to live that can
/// slide forward on every read.
///
/// Unlike [`Cache`](crate::Cache), a session store is the source of truth, so Redis failures are
/// returned as [`Error::L2Unavailable`] rather than read as misses.
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
    _session: PhantomData<fn() -> S>,
}

impl<S> Clone for SessionStore<S> {
    fn clone(&self) -> Self {
        Self {
            tier: Arc::clone(&self.tier),
            namespace: self.namespace.clone(),
            ttl: self.ttl,
            sliding: self.sliding,
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
    url: Option<String>,
    namespace: String,
    ttl: Duration,
    sliding: bool,
    timeout: Duration,
    _session: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for SessionStoreBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStoreBuilder")
            .field("url", &self.url.as_deref().map(crate::redact_url))
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .field("sliding", &self.sliding)
            .finish_non_exhaustive()
    }
}

impl<S: Serialize + DeserializeOwned + Send + Sync + 'static> SessionStore<S> {
    /// Starts a builder: namespace `"sessions"`, TTL 30 minutes, fixed (not sliding) expiry.
    pub fn builder() -> SessionStoreBuilder<S> {
        SessionStoreBuilder {
            url: None,
            namespace: "sessions".to_owned(),
            ttl: Duration::from_secs(1_800),
            sliding: false,
            timeout: Duration::from_millis(500),
            _session: PhantomData,
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

    /// The session `id`, or `None` if absent, expired or unreadable. With sliding expiry the
    /// session's TTL restarts (one `GETEX`).
    ///
    /// # Errors
    /// [`Error::L2Unavailable`] when Redis fails.
    pub async fn get(&self, id: &str) -> Result<Option<S>> {
        let key = self.key(id);
        let mut cmd = if self.sliding {
            redis::cmd("GETEX")
        } else {
            redis::cmd("GET")
        };
        cmd.arg(&key);
        if self.sliding {
            cmd.arg("PX")
                .arg(crate::clock::duration_ms(self.ttl).max(1));
        }
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
        Ok(match envelope::decode_entry::<Json, S>(&Json, 0, &bytes) {
            Decoded::Value(v, _) => Some(v),
            Decoded::Negative(_) | Decoded::Miss(_) => None,
        })
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
        cmd.arg(self.key(id))
            .arg(bytes)
            .arg("PX")
            .arg(crate::clock::duration_ms(self.ttl).max(1));
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
    /// Redis URL (`redis://[user:password@]host:port/db`). Required.
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
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

    /// Sliding expiry: every `get` restarts the TTL (one `GETEX`, Redis 6.2 or later).
    /// Default `false`.
    pub fn sliding(mut self, sliding: bool) -> Self {
        self.sliding = sliding;
        self
    }

    /// Per-command timeout. Default 500 ms. From 1 ms to 60 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the settings and prepares the connection (made lazily on first use).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field out of range.
    pub async fn build(self) -> Result<SessionStore<S>> {
        crate::key::validate_namespace(&self.namespace)?;
        let Some(url) = self.url else {
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
        if self.timeout < Duration::from_millis(1) || self.timeout > Duration::from_secs(60) {
            return Err(crate::error::invalid(
                "timeout",
                format!("{:?}", self.timeout),
                "1 ms..=60 s",
            ));
        }
        let options = RedisOptions {
            timeout: self.timeout,
            breaker_cooldown: Duration::from_secs(1),
            ..RedisOptions::default()
        };
        let tier = RedisTier::connect(&self.namespace, &url, &options).await?;
        Ok(SessionStore {
            tier: Arc::new(tier),
            namespace: self.namespace,
            ttl: self.ttl,
            sliding: self.sliding,
            _session: PhantomData,
        })
    }
}
