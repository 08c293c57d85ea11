//! The invalidation bus: coherence of the L1 (and L3) copies across instances.
//!
//! Every backend with Redis has a random instance id and one subscriber: a second Redis
//! connection (RESP3, named `perf-cache-bus-<id>` in `CLIENT LIST`) subscribed to the channel
//! `<namespace>%:bus`. Every `invalidate*` publishes its operation there once the shared tier
//! is done; every other instance applies it to its own L1 and L3 (through the same stale-fill
//! fence as a local invalidation); an instance ignores its own operations.
//!
//! Pub/sub is at-most-once. Each backend publishes a heartbeat every `bus_heartbeat` and
//! expects to receive *something* (its own heartbeat at least) within three heartbeats. When
//! the subscription drops (the connection closes, `CLIENT KILL`), cannot be made, or goes
//! quiet (a frozen Redis sends no disconnect), the instance **resyncs**: it turns away every
//! fill in flight, empties its L1 and distrusts every L3 entry written before the gap; it does
//! the same again when it is subscribed again (values loaded during the gap may have missed an
//! invalidation). A backend that could not publish an invalidation asks every instance for a
//! resync with its next successful heartbeat.
//!
//! The same subscriber listens to `<namespace>%:lease`, where the release of a cluster-wide
//! single-flight lease publishes the value key (bare bytes, not this wire format): it wakes
//! this process's waiters of that key (`cache/lease.rs`). A channel of its own, so that
//! instances without the lease never receive it.
//!
//! An announcement is confirmed (`bus_confirm.rs`): it is published wrapped in
//! [`Op::Confirm`], every subscriber confirms once it has applied it, and the writer waits
//! for those confirmations (at most `bus_confirm_timeout`) before it returns.
//!
//! Wire format (version 1): `b'P'`, version `1`, origin id (u64 LE), send time (Unix ms, u64
//! LE), then the operation (postcard). A message with another magic or version is counted and
//! ignored; a message whose operation this version does not know (a newer writer's) resyncs.
// Without feature `redis` there is no bus: only the types and the no-op `announce` are used.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::Shared;
use crate::tiers::l1::L1Store as _;

/// Default interval between heartbeats.
pub(crate) const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(500);
/// Default longest wait for the confirmations of an announcement.
pub(crate) const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(1);
/// Heartbeats that may be missed before the subscription counts as gone.
pub(crate) const MISSED_HEARTBEATS: u32 = 3;

const MAGIC: u8 = b'P';
const VERSION: u8 = 1;
const HEADER: usize = 18;

/// One operation on the bus. New kinds are appended (postcard numbers variants in order);
/// an older instance receiving one it does not know resyncs rather than ignoring it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Op {
    /// Liveness only.
    Heartbeat,
    /// One key (escaped bytes) of a key space (`<namespace>` or `<namespace>:<prefix>`).
    Key { space: String, key: Vec<u8> },
    /// Every key of a key space (`invalidate_all`).
    Space { space: String },
    /// The stored keys (`<namespace>:<prefix>:<key>`, as in Redis) matching a Redis glob
    /// pattern (bytes: a pattern need not be UTF-8; encoded as a string is), published by the
    /// instance's view of `space` (or the backend, `<namespace>`).
    Pattern { space: String, pattern: Vec<u8> },
    /// Everything this backend holds (a publisher that missed an announcement asks for it).
    All,
    /// A tag's new generation (`invalidate_tag`): entries stamped with an older one miss.
    /// Instances older than this operation resync when they receive it.
    Tag { tag: String, generation: u64 },
    /// `op`, to be confirmed once applied: on `<namespace>%:ack:<origin id as 16 hex digits>`
    /// with `seq` (`bus_confirm.rs`). Never nested. Instances older than this operation
    /// resync when they receive it (and never confirm: the writer waits out its timeout).
    Confirm { seq: u64, op: Box<Op> },
}

/// Counters of one backend's bus.
#[derive(Debug, Default)]
pub(crate) struct BusCounters {
    sent: AtomicU64,
    received: AtomicU64,
    applied: AtomicU64,
    resyncs: AtomicU64,
    undecodable: AtomicU64,
    publish_failures: AtomicU64,
    unconfirmed: AtomicU64,
    last_lag_ms: AtomicU64,
    max_lag_ms: AtomicU64,
}

