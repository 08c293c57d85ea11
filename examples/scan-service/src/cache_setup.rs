//! The cache backend. (Owner: helper "svc". Skeleton.)

use crate::config::Config;
use crate::serve::StartError;

/// Builds the service's cache backend and installs it as the process default that
/// `#[cached]` functions use.
///
/// # Errors
/// [`StartError::Cache`].
pub async fn build_backend(config: &Config) -> Result<perf_cache::Backend, StartError> {
    let backend = perf_cache::Backend::builder()
        .namespace(config.cache_namespace.clone())
        .build()
        .await?;
    Ok(backend)
}
