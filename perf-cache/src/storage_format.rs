//! [`StorageFormat`]: how a view writes its values into Redis, with the envelope (default) or
//! plain for sharing keys with services in other languages.

use std::time::Duration;

use crate::error::invalid;
use crate::{Codec, Postcard, Result};

/// How a view stores its values in Redis (L2); set with
/// [`CacheBuilder::storage_format`](crate::CacheBuilder::storage_format).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// use perf_cache::{Cache, Json, StorageFormat};
///
/// // Values another service (Python, Node, Go, ...) reads and writes as plain JSON.
/// let prices = Cache::<Vec<u32>>::builder()
///     .codec(Json)
///     .storage_format(StorageFormat::Plain)
///     .build()
///     .await?;
/// # drop(prices);
/// // Plain mode needs a self-describing codec: postcard is refused.
/// let err = Cache::<u32>::builder().storage_format(StorageFormat::Plain).build().await;
/// assert!(err.unwrap_err().to_string().contains("codec"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageFormat {
    /// The default: every value starts with this crate's envelope (version, codec, type
    /// fingerprint, absolute expiry, flags; see the crate docs), which only this crate reads.
    #[default]
    Envelope,
    /// The codec's bytes and nothing else (plain JSON with [`Json`](crate::Json)), so that
    /// services in other languages read and write the same keys. The time to live is kept by
    /// Redis (`SET key value PX ms`); an L2 hit reads the key's remaining time (`PTTL`) in the
    /// same round trip and the L1 copy lives no longer than that. Refuses the [`Postcard`]
    /// codec, [`negative_ttl`](crate::CacheBuilder::negative_ttl) and a non-zero
    /// [`format_version`](crate::CacheBuilder::format_version); skips L3 (disk). See the crate
    /// docs, "Plain mode (sharing keys with other languages)".
    Plain,
}

impl StorageFormat {
    /// Refuses the settings that mean nothing (or something wrong) in this format.
    pub(crate) fn validate<C: Codec>(
        self,
        negative_ttl: Option<Duration>,
        format_version: u32,
    ) -> Result<()> {
        if self != Self::Plain {
            return Ok(());
        }
        // Postcard is not self-describing: bytes another service wrote in another shape would
        // decode into wrong values instead of failing, and few other languages read it.
        if C::ID == Postcard::ID {
            return Err(invalid(
                "codec",
                C::NAME,
                "a self-describing codec (Json) with StorageFormat::Plain",
            ));
        }
        if let Some(ttl) = negative_ttl {
            return Err(invalid(
                "negative_ttl",
                format!("{ttl:?}"),
                "unset with StorageFormat::Plain (plain values have no header to mark \"not found\")",
            ));
        }
        if format_version != 0 {
            return Err(invalid(
                "format_version",
                format_version,
                "0 with StorageFormat::Plain (plain values carry no version)",
            ));
        }
        Ok(())
    }
}
