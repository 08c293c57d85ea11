//! The process-wide default [`Backend`] that `#[cached]` functions use unless told otherwise.

use std::sync::OnceLock;

use crate::Backend;

static INSTALLED: OnceLock<Backend> = OnceLock::new();

impl Backend {
    /// Makes this backend the process default: every `#[cached]` function without a `backend`
    /// or `cache` option builds its view on it the first time it runs. Call it once at
    /// start-up, before the first cached call; a function that already ran keeps the backend it
    /// started with. All macro caches then share this one backend: one Redis connection, one L1
    /// budget.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// use perf_cache::Backend;
    /// let backend = Backend::builder().namespace("shop").build().await?;
    /// backend.install_default().expect("installed once");
    /// assert_eq!(Backend::default_backend().namespace(), "shop");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Returns the backend back when a default was installed before.
    pub fn install_default(self) -> Result<(), Backend> {
        INSTALLED.set(self)
    }

    /// The default backend: the one installed with [`install_default`](Self::install_default),
    /// else the in-memory [`Backend::in_memory`].
    ///
    /// ```
    /// let backend = perf_cache::Backend::default_backend();
    /// assert!(!backend.namespace().is_empty());
    /// ```
    #[must_use]
    pub fn default_backend() -> &'static Backend {
        INSTALLED.get().unwrap_or_else(|| Backend::in_memory())
    }

    /// Builds a backend from the environment and installs it as the default: Redis at
    /// `REDIS_URL` when that variable is set (feature `redis`), the namespace from
    /// `PERF_CACHE_NAMESPACE` (default `"default"`), the builder's defaults otherwise. Returns
    /// the installed backend.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
    /// // In memory when REDIS_URL is unset; L1 + Redis at REDIS_URL when it is set.
    /// let backend = perf_cache::Backend::install_default_from_env().await?;
    /// assert_eq!(perf_cache::Backend::default_backend().namespace(), backend.namespace());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`BackendBuilder::build`](crate::BackendBuilder::build), and
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for field `default backend` when a
    /// default was already installed.
    pub async fn install_default_from_env() -> crate::Result<Backend> {
        let namespace =
            std::env::var("PERF_CACHE_NAMESPACE").unwrap_or_else(|_| "default".to_owned());
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut builder = Backend::builder().namespace(namespace);
        #[cfg(feature = "redis")]
        if let Ok(url) = std::env::var("REDIS_URL") {
            builder = builder.redis_url(url);
        }
        let backend = builder.build().await?;
        backend.clone().install_default().map_err(|_| {
            crate::error::invalid(
                "default backend",
                "a second install",
                "one install per process, before the first cached call",
            )
        })?;
        Ok(backend)
    }
}
