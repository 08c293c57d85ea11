//! The fill fence in Redis: what a load reads before its loader runs ([`L2Seen`]) and the
//! write of its result, which refuses to land after an invalidation that began later, on any
//! instance.
//!
//! Three things can make a load's result stale between its start and its fill:
//!
//! - **its key was invalidated or set**: the key's generation rose (see [`generation`]);
//! - **a pattern or `invalidate_all` ran** in the namespace: every one of them first raises
//!   the namespace's *pattern epoch* `<namespace>%:pe` (in the reserved keyspace, raised as a
//!   generation is: `max(old + 1, server µs)`, living as long), then `SCAN`s. A pattern cannot
//!   name the keys a load elsewhere is about to write, so any change of the epoch turns every
//!   older fill of the namespace away (they are loaded again by their next reader);
//! - **a generation or the epoch expired** (each lives `generation_ttl`, 10 minutes, after
//!   its last change): a load that finds either absent and began longer ago than that (by
//!   Redis's `TIME`, read with the generation) writes nothing, since a change made meanwhile
//!   may be gone. On a cluster, where the fill script cannot see the epoch, a load that saw no
//!   epoch and is that old writes nothing.
//!
//! **One server**: the load reads the generation, the epoch and `TIME` in one script (one
//! round trip), and the fill checks all three and writes in one script: exact, no window.
//!
//! **A cluster** (the epoch and the key live in different slots; no multi-slot scripts): the
//! read sends the generation script (on the key's node, with `TIME`) and the epoch's `GET`
//! together. The fill checks the generation and the age and writes (one single-slot script),
//! then reads the epoch again; if it moved, it removes the value it wrote when the key still
//! holds exactly those bytes (compare-and-delete). Correct because a pattern raises the epoch
//! *before* its `SCAN`: if the re-read still sees the old epoch, the `SCAN` began after the
//! write, and `SCAN` returns every key present for its whole run. The value is readable for
//! at most that one round trip (write → re-read → delete).
//!
//! [`generation`]: crate::tiers::generation

use std::time::Duration;

use super::{RedisTier, px};
use crate::fence::L2Seen;
use crate::tiers::TierResult;
use crate::tiers::generation::{self, BUMP, LuaScript};

/// `<namespace>%:pe`: the namespace's pattern epoch.
pub(crate) fn pattern_epoch_key(namespace: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + 4);
    k.extend_from_slice(namespace.as_bytes());
    k.push(crate::bookkeeping::MARK);
    k.extend_from_slice(b":pe");
    k
}

/// The fill's scripts.
#[derive(Debug)]
pub(crate) struct FillScripts {
    /// KEYS: generation[, epoch]. Returns `[generation, epoch, TIME in µs]` (`'0'` for an
    /// absent key, or the epoch when not asked for).
    read: LuaScript,
    /// KEYS: value, generation[, epoch]; ARGV: bytes, value TTL ms, seen generation, seen
    /// epoch, load start µs (0: unknown), generation lifetime µs, `1` when the epoch is not
    /// among the keys and was absent at the start. Returns 1 when written, 0 when refused.
    fill: LuaScript,
    /// KEYS: epoch; ARGV: lifetime ms. Raises the pattern epoch.
    bump: LuaScript,
    /// KEYS: value; ARGV: bytes. Unlinks the key if it holds exactly these bytes.
    undo: LuaScript,
}

impl Default for FillScripts {
    fn default() -> Self {
        Self {
            read: LuaScript::new(
                "local t = redis.call('TIME')\n\
                 local pe = '0'\n\
                 if KEYS[2] then pe = redis.call('GET', KEYS[2]) or '0' end\n\
                 return {redis.call('GET', KEYS[1]) or '0', pe, \
                 tonumber(t[1]) * 1000000 + tonumber(t[2])}\n"
                    .to_owned(),
            ),
            fill: LuaScript::new(
                "if redis.replicate_commands then redis.replicate_commands() end\n\
                 local g = redis.call('GET', KEYS[2])\n\
                 if (tonumber(g or '0') or 0) > tonumber(ARGV[3]) then return 0 end\n\
                 local gone = not g or ARGV[7] == '1'\n\
                 if KEYS[3] then\n\
                   local pe = redis.call('GET', KEYS[3])\n\
                   if (tonumber(pe or '0') or 0) ~= tonumber(ARGV[4]) then return 0 end\n\
                   gone = gone or not pe\n\
                 end\n\
                 local started = tonumber(ARGV[5])\n\
                 if gone and started > 0 then\n\
                   local t = redis.call('TIME')\n\
                   local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n\
                   if now - started > tonumber(ARGV[6]) then return 0 end\n\
                 end\n\
                 redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n\
                 return 1\n"
                    .to_owned(),
            ),
            bump: LuaScript::new(format!("{BUMP}\nreturn bump(KEYS[1], ARGV[1])\n")),
            undo: LuaScript::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('UNLINK', KEYS[1]) end\n\
                 return 0\n"
                    .to_owned(),
            ),
        }
    }
}

