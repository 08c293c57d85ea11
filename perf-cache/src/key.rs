//! Cache keys whose segments are escaped, so that no argument can forge a separator or a Redis
//! glob metacharacter.

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::CacheKey;

/// Bytes held inline before a key moves to the heap. A key such as `user:18446744073709551615`
/// (25 bytes) never allocates.
const INLINE: usize = 46;

/// Separator between segments. Never appears inside a segment.
pub(crate) const SEPARATOR: u8 = b':';

/// A cache key: one or more escaped segments joined by `:`.
///
/// ```text
/// key       = segment *( ":" segment )
/// segment   = *( plain / escaped )
/// plain     = any UTF-8 character except the reserved ones below
/// escaped   = "%" HEXDIG HEXDIG          ; upper-case hex of the byte
/// reserved  = ":" / "%" / "*" / "?" / "[" / "]" / "\" / "{" / "}" / " " / %x00-1F / %x7F
/// ```
///
/// In Redis and on disk the key is stored as `<namespace>:<key>`; the namespace is restricted to
/// `[A-Za-z0-9_.-]` so it needs no escaping. Because no segment can contain `:` or a glob
/// metacharacter, the pattern `<namespace>:user:*` matches exactly the keys whose first segment
/// is `user`, whatever the arguments were — the property pattern invalidation relies on.
/// `{` and `}` are escaped too, so no argument can forge a Redis Cluster hash tag.
///
/// Keys up to 46 bytes live inline (no heap allocation); cloning one is a copy.
///
/// ```
/// use perf_cache::Key;
///
/// let key = Key::new("user").arg(42_u64).arg("a:b*");
/// assert_eq!(key.as_str(), "user:42:a%3Ab%2A");
/// assert_eq!(key.prefix(), "user");
/// assert_eq!(key.segments().collect::<Vec<_>>(), ["user", "42", "a:b*"]);
/// ```
#[derive(Clone)]
pub struct Key {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
    Heap(Vec<u8>),
    /// A key another service owns ([`Key::raw`]): stored in Redis exactly as written.
    Raw(Vec<u8>),
}

/// Longest text [`Key::raw`] accepts, in bytes.
pub(crate) const MAX_RAW_LEN: usize = 1024;

impl Key {
    /// Starts a key with its first segment (escaped), usually the kind of thing cached
    /// (`"user"`, `"scan"`). The first segment is the *prefix* shown in logs and traces.
    #[must_use]
    pub fn new(first: impl CacheKey) -> Self {
        let mut key = Self::empty();
        crate::cache_key::write_segment(&mut key, true, |w| first.write_key(w));
        key
    }

    /// A key with no text yet, inline; what every constructor starts from.
    #[inline]
    pub(crate) const fn empty() -> Self {
        Self {
            repr: Repr::Inline {
                len: 0,
                buf: [0; INLINE],
            },
        }
    }

    /// A key from its escaped bytes as stored (e.g. received on the invalidation bus), taken
    /// as they are: used only to find and remove an existing entry.
    pub(crate) fn from_escaped(bytes: &[u8]) -> Self {
        let mut key = Self::empty();
        key.push_raw(bytes);
        key
    }

