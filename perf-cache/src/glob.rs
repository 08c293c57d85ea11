//! Redis's glob matcher, byte for byte: the one matcher L1 and L3 use for pattern
//! invalidation, so that every tier selects exactly the keys Redis's `SCAN MATCH` selects.
//!
//! The semantics are those of `stringmatchlen` in Redis 7's `util.c` (case-sensitive), checked
//! against a real server by the property test in `tests/pattern.rs`:
//!
//! - `*` matches any run of bytes (adjacent stars are one), `?` any one byte, any other byte
//!   itself; `\x` outside a class is the byte `x` literally, and a trailing `\` is itself.
//! - `[...]` matches one byte in the set, `[^...]` one byte not in it. Inside, `\x` is `x`
//!   (a `\` that is the pattern's last byte is itself), `a-z` is a range whose ends may come
//!   in either order, and the class ends at the first unescaped `]`, so `[]` is empty (matches
//!   nothing) and `[^]` matches any byte. An unterminated class runs to the end of the
//!   pattern. Range ends compare as C `char`, which is signed on the x86-64 and (by default)
//!   the builds Redis ships, so bytes `0x80..=0xFF` sort *before* `0x00`: `[a-\xff]` is the
//!   range `\xff..=a` and excludes `b`.
//! - Quirks kept on purpose: an empty key matches only the empty pattern (not even `**`; Redis
//!   short-cuts the exact pattern `*` itself before matching), and a pattern with more than 1,000
//!   `*` runs that are followed by something (Redis's nesting limit against abusive patterns)
//!   matches nothing.
//!
//! Unlike Redis's recursive matcher this one never backtracks more than one `*` at a time: a
//! match costs at most `pattern tokens × key bytes` steps, so `*a*a*a…b` is no slower than any
//! other pattern of its length.

/// How many `*` runs followed by more pattern Redis accepts before it stops matching.
const MAX_NESTED_STARS: usize = 1000;

/// One step of a compiled pattern: every token but [`Token::Star`] consumes exactly one byte.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `*`: any run of bytes, possibly empty.
    Star,
    /// `?`: any one byte.
    Any,
    /// A literal byte (plain, or escaped with `\`).
    Byte(u8),
    /// `[...]`: the set of bytes it accepts, negation already applied (bit `b` of word `b / 64`).
    Set([u64; 4]),
}

impl Token {
    /// Whether this non-star token consumes `byte`.
    fn accepts(&self, byte: u8) -> bool {
        match self {
            Self::Star | Self::Any => true,
            Self::Byte(b) => *b == byte,
            Self::Set(bits) => bits[usize::from(byte / 64)] & (1 << (byte % 64)) != 0,
        }
    }
}

/// A compiled glob pattern: parse once, match many keys (L1 scans every entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
    /// True when the pattern is empty: it matches the empty key only.
    empty: bool,
    /// Redis's nesting limit was exceeded: nothing matches.
    too_nested: bool,
}

impl Glob {
    /// Compiles `pattern`. Every byte string is a valid pattern, as it is for Redis.
    pub(crate) fn new(pattern: &[u8]) -> Self {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut i = 0;
        while i < pattern.len() {
            match pattern[i] {
                b'*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                b'?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                b'[' => {
                    let (set, next) = parse_class(pattern, i + 1);
                    tokens.push(Token::Set(set));
                    i = next;
                }
                b'\\' if i + 1 < pattern.len() => {
                    tokens.push(Token::Byte(pattern[i + 1]));
                    i += 2;
                }
                byte => {
                    tokens.push(Token::Byte(byte));
                    i += 1;
                }
            }
        }
        let stars = tokens.iter().filter(|t| **t == Token::Star).count();
        let nested_stars = stars - usize::from(tokens.last() == Some(&Token::Star));
        Self {
            tokens,
            empty: pattern.is_empty(),
            too_nested: nested_stars > MAX_NESTED_STARS,
        }
    }

    /// Whether `key` matches, exactly as Redis's `SCAN MATCH` / `KEYS` decide it.
    pub(crate) fn is_match(&self, key: &[u8]) -> bool {
        self.is_match_split(&[], key)
    }

    /// Whether the key `head` followed by `tail` matches (L1 keeps keys without their
    /// `<namespace>:<prefix>:` head; this avoids building the full key for every entry).
    pub(crate) fn is_match_split(&self, head: &[u8], tail: &[u8]) -> bool {
        let len = head.len() + tail.len();
        if len == 0 {
            return self.empty;
        }
        if self.too_nested {
            return false;
        }
        let at = |k: usize| {
            if k < head.len() {
                head[k]
            } else {
                tail[k - head.len()]
            }
        };
        let tokens = &self.tokens;
        let (mut t, mut k) = (0, 0);
        // The last star seen: the token after it and the key position it currently ends at.
        // Every token after a star consumes one byte, so when the rest fails, letting the
        // latest star swallow one more byte is the only retry needed (earlier stars could not
        // help: the latest star can already absorb whatever they would).
        let mut resume: Option<(usize, usize)> = None;
        while k < len {
            match tokens.get(t) {
                Some(Token::Star) => {
                    resume = Some((t + 1, k));
                    t += 1;
                    continue;
                }
                Some(token) if token.accepts(at(k)) => {
                    t += 1;
                    k += 1;
                    continue;
                }
                _ => {}
            }
            match resume {
                Some((after_star, star_end)) => {
                    resume = Some((after_star, star_end + 1));
                    t = after_star;
                    k = star_end + 1;
                }
                None => return false,
            }
        }
        tokens[t..].iter().all(|token| *token == Token::Star)
    }

