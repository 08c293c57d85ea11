//! L2: Redis through one multiplexed, auto-reconnecting `ConnectionManager`, behind a circuit
//! breaker and short command timeouts.

use std::io::Write as _;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::breaker::{Breaker, Permit, is_outage};
use crate::tiers::generation::{self, GENERATION_TTL, LuaScript, Scripts};
use crate::tiers::{Tier, TierError, TierResult};

mod fill;
mod lease;
mod plain;
mod tags;
pub(crate) use lease::Acquire;
pub(crate) use plain::PlainRead;

/// `SCAN … COUNT` for pattern invalidation and `clear`: slots visited per page (the work Redis
/// does per call, about a millisecond for 1,000 keys), hence keys per `UNLINK` at most.
pub(crate) const SCAN_COUNT: usize = 1_000;

/// A `SCAN` reply: the next cursor and the page's keys.
type ScanPage = (u64, Vec<Vec<u8>>);

/// One standalone server through a `ConnectionManager`, or a Redis Cluster.
enum Connection {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(Box<crate::tiers::cluster::Cluster>),
}

pub(crate) struct RedisTier {
    conn: Connection,
    breaker: Breaker,
    url: String,
    /// The backend's namespace: generation keys live under `<namespace>%:`.
    namespace: String,
    scripts: Scripts,
    /// The fill's scripts (see [`fill`]).
    fill_scripts: fill::FillScripts,
    /// How long a generation lives after its last change (see [`generation`]).
    generation_ttl: Duration,
    /// `SCAN … COUNT` of pattern invalidation.
    scan_count: usize,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("url", &self.url)
            .field("breaker_open", &self.breaker.is_open())
            .finish()
    }
}

/// How to reach Redis and how to treat it: the one place these settings live (the cache
/// builder holds one and hands it to the backend).
#[derive(Debug, Clone)]
pub(crate) struct RedisOptions {
    /// `redis://` or `rediss://` URL; `None` means no L2. With a cluster, the first seed.
    pub(crate) url: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cooldown: Duration,
    pub(crate) require: bool,
    /// Seed nodes of a Redis Cluster; empty for a standalone server at `url`.
    #[cfg(feature = "redis-cluster")]
    pub(crate) cluster_urls: Vec<String>,
    /// PEM root certificate(s) to trust for `rediss://` instead of the system store.
    #[cfg(feature = "redis-tls")]
    pub(crate) root_cert: Option<Vec<u8>>,
    /// A client supplied by the caller, used instead of opening `url`.
    pub(crate) client: Option<redis::Client>,
    /// A connection supplied by the caller, shared instead of making one.
    pub(crate) manager: Option<ConnectionManager>,
    /// `CLIENT SETNAME` sent when the tier is created.
    pub(crate) client_name: Option<String>,
    /// How long a generation lives after its last change: [`GENERATION_TTL`], shorter only
    /// in the crate's own tests.
    pub(crate) generation_ttl: Duration,
    /// `SCAN … COUNT` of pattern invalidation ([`SCAN_COUNT`] unless set).
    pub(crate) scan_count: usize,
}

impl Default for RedisOptions {
    /// No Redis; 250 ms timeout; breaker opens after 5 failures for 5 s; not required.
    fn default() -> Self {
        Self {
            url: None,
            timeout: Duration::from_millis(250),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(5),
            require: false,
            #[cfg(feature = "redis-cluster")]
            cluster_urls: Vec::new(),
            #[cfg(feature = "redis-tls")]
            root_cert: None,
            client: None,
            manager: None,
            client_name: None,
            generation_ttl: GENERATION_TTL,
            scan_count: SCAN_COUNT,
        }
    }
}

impl RedisOptions {
    /// A standalone server at `url` (replaces any cluster seeds).
    pub(crate) fn set_url(&mut self, url: String) {
        self.url = Some(url);
        #[cfg(feature = "redis-cluster")]
        self.cluster_urls.clear();
    }

    /// The command timeout is within 1 ms..=60 s (`field`: the setter's name).
    pub(crate) fn validate_timeout(&self, field: &'static str) -> crate::Result<()> {
        let t = self.timeout;
        if t < Duration::from_millis(1) || t > Duration::from_secs(60) {
            return Err(crate::error::invalid(
                field,
                format!("{t:?}"),
                "1 ms..=60 s",
            ));
        }
        Ok(())
    }

