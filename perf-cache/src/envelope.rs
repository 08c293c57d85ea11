//! The envelope every value stored in L2/L3 carries (version 3), then the codec's bytes.
//!
//! | bytes | field |
//! |---|---|
//! | 0 | magic `0xCA` |
//! | 1 | envelope version of the entry (2; 3 when it has tags) |
//! | 2 | oldest envelope version able to read this entry (2; 3 when it has tags) |
//! | 3 | flags (bit 0: cached "not found") |
//! | 4–5 | header length in bytes, u16 LE (42 without tags; the payload starts here) |
//! | 6 | codec id ([`Codec::ID`]) |
//! | 7 | reserved (0) |
//! | 8–11 | format version, u32 LE |
//! | 12–19 | absolute expiry, Unix milliseconds, u64 LE |
//! | 20–27 | type fingerprint, u64 LE (FNV-1a of the value type's name) |
//! | 28–35 | generation stamp, u64 LE (0 in Redis; the disk copy: Unix µs when its load began) |
//! | 36–39 | payload length, u32 LE |
//! | 40–41 | number of tags, u16 LE |
//! | 42… | per tag: its length (u16 LE), its UTF-8 bytes, its generation when stamped (u64 LE) |
//!
//! **Tags** (version 3): an entry with tags says bytes 1 and 2 = 3, so a version-2 reader
//! (which would skip the tags and serve the entry after its tag was invalidated) reads it as a
//! miss; entries without tags are written exactly as version 2 wrote them.
//!
//! **Forward compatible**: a reader accepts any writer version whose byte 2 is at most its own
//! version, skips header bytes it does not know (the header length says where the payload
//! starts) and ignores bytes after the payload (the payload length says where it ends). A
//! newer writer that only adds fields therefore keeps byte 2 at 2, and a rolling deploy never
//! turns into old and new instances overwriting each other's entries. Version 1 entries (the
//! 16-byte header) read as one miss and are overwritten by the next load.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Codec;
use crate::clock::{duration_ms, now_unix_ms};

pub(crate) const MAGIC: u8 = 0xCA;
pub(crate) const ENVELOPE_VERSION: u8 = 3;
/// The version of an entry without tags (unchanged since version 2).
const UNTAGGED_VERSION: u8 = 2;
/// Header size written by this version.
pub(crate) const HEADER_LEN: usize = 42;
/// The fixed fields every version-2-compatible header has (the tag count included).
pub(crate) const MIN_HEADER_LEN: usize = 42;
const FLAG_NEGATIVE: u8 = 1;
const EXPIRY: std::ops::Range<usize> = 12..20;
const GENERATION: std::ops::Range<usize> = 28..36;

/// What a stored entry holds once its envelope is checked.
#[derive(Debug)]
pub(crate) enum Decoded<V> {
    /// A value and its remaining time to live.
    Value(V, Duration),
    /// A cached "not found", with its remaining time to live.
    Negative(Duration),
    /// Wrong magic, codec, format version or type, expired, or undecodable: a miss.
    Miss(MissReason),
}

/// Why stored bytes read as a miss (for logs and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MissReason {
    Corrupt,
    Mismatch,
    Expired,
}

/// FNV-1a (64-bit) of the value type's name: two caches with different value types on one
/// key read each other's entries as misses instead of decoding them. The name (and so the
/// fingerprint) changes when the type is renamed or moved: entries then read as one miss.
pub(crate) fn fingerprint<V: ?Sized>() -> u64 {
    fnv1a(std::any::type_name::<V>().as_bytes())
}

/// FNV-1a (64-bit): a stable hash (the same in every process and release) of short names.
#[inline]
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Encodes `value` (or a negative marker when `None`) with its envelope.
pub(crate) fn encode_entry<C: Codec, V: Serialize>(
    codec: &C,
    format_version: u32,
    value: Option<&V>,
    ttl: Duration,
    max_size: usize,
) -> crate::Result<Vec<u8>> {
    encode_tagged(codec, format_version, value, ttl, max_size, &[])
}