/// The statistics of a backend's invalidation bus ([`Backend::bus_stats`](crate::Backend::bus_stats)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
/// # let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
/// let backend = perf_cache::Backend::builder()
///     .namespace(format!("bus-doc-{}", std::process::id()))
///     .redis_url(url)
///     .build()
///     .await?;
/// let bus = backend.bus_stats().expect("a backend with Redis has a bus");
/// assert!(bus.subscribed);
/// assert_eq!(bus.resyncs, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BusStats {
    /// This backend's random instance id (origin of what it publishes; its subscriber's
    /// connection is named `perf-cache-bus-<id as 16 hex digits>`).
    pub instance_id: u64,
    /// Whether the subscriber is subscribed now.
    pub subscribed: bool,
    /// Messages published (operations and heartbeats).
    pub sent: u64,
    /// Messages received (this instance's own included).
    pub received: u64,
    /// Operations of other instances applied to L1/L3.
    pub applied: u64,
    /// Gaps: the subscription dropped, could not be made, or went quiet; each emptied L1
    /// and distrusted older L3 entries.
    pub resyncs: u64,
    /// Messages that were not the bus's format (ignored).
    pub undecodable: u64,
    /// Invalidations that could not be published (a resync is asked of every instance).
    pub publish_failures: u64,
    /// Announcements whose wait for confirmations ended at
    /// [`bus_confirm_timeout`](crate::BackendBuilder::bus_confirm_timeout) with a subscriber
    /// that had not confirmed (frozen, overloaded, or a version that does not confirm).
    pub unconfirmed: u64,
    /// Delivery lag of the last message received: receive time minus send time (Unix ms of
    /// the two machines' clocks; exact for this instance's own heartbeats).
    pub last_lag_ms: u64,
    /// The largest such lag seen.
    pub max_lag_ms: u64,
}

/// One backend's bus: identity, channel, settings and counters. The tasks hold the backend
/// weakly and end when it is dropped.
#[derive(Debug)]
pub(crate) struct Bus {
    pub(crate) id: u64,
    pub(crate) channel: String,
    pub(crate) heartbeat: Duration,
    /// `<namespace>%:lease`: released leases of cluster-wide single-flight (the value key),
    /// handed to `lease_wakers` (a channel of its own: older instances never subscribe to it).
    pub(crate) lease_channel: String,
    pub(crate) lease_wakers: crate::cache::LeaseWakers,
    /// How long a writer waits for the confirmations of its announcements (zero: no wait,
    /// announcements are not wrapped).
    pub(crate) confirm_timeout: Duration,
    /// `<namespace>%:ack:`: a publisher's confirmations arrive on this and its id in hex.
    ack_prefix: String,
    pub(crate) confirmations: crate::bus_confirm::Confirmations,
    /// An announcement could not be published: the next heartbeat asks for a resync.
    owe_resync: AtomicBool,
    subscribed: AtomicBool,
    counters: BusCounters,
}

impl Bus {
    pub(crate) fn new(namespace: &str, heartbeat: Duration, confirm_timeout: Duration) -> Self {
        Self {
            id: random_id(),
            channel: format!("{namespace}%:bus"),
            heartbeat,
            lease_channel: format!("{namespace}%:lease"),
            lease_wakers: crate::cache::LeaseWakers::default(),
            confirm_timeout,
            ack_prefix: format!("{namespace}%:ack:"),
            confirmations: crate::bus_confirm::Confirmations::default(),
            owe_resync: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            counters: BusCounters::default(),
        }
    }

    /// The channel on which instance `id` receives confirmations.
    pub(crate) fn ack_channel_of(&self, id: u64) -> String {
        format!("{}{id:016x}", self.ack_prefix)
    }

    /// The subscriber connection's name in `CLIENT LIST`.
    pub(crate) fn client_name(&self) -> String {
        format!("perf-cache-bus-{:016x}", self.id)
    }

