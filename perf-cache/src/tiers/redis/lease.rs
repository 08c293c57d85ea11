//! The lease of cluster-wide single-flight in Redis: `<namespace>%:l:{<namespace>:<key>}`
//! holds the random token of the instance loading the key.
//!
//! The key lives in the reserved keyspace (no user pattern or `clear` reaches it) and its hash
//! tag puts it in the value key's cluster slot (as the generation key's does), so each script
//! names keys of one slot and runs on a Redis Cluster as on one server.

use std::sync::LazyLock;
use std::sync::OnceLock;
use std::time::Duration;

use super::{RedisTier, px, settle};
use crate::tiers::generation::{self, LuaScript, has_hash_tag};
use crate::tiers::{TierError, TierResult};

/// KEYS: value, lease, generation; ARGV: token, lease TTL ms, `1` to return a stored value.
/// Returns the stored value (when asked); else, when the lease was taken, `{1, generation}`
/// (the key's generation, read for the load's fill in the same round trip); else 0 (another
/// instance holds it).
static ACQUIRE: LazyLock<LuaScript> = LazyLock::new(|| LuaScript {
    body: "if ARGV[3] == '1' then\n\
             local v = redis.call('GET', KEYS[1])\n\
             if v then return v end\n\
           end\n\
           if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n\
             return {1, redis.call('GET', KEYS[3]) or '0'}\n\
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
    /// This caller holds the lease now; the key's generation (see
    /// [`generation`](crate::tiers::generation)) as read with it.
    Acquired(u64),
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
        let generation = generation::generation_key(&self.namespace, full);
        let ttl = px(ttl).to_string();
        let want: &[u8] = if want_value { b"1" } else { b"0" };
        let reply: redis::Value = self
            .eval_keys(
                &ACQUIRE,
                &[full, &lease, &generation],
                &[token, ttl.as_bytes(), want],
            )
            .await?;
        match reply {
            redis::Value::BulkString(bytes) => Ok(Acquire::Stored(bytes)),
            redis::Value::Array(items) if items.first() == Some(&redis::Value::Int(1)) => {
                let g = match items.get(1) {
                    Some(redis::Value::BulkString(g)) => generation::parse(Some(g)),
                    _ => 0,
                };
                Ok(Acquire::Acquired(g))
            }
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

    /// Runs `script` on `keys` (all of one slot) by digest when it is known, else (or on
    /// `NOSCRIPT`) by its text, learning the digest after a first run.
    async fn eval_keys<T: redis::FromRedisValue>(
        &self,
        script: &LuaScript,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> TierResult<T> {
        let permit = self.permit()?;
        let cmd = |by_digest: bool| {
            let mut cmd = match (by_digest, script.sha.get()) {
                (true, Some(sha)) => {
                    let mut c = redis::cmd("EVALSHA");
                    c.arg(sha);
                    c
                }
                _ => {
                    let mut c = redis::cmd("EVAL");
                    c.arg(&script.body);
                    c
                }
            };
            cmd.arg(keys.len());
            for k in keys {
                cmd.arg(*k);
            }
            for a in args {
                cmd.arg(*a);
            }
            cmd
        };
        if script.sha.get().is_some() {
            match self.send::<T>(&cmd(true)).await {
                Err(e) if e.code() == Some("NOSCRIPT") => {}
                other => return settle(permit, other),
            }
        }
        let result = self.send::<T>(&cmd(false)).await;
        if result.is_ok() && script.sha.get().is_none() {
            let mut load = redis::cmd("SCRIPT");
            load.arg("LOAD").arg(&script.body);
            if let Ok(sha) = self.send::<String>(&load).await {
                let _ = script.sha.set(sha);
            }
        }
        settle(permit, result)
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