    /// A key another service owns: Redis stores it under exactly `text`, not under
    /// `<namespace>:<prefix>:<key>` (for sharing keys with services in other languages; see
    /// the crate docs, "Plain mode"). [`arg`](Self::arg) appends escaped segments to it as to
    /// any key (`Key::raw("legacy:user")?.arg(42_u64)` is the Redis key `legacy:user:42`).
    ///
    /// `text` must be 1 to 1,024 bytes with no ASCII control character (`\0`, `\r`, `\n`,
    /// tab, DEL, ...): those break log lines and line-based tools, and no service needs them in
    /// a key. Any other character is kept as it is, glob metacharacters and `{hash tags}`
    /// included, so a Redis Cluster routes the key exactly as the owning service's client does.
    ///
    /// A raw key can name any Redis key, this namespace's or another's: it is the caller's
    /// choice. In this process's L1 it is never equal to a namespaced key with the same text
    /// (`Key::raw("user:1")? != Key::new("user").arg(1_u64)`), so the two never share an entry
    /// or a single-flight load. [`Cache::invalidate`](crate::Cache::invalidate) removes a raw
    /// key from Redis; [`Cache::invalidate_all`](crate::Cache::invalidate_all) drops a view's
    /// raw keys from L1 only, never from Redis (they are not under the namespace it scans).
    ///
    /// ```
    /// use perf_cache::Key;
    ///
    /// let key = Key::raw("billing:invoice:{acct-7}:2024")?;
    /// assert_eq!(key.as_str(), "billing:invoice:{acct-7}:2024");
    /// assert!(key.is_raw());
    /// assert_ne!(Key::raw("user:1")?, Key::new("user").arg(1_u64));
    /// assert!(Key::raw("").is_err());
    /// assert!(Key::raw("a\nb").unwrap_err().to_string().contains("Key::raw"));
    /// # Ok::<(), perf_cache::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) with field `Key::raw` for an empty
    /// or longer text, or one with a control character.
    pub fn raw(text: impl AsRef<str>) -> crate::Result<Self> {
        let text = text.as_ref();
        let bad = text.bytes().any(|b| b.is_ascii_control());
        if text.is_empty() || text.len() > MAX_RAW_LEN || bad {
            // Show at most 64 characters of a hostile or huge key, escaped.
            let shown: String = text.chars().take(64).collect();
            let more = if shown.len() < text.len() { "..." } else { "" };
            return Err(crate::error::invalid(
                "Key::raw",
                format!("{shown:?}{more} ({} bytes)", text.len()),
                "1 to 1024 bytes of UTF-8 without ASCII control characters",
            ));
        }
        Ok(Self {
            repr: Repr::Raw(text.as_bytes().to_vec()),
        })
    }

    /// Whether this key was made with [`Key::raw`] (stored in Redis as written).
    ///
    /// ```
    /// assert!(!perf_cache::Key::new("user").is_raw());
    /// ```
    #[must_use]
    pub fn is_raw(&self) -> bool {
        matches!(self.repr, Repr::Raw(_))
    }

    /// Appends one segment (escaped): any [`CacheKey`] value, by value or by reference —
    /// strings, integers, `bool`, `char`, `Option`, tuples, slices, `#[derive(CacheKey)]`
    /// types — written exactly as a `#[cached]` argument of that value is.
    ///
    /// ```
    /// use perf_cache::Key;
    /// let tenant = String::from("acme");
    /// let key = Key::new("report").arg(&tenant).arg(7_u32).arg(("q3", Some(true)));
    /// assert_eq!(key.as_str(), "report:acme:7:(q3,(true,),)");
    /// ```
    #[must_use]
    pub fn arg(mut self, segment: impl CacheKey) -> Self {
        crate::cache_key::write_segment(&mut self, false, |w| segment.write_key(w));
        self
    }

    /// Appends one segment from a value's `Display` form (escaped). Allocates a temporary string;
    /// prefer [`arg`](Self::arg) for strings and integers.
    #[must_use]
    pub fn arg_display(self, segment: impl fmt::Display) -> Self {
        self.arg(segment.to_string())
    }

