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
//! An L1 hit is one hash of the key bytes (foldhash, the key space in its seed), one lookup
//! under a shard's read lock without copying the key, one relaxed load of a coarse clock, and,
//! still under that read lock, a type check and the value's clone (no reference count is
//! touched, so keep `V::clone` cheap: wrap large values in `Arc`), then one add to a counter
//! stripe the thread owns (a plain load and store; no shared counter written on every hit). Every entry carries its own deadline; the coarse clock is
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
//! | 28–35 | generation stamp (u64 LE, 0 for none; for invalidation) |
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
//! Invalidation is the exception to fail-open: [`Cache::invalidate`] reports what it could not
//! reach, and an invalidation that missed Redis is kept (up to 10,000 per backend) and
//! replayed before Redis is read again; until then reads skip L2. If more pile up, L2 is
//! treated as suspect and not read until the longest L2 TTL has passed. URLs are redacted ([`redact_url`]) in
//! every log line, error and `Debug` output.
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
//! - **Pattern and tag invalidation.** Because segments cannot contain `:` or glob
//!   metacharacters, `<namespace>:user:42:*` matches exactly the keys under `user:42`. A
//!   `KeyPattern` built from leading segments will drive `SCAN MATCH` + `UNLINK` in Redis (as
//!   [`Cache::invalidate_all`] does for a whole cache), a key-range delete in redb (keys are
//!   sorted bytes), and removal by predicate in L1 (both engines support it; the envelope has
//!   room for tags and generation stamps). Tags become Redis sets under `<namespace>:%tag:<tag>` and a second redb
//!   table; escaping only ever writes `%` followed by two upper-case hex digits, so no user key
//!   can collide with the `%tag` segment. The lower tiers sit behind one
//!   internal `Tier` trait (bytes in, bytes out), which grows `delete_matching` and tag methods.
//! - **Cross-instance L1 coherence.** `set`, `invalidate` and loads all end in one `store` /
//!   `invalidate` path; the coherence work publishes the key (or pattern) on a Redis channel there,
//!   and a subscriber task holding a clone of the cache drops it from L1.
//! - **Stale-fill guard.** Loads already pass through one leader per key (`flight`); a
//!   per-key generation counter bumped by invalidation and checked by the leader before
//!   it stores will drop fills that started before an invalidation.
//! - **`#[cached]`.** The macro will build a [`Key`] from the function's name and arguments
//!   (each argument a segment through [`KeyArg`] or `Display`) and call
//!   [`Cache::try_get_or_load`] or [`Cache::get_or_load`] on a `static` view of
//!   [`Backend::in_memory`] (or a configured backend) created on first use; generated code names only `::perf_cache::__private` paths.
//!
//! # Features
//!
//! - `macros` (default): re-exports `perf-cache-macros` (empty until the `#[cached]` issue).
//! - `redis`: L2 and `SessionStore`.
//! - `redis-cluster`: L2 on a Redis Cluster (`CacheBuilder::redis_cluster_urls`); `clear` scans
//!   every primary.
//! - `redis-tls`: `rediss://` URLs (rustls with the *ring* provider and the system's root
//!   certificates, or a private CA via `CacheBuilder::redis_root_cert_pem`).
//! - `disk`: L3.
//! - `moka`: moka as the L1 engine ([`L1Engine::Moka`]): TinyLFU admission, slower hits.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod builder;
mod cache;
mod clock;
mod codec;
mod envelope;
mod error;
mod flight;
mod invalidation;
mod key;
mod options;
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
pub use cache::Cache;
pub use codec::{Codec, CodecError, Json, Postcard};
pub use error::{Error, Result};
pub use invalidation::{Invalidation, Reach};
pub use key::{Key, KeyArg};
pub use options::SetOptions;
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
