//! Bookkeeping keys (tag generations, leases, tombstones): stored under `<namespace>%:`, where
//! no user key, pattern, `invalidate_all` or `clear` can reach them.
//!
//! Every user key is stored as `<namespace>:<key>` and every pattern the crate sends is
//! `<namespace>:<pattern>` (or `<namespace>:<prefix>:<pattern>`) with that head literal. A
//! namespace holds only `[A-Za-z0-9_.-]` (validated), so it never contains `%` or `:`: the byte
//! after the namespace tells the two key spaces apart, and no namespace's keys or patterns can
//! reach another namespace's bookkeeping keys either.

use crate::Key;

/// The byte after the namespace that marks a bookkeeping key.
pub(crate) const MARK: u8 = b'%';

/// `<namespace>%:<kind>:<key>`: a bookkeeping key of `kind` (e.g. `tag`, `lease`) for `key`.
pub(crate) fn key(namespace: &str, kind: &str, key: &Key) -> Vec<u8> {
    let kind = Key::new(kind);
    let mut out =
        Vec::with_capacity(namespace.len() + 2 + kind.as_bytes().len() + 1 + key.as_bytes().len());
    out.extend_from_slice(namespace.as_bytes());
    out.push(MARK);
    out.push(crate::key::SEPARATOR);
    out.extend_from_slice(kind.as_bytes());
    out.push(crate::key::SEPARATOR);
    out.extend_from_slice(key.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pattern;
    use crate::glob::Glob;

    #[test]
    fn bookkeeping_keys_sit_after_a_percent() {
        let k = key("shop", "tag", &Key::new("user:*"));
        assert_eq!(k, b"shop%:tag:user%3A%2A");
    }

    #[test]
    fn namespaces_cannot_hold_the_mark() {
        let err = crate::key::validate_namespace("shop%").unwrap_err();
        assert!(err.to_string().contains("namespace"));
        assert!(crate::key::validate_namespace("shop:x").is_err());
    }

    #[test]
    fn no_pattern_of_the_namespace_reaches_them() {
        let k = key("shop", "lease", &Key::new("x"));
        for pattern in [
            Pattern::new().any(),
            Pattern::new().glob("*%*"),
            Pattern::new().glob("[%]*"),
            Pattern::new().glob("?*"),
        ] {
            assert!(
                !Glob::new(&pattern.full("shop")).is_match(&k),
                "{pattern:?}"
            );
            assert!(
                !Glob::new(&pattern.full("shop:view")).is_match(&k),
                "{pattern:?}"
            );
        }
        assert!(
            !Glob::new(b"shop:*").is_match(&k),
            "invalidate_all's pattern"
        );
    }
}