    /// The escaped key, e.g. `user:42`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters and ASCII escapes are ever appended, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The escaped key as bytes.
    #[must_use]
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Heap(v) | Repr::Raw(v) => v,
        }
    }

    /// The first segment, still escaped: what logs, traces and metrics may show of a key. For a
    /// [raw](Self::raw) key, the text before its first `:`, or `"raw"` when it has none (so a
    /// whole raw key is never logged).
    ///
    /// ```
    /// use perf_cache::Key;
    /// assert_eq!(Key::new("user").arg(7_u64).prefix(), "user");
    /// assert_eq!(Key::raw("billing:42")?.prefix(), "billing");
    /// assert_eq!(Key::raw("ada@example.com")?.prefix(), "raw");
    /// # Ok::<(), perf_cache::Error>(())
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        let s = self.as_str();
        match s.split_once(':') {
            Some((first, _)) => first,
            None if self.is_raw() => "raw",
            None => s,
        }
    }

    /// The segments, unescaped (a [raw](Self::raw) key's text split at `:`, as written).
    pub fn segments(&self) -> impl Iterator<Item = String> + '_ {
        let raw = self.is_raw();
        self.as_str()
            .split(':')
            .map(move |s| if raw { s.to_owned() } else { unescape(s) })
    }

    /// Appends bytes that are known not to need escaping.
    #[inline]
    pub(crate) fn push_raw(&mut self, bytes: &[u8]) {
        match &mut self.repr {
            Repr::Inline { len, buf } => {
                let start = usize::from(*len);
                let end = start + bytes.len();
                if end <= INLINE {
                    buf[start..end].copy_from_slice(bytes);
                    // end <= INLINE (46), so it fits in a u8.
                    *len = u8::try_from(end).unwrap_or(u8::MAX);
                } else {
                    let mut v = Vec::with_capacity(end.max(INLINE * 2));
                    v.extend_from_slice(&buf[..start]);
                    v.extend_from_slice(bytes);
                    self.repr = Repr::Heap(v);
                }
            }
            Repr::Heap(v) | Repr::Raw(v) => v.extend_from_slice(bytes),
        }
    }

    /// Appends a segment's text, escaping reserved characters.
    #[inline]
    pub(crate) fn push_escaped(&mut self, text: &str) {
        self.push_escaped_where(text, is_reserved);
    }

    /// Appends text, writing each byte for which `escape` holds as `%XX`: `escape` holds for
    /// every reserved byte (the segment grammar) and for ASCII bytes only (a character is never
    /// split).
    #[inline]
    pub(crate) fn push_escaped_where(&mut self, text: &str, escape: impl Fn(u8) -> bool) {
        let bytes = text.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if escape(b) {
                self.push_raw(&bytes[start..i]);
                self.push_raw(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
                start = i + 1;
            }
        }
        self.push_raw(&bytes[start..]);
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether a byte must be escaped inside a segment. Bytes of multi-byte UTF-8 characters are
/// all >= 0x80 and never reserved, so characters are never split.
pub(crate) const fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b':' | b'%' | b'*' | b'?' | b'[' | b']' | b'\\' | b'{' | b'}' | b' ' | 0x00..=0x1f | 0x7f
    )
}

fn unescape(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_default()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl PartialEq for Key {
    /// Same text and both raw or both namespaced: a raw key never equals a namespaced one.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (&self.repr, &other.repr) {
            // Bytes past `len` are always zero (a key only grows, from a zeroed buffer), so
            // comparing whole buffers is exact, and a fixed-size comparison inlines. An inline
            // key is never raw.
            (Repr::Inline { len: a, buf: x }, Repr::Inline { len: b, buf: y }) => a == b && x == y,
            _ => self.as_bytes() == other.as_bytes() && self.is_raw() == other.is_raw(),
        }
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_raw() {
            f.debug_tuple("Key::raw").field(&self.as_str()).finish()
        } else {
            f.debug_tuple("Key").field(&self.as_str()).finish()
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Key {
    /// A one-segment key; the text is escaped, so `Key::from("a:b")` is the single segment
    /// `a%3Ab`.
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// A scalar written into a segment as it is (integers in decimal without allocating, `bool`
/// as `true`/`false`): never escaped, since it holds no reserved character. The scalar
/// impls of [`CacheKey`] go through it.
pub(crate) trait Scalar {
    /// Appends this value's text.
    fn push_onto(&self, key: &mut Key);
}

impl Scalar for bool {
    fn push_onto(&self, key: &mut Key) {
        key.push_raw(if *self { b"true" } else { b"false" });
    }
}

macro_rules! unsigned_arg {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            #[inline]
            fn push_onto(&self, key: &mut Key) {
                push_u64(key, u64::from(*self));
            }
        }
    )*};
}
unsigned_arg!(u8, u16, u32, u64);