    pub(crate) fn stats(&self) -> BusStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BusStats {
            instance_id: self.id,
            subscribed: self.subscribed.load(Ordering::Relaxed),
            sent: get(&c.sent),
            received: get(&c.received),
            applied: get(&c.applied),
            resyncs: get(&c.resyncs),
            undecodable: get(&c.undecodable),
            publish_failures: get(&c.publish_failures),
            unconfirmed: get(&c.unconfirmed),
            last_lag_ms: get(&c.last_lag_ms),
            max_lag_ms: get(&c.max_lag_ms),
        }
    }

    fn encode(&self, op: &Op) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 32);
        out.push(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&crate::clock::now_unix_ms().to_le_bytes());
        // Encoding these plain enums into a Vec cannot fail.
        if let Ok(body) = postcard::to_allocvec(op) {
            out.extend_from_slice(&body);
        }
        out
    }
}

/// A received message: who sent it, when, and what (`None`: an operation this version does
/// not know).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) origin: u64,
    pub(crate) sent_unix_ms: u64,
    pub(crate) op: Option<Op>,
}

/// Decodes a message; `None` when it is not the bus's format at all.
pub(crate) fn decode(bytes: &[u8]) -> Option<Received> {
    if bytes.len() < HEADER || bytes[0] != MAGIC || bytes[1] != VERSION {
        return None;
    }
    let origin = u64::from_le_bytes(bytes[2..10].try_into().ok()?);
    let sent_unix_ms = u64::from_le_bytes(bytes[10..18].try_into().ok()?);
    let op = postcard::from_bytes(&bytes[HEADER..]).ok();
    Some(Received {
        origin,
        sent_unix_ms,
        op,
    })
}

/// A random id per backend: std's randomly keyed hasher over the process id, the time and a
/// counter.
pub(crate) fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(crate::clock::now_unix_ms());
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

impl Shared {
    /// Publishes an invalidation for the other instances (after the shared tier is done) and
    /// waits for their confirmations (see [`Self::announce_all`]).
    pub(crate) async fn announce(&self, op: Op) -> crate::bus_confirm::Confirmed {
        self.announce_all([op]).await
    }

    /// Publishes each of `ops` for the other instances (after the shared tier is done), then
    /// waits, all of them under one deadline of `bus_confirm_timeout`, until every subscriber
    /// `PUBLISH` reached has confirmed applying them. A failed publish is counted and makes
    /// the next heartbeat ask every instance for a resync; a wait that ends unconfirmed is
    /// counted and logged (at most once per 10 s).
    pub(crate) async fn announce_all(
        &self,
        ops: impl IntoIterator<Item = Op>,
    ) -> crate::bus_confirm::Confirmed {
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut total = crate::bus_confirm::Confirmed::default();
        let Some(bus) = &self.bus else { return total };
        #[cfg(feature = "redis")]
        if let Some(l2) = &self.l2 {
            let confirm = !bus.confirm_timeout.is_zero();
            let mut waits = Vec::new();
            // Forgets what is still waiting if the caller drops this future mid-wait.
            let mut registered = crate::bus_confirm::Registered::new(&bus.confirmations);
            for op in ops {
                let (message, seq) = if confirm {
                    let (seq, rx) = registered.register();
                    waits.push((seq, rx));
                    let wrapped = Op::Confirm {
                        seq,
                        op: Box::new(op),
                    };
                    (bus.encode(&wrapped), Some(seq))
                } else {
                    (bus.encode(&op), None)
                };
                match l2.publish(&bus.channel, &message).await {
                    Ok(reached) => {
                        if let Some(seq) = seq {
                            bus.confirmations.expect(seq, reached);
                        }
                        bus.counters.sent.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("cache_bus_messages_total", "namespace" => self.namespace.clone(), "direction" => "sent").increment(1);
                        continue;
                    }
                    // Logged at most once per 10 s (an outage fails every publish); the breaker
                    // being open was already reported by the invalidation itself.
                    Err(crate::tiers::TierError::Failed(m)) => self.log.warn(
                        &self.namespace,
                        "bus",
                        "publish",
                        "*",
                        &format!("{m}; other instances will be asked to resync"),
                    ),
                    Err(crate::tiers::TierError::Skipped(_)) => {}
                }
                if let Some(seq) = seq {
                    // Nobody reached: nothing to wait for.
                    bus.confirmations.expect(seq, 0);
                }
                bus.counters
                    .publish_failures
                    .fetch_add(1, Ordering::Relaxed);
                bus.owe_resync.store(true, Ordering::Relaxed);
            }
            let deadline = tokio::time::Instant::now() + bus.confirm_timeout;
            for (seq, rx) in waits {
                // A timeout is what `finish` reports; the sender is never dropped unsent
                // before `finish`.
                let _ = tokio::time::timeout_at(deadline, rx).await;
                let got = bus.confirmations.finish(seq);
                if got.confirmed < got.reached {
                    bus.counters.unconfirmed.fetch_add(1, Ordering::Relaxed);
                    self.log.warn(
                        &self.namespace,
                        "bus",
                        "confirm",
                        "*",
                        &format!(
                            "{} of {} subscribers confirmed within {:?} (a frozen or overloaded instance, or one that does not confirm); the write returns anyway",
                            got.confirmed, got.reached, bus.confirm_timeout
                        ),
                    );
                }
                total.add(got);
            }
            drop(registered);
        }
        #[cfg(not(feature = "redis"))]
        let _ = (bus, ops.into_iter());
        total
    }