impl RedisTier {
    fn is_cluster(&self) -> bool {
        #[cfg(feature = "redis-cluster")]
        if matches!(self.conn, super::Connection::Cluster(_)) {
            return true;
        }
        false
    }

    /// What a load of the stored key `full` must still find when it fills: the key's
    /// generation, the namespace's pattern epoch, Redis's clock. One round trip (on a cluster,
    /// two commands sent together).
    pub(crate) async fn seen(&self, full: &[u8]) -> TierResult<L2Seen> {
        let gen_key = generation::generation_key(&self.namespace, full);
        let epoch_key = pattern_epoch_key(&self.namespace);
        let script = &self.fill_scripts.read;
        let (g, pe, now): (Vec<u8>, Vec<u8>, u64) = if self.is_cluster() {
            let mut get = redis::cmd("GET");
            get.arg(&epoch_key);
            let keys: [&[u8]; 1] = [&gen_key];
            let (read, epoch) = futures::join!(
                self.eval_keys::<(Vec<u8>, Vec<u8>, u64)>(script, &keys, &[]),
                self.query::<Option<Vec<u8>>>(get)
            );
            let (g, _, now) = read?;
            (g, epoch?.unwrap_or_default(), now)
        } else {
            self.eval_keys(script, &[&gen_key, &epoch_key], &[]).await?
        };
        Ok(L2Seen {
            generation: generation::parse(Some(&g)),
            pattern_epoch: generation::parse(Some(&pe)),
            started_us: now,
        })
    }

    /// Writes a loaded value unless, since the load read `seen`, the key's generation rose, the
    /// pattern epoch moved, or its generation is gone and the load is older than a
    /// generation's lifetime: `Ok(false)` then (see the module docs; on a cluster a value
    /// written just before the epoch was seen to move is removed again).
    pub(crate) async fn fill(
        &self,
        full: &[u8],
        value: &[u8],
        ttl: Duration,
        seen: L2Seen,
    ) -> TierResult<bool> {
        let gen_key = generation::generation_key(&self.namespace, full);
        let epoch_key = pattern_epoch_key(&self.namespace);
        let cluster = self.is_cluster();
        let ttl = px(ttl).to_string();
        let (g, pe, started) = (
            seen.generation.to_string(),
            seen.pattern_epoch.to_string(),
            seen.started_us.to_string(),
        );
        let lifetime = u64::try_from(self.generation_ttl.as_micros())
            .unwrap_or(u64::MAX)
            .to_string();
        // On a cluster the script cannot see the epoch: a load that saw none is held to the
        // age limit whatever its generation.
        let unseen_epoch = if cluster && seen.pattern_epoch == 0 {
            "1"
        } else {
            "0"
        };
        let args: [&[u8]; 7] = [
            value,
            ttl.as_bytes(),
            g.as_bytes(),
            pe.as_bytes(),
            started.as_bytes(),
            lifetime.as_bytes(),
            unseen_epoch.as_bytes(),
        ];
        let script = &self.fill_scripts.fill;
        let sent = std::time::Instant::now();
        let written: i64 = if cluster {
            self.eval_keys(script, &[full, &gen_key], &args).await?
        } else {
            self.eval_keys(script, &[full, &gen_key, &epoch_key], &args)
                .await?
        };
        if written != 1 {
            return Ok(false);
        }
        if !cluster {
            return Ok(true);
        }
        let mut get = redis::cmd("GET");
        get.arg(&epoch_key);
        let now: Option<Vec<u8>> = self.query(get).await?;
        if generation::parse(now.as_deref()) == seen.pattern_epoch {
            return Ok(true);
        }
        // A pattern began after the load: its `SCAN` may have passed the key before the write.
        let _: i64 = self
            .eval_keys(&self.fill_scripts.undo, &[full], &[value])
            .await?;
        // An upper bound of the time the value was readable: from sending the write to the
        // removal's reply.
        let window_us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(
            namespace = %self.namespace,
            window_us,
            "cluster fill removed again: a pattern began during its load"
        );
        Ok(false)
    }