impl Scalar for u128 {
    fn push_onto(&self, key: &mut Key) {
        push_u128(key, *self, false);
    }
}

/// Two decimal digits per entry: "00" to "99".
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Number of decimal digits of `n`.
#[inline]
fn decimal_digits(n: u64) -> usize {
    // ilog10 < 20, so the cast is lossless.
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Writes `n` in decimal, two digits per division, straight into `out` (exactly its length
/// in digits): no scratch buffer and no copy (the hot case: keys built from ids).
#[inline]
fn write_u64(out: &mut [u8], mut n: u64) {
    let mut pos = out.len();
    while n >= 100 && pos >= 2 {
        let pair = usize::try_from(n % 100).unwrap_or(0) * 2;
        n /= 100;
        pos -= 2;
        out[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 && pos >= 2 {
        let pair = usize::try_from(n).unwrap_or(0) * 2;
        out[pos - 2..pos].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else if pos >= 1 {
        out[pos - 1] = b'0' + u8::try_from(n).unwrap_or(0);
    }
}

/// `n` (`digits` of them, at most 8) in ASCII, its first digit in the lowest byte and zeros
/// above the last: the little-endian bytes of the result are the text, zero-padded.
#[inline]
fn ascii_digits(mut n: u64, digits: usize) -> u64 {
    let mut text: u64 = 0;
    let mut left = digits;
    while left >= 2 {
        let pair = usize::try_from(n % 100).unwrap_or(0) * 2;
        n /= 100;
        let (tens, ones) = (DIGIT_PAIRS[pair], DIGIT_PAIRS[pair + 1]);
        text = (text << 16) | u64::from(tens) | (u64::from(ones) << 8);
        left -= 2;
    }
    if left == 1 {
        text = (text << 8) | u64::from(b'0' + u8::try_from(n).unwrap_or(0));
    }
    text
}

#[inline]
fn push_u64(key: &mut Key, n: u64) {
    let digits = decimal_digits(n);
    if let Repr::Inline { len, buf } = &mut key.repr {
        let start = usize::from(*len);
        // Up to 8 digits (ids below 10^8) with one 8-byte store: the key is read back with
        // wide loads at once (moved into the caller's future, hashed), and a load spanning
        // several narrow stores waits for them (a store-forwarding stall, most of the key
        // build's time on a hit). The zeros past the digits land where the buffer is zero
        // already (past `len`).
        if digits <= 8
            && let Some(out) = buf.get_mut(start..start + 8)
        {
            out.copy_from_slice(&ascii_digits(n, digits).to_le_bytes());
            // At most INLINE (46), so it fits in a u8.
            *len = u8::try_from(start + digits).unwrap_or(u8::MAX);
            return;
        }
        if let Some(out) = buf.get_mut(start..start + digits) {
            write_u64(out, n);
            // At most INLINE (46), so it fits in a u8.
            *len = u8::try_from(start + digits).unwrap_or(u8::MAX);
            return;
        }
    }
    let mut scratch = [0_u8; 20];
    write_u64(&mut scratch[..digits], n);
    key.push_raw(&scratch[..digits]);
}

macro_rules! signed_arg {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            fn push_onto(&self, key: &mut Key) {
                push_u128(key, u128::from(self.unsigned_abs()), *self < 0);
            }
        }
    )*};
}
signed_arg!(i8, i16, i32, i64, i128);

impl Scalar for usize {
    fn push_onto(&self, key: &mut Key) {
        push_u128(key, u128::try_from(*self).unwrap_or(u128::MAX), false);
    }
}

impl Scalar for isize {
    fn push_onto(&self, key: &mut Key) {
        let magnitude = u128::try_from(self.unsigned_abs()).unwrap_or(u128::MAX);
        push_u128(key, magnitude, *self < 0);
    }
}

fn push_u128(key: &mut Key, mut n: u128, negative: bool) {
    // u64 fast path keeps 128-bit division off the common case.
    let mut buf = [0_u8; 40];
    let mut pos = buf.len();
    if let Ok(mut small) = u64::try_from(n) {
        loop {
            pos -= 1;
            buf[pos] = b'0' + u8::try_from(small % 10).unwrap_or(0);
            small /= 10;
            if small == 0 {
                break;
            }
        }
    } else {
        loop {
            pos -= 1;
            buf[pos] = b'0' + u8::try_from(n % 10).unwrap_or(0);
            n /= 10;
            if n == 0 {
                break;
            }
        }
    }
    if negative {
        pos -= 1;
        buf[pos] = b'-';
    }
    key.push_raw(&buf[pos..]);
}

/// Checks a namespace: 1 to 64 characters from `[A-Za-z0-9_.-]`.
pub(crate) fn validate_namespace(ns: &str) -> crate::Result<()> {
    validate_name("namespace", ns)
}

/// A view's key prefix: the namespace's character set, so `<namespace>:<prefix>:*` matches
/// exactly that view's keys.
pub(crate) fn validate_prefix(prefix: &str) -> crate::Result<()> {
    validate_name("prefix", prefix)
}

/// Whether a byte may stand in a namespace or a prefix: `[A-Za-z0-9_.-]`.
pub(crate) const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn validate_name(field: &'static str, name: &str) -> crate::Result<()> {
    let ok = !name.is_empty() && name.len() <= 64 && name.bytes().all(is_name_byte);
    if ok {
        Ok(())
    } else {
        Err(crate::error::invalid(
            field,
            format!("{name:?}"),
            "1 to 64 characters from [A-Za-z0-9_.-]",
        ))
    }
}

/// `<namespace>:<key>`, the key as stored in Redis and on disk; a raw key as it is.
pub(crate) fn full_key(namespace: &str, key: &Key) -> Vec<u8> {
    if key.is_raw() {
        return key.as_bytes().to_vec();
    }
    join(namespace, key.as_bytes())
}

/// `<space>:<tail>`: a stored key (or pattern) under a key space; `tail` empty gives the
/// space's head `<space>:`.
pub(crate) fn join(space: &str, tail: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(space.len() + 1 + tail.len());
    v.extend_from_slice(space.as_bytes());
    v.push(SEPARATOR);
    v.extend_from_slice(tail);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn raw_keys_are_validated_and_kept_verbatim() {
        for bad in ["", "a\nb", "a\rb", "nul\0", "tab\t", "del\u{7f}"] {
            let err = Key::raw(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    crate::Error::InvalidConfig {
                        field: "Key::raw",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
        }
        let long = "k".repeat(MAX_RAW_LEN + 1);
        let err = Key::raw(&long).unwrap_err().to_string();
        assert!(err.contains("1025 bytes") && err.len() < 300, "{err}");
        assert!(Key::raw("k".repeat(MAX_RAW_LEN)).is_ok());
        let text = "svc:a b*?[x]{tag}%41\\é";
        let key = Key::raw(text).unwrap();
        assert_eq!(key.as_str(), text);
        assert_eq!(full_key("ns", &key), text.as_bytes());
        assert_eq!(
            key.segments().collect::<Vec<_>>(),
            text.split(':').collect::<Vec<_>>()
        );
        let key = key.arg("a:b").arg(7_u64);
        assert!(key.is_raw());
        assert_eq!(key.as_str(), format!("{text}:a%3Ab:7"));
    }

    #[test]
    fn a_raw_key_never_equals_a_namespaced_key() {
        let raw = Key::raw("user:1").unwrap();
        let ns = Key::new("user").arg(1_u64);
        assert_eq!(raw.as_bytes(), ns.as_bytes());
        assert_ne!(raw, ns);
        assert_eq!(raw, Key::raw("user:1").unwrap());
        assert_eq!(full_key("ns", &ns), b"ns:user:1");
        let mut set = std::collections::HashSet::new();
        set.insert(raw);
        set.insert(ns);
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn every_u64_is_written_in_decimal() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1_000,
            12_345,
            u64::MAX / 3,
            u64::MAX,
        ] {
            assert_eq!(Key::new(n).as_str(), n.to_string());
            assert_eq!(
                Key::new(u32::try_from(n % 1_000_000).unwrap()).as_str(),
                (n % 1_000_000).to_string()
            );
        }
        for n in (0..200_000_u64).step_by(7) {
            assert_eq!(Key::new(n).as_str(), n.to_string());
        }
    }

    #[test]
    fn a_u64_written_at_any_offset_keeps_the_key_exact() {
        // Every start offset of the inline buffer (and past it), every digit count: the text is
        // right and the key equals one built from that text (zero padding past `len` intact).
        let mut numbers = vec![0_u64, 7, u64::MAX, 9_999_999_999_999_999, 10_u64.pow(16)];
        for p in 1..20 {
            let ten = 10_u64.pow(p);
            numbers.extend([ten - 1, ten, ten + 1, ten / 3 * 2 + 1]);
        }
        for prefix in 0..48 {
            let head = "h".repeat(prefix);
            for &n in &numbers {
                let key = if prefix == 0 {
                    Key::new(n)
                } else {
                    Key::new(head.as_str()).arg(n)
                };
                let text = if prefix == 0 {
                    n.to_string()
                } else {
                    format!("{head}:{n}")
                };
                assert_eq!(key.as_str(), text, "prefix {prefix}, n {n}");
                assert_eq!(
                    key,
                    Key::from_escaped(text.as_bytes()),
                    "prefix {prefix}, n {n}"
                );
                assert_eq!(
                    key.clone().arg("z"),
                    Key::from_escaped(format!("{text}:z").as_bytes())
                );
            }
        }
    }

    #[test]
    fn integers_are_plain_and_inline() {
        let k = Key::new("user").arg(u64::MAX).arg(-5_i32).arg(0_u8);
        assert_eq!(k.as_str(), "user:18446744073709551615:-5:0");
        assert!(matches!(k.repr, Repr::Inline { .. }));
    }

    #[test]
    fn long_keys_move_to_the_heap() {
        let long = "x".repeat(100);
        let k = Key::new("a").arg(long.as_str()).arg(1_u8);
        assert_eq!(k.as_str(), format!("a:{long}:1"));
        assert_eq!(k, Key::new("a").arg(long).arg(1_u8));
    }

    #[test]
    fn reserved_are_escaped() {
        assert_eq!(
            Key::new("a:*?[]\\{}% \n").as_str(),
            "a%3A%2A%3F%5B%5D%5C%7B%7D%25%20%0A"
        );
        assert_eq!(Key::new("é").as_str(), "é");
    }

    proptest! {
        #[test]
        fn no_segment_forges_structure(segs in proptest::collection::vec(".*", 1..5)) {
            let mut key = Key::new(segs[0].as_str());
            for s in &segs[1..] {
                key = key.arg(s.as_str());
            }
            let text = key.as_str();
            let forged = text.bytes().any(|b| matches!(b, b'*' | b'?' | b'[' | b']' | b'\\' | b'{' | b'}'));
            prop_assert!(!forged, "metacharacter in {}", text);
            prop_assert_eq!(text.matches(':').count(), segs.len() - 1);
            prop_assert_eq!(key.segments().collect::<Vec<_>>(), segs);
        }

        #[test]
        fn keys_are_equal_exactly_when_their_text_is(a in any::<u64>(), b in any::<u64>(), s in "[a-z:]{0,50}") {
            let (x, y) = (Key::new(s.as_str()).arg(a), Key::new(s.as_str()).arg(b));
            prop_assert_eq!(x == y, x.as_str() == y.as_str());
            prop_assert_eq!(Key::new(a) == Key::new(b), a == b);
            prop_assert_eq!(Key::new(a).as_str().to_owned(), a.to_string());
        }

        #[test]
        fn integers_round_trip(n in any::<i64>()) {
            let key = Key::new(n);
            prop_assert_eq!(key.as_str(), n.to_string());
        }
    }
}