/// [`encode_entry`] with tags (name, generation); at most [`crate::tag::MAX_TAGS`], each at
/// most [`crate::tag::MAX_TAG_LEN`] bytes (checked by the caller).
pub(crate) fn encode_tagged<C: Codec, V: Serialize>(
    codec: &C,
    format_version: u32,
    value: Option<&V>,
    ttl: Duration,
    max_size: usize,
    tags: &[(&str, u64)],
) -> crate::Result<Vec<u8>> {
    let tags_len: usize = tags.iter().map(|(t, _)| 2 + t.len() + 8).sum();
    let header_len = HEADER_LEN + tags_len;
    let mut out = Vec::with_capacity(96 + tags_len);
    let flags = if value.is_none() { FLAG_NEGATIVE } else { 0 };
    let version = if tags.is_empty() {
        UNTAGGED_VERSION
    } else {
        ENVELOPE_VERSION
    };
    out.extend_from_slice(&[MAGIC, version, version, flags]);
    let (Ok(header), Ok(count)) = (u16::try_from(header_len), u16::try_from(tags.len())) else {
        return Err(crate::error::invalid(
            "tags",
            format!("{} tags", tags.len()),
            "at most 32 of at most 128 bytes",
        ));
    };
    out.extend_from_slice(&header.to_le_bytes());
    out.extend_from_slice(&[C::ID, 0]);
    out.extend_from_slice(&format_version.to_le_bytes());
    let expires = now_unix_ms().saturating_add(duration_ms(ttl));
    out.extend_from_slice(&expires.to_le_bytes());
    out.extend_from_slice(&fingerprint::<V>().to_le_bytes());
    out.extend_from_slice(&0_u64.to_le_bytes()); // generation
    out.extend_from_slice(&0_u32.to_le_bytes()); // payload length, set below
    out.extend_from_slice(&count.to_le_bytes());
    for (tag, generation) in tags {
        let len = u16::try_from(tag.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(&generation.to_le_bytes());
    }
    debug_assert_eq!(out.len(), header_len);
    if let Some(v) = value {
        codec
            .encode(v, &mut out)
            .map_err(|e| crate::Error::Encode {
                codec: C::NAME,
                message: e.0,
            })?;
    }
    if out.len() > max_size {
        return Err(crate::Error::ValueTooLarge {
            size: out.len(),
            max: max_size,
        });
    }
    let payload =
        u32::try_from(out.len() - header_len).map_err(|_| crate::Error::ValueTooLarge {
            size: out.len(),
            max: max_size,
        })?;
    out[36..40].copy_from_slice(&payload.to_le_bytes());
    Ok(out)
}

/// Whether `bytes` start with an envelope this version can read (magic, compatible version).
fn readable(bytes: &[u8]) -> bool {
    bytes.len() >= MIN_HEADER_LEN
        && bytes[0] == MAGIC
        && bytes[1] >= 2
        && (2..=ENVELOPE_VERSION).contains(&bytes[2])
}

/// Rewrites the absolute expiry of an encoded entry to `now + ttl`.
pub(crate) fn set_expiry(bytes: &mut [u8], ttl: Duration) {
    if readable(bytes) {
        let expires = now_unix_ms().saturating_add(duration_ms(ttl));
        bytes[EXPIRY].copy_from_slice(&expires.to_le_bytes());
    }
}

/// Writes the generation stamp of an encoded entry. The L3 copy carries the Unix µs at which
/// its load began, so that entries older than a gap of the invalidation bus can be distrusted.
pub(crate) fn set_stamp(bytes: &mut [u8], stamp: u64) {
    if readable(bytes) {
        bytes[GENERATION].copy_from_slice(&stamp.to_le_bytes());
    }
}

/// The generation stamp of an encoded entry (0 when absent or unreadable).
pub(crate) fn stamp(bytes: &[u8]) -> u64 {
    if readable(bytes) {
        u64_at(bytes, GENERATION.start).unwrap_or(0)
    } else {
        0
    }
}

/// Where an envelope keeps its absolute expiry (byte offset of the u64 LE field), and the
/// bytes that set it to `now + ttl`: to rewrite it in place in Redis (`SETRANGE`) without
/// reading the entry first. The writer must first check the entry is [`readable`] (the Lua
/// side checks the same bytes: length, magic and versions).
#[cfg(feature = "redis")]
pub(crate) fn expiry_patch(ttl: Duration) -> (usize, [u8; 8]) {
    let expires = now_unix_ms().saturating_add(duration_ms(ttl));
    (EXPIRY.start, expires.to_le_bytes())
}

/// The tags (name, generation) of a readable entry: empty without tags; `None` when the tag
/// fields are corrupt (the entry is then a miss).
pub(crate) fn tags(bytes: &[u8]) -> Option<Vec<(String, u64)>> {
    if !readable(bytes) {
        return Some(Vec::new());
    }
    let count = usize::from(u16_at(bytes, 40)?);
    if count == 0 {
        return Some(Vec::new());
    }
    if count > crate::tag::MAX_TAGS {
        return None;
    }
    let header = bytes.get(..usize::from(u16_at(bytes, 4)?))?;
    let mut at = MIN_HEADER_LEN;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::from(u16_at(header, at)?);
        let name = std::str::from_utf8(header.get(at + 2..at + 2 + len)?).ok()?;
        let generation = u64_at(header, at + 2 + len)?;
        out.push((name.to_owned(), generation));
        at += 2 + len + 8;
    }
    Some(out)
}

