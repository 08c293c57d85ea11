//! The lease of cluster-wide single-flight in Redis: `<namespace>%:l:{<namespace>:<key>}`
//! holds the random token of the instance loading the key.
//!
//! The key lives in the reserved keyspace (no user pattern or `clear` reaches it) and its hash
//! tag puts it in the value key's cluster slot (as the generation key's does), so each script
//! names keys of one slot and runs on a Redis Cluster as on one server.

use std::sync::LazyLock;
use std::sync::OnceLock;
use std::time::Duration;

use super::{RedisTier, px};
use crate::tiers::generation::{LuaScript, has_hash_tag};
use crate::tiers::{TierError, TierResult};

/// KEYS: value, lease; ARGV: token, lease TTL ms, `1` to return a stored value. Returns the
/// stored value (when asked); else 1 when the lease was taken; else 0 (another instance holds
/// it). The load then reads the key's generation, the pattern epoch and Redis's clock as any
/// load does (the epoch lives in another slot on a cluster, out of this script's reach).
static ACQUIRE: LazyLock<LuaScript> = LazyLock::new(|| LuaScript {
    body: "if ARGV[3] == '1' then\n\
             local v = redis.call('GET', KEYS[1])\n\
             if v then return v end\n\
           end\n\
           if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n\
             return 1\n\
           end\n\
           return 0\n"
        .to_owned(),
    sha: OnceLock::new(),
});

/// KEYS: lease; ARGV: token, wake channel (empty: none), value key. Deletes the lease only if
/// it still holds this token (a lease that expired and was taken by another instance is left
/// alone) and then publishes the value key on the wake channel; 1 when deleted.
static RELEASE: LazyLock<LuaScript> = LazyLock::new(|| LuaScript {
    body: "if redis.call('GET', KEYS[1]) == ARGV[1] then\n\
             redis.call('DEL', KEYS[1])\n\
             if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end\n\
             return 1\n\
           end\n\
           return 0\n"
        .to_owned(),
    sha: OnceLock::new(),
});

/// What an attempt to take the lease found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// The value is stored already (its bytes, not yet checked).
    Stored(Vec<u8>),
    /// This caller holds the lease now.
    Acquired,
    /// Another instance holds it.
    Held,
}

/// The lease key of the stored key `full`, in its cluster slot: `<namespace>%:l:{<full>}`, or
/// `<namespace>%:l:<full>` when `full` carries its own hash tag.
pub(crate) fn lease_key(namespace: &str, full: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + 6 + full.len());
    k.extend_from_slice(namespace.as_bytes());
    k.push(crate::bookkeeping::MARK);
    k.extend_from_slice(b":l:");
    if has_hash_tag(full) {
        k.extend_from_slice(full);
    } else {
        k.push(b'{');
        k.extend_from_slice(full);
        k.push(b'}');
    }
    k
}

impl RedisTier {
    /// One script: the stored value of `full` if there is one (and `want_value`), else an
    /// attempt to take its lease with `token` for `ttl`.
    pub(crate) async fn lease_acquire(
        &self,
        full: &[u8],
        token: &[u8],
        ttl: Duration,
        want_value: bool,
    ) -> TierResult<Acquire> {
        let lease = lease_key(&self.namespace, full);
        let ttl = px(ttl).to_string();
        let want: &[u8] = if want_value { b"1" } else { b"0" };
        let reply: redis::Value = self
            .eval_keys(&ACQUIRE, &[full, &lease], &[token, ttl.as_bytes(), want])
            .await?;
        match reply {
            redis::Value::BulkString(bytes) => Ok(Acquire::Stored(bytes)),
            redis::Value::Int(1) => Ok(Acquire::Acquired),
            redis::Value::Int(0) => Ok(Acquire::Held),
            other => Err(TierError::Failed(format!(
                "lease script answered {other:?}"
            ))),
        }
    }

    /// Deletes the lease of `full` if it still holds `token` and then publishes `full` on
    /// `wake` (the waiters' channel, if any), in one script; whether it did.
    pub(crate) async fn lease_release(
        &self,
        full: &[u8],
        token: &[u8],
        wake: Option<&str>,
    ) -> TierResult<bool> {
        let lease = lease_key(&self.namespace, full);
        let channel = wake.unwrap_or_default().as_bytes();
        let n: i64 = self
            .eval_keys(&RELEASE, &[&lease], &[token, channel, full])
            .await?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_key_is_reserved_and_in_the_value_slot() {
        assert_eq!(lease_key("ns", b"ns:user:1"), b"ns%:l:{ns:user:1}");
        assert_eq!(lease_key("ns", b"ns:{t}:1"), b"ns%:l:ns:{t}:1");
    }
}
