//! Generations in Redis: the compare-and-set that keeps a load that began before an
//! invalidation (on any instance) from writing its value into L2 afterwards.
//!
//! Each key invalidated or written with `set` has a *generation* in a bookkeeping key under
//! the reserved keyspace, `<namespace>%:g:{<namespace>:<key>}`: the hash tag puts it in the
//! value key's cluster slot, and no user pattern or `clear` (`<namespace>:*`) can reach it
//! (namespaces cannot contain `%`). Every script touches only these two keys of one slot, so
//! it runs on a Redis Cluster as on one server.
//!
//! - **invalidate**: `UNLINK` the value, raise the generation to `max(old + 1, server time
//!   in µs)` (Redis's own clock, never the instances': no skew between machines).
//! - **set**: `SET` the value and raise the generation the same way.
//! - **fill** (a load's result, `redis/fill.rs`): `SET` only if the generation is not above
//!   the one the load read before it ran its loader (and the namespace's pattern epoch has not
//!   moved); otherwise nothing is written.
//!
//! A generation lives [`GENERATION_TTL`] after its last change. A fill that finds no
//! generation refuses to write when its load began longer ago than that (by Redis's clock):
//! the generation it would have had to compare may have expired meanwhile.

use std::sync::OnceLock;
use std::time::Duration;

/// How long a generation key lives after its last change (the default of
/// `RedisOptions::generation_ttl`).
pub(crate) const GENERATION_TTL: Duration = Duration::from_secs(600);

/// The Lua preamble shared by the scripts: `bump(key, ttl)` raises a generation (or the
/// pattern epoch) to `max(old + 1, server time in µs)`, so that a value that expired never
/// comes back.
pub(crate) const BUMP: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local function bump(gk, ttl)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local cur = tonumber(redis.call('GET', gk) or '0') or 0
  local g = math.max(cur + 1, now)
  redis.call('SET', gk, string.format('%.0f', g), 'PX', ttl)
  return g
end
";

/// A Lua script sent by `EVALSHA` once its digest is known (learnt with `SCRIPT LOAD`), by
/// `EVAL` otherwise and whenever the server answers `NOSCRIPT` (a restart, a failover).
#[derive(Debug)]
pub(crate) struct LuaScript {
    pub(crate) body: String,
    pub(crate) sha: OnceLock<String>,
}

impl LuaScript {
    pub(crate) fn new(body: String) -> Self {
        Self {
            body,
            sha: OnceLock::new(),
        }
    }
}

/// The generation-raising scripts of one tier (the fill is in `redis/fill.rs`).
#[derive(Debug)]
pub(crate) struct Scripts {
    /// KEYS: value, generation; ARGV: generation TTL ms. Returns how many keys it removed
    /// (0 or 1).
    pub(crate) invalidate: LuaScript,
    /// KEYS: value, generation; ARGV: bytes, value TTL ms, generation TTL ms.
    pub(crate) set: LuaScript,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            invalidate: LuaScript::new(format!(
                "{BUMP}\nlocal n = redis.call('UNLINK', KEYS[1])\nbump(KEYS[2], ARGV[1])\nreturn n\n"
            )),
            set: LuaScript::new(format!(
                "{BUMP}\nredis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\nreturn bump(KEYS[2], ARGV[3])\n"
            )),
        }
    }
}

/// The generation key of the stored key `full` (`<namespace>:<key>`), in the same cluster
/// slot: `<namespace>%:g:{<full>}`, or `<namespace>%:g:<full>` when `full` carries its own hash
/// tag (a raw key of another service), whose first tag then decides both slots.
pub(crate) fn generation_key(namespace: &str, full: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + 6 + full.len());
    k.extend_from_slice(namespace.as_bytes());
    // The reserved keyspace of `bookkeeping`, kind `g`.
    k.push(crate::bookkeeping::MARK);
    k.extend_from_slice(b":g:");
    if has_hash_tag(full) {
        k.extend_from_slice(full);
    } else {
        k.push(b'{');
        k.extend_from_slice(full);
        k.push(b'}');
    }
    k
}

/// Whether Redis Cluster would hash `key` by a `{tag}` inside it (a non-empty one).
pub(crate) fn has_hash_tag(key: &[u8]) -> bool {
    key.iter().position(|&b| b == b'{').is_some_and(|open| {
        key[open + 1..]
            .iter()
            .position(|&b| b == b'}')
            .is_some_and(|len| len > 0)
    })
}

/// A generation as stored (decimal text); anything else reads as 0.
pub(crate) fn parse(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_key_is_reserved_and_in_the_value_slot() {
        assert_eq!(generation_key("ns", b"ns:user:1"), b"ns%:g:{ns:user:1}");
        // A raw key with its own tag keeps it first.
        assert_eq!(generation_key("ns", b"ns:{t}:1"), b"ns%:g:ns:{t}:1");
        assert!(!has_hash_tag(b"a{}b"));
        assert!(has_hash_tag(b"a{b}"));
    }

    #[test]
    fn unreadable_generations_are_zero() {
        assert_eq!(parse(Some(b"17")), 17);
        assert_eq!(parse(Some(b"x")), 0);
        assert_eq!(parse(None), 0);
    }
}