    /// A Redis Cluster reached through these seed nodes (replaces a standalone URL).
    #[cfg(feature = "redis-cluster")]
    pub(crate) fn set_cluster_urls(&mut self, urls: Vec<String>) {
        self.url = Some(urls.first().cloned().unwrap_or_default());
        self.cluster_urls = urls;
    }
}

/// A client for `raw_url` with the options' TLS settings, or the client the caller supplied.
pub(crate) fn open_client(raw_url: &str, o: &RedisOptions) -> redis::RedisResult<redis::Client> {
    if let Some(client) = &o.client {
        return Ok(client.clone());
    }
    #[cfg(feature = "redis-tls")]
    if let Some(pem) = &o.root_cert {
        return redis::Client::build_with_tls(
            raw_url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            },
        );
    }
    redis::Client::open(raw_url)
}

impl RedisTier {
    /// Creates the tier without waiting for Redis (the connection is made lazily), unless
    /// `require` is set, in which case Redis must answer a `PING` now.
    pub(crate) async fn connect(
        namespace: &str,
        raw_url: &str,
        o: &RedisOptions,
    ) -> crate::Result<Self> {
        let url = crate::redact_url(raw_url);
        let unavailable = |message: String| crate::Error::L2Unavailable {
            url: url.clone(),
            message,
        };
        #[cfg(feature = "redis-cluster")]
        if !o.cluster_urls.is_empty() {
            let cluster =
                crate::tiers::cluster::Cluster::new(&o.cluster_urls, o.timeout).map_err(|e| {
                    crate::error::invalid(
                        "redis_cluster_urls",
                        format!(
                            "{:?} ({e})",
                            o.cluster_urls
                                .iter()
                                .map(|u| crate::redact_url(u))
                                .collect::<Vec<_>>()
                        ),
                        "redis:// URLs of the seed nodes",
                    )
                })?;
            return Self::finish(namespace, o, url, Connection::Cluster(Box::new(cluster))).await;
        }
        if let Some(manager) = &o.manager {
            return Self::finish(namespace, o, url, Connection::Single(manager.clone())).await;
        }
        let client = open_client(raw_url, o);
        let client = client.map_err(|e| {
            crate::error::invalid(
                "redis_url",
                format!("{url} ({e})"),
                "a redis:// URL, or rediss:// with feature `redis-tls`",
            )
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(o.timeout))
            .set_response_timeout(Some(o.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(o.timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| unavailable(e.to_string()))?;
        Self::finish(namespace, o, url, Connection::Single(conn)).await
    }

    async fn finish(
        namespace: &str,
        o: &RedisOptions,
        url: String,
        conn: Connection,
    ) -> crate::Result<Self> {
        let tier = Self {
            conn,
            breaker: Breaker::new(namespace, o.breaker_threshold, o.breaker_cooldown),
            url,
            namespace: namespace.to_owned(),
            scripts: Scripts::default(),
            fill_scripts: fill::FillScripts::default(),
            generation_ttl: o.generation_ttl,
            scan_count: o.scan_count,
        };
        // The first command makes the connection: name it, or just check it answers.
        let probe = match &o.client_name {
            Some(name) => {
                let mut cmd = redis::cmd("CLIENT");
                cmd.arg("SETNAME").arg(name);
                cmd
            }
            None => redis::cmd("PING"),
        };
        match tier.run(probe).await {
            Ok(()) => {}
            Err(TierError::Failed(m) | TierError::Skipped(m)) if o.require => {
                return Err(crate::Error::L2Unavailable {
                    url: tier.url.clone(),
                    message: m,
                });
            }
            Err(TierError::Failed(m) | TierError::Skipped(m)) => {
                tracing::warn!(namespace, tier = "l2", url = %tier.url, error = %m, "Redis unavailable at start; the cache works without it and picks it up later");
            }
        }
        Ok(tier)
    }

    /// Leave from the circuit breaker to send a call; `Skipped` while it is open.
    fn permit(&self) -> TierResult<Permit<'_>> {
        self.breaker
            .allow()
            .ok_or_else(|| TierError::Skipped(String::new()))
    }

    /// Runs one command through the breaker and the timeout.
    pub(crate) async fn query<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> TierResult<T> {
        let permit = self.permit()?;
        let result = self.send::<T>(&cmd).await;
        settle(permit, result)
    }

    /// The read on the cache's hit path: `GET <namespace>:<key>`, awaited in place by the
    /// cache (no boxed future), with the full key written straight into the command (no key
    /// buffer) and the command sized once. An empty `namespace` reads `key` as it is (a raw
    /// key).
    pub(crate) async fn fetch(&self, namespace: &str, key: &[u8]) -> TierResult<Option<Vec<u8>>> {
        let permit = self.permit()?;
        let mut cmd = redis::Cmd::with_capacity(2, 3 + namespace.len() + 1 + key.len());
        cmd.arg("GET").arg(FullKey { namespace, key });
        let result = self.send::<Option<Vec<u8>>>(&cmd).await;
        settle(permit, result)
    }

    /// Several reads in one round trip: `MGET` of `<namespace>:<key>` for every
    /// `(namespace, key)` (an empty namespace: the key as it is), on a cluster, whose slots an
    /// `MGET` must not cross, one `GET` per key, sent together.
    pub(crate) async fn fetch_many(
        &self,
        keys: &[(&str, &[u8])],
    ) -> TierResult<Vec<Option<Vec<u8>>>> {
        let permit = self.permit()?;
        #[cfg(feature = "redis-cluster")]
        if matches!(self.conn, Connection::Cluster(_)) {
            let gets = keys.iter().map(|&(namespace, key)| async move {
                let mut cmd = redis::cmd("GET");
                cmd.arg(FullKey { namespace, key });
                self.send::<Option<Vec<u8>>>(&cmd).await
            });
            let result = futures::future::join_all(gets).await.into_iter().collect();
            return settle(permit, result);
        }
        let mut cmd = redis::cmd("MGET");
        for &(namespace, key) in keys {
            cmd.arg(FullKey { namespace, key });
        }
        let result = self.send::<Vec<Option<Vec<u8>>>>(&cmd).await;
        settle(permit, result)
    }

    /// Several writes in one round trip: a pipeline of the generation-raising `SET` script
    /// (see [`generation`]), one per key (on a cluster, sent together).
    pub(crate) async fn store_many(
        &self,
        items: Vec<(Vec<u8>, Vec<u8>, Duration)>,
    ) -> TierResult<()> {
        let script = &self.scripts.set;
        self.eval_each::<redis::Value>(script, |by_digest| {
            items
                .iter()
                .map(|(key, value, ttl)| self.set_cmd(script, by_digest, key, value, *ttl))
                .collect()
        })
        .await
        .map(drop)
    }

    fn set_cmd(
        &self,
        script: &LuaScript,
        by_digest: bool,
        key: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> redis::Cmd {
        let gen_key = generation::generation_key(&self.namespace, key);
        let ttl = px(ttl).to_string();
        let gen_ttl = px(self.generation_ttl).to_string();
        script_cmd(
            script,
            by_digest,
            &[key, &gen_key],
            &[value, ttl.as_bytes(), gen_ttl.as_bytes()],
        )
    }

    /// Sends commands together (one pipeline on a single server; concurrently on a cluster,
    /// whose keys live on different nodes); their replies, in order.
    async fn send_each<T: redis::FromRedisValue>(
        &self,
        cmds: Vec<redis::Cmd>,
    ) -> redis::RedisResult<Vec<T>> {
        match &self.conn {
            Connection::Single(conn) => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                pipe.query_async(&mut conn.clone()).await
            }
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(cluster) => {
                let sends = cmds
                    .iter()
                    .map(|cmd| async move { cluster.query::<T>(cmd).await });
                futures::future::join_all(sends).await.into_iter().collect()
            }
        }
    }

    /// Runs `script` once per command that `cmds` builds, all together (see
    /// [`send_each`](Self::send_each)): by digest when it is known, by text when it is not
    /// or the server answers `NOSCRIPT`.
    async fn eval_each<T: redis::FromRedisValue>(
        &self,
        script: &LuaScript,
        cmds: impl Fn(bool) -> Vec<redis::Cmd>,
    ) -> TierResult<Vec<T>> {
        let permit = self.permit()?;
        let mut by_digest = script.sha.get().is_some();
        let result = loop {
            let result = self.send_each::<T>(cmds(by_digest)).await;
            match &result {
                Err(e) if by_digest && e.code() == Some("NOSCRIPT") => by_digest = false,
                _ => break result,
            }
        };
        settle(permit, result)
    }

    /// Runs a script of [`generation`] on one key and its generation key (see
    /// [`eval_keys`](Self::eval_keys)).
    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &LuaScript,
        key: &[u8],
        args: &[&[u8]],
    ) -> TierResult<T> {
        let gen_key = generation::generation_key(&self.namespace, key);
        self.eval_keys(script, &[key, gen_key.as_slice()], args)
            .await
    }

    /// Runs a script on `keys` (of one slot on a cluster), by digest when it is known, else
    /// (or on `NOSCRIPT`) by its text; learns the digest after a first run.
    pub(super) async fn eval_keys<T: redis::FromRedisValue>(
        &self,
        script: &LuaScript,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> TierResult<T> {
        let permit = self.permit()?;
        if script.sha.get().is_some() {
            match self.send::<T>(&script_cmd(script, true, keys, args)).await {
                Err(e) if e.code() == Some("NOSCRIPT") => {}
                other => return settle(permit, other),
            }
        }
        let result = self.send::<T>(&script_cmd(script, false, keys, args)).await;
        if result.is_ok() && script.sha.get().is_none() {
            let mut load = redis::cmd("SCRIPT");
            load.arg("LOAD").arg(&script.body);
            if let Ok(sha) = self.send::<String>(&load).await {
                let _ = script.sha.set(sha);
            }
        }
        settle(permit, result)
    }

    /// Publishes `payload` on `channel`; how many subscribers received it (on a cluster: those
    /// of the node that took the command).
    pub(crate) async fn publish(&self, channel: &str, payload: &[u8]) -> TierResult<u64> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(payload);
        self.query::<u64>(cmd).await
    }

    /// Sends one command. The connection's own connect and response timeouts (both
    /// `timeout`) bound every call, so an outage never hangs a caller; no second timer per
    /// command. `ConnectionManager::send_packed_command` is called directly rather than
    /// through `Cmd::query_async`, which would box one more future per command.
    async fn send<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match &self.conn {
            Connection::Single(conn) => {
                let value = conn.clone().send_packed_command(cmd).await?;
                Ok(redis::from_redis_value(value.extract_error()?)?)
            }
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(cluster) => cluster.query::<T>(cmd).await,
        }
    }