    /// Applies another instance's operation to this process's L1 and L3, through the fence
    /// (fills in flight that began before it store nothing).
    pub(crate) async fn apply(&self, op: Op) {
        match op {
            Op::Heartbeat => {}
            Op::Key { space, key } => {
                // In every view that can hold the stored key, whatever prefix published it.
                let full = crate::key::full_key(&space, &crate::Key::from_escaped(&key));
                // A disk failure is logged where it happens.
                let _ = self.invalidate_local_key(full).await;
            }
            Op::Space { space } => {
                self.fence.bump_all().await;
                if let Some(l3) = &self.l3
                    && let Err(e) = crate::tiers::Tier::clear(l3, &space).await
                {
                    self.l3_error("bus", e);
                }
                self.fence.bump_all().await;
                if let Some(id) = self.existing_space_id(&space) {
                    self.l1.remove_if(&move |k, _| k.space == id);
                }
            }
            // Exactly the matching rows of the disk file and entries of L1, with the same
            // matcher as Redis's `SCAN MATCH` (the pattern is full: the space is informative).
            Op::Pattern { pattern, .. } => {
                let _ = self.invalidate_local_pattern(&pattern).await;
            }
            Op::All => self.resync_local().await,
            Op::Tag { tag, generation } => self.apply_tag(&tag, generation),
            // Never nested by a publisher: treated as an operation this version does not know.
            Op::Confirm { .. } => self.resync_local().await,
        }
    }

    /// Forgets what may have missed an invalidation: fills in flight, L1, older L3 entries.
    pub(crate) async fn resync_local(&self) {
        self.fence.raise_l3_floor();
        // Tag generations may have been missed too: every tag is fetched again.
        self.tags.forget_all();
        self.fence.bump_all().await;
        self.l1.remove_if(&|_, _| true);
    }

    fn l3_error(&self, op: &'static str, e: crate::tiers::TierError) {
        if let crate::tiers::TierError::Failed(m) = e {
            self.log.warn(&self.namespace, "l3", op, "*", &m);
        }
    }
}

#[cfg(feature = "redis")]
pub(crate) use tasks::start;

