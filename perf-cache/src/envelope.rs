//! The envelope every value stored in L2/L3 carries: magic, version, codec, flags, format
//! version and absolute expiry, then the codec's bytes.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Codec;
use crate::clock::{duration_ms, now_unix_ms};

pub(crate) const MAGIC: u8 = 0xCA;
const ENVELOPE_VERSION: u8 = 1;
/// Header size in bytes: magic, envelope version, codec id, flags, format version (u32 LE),
/// absolute expiry in Unix milliseconds (u64 LE).
pub(crate) const HEADER_LEN: usize = 16;
const FLAG_NEGATIVE: u8 = 1;

/// What a stored entry holds once its envelope is checked.
#[derive(Debug)]
pub(crate) enum Decoded<V> {
    /// A value and its remaining time to live.
    Value(V, Duration),
    /// A cached "not found", with its remaining time to live.
    Negative(Duration),
    /// Wrong magic, codec, format version, expired, or undecodable: a miss.
    Miss(MissReason),
}

/// Why stored bytes read as a miss (for logs and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MissReason {
    Corrupt,
    Mismatch,
    Expired,
}

/// Encodes `value` (or a negative marker when `None`) with its envelope.
pub(crate) fn encode_entry<C: Codec, V: Serialize>(
    codec: &C,
    format_version: u32,
    value: Option<&V>,
    ttl: Duration,
    max_size: usize,
) -> crate::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[MAGIC, ENVELOPE_VERSION, C::ID, 0]);
    out.extend_from_slice(&format_version.to_le_bytes());
    let expires = now_unix_ms().saturating_add(duration_ms(ttl));
    out.extend_from_slice(&expires.to_le_bytes());
    match value {
        Some(v) => codec
            .encode(v, &mut out)
            .map_err(|e| crate::Error::Encode {
                codec: C::NAME,
                message: e.0,
            })?,
        None => out[3] = FLAG_NEGATIVE,
    }
    if out.len() > max_size {
        return Err(crate::Error::ValueTooLarge {
            size: out.len(),
            max: max_size,
        });
    }
    Ok(out)
}

/// Rewrites the absolute expiry of an encoded entry to `now + ttl`.
pub(crate) fn set_expiry(bytes: &mut [u8], ttl: Duration) {
    if let Some(slot) = bytes.get_mut(8..16) {
        let expires = now_unix_ms().saturating_add(duration_ms(ttl));
        slot.copy_from_slice(&expires.to_le_bytes());
    }
}

/// Where an envelope keeps its absolute expiry, and the bytes that set it to `now + ttl`: to
/// rewrite it in place in Redis (`SETRANGE`) without reading the entry first.
#[cfg(feature = "redis")]
pub(crate) fn expiry_patch(ttl: Duration) -> (usize, [u8; 8]) {
    let expires = now_unix_ms().saturating_add(duration_ms(ttl));
    (8, expires.to_le_bytes())
}

/// Remaining time to live recorded in an envelope (zero when expired or not an envelope).
pub(crate) fn remaining(bytes: &[u8]) -> Duration {
    match bytes.get(8..16) {
        Some(slot) if bytes.first() == Some(&MAGIC) => {
            let mut exp = [0_u8; 8];
            exp.copy_from_slice(slot);
            Duration::from_millis(u64::from_le_bytes(exp).saturating_sub(now_unix_ms()))
        }
        _ => Duration::ZERO,
    }
}

/// Checks the envelope and decodes; never panics on arbitrary bytes.
pub(crate) fn decode_entry<C: Codec, V: DeserializeOwned>(
    codec: &C,
    format_version: u32,
    bytes: &[u8],
) -> Decoded<V> {
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Decoded::Miss(MissReason::Corrupt);
    };
    if header[0] != MAGIC || header[1] != ENVELOPE_VERSION {
        return Decoded::Miss(MissReason::Corrupt);
    }
    let format = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if header[2] != C::ID || format != format_version {
        return Decoded::Miss(MissReason::Mismatch);
    }
    let mut exp = [0_u8; 8];
    exp.copy_from_slice(&header[8..16]);
    let remaining = u64::from_le_bytes(exp).saturating_sub(now_unix_ms());
    if remaining == 0 {
        return Decoded::Miss(MissReason::Expired);
    }
    let remaining = Duration::from_millis(remaining);
    if header[3] & FLAG_NEGATIVE != 0 {
        return Decoded::Negative(remaining);
    }
    match codec.decode(payload) {
        Ok(v) => Decoded::Value(v, remaining),
        Err(_) => Decoded::Miss(MissReason::Corrupt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Json, Postcard};
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_mismatch() {
        let bytes = encode_entry(
            &Postcard,
            3,
            Some(&vec![1_u32, 2]),
            Duration::from_secs(60),
            1024,
        )
        .unwrap();
        match decode_entry::<_, Vec<u32>>(&Postcard, 3, &bytes) {
            Decoded::Value(v, ttl) => {
                assert_eq!(v, vec![1, 2]);
                assert!(ttl <= Duration::from_secs(60) && ttl > Duration::from_secs(50));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_entry::<_, Vec<u32>>(&Postcard, 4, &bytes),
            Decoded::Miss(MissReason::Mismatch)
        ));
        assert!(matches!(
            decode_entry::<_, Vec<u32>>(&Json, 3, &bytes),
            Decoded::Miss(MissReason::Mismatch)
        ));
        let neg = encode_entry::<_, u8>(&Json, 0, None, Duration::from_secs(5), 1024).unwrap();
        assert!(matches!(
            decode_entry::<_, u8>(&Json, 0, &neg),
            Decoded::Negative(_)
        ));
    }

    #[test]
    fn too_large_is_an_error() {
        let err = encode_entry(
            &Postcard,
            0,
            Some(&vec![0_u8; 100]),
            Duration::from_secs(1),
            50,
        )
        .unwrap_err();
        assert!(
            matches!(err, crate::Error::ValueTooLarge { max: 50, .. }),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_entry::<_, (String, u64)>(&Postcard, 0, &bytes);
            let _ = decode_entry::<_, (String, u64)>(&Json, 0, &bytes);
        }
    }
}
