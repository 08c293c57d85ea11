//! A multi-tier cache for async services: moka in process (L1), Redis (L2), local disk (L3).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod cache;
mod codec;
mod error;
mod flight;
mod key;
mod l1;
mod redact;
mod stats;
mod tier;

#[cfg(feature = "redis")]
mod breaker;
#[cfg(feature = "disk")]
mod disk;
#[cfg(feature = "redis")]
mod redis_tier;
#[cfg(feature = "redis")]
mod session;

pub use builder::{CacheBuilder, DEFAULT_MAX_VALUE_SIZE};
pub use cache::Cache;
pub use codec::{Codec, CodecError, Json, Postcard};
pub use error::{Error, Result};
pub use key::{Key, KeyArg};
pub use redact::redact_url;
#[cfg(feature = "redis")]
pub use session::{SessionStore, SessionStoreBuilder};
pub use stats::{CacheStats, TierStats};
