//! Value codecs: how values become bytes for the shared (Redis) and disk tiers.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Turns values into bytes for the shared (Redis) and disk tiers. L1 keeps values as they are.
///
/// Implement it to bring your own format; give it an [`ID`](Self::ID) of 16 or more (0–15 are
/// reserved for this crate). The ID is written into every stored value's envelope, so switching
/// codecs turns old entries into misses that are then overwritten.
///
/// ```
/// use perf_cache::{Codec, Json, Postcard};
///
/// let mut bytes = Vec::new();
/// Postcard.encode(&(1_u32, "a"), &mut bytes).unwrap();
/// let back: (u32, String) = Postcard.decode(&bytes).unwrap();
/// assert_eq!(back, (1, "a".to_owned()));
/// assert_ne!(Postcard::ID, Json::ID);
/// ```
pub trait Codec: Clone + fmt::Debug + Send + Sync + 'static {
    /// Written into the envelope; a stored value with another ID reads as a miss.
    const ID: u8;
    /// Shown in errors and logs.
    const NAME: &'static str;
    /// Appends the encoding of `value` to `out`.
    ///
    /// # Errors
    /// When the value cannot be represented in this format.
    fn encode<V: Serialize + ?Sized>(&self, value: &V, out: &mut Vec<u8>)
    -> Result<(), CodecError>;
    /// Decodes a whole value from `bytes`.
    ///
    /// # Errors
    /// When the bytes are not a valid encoding of `V`.
    fn decode<V: DeserializeOwned>(&self, bytes: &[u8]) -> Result<V, CodecError>;
}

/// A codec failure; the cache turns decode failures into misses.
#[derive(Debug, Clone)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// The default codec: [postcard](https://docs.rs/postcard), a compact, non-self-describing
/// binary format (varint integers, no field names). In this crate's benchmark it encodes and
/// decodes a scan record several times faster than JSON and in about half the bytes (see
/// `BENCHMARKS.md`). Because it is not self-describing, a changed type may decode into wrong
/// values rather than fail: bump [`format_version`](crate::CacheBuilder::format_version) when
/// the cached type changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

impl Codec for Postcard {
    const ID: u8 = 1;
    const NAME: &'static str = "postcard";

    fn encode<V: Serialize + ?Sized>(
        &self,
        value: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let buf = std::mem::take(out);
        *out = postcard::to_extend(value, buf).map_err(|e| CodecError(e.to_string()))?;
        Ok(())
    }

    fn decode<V: DeserializeOwned>(&self, bytes: &[u8]) -> Result<V, CodecError> {
        postcard::from_bytes(bytes).map_err(|e| CodecError(e.to_string()))
    }
}

/// JSON via serde_json: the codec for values shared with services written in other languages.
/// With [`StorageFormat::Plain`](crate::StorageFormat::Plain) Redis holds the JSON alone;
/// otherwise it follows the 42-byte envelope header (see the crate docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Codec for Json {
    const ID: u8 = 2;
    const NAME: &'static str = "json";

    fn encode<V: Serialize + ?Sized>(
        &self,
        value: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        serde_json::to_writer(out, value).map_err(|e| CodecError(e.to_string()))
    }

    fn decode<V: DeserializeOwned>(&self, bytes: &[u8]) -> Result<V, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError(e.to_string()))
    }
}