    /// The bytes every matching key starts with (up to the first wildcard): the range the
    /// disk tier scans, and the key a wildcard-free pattern names.
    pub(crate) fn literal_prefix(&self) -> Vec<u8> {
        self.tokens
            .iter()
            .map_while(|token| match token {
                Token::Byte(b) => Some(*b),
                _ => None,
            })
            .collect()
    }
}

/// Parses a class whose body starts at `start` (just after `[`): returns the accepted set and
/// the index just past the class (past its `]`, or the pattern's end when unterminated).
fn parse_class(pattern: &[u8], start: usize) -> ([u64; 4], usize) {
    let mut bits = [0_u64; 4];
    let mut add = |byte: u8| bits[usize::from(byte / 64)] |= 1 << (byte % 64);
    let mut i = start;
    let negated = pattern.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    loop {
        let left = pattern.len() - i;
        if left >= 2 && pattern[i] == b'\\' {
            add(pattern[i + 1]);
            i += 2;
        } else if left == 0 {
            break;
        } else if pattern[i] == b']' {
            i += 1;
            break;
        } else if left >= 3 && pattern[i + 1] == b'-' {
            // C compares `char`s: signed on the platforms Redis runs on.
            let (a, b) = (signed(pattern[i]), signed(pattern[i + 2]));
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            for byte in 0..=u8::MAX {
                if (low..=high).contains(&signed(byte)) {
                    add(byte);
                }
            }
            i += 3;
        } else {
            add(pattern[i]);
            i += 1;
        }
    }
    if negated {
        for word in &mut bits {
            *word = !*word;
        }
    }
    (bits, i)
}

/// A byte as C's (signed) `char` sees it.
fn signed(byte: u8) -> i8 {
    i8::from_ne_bytes([byte])
}

