//! A multi-tier cache for async services: an in-process store (L1, quick_cache), Redis (L2),
//! local disk (L3), with single-flight loading, fail-open tiers and statistics.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
//! use std::time::Duration;
//! use perf_cache::{Cache, Key};
//!
//! let cache = Cache::<String>::builder()
//!     .namespace("crate-doc")
//!     .l1_ttl(Duration::from_secs(30)) // add .redis_url(..) for L2, .disk_path(..) for L3
//!     .build()
//!     .await?;
//! let key = Key::new("user").arg(42_u64);
//! let name = cache.get_or_load(&key, || async { "Ada".to_owned() }).await;
//! assert_eq!(name, "Ada");
//! # Ok(()) }
//! ```
//!
//! # One backend, many typed caches
//!
//! A [`Backend`] is built once per namespace and process and owns what must be shared: the L1
//! store and its memory budget, the Redis connection (single, cluster, TLS, AUTH; or a
//! `redis::Client` / `ConnectionManager` you pass in) and its circuit breaker, the disk file and
//! the metrics task. Typed caches are cheap views on it
//! ([`CacheBuilder::build_on`]): each has its own key prefix (`<namespace>:<prefix>:<key>`),
//! value type, codec and TTLs. L1 holds values type-erased and checks the type on read.
//! `Cache::builder()…build()` still works alone (it opens a private backend), and
//! [`Backend::in_memory`] is a process-wide in-memory backend made on first use without a
//! runtime.
//!
//! # Tiers
//!
//! | tier | store | default TTL | feature |
//! |---|---|---|---|
//! | L1 | quick_cache in process (or moka, [`L1Engine`]), values kept decoded | 60 s, 1,000 entries | always (`moka` for the moka engine) |
//! | L2 | Redis, one multiplexed auto-reconnecting connection | 1 hour | `redis` |
//! | L3 | a local [redb](https://docs.rs/redb) file | 1 day | `disk` |
//!
//! Reads go L1 → L2 → L3 → loader. A hit in a lower tier is copied into L1 only (private to
//! the process; never back into the shared L2, where it could resurrect a value another
//! instance invalidated) with the entry's **remaining** time to live (never a fresh one), so
//! promotion cannot extend a value's life. Writes (`set`, and loads) go to every tier.
//!
//! An L1 hit is one sharded-lock lookup without copying the key, one relaxed load of a coarse
//! clock, a type check, the value's clone and one add to a per-thread counter stripe (no shared
//! counter written on every hit). Every entry carries its own deadline; the coarse clock is
//! advanced every 1 ms by one process-wide thread, so an entry may be served up to ~1 ms (plus
//! that thread's scheduling delay) past its deadline. Expired entries are dropped when read,
//! by the backend's metrics task every `metrics_interval`, by
//! [`Backend::run_pending_tasks`], or by eviction. `l1_max_entries(0)` turns L1 off.
//!
//! **Why redb for L3**: pure Rust (no C toolchain, unlike RocksDB or LMDB bindings), one file,
//! ACID transactions that survive a crash, MVCC so reads never wait for the writer, a
//! documented file format, regular releases and already a workspace dependency; sled, the
//! other pure-Rust store, has had no stable release for years. Every disk call runs in
//! `spawn_blocking`; each write is one durable transaction, so L3 suits values that are
//! expensive to recompute rather than write-heavy data.
//!
//! # Keys
//!
//! A [`Key`] is a list of escaped segments joined by `:` (grammar on [`Key`]). No argument can
//! forge a separator or a Redis glob metacharacter (`* ? [ ] \`) or a cluster hash tag
//! (`{ }`). Redis and disk store `<namespace>:<key>`; the namespace is limited to
//! `[A-Za-z0-9_.-]`. Keys up to 46 bytes live inline: a key built from a `u64` never allocates.
//!
//! # Values, codecs and the envelope
//!
//! L1 holds values as they are (`V: Clone`; wrap large values in `Arc`). L2 and L3 hold bytes
//! produced by a [`Codec`]: [`Postcard`] by default (compact binary; measured against JSON in
//! `BENCHMARKS.md`), or [`Json`] for other languages' services. Every stored value starts with
//! a 42-byte envelope (version 2):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | magic `0xCA` |
//! | 1 | envelope version of the writer (2) |
//! | 2 | oldest envelope version that can read the entry (2) |
//! | 3 | flags (bit 0: cached "not found") |
//! | 4–5 | header length (u16 LE): where the payload starts |
//! | 6 | codec id ([`Codec::ID`]: 1 postcard, 2 JSON) |
//! | 7 | reserved |
//! | 8–11 | format version (u32 LE, [`CacheBuilder::format_version`]) |
//! | 12–19 | absolute expiry, Unix milliseconds (u64 LE) |
//! | 20–27 | type fingerprint (u64 LE, FNV-1a of the value type's name) |
//! | 28–35 | generation stamp (u64 LE): 0 in Redis; in the disk copy, the Unix µs at which its load began (a bus gap distrusts older ones) |
//! | 36–39 | payload length (u32 LE) |
//! | 40–41 | tag count (u16 LE, 0 for now; tags would follow inside the header) |
//!
//! Readers accept entries from newer writers whose byte 2 allows it, skipping header fields
//! they do not know and bytes after the payload, so a rolling deploy does not turn into old
//! and new instances overwriting each other's entries. Version 1 entries (the previous 16-byte
//! header), bytes with another magic, codec, format version or value type, or that fail to
//! decode, read as a miss (never a panic or an error) and are overwritten by the next load. A value whose encoding
//! exceeds [`CacheBuilder::max_value_size`] (1 MiB by default) is refused with
//! [`Error::ValueTooLarge`].
//!
//! **Remaining TTL on promotion** comes from the envelope's absolute expiry rather than
//! `PTTL`: an L2 hit costs one `GET` (no second command or pipeline on the hot path), and L3,
//! which has no native TTL, uses the same field. The price is trusting the clocks of the
//! instances to agree (NTP keeps them within milliseconds; the L1 copy is also capped by
//! `l1_ttl`).
//!
//! # Loading
//!
//! [`Cache::get_or_load`], [`Cache::try_get_or_load`] and [`Cache::get_or_load_optional`] run
//! the loader at most once per key at a time in a process (single-flight): concurrent callers
//! wait for the first one's result, including its error. `Err` is never cached. If the loading
//! caller is cancelled or its loader panics, waiters wake and one of them loads: a key is never
//! wedged. Opt-ins: [`CacheBuilder::negative_ttl`] caches `Ok(None)`;
//! [`CacheBuilder::refresh_ahead`] reloads in the background shortly before L1 expiry while the
//! current value is served; [`CacheBuilder::stale_if_error`] serves a recently expired L1 value
//! when the loader fails (counted as `stale_served`).
//!
//! # Fail-open and the circuit breaker
//!
//! An L2 or L3 failure is logged (at most one warning per 10 s, with the number suppressed),
//! counted (`errors` in [`TierStats`], `cache_errors_total`), and treated as a miss or no-op:
//! callers still get an answer from L1 or the loader. Redis commands time out after
//! `CacheBuilder::redis_timeout` (250 ms). After `CacheBuilder::breaker_threshold` (5)
//! consecutive outages (I/O errors, timeouts, dropped connections) the breaker opens and Redis
//! is skipped (one atomic load per call) until `CacheBuilder::breaker_cooldown` (5 s) has
//! passed; then exactly one probe goes through and its answer closes the breaker. An error
//! reply about one key or command (`WRONGTYPE`, `OOM`) is a counted error for that call only and
//! never opens the breaker. A cache built while Redis is down works and picks Redis up
//! later, unless `CacheBuilder::require_l2` is set.
//!
//! Invalidation is the exception to fail-open: see below.
//!
//! # Invalidation
//!
//! | call | removes | Redis | disk | L1 |
//! |---|---|---|---|---|
//! | [`Cache::invalidate`] | one key | `UNLINK` | one row | one entry |
//! | [`Cache::invalidate_pattern`] | keys of the view matching a [`Pattern`] | `SCAN MATCH` + `UNLINK` | range scan | one pass |
//! | [`Backend::invalidate_pattern`] | keys of every view matching a [`Pattern`] | same | same | same |
//! | [`Backend::invalidate_group`] | several patterns and keys ([`InvalidationGroup`]) | one pipelined script per exact key (`UNLINK`, generation raised), one `SCAN` pass per pattern | same | one pass for all |
//! | [`Cache::invalidate_all`] | every key of the view | `SCAN MATCH <namespace>:<prefix>:*` + `UNLINK` | range delete | one pass |
//!
//! **Order.** Shared tier first (Redis), then the disk file, then this process's L1 last, so
//! that a read in between cannot copy the old value back into L1 from a tier not yet cleared.
//!
//! **Patterns** have Redis's glob semantics (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\` escapes),
//! and every tier uses them byte for byte: Redis matches in `SCAN MATCH`, and L1 and the disk
//! use one matcher that reproduces Redis's own (`stringmatchlen`, including its edge cases:
//! reversed ranges, unterminated classes, signed-`char` ranges over bytes ≥ 0x80, the limit of
//! 1,000 nested `*`), checked against a real server by a property test. A pattern is relative:
//! a view prepends `<namespace>:<prefix>:`, a backend `<namespace>:`; both heads are literal,
//! so no pattern reaches another namespace. Build patterns with [`Pattern::lit`] for anything
//! that comes from a user: the value is escaped exactly as [`Key::arg`] escapes it, so it
//! matches exactly that segment and a `*`, `?`, `[`, `]` or `\` in it stays literal.
//! [`Pattern::any`] is `*` (any run of characters, separators included).
//!
//! **Cost.** Redis: `SCAN … MATCH … COUNT 1000` walks the whole database (cost grows with the
//! number of keys in it, not with the number matched) and never blocks the server the way
//! `KEYS` does; each page's keys are removed with one `UNLINK` sent in the same pipeline as the
//! next `SCAN`, one round trip per page (10,000 of 200,000 keys: see `BENCHMARKS.md`). On a
//! cluster every primary is scanned and each key is unlinked on its own slot's node. Disk: only
//! rows starting with the pattern's literal head are read, in write transactions of at most
//! 1,024 rows. L1: one pass over the entries with the compiled pattern. Exact keys skip the
//! scan.
//!
//! **What it reports.** Every call returns an [`Invalidation`]: per tier whether it was
//! reached ([`Reach`]) and, for patterns and groups, how many keys each tier removed. A tier not
//! reached is also counted (`errors` in [`TierStats`] for view calls) and logged. An
//! invalidation that missed Redis (breaker open, an error, a `SCAN` that failed part-way) is
//! kept — keys, whole-view clears and patterns, up to 10,000 per backend — and replayed before
//! Redis is read again; until then reads skip L2. If more pile up, L2 is treated as suspect and
//! not read until the longest L2 TTL has passed. [`Backend::invalidation_stats`] counts calls
//! by kind and keys removed per tier (also as metrics, below).
//!
//! **Bookkeeping keys** (tag generations, leases, tombstones, for later work) are stored under
//! `<namespace>%:`. Namespaces cannot contain `%` (nor `:`), and every key and pattern the crate
//! sends starts with the literal `<namespace>:`, so neither a user pattern (even `*`) nor
//! `invalidate_all` can reach them.
//!
//! URLs are redacted ([`redact_url`]) in every log line, error and `Debug` output.
//!
//! # Coherence across instances
//!
//! Several instances (processes, each with its own backend, L1 and L3) sharing one Redis stay
//! coherent through three mechanisms (feature `redis`):
//!
//! - **No stale fills, locally.** After [`Cache::invalidate`], [`Cache::invalidate_all`],
//!   [`Cache::invalidate_pattern`], [`Backend::invalidate_pattern`],
//!   [`Backend::invalidate_group`] or [`Cache::set`] returns, no tier of this process keeps a
//!   value whose load, promotion (a
//!   lower-tier hit copied into L1) or refresh-ahead began before the call: every backend keeps
//!   invalidation epochs (per stripe of keys, and one for everything), a load notes them when
//!   it begins, and its result is stored (L1, L2, L3) only under a lock while they are
//!   unchanged. The value is still returned to the load's own caller. A refresh-ahead that
//!   fails or finishes late never brings the old entry back. The L1 hit path reads none of it.
//!   A key invalidation turns away the fills of its stripe of keys; a pattern (or a group
//!   holding one) turns away every fill in flight in the backend, since a pattern cannot name
//!   the stripes of the keys it will match (they are loaded again by their next reader).
//! - **No stale fills in Redis.** `invalidate` and `set` raise a per-key generation kept in
//!   `<namespace>%:g:{<namespace>:<key>}` (the reserved keyspace: no pattern or `clear` reaches
//!   it; the hash tag keeps it in the value's cluster slot), computed from Redis's own clock so
//!   no two machines' clocks are compared. A load reads the generation before its loader runs
//!   and writes its value with one single-slot script only if the generation has not risen
//!   since: a load on any instance that began before an invalidation never writes its value
//!   into Redis afterwards. Bound: a generation lives 10 minutes after its last change, so a
//!   load running longer than that is not fenced. The exact keys of an [`InvalidationGroup`]
//!   (and a [`Pattern`] without a wildcard) raise their generations too. Patterns and
//!   `invalidate_all` remove keys with `SCAN` and `UNLINK` without raising generations (they
//!   cannot know every key a load elsewhere may be about to write), so a fill racing them on
//!   *another* instance is fenced only once that instance has applied the bus message (below):
//!   a value that instance's load writes into Redis between the `SCAN` passing its key and
//!   the message arriving stays there until its TTL or the next invalidation. On the instance
//!   that invalidates, the local fence covers Redis too (its fills write Redis under it).
//!   Costs: one more `GET` per load; `set` and `invalidate` stay one round trip (a script each).
//! - **The invalidation bus.** Each backend has a random instance id and one subscriber (a
//!   second Redis connection, RESP3, named `perf-cache-bus-<id>`) on `<namespace>%:bus`. Every
//!   `invalidate*`, `set` and `set_many` publishes once Redis is done (a pattern or group: one
//!   message per pattern and per exact key); every other instance applies it to its L1 and L3
//!   through the same fence, and ignores its own messages. A remote pattern removes exactly the
//!   L1 entries and disk rows it matches (the same matcher as Redis's `SCAN MATCH`); a remote
//!   key is removed from every view that can hold it, whatever the publisher's prefix.
//!   Pub/sub is at-most-once: each backend publishes a heartbeat every
//!   [`BackendBuilder::bus_heartbeat`] (500 ms) and expects to hear something within three of
//!   them. When the subscription drops (`CLIENT KILL`, a restart), cannot be made, or goes
//!   quiet (a frozen Redis sends no disconnect), the instance **resyncs**: fills in flight are
//!   turned away, L1 is emptied and L3 entries written before the gap read as misses until
//!   loaded again; it resyncs once more when subscribed again. An instance that could not
//!   publish an invalidation asks every instance for a resync with its next heartbeat.
//!   Counted in [`Backend::bus_stats`] and the metrics `cache_bus_messages_total`,
//!   `cache_bus_resyncs_total`, `cache_bus_lag_seconds`.
//!
//! **Staleness bound.** Another instance's L1 serves an invalidated or overwritten value for
//! at most the bus delivery time: on loopback, from the start of `invalidate` on A to the
//! operation applied on B, p50 0.13–0.19 ms and p99 2.6–3.8 ms on a loaded 2-core machine
//! (bench `cache_bus`; figures and the raw pub/sub peer in `BENCHMARKS.md`). When the bus breaks, for at most the detection time: immediately on a
//! dropped connection, three heartbeats (1.5 s by default) on a silent one. During a Redis
//! outage no instance can publish; each resyncs when it notices the silence and again when
//! Redis is back, and in between serves what it loads itself (from the loader, or L3 entries
//! written after the gap). L3 entries written by a previous run of the process are trusted
//! (L3 survives restarts by design): an invalidation published while the process was down is
//! not seen by its L3 until the entry expires (`l3_ttl`).
//!
//! # Statistics and metrics
//!
//! [`Cache::stats`] returns a serde-serializable [`CacheStats`] (per-tier hits, misses, hit
//! rate, errors; loads, load errors, load time; evictions; breaker state; L1 entries and
//! weight; stale served), whose top level has the seed's `size, max_size, hits, misses,
//! hit_rate, total_requests`. The same figures go through the `metrics` facade (the crate never
//! installs a recorder), published every [`CacheBuilder::metrics_interval`] (1 s) so that the
//! hit path never touches a recorder:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `cache_requests_total` | counter | `namespace`, `tier` = `l1`/`l2`/`l3`, `outcome` = `hit`/`miss` |
//! | `cache_loads_total` | counter | `namespace`, `outcome` = `ok`/`error` |
//! | `cache_load_duration_seconds` | histogram (recorded per load) | `namespace` |
//! | `cache_evictions_total` | counter | `namespace`, `tier` = `l1` |
//! | `cache_errors_total` | counter | `namespace`, `tier` = `l2`/`l3` |
//! | `cache_breaker_open` | gauge 0/1 | `namespace` |
//! | `cache_entries` | gauge | `namespace`, `tier` = `l1` |
//! | `cache_weight_bytes` | gauge | `namespace` |
//! | `cache_stale_served_total` | counter | `namespace` |
//! | `cache_invalidations_total` | counter (per call) | `namespace`, `kind` = `key`/`all`/`pattern`/`group` |
//! | `cache_invalidated_keys_total` | counter (per call) | `namespace`, `tier` = `l1`/`l2`/`l3` |
//! | `cache_stale_fills_dropped_total` | counter | `namespace` |
//! | `cache_bus_messages_total` | counter (per message) | `namespace`, `direction` = `sent`/`received` |
//! | `cache_bus_resyncs_total` | counter (per gap) | `namespace` |
//! | `cache_bus_lag_seconds` | histogram (per message received) | `namespace` |
//!
//! Tracing: loads run in a `cache.load` span (`namespace`, `key_prefix`); tier hits, misses on
//! unusable data, errors and breaker transitions are events with `tier`, `outcome` and
//! `key_prefix` (a key's first segment). Values, full keys and credentials are never recorded.
//!
//! # Sessions
//!
//! `SessionStore` (feature `redis`) keeps session data in Redis only, with a TTL and optional
//! sliding expiry, so service instances can be stateless.
//!
//! # How the next features fit
//!
//! - **Tag invalidation.** Tag generations will live under the bookkeeping keyspace
//!   (`<namespace>%:tag:<tag>`), out of reach of patterns and `invalidate_all`; the envelope has
//!   room for tags, and tags become a new bus operation kind, which older instances answer
//!   with a resync.
//! - **`#[cached]`.** The macro will build a [`Key`] from the function's name and arguments
//!   (each argument a segment through [`KeyArg`] or `Display`) and call
//!   [`Cache::try_get_or_load`] or [`Cache::get_or_load`] on a `static` view of
//!   [`Backend::in_memory`] (or a configured backend) created on first use; generated code names only `::perf_cache::__private` paths.
//!
//! # Features
//!
//! - `macros` (default): re-exports `perf-cache-macros` (empty until the `#[cached]` issue).
//! - `redis`: L2 and `SessionStore`.
//! - `redis-cluster`: L2 on a Redis Cluster (`CacheBuilder::redis_cluster_urls`);
//!   `invalidate_all` and pattern invalidation scan every primary.
//! - `redis-tls`: `rediss://` URLs (rustls with the *ring* provider and the system's root
//!   certificates, or a private CA via `CacheBuilder::redis_root_cert_pem`).
//! - `disk`: L3.
//! - `moka`: moka as the L1 engine ([`L1Engine::Moka`]): TinyLFU admission, slower hits.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod bookkeeping;
mod builder;
mod bus;
mod cache;
mod clock;
mod codec;
mod envelope;
mod error;
mod fence;
mod flight;
mod glob;
mod group;
mod invalidation;
mod key;
mod options;
mod pattern;
mod redact;
mod replay;
mod stats;
mod tiers;

#[cfg(feature = "redis")]
mod breaker;
#[cfg(feature = "redis")]
mod session;

pub use backend::{Backend, BackendBuilder};
pub use builder::{CacheBuilder, DEFAULT_MAX_VALUE_SIZE};
pub use bus::BusStats;
pub use cache::Cache;
pub use codec::{Codec, CodecError, Json, Postcard};
pub use error::{Error, Result};
pub use group::{InvalidationGroup, InvalidationStats};
pub use invalidation::{Invalidation, Reach};
pub use key::{Key, KeyArg};
pub use options::SetOptions;
pub use pattern::Pattern;
pub use redact::redact_url;
#[cfg(feature = "redis")]
pub use session::{SessionStore, SessionStoreBuilder};
#[cfg(feature = "redis")]
pub use stats::SessionStats;
pub use stats::{CacheStats, TierStats};
pub use tiers::l1::L1Engine;

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