    async fn run(&self, cmd: redis::Cmd) -> TierResult<()> {
        self.query::<redis::Value>(cmd).await.map(drop)
    }

    /// `SCAN MATCH pattern COUNT <scan_count>` over the whole database, each page's keys removed with
    /// one `UNLINK` sent in the same pipeline as the next page's `SCAN` (one round trip per
    /// page). Never `KEYS`, which blocks the server. A failure part-way returns the error:
    /// the caller keeps the whole pattern for replay (re-running it is harmless).
    async fn scan_unlink(&self, conn: &ConnectionManager, pattern: &[u8]) -> TierResult<u64> {
        let scan = |cursor: u64| {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(self.scan_count);
            cmd
        };
        let mut removed = 0_u64;
        let (mut cursor, mut keys): ScanPage = self.query(scan(0)).await?;
        loop {
            match (keys.is_empty(), cursor) {
                (true, 0) => return Ok(removed),
                (true, _) => (cursor, keys) = self.query(scan(cursor)).await?,
                (false, 0) => {
                    let mut unlink = redis::cmd("UNLINK");
                    unlink.arg(&keys);
                    return Ok(removed + self.query::<u64>(unlink).await?);
                }
                (false, _) => {
                    let permit = self.permit()?;
                    let mut pipe = redis::pipe();
                    pipe.cmd("UNLINK").arg(&keys);
                    pipe.add_command(scan(cursor));
                    let result: redis::RedisResult<(u64, ScanPage)> =
                        pipe.query_async(&mut conn.clone()).await;
                    let (n, (next, page)) = settle(permit, result)?;
                    removed += n;
                    (cursor, keys) = (next, page);
                }
            }
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// Feeds the breaker with a command's outcome. Only an outage (I/O error, timeout, dropped
/// connection) counts towards opening it; an error reply (`WRONGTYPE`, `OOM`, ...) is this
/// command's failure, returned as a tier error, while the server is plainly up.
fn settle<T>(permit: Permit<'_>, result: redis::RedisResult<T>) -> TierResult<T> {
    match result {
        Ok(v) => {
            permit.answered();
            Ok(v)
        }
        Err(e) => {
            if is_outage(&e) {
                permit.outage();
            } else {
                permit.answered();
            }
            Err(TierError::Failed(e.to_string()))
        }
    }
}

/// `<namespace>:<key>` as one command argument, written into the command's own buffer; with an
/// empty namespace (never a valid one), `key` alone: a raw key.
struct FullKey<'a> {
    namespace: &'a str,
    key: &'a [u8],
}

impl redis::ToRedisArgs for FullKey<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // The writer appends to a `Vec<u8>`, which cannot fail.
        if !self.namespace.is_empty() {
            let _ = arg.write_all(self.namespace.as_bytes());
            let _ = arg.write_all(&[crate::key::SEPARATOR]);
        }
        let _ = arg.write_all(self.key);
    }
}

