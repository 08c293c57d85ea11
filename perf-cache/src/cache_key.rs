//! [`CacheKey`]: how a `#[cached]` function's arguments become one escaped key segment each.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use crate::Key;
use crate::key::{Scalar, is_reserved};

/// A value that can be part of a cache key: each argument of a `#[cached]` function becomes
/// one segment of the key, written through a [`KeyWriter`].
///
/// The one trait for key segments: [`Key::new`], [`Key::arg`], [`Pattern::lit`](crate::Pattern::lit)
/// and `#[cached]` arguments all take it, so a value gives the same segment whichever way it
/// reaches a key.
///
/// Implemented for strings, every integer type, `bool`, `char`, `Option`, tuples up to 8
/// elements, slices, `Vec`, arrays, references, `Box`, `Rc`, `Arc` and `Cow`; with features,
/// `uuid::Uuid` (`uuid`: hyphenated lower case), chrono's `DateTime<Utc>` and `NaiveDate`
/// (`chrono`) and time's `OffsetDateTime` and `Date` (`time`): RFC 3339 in UTC with 9
/// fraction digits and `Z`, or `YYYY-MM-DD`. Derive it for your own structs and enums with
/// `#[derive(CacheKey)]` (feature `macros`). Floats are left out on purpose (`0.0 == -0.0`
/// and `NaN` make poor keys).
///
/// The encoding is injective for each type: composite values are written as
/// `(item,item,)` groups in which the text of strings also escapes `(`, `)`, `,` and `~`,
/// `None` is `~` and `Some(x)` is `(x,)`. Like every [`Key`] segment, the result never holds
/// `:` or a Redis glob metacharacter, so no argument can forge another key or a pattern.
///
/// ```
/// use perf_cache::{CacheKey, Key};
///
/// let key = Key::new("k").arg_key(&("a,b", Some(7_u32), vec![1_u8, 2]));
/// assert_eq!(key.as_str(), "k:(a%2Cb,(7,),(1,2,),)");
/// assert_ne!(Key::new("k").arg_key(&None::<&str>), Key::new("k").arg_key(&Some("~")));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it does not implement `CacheKey`",
    label = "this argument is part of the key",
    note = "add `skip(arg)` to leave it out of the key, a `key = \"..\"` template, or `#[derive(CacheKey)]` on the type"
)]
pub trait CacheKey {
    /// Writes this value into the key.
    fn write_key(&self, out: &mut KeyWriter<'_>);
}

/// Writes one key segment for [`CacheKey::write_key`]; escapes what it must.
///
/// ```
/// use perf_cache::{CacheKey, Key, KeyWriter};
///
/// struct Point { x: i32, y: i32 }
/// impl CacheKey for Point {
///     fn write_key(&self, out: &mut KeyWriter<'_>) {
///         out.group(|g| {
///             g.item(&self.x);
///             g.item(&self.y);
///         });
///     }
/// }
/// assert_eq!(Key::new("p").arg_key(&Point { x: 1, y: -2 }).as_str(), "p:(1,-2,)");
/// ```
#[derive(Debug)]
pub struct KeyWriter<'a> {
    key: &'a mut Key,
    /// Inside a group (tuple, sequence, struct): structure characters in text are escaped.
    depth: u32,
}

impl KeyWriter<'_> {
    /// Writes text, escaped.
    #[inline]
    pub fn text(&mut self, text: &str) {
        if self.depth == 0 {
            self.key.push_escaped(text);
        } else {
            self.key
                .push_escaped_where(text, |b| is_reserved(b) || is_structure(b));
        }
    }

    /// Writes a group `( … )` whose items `items` writes with [`item`](Self::item).
    pub fn group(&mut self, items: impl FnOnce(&mut Self)) {
        self.key.push_raw(b"(");
        self.depth += 1;
        items(self);
        self.depth -= 1;
        self.key.push_raw(b")");
    }

    /// Writes one item of a group, followed by `,`.
    pub fn item<T: CacheKey + ?Sized>(&mut self, value: &T) {
        value.write_key(self);
        self.key.push_raw(b",");
    }

    /// Writes `~`, the marker of an absent value.
    pub fn none(&mut self) {
        self.key.push_raw(b"~");
    }

    /// Writes a scalar as it is (integers in decimal, `bool`: never escaped).
    #[inline]
    fn scalar<T: Scalar + ?Sized>(&mut self, value: &T) {
        value.push_onto(self.key);
    }
}

/// Appends one segment written by `write` to `key`, after a separator unless it is the
/// first.
#[inline]
pub(crate) fn write_segment(key: &mut Key, first: bool, write: impl FnOnce(&mut KeyWriter<'_>)) {
    if !first {
        key.push_raw(b":");
    }
    write(&mut KeyWriter { key, depth: 0 });
}

const fn is_structure(b: u8) -> bool {
    matches!(b, b'(' | b')' | b',' | b'~')
}

impl Key {
    /// Appends one segment written by a [`CacheKey`] value (the `#[cached]` macro's argument
    /// encoding).
    ///
    /// ```
    /// use perf_cache::Key;
    /// assert_eq!(Key::new("user").arg_key(&(1_u8, "x")).as_str(), "user:(1,x,)");
    /// ```
    #[must_use]
    pub fn arg_key<T: CacheKey + ?Sized>(mut self, value: &T) -> Self {
        write_segment(&mut self, false, |w| value.write_key(w));
        self
    }

    /// A key whose one segment is written by a [`CacheKey`] value.
    ///
    /// ```
    /// use perf_cache::Key;
    /// assert_eq!(Key::from_key(&42_u64).as_str(), "42");
    /// ```
    #[must_use]
    pub fn from_key<T: CacheKey + ?Sized>(value: &T) -> Self {
        let mut key = Self::empty();
        write_segment(&mut key, true, |w| value.write_key(w));
        key
    }
}

impl CacheKey for str {
    #[inline]
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        out.text(self);
    }
}