/// Whether `key` matches the Redis glob `pattern` (see the module docs for the exact rules).
pub(crate) fn matches(pattern: &[u8], key: &[u8]) -> bool {
    Glob::new(pattern).is_match(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, key: &str) -> bool {
        matches(pattern.as_bytes(), key.as_bytes())
    }

    #[test]
    fn literals_any_and_stars() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abd"));
        assert!(!m("abc", "ab"));
        assert!(!m("ab", "abc"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", "x"));
        assert!(m("a*", "a"));
        assert!(m("*a", "a"));
        assert!(m("a*c", "ac"));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abbbd"));
        assert!(m("a**c", "abc"));
        assert!(m("*b*", "abc"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXcYb"));
        assert!(m("user:*:profile", "user:42:profile"));
        assert!(m("user:*:profile", "user:1:2:profile"));
        assert!(m("*?", "a"));
        assert!(!m("*??", "a"));
    }

    #[test]
    fn empty_key_matches_only_the_empty_pattern() {
        assert!(m("", ""));
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[^abc]", "d"));
        assert!(!m("[^abc]", "a"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[a-c]x", "dx"));
        // Reversed ranges are ranges.
        assert!(m("[c-a]", "b"));
        assert!(!m("[c-a]", "d"));
        assert!(m("[^c-a]", "d"));
        // `-` at either end, or alone, is literal.
        assert!(m("[-a]", "-"));
        assert!(
            m("[a-]", "]"),
            "`a-]` is the range ]..=a and the class is unterminated"
        );
        assert!(m("[a-]", "^"));
        assert!(!m("[a-]", "b"));
        assert!(m("[a-]b", "a"), "the unterminated class swallows the `b`");
        // `]` first closes an empty class.
        assert!(!m("[]", "]"));
        assert!(!m("[]a]", "a]"));
        assert!(m("[^]", "x"));
        assert!(m("[^]a]", "xa]"));
        // Several ranges and literals.
        assert!(m("[a-cx-z0]", "y"));
        assert!(m("[a-cx-z0]", "0"));
        assert!(!m("[a-cx-z0]", "m"));
    }

    #[test]
    fn escapes() {
        assert!(m(r"\*", "*"));
        assert!(!m(r"\*", "a"));
        assert!(m(r"a\?", "a?"));
        assert!(!m(r"a\?", "ab"));
        assert!(m(r"\[a]", "[a]"));
        assert!(m(r"\\", r"\"));
        assert!(m(r"\a", "a"));
        // A trailing backslash is itself.
        assert!(m(r"a\", r"a\"));
        assert!(!m(r"a\", "a"));
        // Inside a class.
        assert!(m(r"[\]]", "]"));
        assert!(m(r"[\^a]", "^"));
        assert!(m(r"[\-z]", "-"));
        assert!(m(r"[\-z]", "z"));
        assert!(!m(r"[\-z]", "m"), r"`\-` is a literal dash, not a range");
        assert!(m(r"[a\-z]", "-"));
        assert!(!m(r"[a\-z]", "m"));
        assert!(m(r"[\\]", r"\"));
        // A backslash that ends an unterminated class is itself.
        assert!(m(r"[a\", r"\"));
        assert!(m(r"[a\", "a"));
    }

    #[test]
    fn unterminated_classes() {
        assert!(!m("[", "["));
        assert!(!m("a[", "a["));
        assert!(m("[^", "x"));
        assert!(m("[ab", "a"));
        assert!(m("[ab", "b"));
        assert!(!m("[ab", "ab"));
        assert!(m("x[a-c", "xb"));
        assert!(!m("x[a-c", "xd"));
    }

    #[test]
    fn range_ends_compare_as_signed_chars() {
        // 0xff is -1 and 'a' is 97: the range is -1..=97, so 'b' (98) is out and 0x00 in.
        assert!(matches(b"[a-\xff]", b"\xff"));
        assert!(matches(b"[a-\xff]", b"\x00"));
        assert!(matches(b"[a-\xff]", b"a"));
        assert!(!matches(b"[a-\xff]", b"b"));
        assert!(!matches(b"[a-\xff]", b"\x80"));
        assert!(matches(b"[\x80-\xff]", b"\x90"));
        assert!(!matches(b"[\x80-\xff]", b"a"));
        assert!(matches(b"[\x7f-\x80]", b"a"));
        assert!(matches(b"[\x7f-\x80]", b"\x7f"));
        assert!(matches(b"[\x7f-\x80]", b"\x81"), "-128..=127: every byte");
        // Plain bytes compare as bytes.
        assert!(matches(b"\xe9t\xe9", b"\xe9t\xe9"));
        assert!(matches(b"[\xe9]", b"\xe9"));
    }

    #[test]
    fn nesting_limit_of_redis() {
        let key = [b"a".repeat(1100), b"b".to_vec()].concat();
        let pattern = |runs: usize, tail: &[u8]| [b"*a".repeat(runs), tail.to_vec()].concat();
        // 999 + 1 = 1,000 stars followed by more: allowed.
        assert!(matches(&pattern(999, b"*b"), &key));
        assert!(!matches(&pattern(1000, b"*b"), &key));
        // A final star does not count.
        assert!(matches(&pattern(1000, b"*"), &key));
        assert!(!matches(&pattern(1001, b"*"), &key));
    }

    #[test]
    fn abusive_patterns_stay_fast() {
        // Exponential for a naive backtracking matcher; here at most tokens × bytes steps.
        let key = [b"a".repeat(5000)].concat();
        let pattern = [b"*a".repeat(500), b"*b".to_vec()].concat();
        let glob = Glob::new(&pattern);
        for _ in 0..3 {
            assert!(!glob.is_match(&key));
        }
        assert!(Glob::new(&[b"*a".repeat(500), b"*".to_vec()].concat()).is_match(&key));
    }

    #[test]
    fn split_keys_match_like_whole_keys() {
        let glob = Glob::new(b"ns:v:user:*:p[0-9]");
        for (head, tail) in [
            (&b"ns:v:"[..], &b"user:1:p3"[..]),
            (b"ns:", b"v:user:1:p3"),
            (b"", b"ns:v:user:1:p3"),
            (b"ns:v:user:1:p3", b""),
            (b"ns:v:", b"user:1:px"),
            (b"ns:w:", b"user:1:p3"),
        ] {
            let whole = [head, tail].concat();
            assert_eq!(glob.is_match_split(head, tail), glob.is_match(&whole));
        }
        assert!(!Glob::new(b"*").is_match_split(b"", b""));
        assert!(Glob::new(b"").is_match_split(b"", b""));
    }

    #[test]
    fn literal_prefix_stops_at_the_first_wildcard() {
        assert_eq!(Glob::new(b"ns:user:*").literal_prefix(), b"ns:user:");
        assert_eq!(Glob::new(br"ns:a\*b?").literal_prefix(), b"ns:a*b");
        assert_eq!(Glob::new(b"ns:[ab]").literal_prefix(), b"ns:");
        assert_eq!(Glob::new(b"*").literal_prefix(), b"");
        assert_eq!(Glob::new(b"ns:\\").literal_prefix(), b"ns:\\");
    }

    #[test]
    fn compiled_glob_is_reusable() {
        let glob = Glob::new(b"ns:user:*:profile");
        assert!(glob.is_match(b"ns:user:1:profile"));
        assert!(!glob.is_match(b"ns:user:1:settings"));
        assert!(glob.is_match(b"ns:user:22:profile"));
    }
}
