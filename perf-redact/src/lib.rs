//! Password redaction for connection URLs, shared by perf-cache and perf-db.
//!
//! Both crates re-export [`redact_url`] (`perf_cache::redact_url`, `perf_db::redact_url`), so every
//! URL they log, render or return in an error is redacted by this one function.
#![doc = include_str!("../README.md")]

use url::{Position, Url};

/// What replaces a secret.
const MASK: &str = "***";

/// Returns `url` with its password, and the value of any secret-looking query parameter
/// (`password`, `sslpassword`, `secret`, `token`, …), replaced by `***`. The user name is kept
/// (`postgres://app@db` names a user, for sqlx and redis-rs alike).
///
/// A URL that the [`url`](https://docs.rs/url) crate parses unambiguously is redacted through it
/// (and comes back in its normalized form). A password written raw, with `/`, `?`, `#` or `@` in
/// it, either makes the URL unparsable or moves part of it behind the host (the parser then sees
/// a short "authority" and a path holding an `@`). In both cases everything between `://` and
/// the last `@` is replaced, user name included: that may hide more than the password, never
/// less.
///
/// Every log line, `Debug` and `Display` output of perf-cache and perf-db goes through it.
///
/// ```
/// use perf_redact::redact_url;
///
/// assert_eq!(
///     redact_url("postgres://app:s3cret@db:5432/app?sslmode=require"),
///     "postgres://app:***@db:5432/app?sslmode=require"
/// );
/// // a password written raw with URL delimiters in it
/// assert_eq!(redact_url("postgres://app:a/b?c#d@db/app"), "postgres://***@db/app");
/// assert_eq!(redact_url("mysql://root@db/app?password=x"), "mysql://root@db/app?password=***");
/// assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
/// ```
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // `sqlite::memory:`, `sqlite:data.db?mode=ro`: no authority, so no user information.
        return redact_query(url);
    };
    if let Ok(mut parsed) = Url::parse(url)
        && !parsed[Position::AfterPort..].contains('@')
    {
        if parsed.password().is_some() {
            // Fails only for URLs without a host, which cannot carry a password.
            let _ = parsed.set_password(Some(MASK));
        }
        return redact_query(parsed.as_str());
    }
    match rest.rfind('@') {
        Some(at) => format!("{scheme}://{MASK}@{}", redact_query(&rest[at + 1..])),
        None => redact_query(url),
    }
}

/// Redacts the values of secret-looking query parameters; the rest is kept as written.
fn redact_query(url: &str) -> String {
    let Some((head, tail)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = match tail.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (tail, None),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(head);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if is_secret(key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(pair),
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
        || key == "pass"
        || key == "pwd"
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    const CASES: &[(&str, &str)] = &[
        (
            "postgres://app:s3cret@db:5432/app",
            "postgres://app:***@db:5432/app",
        ),
        (
            "redis://user:s3cret@cache:6379/0",
            "redis://user:***@cache:6379/0",
        ),
        ("rediss://:pw@h/1", "rediss://:***@h/1"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ("mysql://root@h/db", "mysql://root@h/db"),
        ("redis://default@h:6379", "redis://default@h:6379"),
        // `@` in the password, raw or encoded
        ("mysql://root:p@ss@h/db", "mysql://root:***@h/db"),
        ("mysql://root:p%40ss@h/db", "mysql://root:***@h/db"),
        // raw `/`, `?`, `#` in the password (some of these parse, some do not)
        ("postgres://app:pa/ss@db/app", "postgres://***@db/app"),
        ("postgres://app:12/ss@db/app", "postgres://***@db/app"),
        ("postgres://app:/ss@db/app", "postgres://***@db/app"),
        ("postgres://app:pa?ss@db/app", "postgres://***@db/app"),
        ("postgres://app:12?ss@db/app", "postgres://***@db/app"),
        ("postgres://app:pa#ss@db/app", "postgres://***@db/app"),
        ("postgres://app:12#ss@db/app", "postgres://***@db/app"),
        ("redis://:a/b?c#d@e@h:6379/0", "redis://***@h:6379/0"),
        (
            "rediss://u:x/y@h/2?password=z",
            "rediss://***@h/2?password=***",
        ),
        // query parameters
        (
            "postgres://h/db?user=a&password=b&x=1",
            "postgres://h/db?user=a&password=***&x=1",
        ),
        (
            "postgres://h/db?sslpassword=b#frag",
            "postgres://h/db?sslpassword=***#frag",
        ),
        ("redis://h/0?token=abc", "redis://h/0?token=***"),
        // no authority, or nothing secret
        ("sqlite:///tmp/a.db", "sqlite:///tmp/a.db"),
        ("sqlite::memory:", "sqlite::memory:"),
        ("sqlite:data.db?mode=ro", "sqlite:data.db?mode=ro"),
        ("not a url", "not a url"),
        ("postgres://h:notaport/db", "postgres://h:notaport/db"),
    ];

    #[test]
    fn redaction_table() {
        for (input, expected) in CASES {
            assert_eq!(redact_url(input), *expected, "input: {input}");
        }
    }

    #[test]
    fn no_password_character_survives() {
        for password in [
            "s3cret", "a/b", "a?b", "a#b", "a@b", "/?#@", "1/2", "9#9", "7?7",
        ] {
            for scheme in ["postgres", "mysql", "redis", "rediss"] {
                for tail in ["", "/0", "/db?sslmode=require", "?x=1", "#f"] {
                    let url = format!("{scheme}://user:{password}@host:1234{tail}");
                    let out = redact_url(&url);
                    assert!(!out.contains(password), "{url} -> {out}");
                    assert!(out.contains("***@host:1234"), "{url} -> {out}");
                }
            }
        }
    }
}
