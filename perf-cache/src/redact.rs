//! Removing passwords from URLs before they reach a log line or a `Debug` string.

/// Returns `url` with the password (if any) replaced by `***`.
///
/// ```
/// assert_eq!(
///     perf_cache::redact_url("redis://user:s3cret@cache:6379/0"),
///     "redis://user:***@cache:6379/0"
/// );
/// assert_eq!(perf_cache::redact_url("rediss://:pw@h/1"), "rediss://:***@h/1");
/// assert_eq!(perf_cache::redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
/// ```
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        // A lone userinfo part is a password in redis URLs (`redis://secret@host`).
        None => format!("{scheme}://***@{host}{tail}"),
    }
}
