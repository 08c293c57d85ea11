//! [`Pattern`]: a Redis glob over keys, built segment by segment so that a value taken from a
//! user is always literal.

use crate::CacheKey;
use crate::Key;
use crate::glob::Glob;
use crate::key::SEPARATOR;

/// A pattern over keys for [`Cache::invalidate_pattern`](crate::Cache::invalidate_pattern) and
/// [`Backend::invalidate_pattern`](crate::Backend::invalidate_pattern), with Redis's glob
/// semantics (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\` escapes), built like a [`Key`]: one
/// segment at a time, joined by `:`.
///
/// - [`lit`](Self::lit) appends a segment escaped exactly as [`Key::arg`] escapes it, so it
///   matches exactly that key segment: a tenant id `"*"`, `"a]b"` or `"x\\"` is a literal and
///   can never widen the pattern to other keys.
/// - [`any`](Self::any) appends `*`: any run of characters, separators included (Redis has no
///   "one segment" wildcard), so `reports:*:42` matches `reports:a:42` and `reports:a:b:42`.
/// - [`glob`](Self::glob) appends raw glob text, metacharacters live: for patterns you write
///   yourself, never for user input.
///
/// A pattern is relative: a view ([`Cache`](crate::Cache)) prefixes it with
/// `<namespace>:<prefix>:`, a [`Backend`](crate::Backend) with `<namespace>:`. Both prefixes
/// are literal, so no pattern reaches another namespace or the bookkeeping keys under
/// `<namespace>%:`.
///
/// ```
/// use perf_cache::{Key, Pattern};
///
/// let scan_id = "7*";
/// // The seeds' `scans:get_scan_results:{scan_id}:*`.
/// let p = Pattern::new().lit("scans").lit("get_scan_results").lit(scan_id).any();
/// assert_eq!(p.as_bytes(), b"scans:get_scan_results:7%2A:*");
///
/// let key = Key::new("scans").arg("get_scan_results").arg(scan_id).arg(1_u64);
/// assert!(p.matches(key.as_bytes()));
/// let other = Key::new("scans").arg("get_scan_results").arg("70").arg(1_u64);
/// assert!(!p.matches(other.as_bytes()), "the `*` in the id is literal");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
#[must_use]
pub struct Pattern {
    glob: Vec<u8>,
    /// Segments appended so far (a separator goes before every one but the first).
    segments: usize,
    /// Whether a wildcard may be live (`any` or `glob` was used).
    wild: bool,
}

impl Pattern {
    /// An empty pattern; add segments with [`lit`](Self::lit), [`any`](Self::any) and
    /// [`glob`](Self::glob). An empty pattern matches only the empty key.
    ///
    /// ```
    /// let p = perf_cache::Pattern::new();
    /// assert_eq!(p.as_bytes(), b"");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key that starts with `key`'s segments and has more after them: `<key>:*`.
    ///
    /// ```
    /// use perf_cache::{Key, Pattern};
    /// let p = Pattern::under(&Key::new("user").arg(42_u64));
    /// assert_eq!(p.as_bytes(), b"user:42:*");
    /// assert!(p.matches(b"user:42:profile"));
    /// assert!(!p.matches(b"user:421:profile"));
    /// ```
    pub fn under(key: &Key) -> Self {
        Self::exactly(key).any()
    }

    /// Exactly `key` (no wildcard): a group can mix single keys with patterns.
    ///
    /// ```
    /// use perf_cache::{Key, Pattern};
    /// let p = Pattern::exactly(&Key::new("user").arg(42_u64));
    /// assert!(p.matches(b"user:42"));
    /// assert!(!p.matches(b"user:42:x"));
    /// ```
    pub fn exactly(key: &Key) -> Self {
        let mut p = Self::new();
        p.segments = 1;
        push_literal(&mut p.glob, key.as_bytes());
        p
    }

    /// Appends one literal segment, escaped exactly as [`Key::arg`] escapes it (integers in
    /// decimal, reserved characters as `%XX`), then escaped for the glob.
    ///
    /// ```
    /// use perf_cache::Pattern;
    /// let p = Pattern::new().lit("tenant").lit("a[1]\\?");
    /// assert_eq!(p.as_bytes(), b"tenant:a%5B1%5D%5C%3F");
    /// ```
    pub fn lit(mut self, segment: impl CacheKey) -> Self {
        self.separate();
        push_literal(&mut self.glob, Key::new(segment).as_bytes());
        self
    }

    /// Appends a `*` segment: any run of characters, possibly empty, separators included.
    ///
    /// ```
    /// use perf_cache::Pattern;
    /// let p = Pattern::new().lit("reports").any().lit(42_u64).any();
    /// assert_eq!(p.as_bytes(), b"reports:*:42:*");
    /// assert!(p.matches(b"reports:pdf:42:1"));
    /// assert!(p.matches(b"reports:pdf:v2:42:1"));
    /// assert!(!p.matches(b"reports:pdf:420:1"));
    /// ```
    pub fn any(mut self) -> Self {
        self.separate();
        self.glob.push(b'*');
        self.wild = true;
        self
    }