/// Checks the envelope and decodes; never panics on arbitrary bytes.
pub(crate) fn decode_entry<C: Codec, V: DeserializeOwned>(
    codec: &C,
    format_version: u32,
    bytes: &[u8],
) -> Decoded<V> {
    if bytes.len() < MIN_HEADER_LEN || bytes[0] != MAGIC {
        return Decoded::Miss(MissReason::Corrupt);
    }
    // Version 1, or a newer writer that says this version cannot read it.
    if !readable(bytes) {
        return Decoded::Miss(MissReason::Mismatch);
    }
    let (Some(header_len), Some(format), Some(expires), Some(fp), Some(payload_len)) = (
        u16_at(bytes, 4),
        u32_at(bytes, 8),
        u64_at(bytes, EXPIRY.start),
        u64_at(bytes, 20),
        u32_at(bytes, 36),
    ) else {
        return Decoded::Miss(MissReason::Corrupt);
    };
    let start = usize::from(header_len);
    if start < MIN_HEADER_LEN {
        return Decoded::Miss(MissReason::Corrupt);
    }
    let Some(payload) = usize::try_from(payload_len)
        .ok()
        .and_then(|len| bytes.get(start..start.checked_add(len)?))
    else {
        return Decoded::Miss(MissReason::Corrupt);
    };
    if bytes[6] != C::ID || format != format_version || fp != fingerprint::<V>() {
        return Decoded::Miss(MissReason::Mismatch);
    }
    let remaining = expires.saturating_sub(now_unix_ms());
    if remaining == 0 {
        return Decoded::Miss(MissReason::Expired);
    }
    let remaining = Duration::from_millis(remaining);
    if bytes[3] & FLAG_NEGATIVE != 0 {
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
    fn another_value_type_is_a_mismatch_not_a_misread() {
        // postcard would decode these bytes as a `u64` just as happily: the fingerprint stops it.
        let bytes =
            encode_entry(&Postcard, 0, Some(&7_u32), Duration::from_secs(60), 1024).unwrap();
        assert!(matches!(
            decode_entry::<_, u64>(&Postcard, 0, &bytes),
            Decoded::Miss(MissReason::Mismatch)
        ));
        assert!(matches!(
            decode_entry::<_, u32>(&Postcard, 0, &bytes),
            Decoded::Value(7, _)
        ));
    }

    #[test]
    fn version_1_entries_are_one_miss() {
        for codec in [Postcard::ID, Json::ID] {
            let mut v1 = vec![MAGIC, 1, codec, 0, 0, 0, 0, 0];
            v1.extend_from_slice(&(now_unix_ms() + 60_000).to_le_bytes());
            v1.push(b'7');
            // Long enough to be mistaken for a version 2 header if the version were not checked.
            v1.resize(64, 0);
            assert!(matches!(
                decode_entry::<_, u8>(&Postcard, 0, &v1),
                Decoded::Miss(MissReason::Mismatch)
            ));
            assert!(matches!(
                decode_entry::<_, u8>(&Json, 0, &v1),
                Decoded::Miss(MissReason::Mismatch)
            ));
        }
    }

    /// What a future writer (version 3) that adds a header field and a trailer would produce.
    fn future_entry(readable_by: u8) -> Vec<u8> {
        let mut bytes = encode_entry(
            &Postcard,
            0,
            Some(&"hi".to_owned()),
            Duration::from_secs(60),
            1024,
        )
        .unwrap();
        let payload = bytes.split_off(HEADER_LEN);
        bytes[1] = 4;
        bytes[2] = readable_by;
        bytes.extend_from_slice(b"new header field");
        let header_len = u16::try_from(bytes.len()).unwrap();
        bytes[4..6].copy_from_slice(&header_len.to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(b"a trailer");
        bytes
    }

    #[test]
    fn newer_headers_are_read_when_they_say_so() {
        assert!(matches!(
            decode_entry::<_, String>(&Postcard, 0, &future_entry(2)),
            Decoded::Value(ref s, _) if s == "hi"
        ));
        assert!(matches!(
            decode_entry::<_, String>(&Postcard, 0, &future_entry(4)),
            Decoded::Miss(MissReason::Mismatch)
        ));
    }

    #[test]
    fn tags_round_trip_and_hide_from_version_2_readers() {
        let bytes = encode_tagged(
            &Postcard,
            0,
            Some(&5_u32),
            Duration::from_secs(60),
            1024,
            &[("scan:7", 3), ("t", u64::MAX - 1)],
        )
        .unwrap();
        assert_eq!(bytes[2], 3, "a version-2 reader would ignore the tags");
        assert_eq!(
            tags(&bytes).unwrap(),
            [("scan:7".to_owned(), 3), ("t".to_owned(), u64::MAX - 1)]
        );
        assert!(matches!(
            decode_entry::<_, u32>(&Postcard, 0, &bytes),
            Decoded::Value(5, _)
        ));
        let plain =
            encode_entry(&Postcard, 0, Some(&5_u32), Duration::from_secs(60), 1024).unwrap();
        assert_eq!(plain[2], 2, "untagged entries stay readable by version 2");
        assert_eq!(tags(&plain).unwrap(), []);
        // A tag count beyond the header is corrupt: a miss, not a panic.
        let mut bad = bytes.clone();
        bad[40] = 9;
        assert_eq!(tags(&bad), None);
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
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode_entry::<_, (String, u64)>(&Postcard, 0, &bytes);
            let _ = decode_entry::<_, (String, u64)>(&Json, 0, &bytes);
            let mut bytes = bytes;
            set_expiry(&mut bytes, Duration::from_secs(1));
        }

        #[test]
        fn round_trip(
            text in ".{0,40}",
            n in any::<u64>(),
            format in any::<u32>(),
            ttl_ms in 1_000_u64..10_000_000,
            json in any::<bool>(),
        ) {
            let value = (text, n);
            let ttl = Duration::from_millis(ttl_ms);
            let decoded = if json {
                let b = encode_entry(&Json, format, Some(&value), ttl, 4096).unwrap();
                decode_entry::<_, (String, u64)>(&Json, format, &b)
            } else {
                let b = encode_entry(&Postcard, format, Some(&value), ttl, 4096).unwrap();
                decode_entry::<_, (String, u64)>(&Postcard, format, &b)
            };
            match decoded {
                Decoded::Value(v, left) => {
                    prop_assert_eq!(v, value);
                    prop_assert!(left <= ttl);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn truncated_entries_are_misses(text in ".{1,40}", cut_seed in any::<usize>()) {
            let bytes = encode_entry(&Postcard, 0, Some(&text), Duration::from_secs(60), 4096)
                .unwrap();
            let cut = cut_seed % bytes.len();
            prop_assert!(matches!(
                decode_entry::<_, String>(&Postcard, 0, &bytes[..cut]),
                Decoded::Miss(_)
            ));
        }

        #[test]
        fn corrupted_headers_never_panic(
            text in ".{0,40}",
            at in 0_usize..HEADER_LEN,
            byte in any::<u8>(),
        ) {
            let mut bytes =
                encode_entry(&Postcard, 0, Some(&text), Duration::from_secs(60), 4096).unwrap();
            bytes[at] = byte;
            match decode_entry::<_, String>(&Postcard, 0, &bytes) {
                // Fields the reader does not check (reserved, generation, tag count) or a
                // changed expiry may still read; anything else must be a miss.
                Decoded::Value(v, _) => prop_assert_eq!(v, text),
                Decoded::Negative(_) => prop_assert_eq!(at, 3),
                Decoded::Miss(_) => {}
            }
        }
    }
}