    /// Raises `<namespace>%:pe`, before a pattern's `SCAN`.
    pub(crate) async fn raise_pattern_epoch(&self) -> TierResult<()> {
        let key = pattern_epoch_key(&self.namespace);
        let lifetime = px(self.generation_ttl).to_string();
        self.eval_keys::<redis::Value>(&self.fill_scripts.bump, &[&key], &[lifetime.as_bytes()])
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_is_a_bookkeeping_key() {
        assert_eq!(pattern_epoch_key("shop"), b"shop%:pe");
    }

    fn redis_url() -> String {
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    /// An instance on the real Redis whose generations (and pattern epoch) live `lifetime`;
    /// no bus, so that only the Redis fence is at work.
    async fn instance(ns: &str, lifetime: Duration) -> crate::Cache<u64> {
        let mut builder = crate::Backend::builder()
            .namespace(ns)
            .redis_url(redis_url())
            .require_l2(true)
            .bus(false);
        builder.redis.generation_ttl = lifetime;
        let backend = builder.build().await.unwrap();
        crate::Cache::<u64>::builder()
            .prefix("v")
            .build_on(&backend)
            .unwrap()
    }

    async fn exists(key: &str) -> bool {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("EXISTS")
            .arg(key)
            .query_async::<i64>(&mut c)
            .await
            .unwrap()
            == 1
    }

    /// A load on B outlives the generation that A's invalidation raised (a short lifetime
    /// stands in for 10 minutes): the fill finds no generation and a load older than the
    /// lifetime, so it writes nothing. Its caller still gets the value, and it is counted as a
    /// dropped stale fill. A load younger than the lifetime is written as usual.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_load_that_outlives_the_generation_lifetime_is_not_written() {
        let lifetime = Duration::from_millis(300);
        let ns = format!(
            "t-gen-life-{}-{}",
            std::process::id(),
            crate::clock::now_unix_us()
        );
        let (a, b) = (instance(&ns, lifetime).await, instance(&ns, lifetime).await);
        let key = crate::Key::new(1_u64);
        let stored = format!("{ns}:v:1");
        let release = std::sync::Arc::new(tokio::sync::Notify::new());
        let started = std::sync::Arc::new(tokio::sync::Notify::new());
        let (r, s, b2, k) = (release.clone(), started.clone(), b.clone(), key.clone());
        let load = tokio::spawn(async move {
            b2.get_or_load(&k, || async move {
                s.notify_one();
                r.notified().await;
                7
            })
            .await
        });
        started.notified().await;
        assert!(a.invalidate(&key).await.is_complete());
        // The generation A raised expires (Redis drops it after `lifetime`).
        let gen_key =
            String::from_utf8(generation::generation_key(&ns, stored.as_bytes())).unwrap();
        assert!(exists(&gen_key).await);
        let mut gone = false;
        for _ in 0..100 {
            tokio::time::sleep(lifetime / 4).await;
            if !exists(&gen_key).await {
                gone = true;
                break;
            }
        }
        assert!(gone, "the generation expired");
        release.notify_one();
        assert_eq!(load.await.unwrap(), 7, "the caller gets its value");
        assert!(!exists(&stored).await, "the old load wrote nothing");
        assert_eq!(b.stats().stale_fills_dropped, 1);
        assert_eq!(b.get(&key).await, None, "nor kept it in L1");

        // A young load is written.
        let key = crate::Key::new(2_u64);
        assert_eq!(b.get_or_load(&key, || async { 8 }).await, 8);
        assert!(exists(&format!("{ns}:v:2")).await);
        assert_eq!(b.stats().stale_fills_dropped, 1);
        let _ = a.invalidate_all().await;
    }
}