    /// Appends one segment of raw Redis glob text, metacharacters live. Use it only for
    /// patterns written in your code; build anything that holds user input with
    /// [`lit`](Self::lit).
    ///
    /// ```
    /// use perf_cache::Pattern;
    /// let p = Pattern::new().lit("user").glob("1?");
    /// assert!(p.matches(b"user:12"));
    /// assert!(!p.matches(b"user:123"));
    /// ```
    pub fn glob(mut self, glob: impl AsRef<[u8]>) -> Self {
        self.separate();
        self.glob.extend_from_slice(glob.as_ref());
        self.wild = true;
        self
    }

    /// The glob text, relative to the view or backend it is applied to.
    ///
    /// ```
    /// assert_eq!(perf_cache::Pattern::new().lit("a").any().as_bytes(), b"a:*");
    /// ```
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.glob
    }

    /// Whether `key` (relative, e.g. [`Key::as_bytes`]) matches, exactly as Redis's
    /// `SCAN MATCH` would decide for the stored key: this is the matcher L1 and the disk tier
    /// use.
    ///
    /// ```
    /// use perf_cache::{Key, Pattern};
    /// let p = Pattern::new().lit("user").glob("[0-4]").any();
    /// assert!(p.matches(Key::new("user").arg(3_u64).arg("x").as_bytes()));
    /// assert!(!p.matches(Key::new("user").arg(5_u64).arg("x").as_bytes()));
    /// ```
    #[must_use]
    pub fn matches(&self, key: &[u8]) -> bool {
        // The stored key always has the literal `<namespace>:` head, so an empty relative key
        // is the stored key `<namespace>:`, which a glob of stars alone (or nothing) matches.
        // Only Redis's top-level rule for an empty key differs, and it never applies here.
        if key.is_empty() {
            return self.glob.iter().all(|&b| b == b'*');
        }
        crate::glob::matches(&self.glob, key)
    }

    /// The one key this pattern names when it has no wildcard, unescaped for the glob (the
    /// whole glob is then its literal head).
    pub(crate) fn exact_key(&self) -> Option<Vec<u8>> {
        if self.wild {
            return None;
        }
        Some(Glob::new(&self.glob).literal_prefix())
    }

    /// `<space>:<pattern>`: the stored keys' pattern for a key space (`<namespace>` or
    /// `<namespace>:<prefix>`, never holding a metacharacter).
    pub(crate) fn full(&self, space: &str) -> Vec<u8> {
        crate::key::join(space, &self.glob)
    }

    fn separate(&mut self) {
        if self.segments > 0 {
            self.glob.push(SEPARATOR);
        }
        self.segments += 1;
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pattern")
            .field(&String::from_utf8_lossy(&self.glob))
            .finish()
    }
}

/// Whether a byte has a meaning in a Redis glob.
fn is_glob_meta(b: u8) -> bool {
    matches!(b, b'*' | b'?' | b'[' | b']' | b'\\')
}

/// Appends `bytes` to a glob so that they match only themselves.
fn push_literal(glob: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if is_glob_meta(b) {
            glob.push(b'\\');
        }
        glob.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_bytes_are_escaped_for_the_glob() {
        let mut glob = Vec::new();
        push_literal(&mut glob, br"a*b?c[d]e\f");
        assert_eq!(glob, br"a\*b\?c\[d\]e\\f");
        assert!(Glob::new(&glob).is_match(br"a*b?c[d]e\f"));
        assert!(!Glob::new(&glob).is_match(br"aXb?c[d]e\f"));
        assert_eq!(Glob::new(&glob).literal_prefix(), br"a*b?c[d]e\f");
    }

    #[test]
    fn exact_patterns_name_one_key() {
        let key = Key::new("user").arg("a*").arg(3_u64);
        assert_eq!(
            Pattern::exactly(&key).exact_key().as_deref(),
            Some(key.as_bytes())
        );
        assert_eq!(
            Pattern::new().lit("user").lit("a*").lit(3_u64).exact_key(),
            Some(key.as_bytes().to_vec())
        );
        assert_eq!(Pattern::under(&key).exact_key(), None);
        assert_eq!(Pattern::new().glob("user").exact_key(), None);
    }

    #[test]
    fn full_patterns_start_with_the_space() {
        let p = Pattern::new().lit("x").any();
        assert_eq!(p.full("ns:view"), b"ns:view:x:*");
    }

    proptest::proptest! {
        /// Whatever the values, a pattern built with `lit` matches the key built with the same
        /// values through `Key`, and no key built from other values.
        #[test]
        fn lit_segments_match_exactly_their_keys(
            a in "[ -~]{0,6}", b in "[ -~\u{e9}]{0,6}", c in "[ -~]{0,6}",
        ) {
            let p = Pattern::new().lit("t").lit(a.as_str()).lit(b.as_str()).any();
            let key = Key::new("t").arg(a.as_str()).arg(b.as_str()).arg("rest");
            proptest::prop_assert!(p.matches(key.as_bytes()));
            if c != a {
                let other = Key::new("t").arg(c.as_str()).arg(b.as_str()).arg("rest");
                proptest::prop_assert!(!p.matches(other.as_bytes()));
            }
        }
    }
}