#[cfg(feature = "redis")]
mod tasks {
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Weak};
    use std::time::Duration;

    use redis::PushKind;

    use super::{MISSED_HEARTBEATS, Op, decode};
    use crate::backend::Shared;
    use crate::bus_seeds::{BusSeeds, Subscription};

    /// Subscribes now through the first seed that answers (so that a backend is coherent as
    /// soon as it is built, when Redis answers), then keeps the subscription and the heartbeat
    /// going in two tasks.
    pub(crate) async fn start(
        shared: &Arc<Shared>,
        clients: Vec<redis::Client>,
        timeout: Duration,
    ) {
        let Some(bus) = &shared.bus else { return };
        let mut seeds = BusSeeds::new(&shared.namespace, clients);
        if seeds.is_empty() {
            tracing::warn!(namespace = %shared.namespace, "invalidation bus disabled: no client");
            return;
        }
        let first = seeds
            .subscribe(&bus.client_name(), &channels(bus), timeout)
            .await;
        if let Err(e) = &first {
            tracing::warn!(namespace = %shared.namespace, error = %e, "invalidation bus not subscribed at start; retrying");
        }
        bus.subscribed.store(first.is_ok(), Ordering::Relaxed);
        tokio::spawn(listen(Arc::downgrade(shared), seeds, first.ok(), timeout));
        tokio::spawn(heartbeat(Arc::downgrade(shared)));
    }

    /// The channels the subscriber listens to: the bus, released leases, and this instance's
    /// confirmations.
    fn channels(bus: &super::Bus) -> [String; 3] {
        [
            bus.channel.clone(),
            bus.lease_channel.clone(),
            bus.ack_channel_of(bus.id),
        ]
    }

    async fn listen(
        shared: Weak<Shared>,
        mut seeds: BusSeeds,
        mut current: Option<Subscription>,
        timeout: Duration,
    ) {
        let mut pauses: Option<Box<dyn Iterator<Item = Duration> + Send>> = None;
        loop {
            let Some(s) = shared.upgrade() else { return };
            let Some(bus) = &s.bus else { return };
            let quiet = bus.heartbeat * MISSED_HEARTBEATS;
            let (name, channels) = (bus.client_name(), channels(bus));
            let acks = channels[2].clone();
            drop(s);
            let Some((conn, mut rx)) = current.take() else {
                // In a gap: try every seed again, with a growing pause (up to the quiet
                // period) between rounds.
                let pause = pauses
                    .get_or_insert_with(|| Box::new(BusSeeds::schedule(quiet)))
                    .next()
                    .unwrap_or(quiet);
                tokio::time::sleep(pause).await;
                match seeds.subscribe(&name, &channels, timeout).await {
                    Ok(sub) => {
                        let Some(s) = shared.upgrade() else { return };
                        // Values loaded during the gap may have missed an invalidation.
                        s.resync_local().await;
                        if let Some(bus) = &s.bus {
                            bus.subscribed.store(true, Ordering::Relaxed);
                        }
                        tracing::info!(namespace = %s.namespace, "invalidation bus subscribed again; L1 emptied");
                        pauses = None;
                        current = Some(sub);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "invalidation bus: subscribing failed");
                    }
                }
                continue;
            };
            let reason = loop {
                let next = tokio::time::timeout(quiet, rx.recv()).await;
                let Some(s) = shared.upgrade() else { return };
                match next {
                    Err(_) => break "quiet past the heartbeat",
                    Ok(None) => break "closed",
                    Ok(Some(push)) => match push.kind {
                        PushKind::Disconnection => break "disconnected",
                        PushKind::Message => match (push.data.first(), push.data.get(1)) {
                            (
                                Some(redis::Value::BulkString(channel)),
                                Some(redis::Value::BulkString(ack)),
                            ) if acks.as_bytes() == channel => {
                                if let (Some(bus), Some(seq)) =
                                    (&s.bus, crate::bus_confirm::decode_ack(ack))
                                {
                                    bus.confirmations.heard(seq);
                                }
                            }
                            (
                                Some(redis::Value::BulkString(channel)),
                                Some(redis::Value::BulkString(full)),
                            ) if s
                                .bus
                                .as_ref()
                                .is_some_and(|b| b.lease_channel.as_bytes() == channel) =>
                            {
                                if let Some(bus) = &s.bus {
                                    bus.lease_wakers.wake(full);
                                }
                            }
                            (_, Some(redis::Value::BulkString(bytes))) => {
                                receive(&s, bytes).await;
                            }
                            _ => {}
                        },
                        _ => {}
                    },
                }
            };
            drop(conn);
            let Some(s) = shared.upgrade() else { return };
            if let Some(bus) = &s.bus {
                bus.subscribed.store(false, Ordering::Relaxed);
                bus.counters.resyncs.fetch_add(1, Ordering::Relaxed);
            }
            metrics::counter!("cache_bus_resyncs_total", "namespace" => s.namespace.clone())
                .increment(1);
            tracing::warn!(namespace = %s.namespace, reason, "invalidation bus gap: L1 emptied, older L3 entries distrusted");
            s.resync_local().await;
        }
    }

    async fn receive(s: &Arc<Shared>, bytes: &[u8]) {
        let Some(bus) = &s.bus else { return };
        let c = &bus.counters;
        let Some(msg) = decode(bytes) else {
            c.undecodable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        c.received.fetch_add(1, Ordering::Relaxed);
        let lag = crate::clock::now_unix_ms().saturating_sub(msg.sent_unix_ms);
        c.last_lag_ms.store(lag, Ordering::Relaxed);
        c.max_lag_ms.fetch_max(lag, Ordering::Relaxed);
        let ns = || s.namespace.clone();
        metrics::counter!("cache_bus_messages_total", "namespace" => ns(), "direction" => "received").increment(1);
        // Precision loss only above 2^53 ms.
        #[allow(clippy::cast_precision_loss)]
        metrics::histogram!("cache_bus_lag_seconds", "namespace" => ns()).record(lag as f64 / 1e3);
        if msg.origin == bus.id {
            // This instance's own announcement: delivered here, nothing to apply.
            if let Some(Op::Confirm { seq, .. }) = msg.op {
                bus.confirmations.heard(seq);
            }
            return;
        }
        match msg.op {
            Some(Op::Heartbeat) => {}
            Some(Op::Confirm { seq, op }) => {
                s.apply(*op).await;
                c.applied.fetch_add(1, Ordering::Relaxed);
                // Applied: tell the publisher, without holding up the next message.
                let (shared, channel) = (Arc::clone(s), bus.ack_channel_of(msg.origin));
                tokio::spawn(async move {
                    if let Some(l2) = &shared.l2 {
                        let _ = l2
                            .publish(&channel, &crate::bus_confirm::encode_ack(seq))
                            .await;
                    }
                });
            }
            Some(op) => {
                s.apply(op).await;
                c.applied.fetch_add(1, Ordering::Relaxed);
            }
            // A newer instance's operation: forget everything rather than miss it.
            None => {
                s.resync_local().await;
                c.applied.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn heartbeat(shared: Weak<Shared>) {
        let every = match shared
            .upgrade()
            .and_then(|s| s.bus.as_ref().map(|b| b.heartbeat))
        {
            Some(every) => every,
            None => return,
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(s) = shared.upgrade() else { return };
            let (Some(bus), Some(l2)) = (&s.bus, &s.l2) else {
                return;
            };
            let owed = bus.owe_resync.swap(false, Ordering::Relaxed);
            let op = if owed { Op::All } else { Op::Heartbeat };
            if l2.publish(&bus.channel, &bus.encode(&op)).await.is_ok() {
                bus.counters.sent.fetch_add(1, Ordering::Relaxed);
            } else if owed {
                bus.owe_resync.store(true, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_foreign_bytes_are_refused() {
        let bus = Bus::new("ns", DEFAULT_HEARTBEAT, DEFAULT_CONFIRM_TIMEOUT);
        assert_eq!(bus.channel, "ns%:bus");
        for op in [
            Op::Heartbeat,
            Op::Key {
                space: "ns:user".into(),
                key: b"user:1".to_vec(),
            },
            Op::Space { space: "ns".into() },
            Op::Pattern {
                space: "ns".into(),
                pattern: b"ns:user:*".to_vec(),
            },
            Op::All,
            Op::Tag {
                tag: "scan:7".into(),
                generation: 3,
            },
        ] {
            let got = decode(&bus.encode(&op)).unwrap();
            assert_eq!(got.origin, bus.id);
            assert_eq!(got.op, Some(op));
        }
        assert_eq!(decode(b"hello"), None);
        assert_eq!(decode(&[0; 40]), None);
        // A known header with an operation this version does not know.
        let mut future = bus.encode(&Op::All);
        future.truncate(HEADER);
        future.push(200);
        assert_eq!(decode(&future).unwrap().op, None);
    }

    #[test]
    fn ids_differ() {
        assert_ne!(random_id(), random_id());
    }
}
