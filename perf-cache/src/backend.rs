//! The backend: what a cache's tiers below L1 are made of. For now it opens L2 (Redis) and
//! L3 (disk) for one cache; it grows into the per-namespace backend that typed caches share.

use crate::tiers::{L2, L3};

/// The lower tiers of one cache.
pub(crate) struct Backend {
    pub(crate) l2: Option<L2>,
    pub(crate) l3: Option<L3>,
}

impl Backend {
    /// Opens the tiers the builder configured: Redis (lazily connected unless required) and
    /// the disk file.
    pub(crate) async fn open<V, C>(
        namespace: &str,
        b: &crate::CacheBuilder<V, C>,
    ) -> crate::Result<Self> {
        #[cfg(not(feature = "redis"))]
        let _ = namespace;
        #[cfg(not(any(feature = "redis", feature = "disk")))]
        let _ = b;
        #[allow(unused_mut)]
        let mut l2: Option<L2> = None;
        #[cfg(feature = "redis")]
        if let Some(url) = &b.redis.url {
            l2 = Some(crate::tiers::redis::RedisTier::connect(namespace, url, &b.redis).await?);
        }
        #[allow(unused_mut)]
        let mut l3: Option<L3> = None;
        #[cfg(feature = "disk")]
        if let Some(path) = &b.disk_path {
            l3 = Some(crate::tiers::disk::DiskTier::open(path, b.disk_max_entries).await?);
        }
        Ok(Self { l2, l3 })
    }
}