/// `EVALSHA <digest>` (or `EVAL <text>`) `<n> <keys…> <args…>`.
fn script_cmd(script: &LuaScript, by_digest: bool, keys: &[&[u8]], args: &[&[u8]]) -> redis::Cmd {
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
    for key in keys {
        cmd.arg(*key);
    }
    for a in args {
        cmd.arg(*a);
    }
    cmd
}

/// A TTL as Redis's `PX` / `PEXPIRE` argument: whole milliseconds, at least 1.
pub(crate) fn px(ttl: Duration) -> u64 {
    crate::clock::duration_ms(ttl).max(1)
}

impl Tier for RedisTier {
    fn name(&self) -> &'static str {
        "l2"
    }

    /// `SET` and raise the key's generation (see [`generation`]), so that a load that began
    /// before cannot overwrite this value.
    fn set<'a>(
        &'a self,
        key: &'a [u8],
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, TierResult<()>> {
        async move {
            let ttl = px(ttl).to_string();
            let gen_ttl = px(self.generation_ttl).to_string();
            self.eval::<redis::Value>(
                &self.scripts.set,
                key,
                &[&value, ttl.as_bytes(), gen_ttl.as_bytes()],
            )
            .await
            .map(drop)
        }
        .boxed()
    }

    /// `UNLINK` and raise the key's generation (see [`generation`]), so that a load that
    /// began before cannot write its value back.
    fn delete<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, TierResult<()>> {
        async move {
            let gen_ttl = px(self.generation_ttl).to_string();
            self.eval::<redis::Value>(&self.scripts.invalidate, key, &[gen_ttl.as_bytes()])
                .await
                .map(drop)
        }
        .boxed()
    }

    fn clear<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, TierResult<()>> {
        async move {
            // The namespace holds no glob metacharacters (validated), so this matches exactly
            // this namespace's keys. Never FLUSHDB: other namespaces share the database.
            let pattern = format!("{namespace}:*");
            self.delete_matching(pattern.as_bytes()).await.map(drop)
        }
        .boxed()
    }

    /// Raises the namespace's pattern epoch first (see [`fill`]: a fill on any instance whose
    /// load began before then writes nothing, or removes what it wrote), then `SCAN` +
    /// `UNLINK`. A failure of either is the caller's to replay (re-running it is harmless).
    fn delete_matching<'a>(&'a self, pattern: &'a [u8]) -> BoxFuture<'a, TierResult<u64>> {
        async move {
            self.raise_pattern_epoch().await?;
            match &self.conn {
                Connection::Single(conn) => self.scan_unlink(conn, pattern).await,
                #[cfg(feature = "redis-cluster")]
                Connection::Cluster(cluster) => {
                    let permit = self.permit()?;
                    let result = cluster.delete_matching(pattern, self.scan_count).await;
                    settle(permit, result)
                }
            }
        }
        .boxed()
    }

    /// `UNLINK` each key and raise its generation (the script of [`delete`](Self::delete),
    /// one per key, pipelined; on a cluster sent together), so that a load that began before
    /// cannot write its value back; how many keys existed.
    fn delete_keys<'a>(&'a self, keys: &'a [Vec<u8>]) -> BoxFuture<'a, TierResult<u64>> {
        async move {
            if keys.is_empty() {
                return Ok(0);
            }
            let script = &self.scripts.invalidate;
            let gen_ttl = px(self.generation_ttl).to_string();
            let counts = self
                .eval_each::<u64>(script, |by_digest| {
                    keys.iter()
                        .map(|key| {
                            let gen_key = generation::generation_key(&self.namespace, key);
                            script_cmd(script, by_digest, &[key, &gen_key], &[gen_ttl.as_bytes()])
                        })
                        .collect()
                })
                .await?;
            Ok(counts.iter().sum())
        }
        .boxed()
    }

    fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }
}