impl CacheKey for String {
    #[inline]
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        out.text(self);
    }
}

impl CacheKey for char {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        let mut buf = [0; 4];
        out.text(self.encode_utf8(&mut buf));
    }
}

macro_rules! scalar_key {
    ($($t:ty),*) => {$(
        impl CacheKey for $t {
            #[inline]
            fn write_key(&self, out: &mut KeyWriter<'_>) {
                out.scalar(self);
            }
        }
    )*};
}
scalar_key!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, bool
);

impl<T: CacheKey + ?Sized> CacheKey for &T {
    #[inline]
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        (**self).write_key(out);
    }
}

impl<T: CacheKey + ?Sized> CacheKey for &mut T {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        (**self).write_key(out);
    }
}

macro_rules! pointer_key {
    ($($p:ident),*) => {$(
        impl<T: CacheKey + ?Sized> CacheKey for $p<T> {
            fn write_key(&self, out: &mut KeyWriter<'_>) {
                (**self).write_key(out);
            }
        }
    )*};
}
pointer_key!(Box, Rc, Arc);

impl<T: CacheKey + ToOwned + ?Sized> CacheKey for Cow<'_, T> {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        (**self).write_key(out);
    }
}

impl<T: CacheKey> CacheKey for Option<T> {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        match self {
            None => out.none(),
            Some(v) => out.group(|g| g.item(v)),
        }
    }
}

impl<T: CacheKey> CacheKey for [T] {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        out.group(|g| {
            for v in self {
                g.item(v);
            }
        });
    }
}

impl<T: CacheKey, const N: usize> CacheKey for [T; N] {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        self.as_slice().write_key(out);
    }
}

impl<T: CacheKey> CacheKey for Vec<T> {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        self.as_slice().write_key(out);
    }
}

impl CacheKey for () {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        out.group(|_| {});
    }
}

macro_rules! tuple_key {
    ($($name:ident)+) => {
        impl<$($name: CacheKey),+> CacheKey for ($($name,)+) {
            #[allow(non_snake_case)]
            fn write_key(&self, out: &mut KeyWriter<'_>) {
                let ($($name,)+) = self;
                out.group(|g| {
                    $(g.item($name);)+
                });
            }
        }
    };
}
tuple_key!(A);
tuple_key!(A B);
tuple_key!(A B C);
tuple_key!(A B C D);
tuple_key!(A B C D E);
tuple_key!(A B C D E F);
tuple_key!(A B C D E F G);
tuple_key!(A B C D E F G H);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc<T: CacheKey + ?Sized>(v: &T) -> String {
        Key::from_key(v).as_str().to_owned()
    }

    #[test]
    fn scalars_match_key_arg() {
        assert_eq!(enc(&-5_i64), "-5");
        assert_eq!(enc(&u128::MAX), u128::MAX.to_string());
        assert_eq!(enc(&true), "true");
        assert_eq!(enc("a:b*"), "a%3Ab%2A");
        assert_eq!(enc(&'*'), "%2A");
        // Top-level text keeps structure characters as they are.
        assert_eq!(enc("a,b(~)"), "a,b(~)");
    }

    #[test]
    fn composites_are_grouped() {
        assert_eq!(enc(&(1_u8, "x,y")), "(1,x%2Cy,)");
        assert_eq!(enc(&Vec::<u8>::new()), "()");
        assert_eq!(enc(&vec![""]), "(,)");
        assert_eq!(enc(&None::<u8>), "~");
        assert_eq!(enc(&Some("~")), "(%7E,)");
        assert_eq!(enc(&[[1_u8], [2]]), "((1,),(2,),)");
        assert_eq!(enc(&Arc::new(Box::new(Cow::Borrowed("a")))), "a");
    }

    proptest! {
        #[test]
        fn distinct_values_give_distinct_keys(
            a in proptest::collection::vec(proptest::option::of(".*"), 0..4),
            b in proptest::collection::vec(proptest::option::of(".*"), 0..4),
        ) {
            let (ka, kb) = (enc(&a), enc(&b));
            prop_assert_eq!(a == b, ka == kb, "{} vs {}", ka, kb);
            let forged = ka.bytes().any(|c| matches!(c, b':' | b'*' | b'?' | b'[' | b']' | b'\\' | b'{' | b'}'));
            prop_assert!(!forged, "reserved character in {}", ka);
        }

        #[test]
        fn tuples_of_strings_are_injective(a in (".*", ".*"), b in (".*", ".*")) {
            prop_assert_eq!(a == b, enc(&a) == enc(&b));
        }
    }
}
