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
//! # `#[cached]`
//!
//! The attribute caches an `async fn` (a free function or a method; or a plain `fn`, in L1
//! only, see `local` below) in the shared tiers: the
//! key is built from the function's arguments, the result goes to L1 and (when the backend
//! has them) Redis and disk, concurrent first calls of one key run the body once, and
//! companion functions invalidate or refresh entries from anywhere.
//!
//! ```
//! use perf_cache::cached;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
//! struct ScanResults { id: String, findings: u32 }
//!
//! #[cached(ttl = "10m", prefix = "scans")]
//! async fn get_scan_results(scan_id: &str) -> Result<ScanResults, String> {
//!     Ok(ScanResults { id: scan_id.to_owned(), findings: 3 }) // e.g. a database query
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let first = get_scan_results("s-1").await.unwrap();  // runs the body, caches the `Ok`
//! let again = get_scan_results("s-1").await.unwrap();  // a hit
//! assert_eq!(first, again);
//! // Companions generated beside the function:
//! assert_eq!(get_scan_results_cache_key("s-1").as_str(), "s-1"); // stored as <namespace>:scans:s-1
//! assert!(invalidate_get_scan_results("s-1").await.is_complete()); // that entry, every tier
//! let fresh = refresh_get_scan_results("s-1").await;               // rerun the body and store
//! assert!(invalidate_get_scan_results_all().await.is_complete());  // every entry of the function
//! # let _ = fresh; }
//! ```
//!
//! **Backend.** With no `backend` or `cache` option a function uses the process default
//! ([`Backend::default_backend`]): the one installed at start-up with
//! [`Backend::install_default`] or [`Backend::install_default_from_env`] (Redis at `REDIS_URL`),
//! else a lazily built in-memory backend, so `#[cached]` works with no set-up. All macro
//! caches share that one backend (one Redis connection, one L1 budget); each function is a
//! view on it, created on its first call, with its own prefix.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
//! // At start-up, before the first cached call:
//! perf_cache::Backend::install_default_from_env().await?;
//! # Ok(()) }
//! ```
//!
//! **Keys.** `<namespace>:<prefix>:<arguments>`: the prefix defaults to the function's path
//! (`module_path!()` and name, `::` written `.`, e.g. `my_app.scans.get_scan_results`; for a
//! method the `Self` type's path), so two functions of one name in different modules never
//! collide. Each argument is one segment written through [`CacheKey`] (strings, integers,
//! `bool`, `char`, `Option`, tuples, slices, `Vec`, arrays, references, `Box`/`Rc`/`Arc`/`Cow`,
//! and `#[derive(CacheKey)]` structs and enums), escaped so that no argument can forge a
//! separator or a Redis glob character. A function without key arguments has the key `()`.
//! An argument whose type is not `CacheKey` is a compile error that says to add `skip(arg)`, a
//! `key` template or the derive. A method's `self` is part of the key (`Self: CacheKey`)
//! unless `skip(self)` says otherwise: it is never dropped silently.
//!
//! **Return types.** `T` is cached; `Result<T, E>` caches `Ok` only (also through aliases such
//! as `io::Result<T>`); `Option<T>` caches `Some`, and `None` too with `cache_none`. Values
//! need `Clone + Serialize + DeserializeOwned + Send + Sync + 'static` (only `Clone + Send +
//! Sync + 'static` with `local` or a plain `fn`); errors need
//! `Send + Sync + 'static`. When `E: Clone`, callers that waited on a failed body get a clone
//! of its error; otherwise the error goes to the caller whose body produced it and the callers
//! that waited run the body themselves, one at a time.
//!
//! **Run-time TTL and tags.** The body may choose its own result's time to live with
//! [`set_result_ttl`] (e.g. a short one for a scan that is still running) and add tags with
//! [`set_result_tags`]; both work in `get_or_load` loaders too.
//!
//! **Arguments** may be borrowed (`&str`, `&[T]`, `&self`): the body borrows them as usual.
//! Every argument needs a name (no destructuring patterns). Generic functions work when their
//! key arguments are `CacheKey`; all instantiations share the function's prefix.
//!
//! | option | effect | default |
//! |---|---|---|
//! | `ttl = "10m"` or `ttl = 600` | time to live in every tier (humantime string or seconds; checked at compile time, 1 ms to 1 year) | the view's: L1 60 s, L2 1 h, L3 1 day |
//! | `l1_ttl`, `l2_ttl`, `l3_ttl` | one tier's time to live (overrides `ttl` there) | `ttl` |
//! | `prefix = "scans"` | the key prefix (`[A-Za-z0-9_.-]`, 1–64 characters) | the function's path |
//! | `key = "{scan_id}:{user.id}"` | a template over argument names (and their fields); `:` separates segments, `{{`/`}}` are literal braces; other arguments are left out | every argument |
//! | `skip(pool, self)` | arguments left out of the key | none |
//! | `backend = expr` | the backend to build the view on (`Backend` or `&Backend`, evaluated once) | the default backend |
//! | `cache = expr` | a ready `Cache<V, C>` view to use as is (excludes the view options) | — |
//! | `codec = perf_cache::Json` | the codec of L2/L3 values | `Postcard` |
//! | `cache_none` | `Option` functions: `None` is cached too (for `ttl`, else 60 s) | off |
//! | `refresh_ahead = "30s"` | a hit within this window before L1 expiry reloads in the background (needs owned arguments) | off |
//! | `stale_if_error = "5m"` | `Result` functions: serve a value expired less than this long ago when the body fails | off |
//! | `soft_timeout = "200ms"` | past this, a caller holding a stale value (kept by `stale_if_error`, which it needs; or by a `cache` built with it) gets it, and the body finishes in the background (owned arguments only; 1 ms ..= 1 day, below `hard_timeout`) | the `cache`'s, else none |
//! | `hard_timeout = "2s"` | `Result<T, E>` functions with `E: From<LoadTimeout>` (`io::Error` has it): past this the caller gets `Err(LoadTimeout.into())`, and the body finishes in the background and fills the cache (owned arguments only; 1 ms ..= 1 day) | none (a `cache`'s own `hard_timeout` is not used) |
//! | `single_flight = "process"` / `"cluster"` / `"off"` | one body run per key at a time in the process, in every instance sharing the Redis (a lease; see "Cluster-wide single-flight"), or none | `"process"` |
//! | `associated` | an associated function without `self` that does not mention `Self` (so the macro knows it sits in an `impl`) | — |
//! | `tags = ["scan:{scan_id}", "target:{target}"]` | tag templates (or one string) over argument names and fields, each placeholder written as the argument's key text; invalidate with [`Backend::invalidate_tag`] (see "Tags") | none |
//! | `local` | L1 only: the backend's shared L1 store (and budget), never Redis or disk; values need only `Clone + Send + Sync + 'static` (no serde). Excludes `codec`, `l2_ttl`, `l3_ttl`, `plain`, `cache`, `refresh_ahead`, `stale_if_error`, the timeouts and `single_flight = "cluster"`, `tags` | off |
//! | `plain` | interop mode: Redis holds exactly the codec's bytes (JSON) with Redis's own TTL, no envelope, no disk ([`StorageFormat::Plain`]); `Json` unless `codec` says otherwise (`Postcard` and `cache_none` are refused) | off |
//! | a plain `fn` (no `async`) | cached as with `local`, with a blocking single-flight: concurrent callers of a cold key wait on a `std` condition variable while one runs the body; companions are plain `fn`s. `refresh_ahead`, `stale_if_error`, `codec`, `l2_ttl`, `l3_ttl`, `plain`, `cache`, `soft_timeout`, `hard_timeout`, `tags` and `single_flight = "cluster"` are compile errors | — |
//!
//! `load_timeout` (of an earlier plan) is an error naming `hard_timeout` and `soft_timeout`.
//!
//! **`local` and plain `fn`s** keep their values in this process: the view (a `LocalCache`
//! on the backend's L1) has the same key scheme (`<namespace>:<prefix>:<arguments>`), so a
//! byte-sized L1 weighs each entry as its inline size plus its key. The stale-fill fence
//! applies: a value whose body began before an invalidation of its key (or a backend-wide or
//! remote one) is returned but not stored. An `async` function's `invalidate_<fn>` also goes
//! out on the invalidation bus, so other instances drop their copy; a plain `fn`'s companions
//! act on this process only (they cannot await Redis). A plain `fn` blocks its thread while
//! another thread runs the body of the same cold key (never on async I/O): call it from
//! `spawn_blocking` or a thread of your own when the body is slow. Local views are not
//! counted in [`CacheStats`] (they have no `Cache` handle); their entries count in the
//! backend's [`Backend::l1_entries`]. A body that panics ends its flight without a value:
//! one of the callers that waited runs the body again while the others wait for it.
//!
//! ```
//! use std::sync::Arc;
//! use perf_cache::cached;
//!
//! #[derive(Clone)] // no serde: only `local` (or a plain `fn`) can cache it
//! struct Template { source: Arc<str> }
//!
//! #[cached(local, ttl = "5m")]
//! async fn template(name: &str) -> Template { Template { source: Arc::from(name) } }
//!
//! #[cached(prefix = "primes")] // a plain `fn`: L1 only, companions are plain too
//! fn nth_prime(n: u32) -> u32 {
//!     (2..).filter(|k: &u32| (2..*k).all(|d| k % d != 0)).nth(n as usize).unwrap_or(0)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(&*template("home").await.source, "home");
//! assert!(invalidate_template("home").await.is_complete());
//! assert_eq!(nth_prime(10), 31);
//! assert_eq!(nth_prime_cache_key(&10).as_str(), "10");
//! assert!(invalidate_nth_prime(&10).is_complete());
//! assert_eq!(refresh_nth_prime(10), 31);
//! # }
//! ```
//!
//! `plain`, for keys another service (Python, Node, Go...) reads and writes as JSON:
//!
//! ```
//! use perf_cache::cached;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Price { cents: u64 }
//!
//! #[cached(plain, prefix = "prices", ttl = "10m")] // Redis: <namespace>:prices:<sku> = {"cents":1999}
//! async fn price(sku: &str) -> Price { let _ = sku; Price { cents: 1999 } }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(price("sku-1").await.cents, 1999);
//! # }
//! ```
//!
//! Tags: there is no generated companion; call [`Backend::invalidate_tag`] on the function's
//! backend (the default one: [`Backend::default_backend`]).
//!
//! ```
//! use perf_cache::{Backend, cached};
//!
//! #[cached(prefix = "scans", tags = ["scan:{scan_id}", "target:{target}"])]
//! async fn scan_results(scan_id: &str, target: &str) -> String {
//!     format!("{scan_id} on {target}")
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
//! scan_results("s-1", "example.org").await; // tagged scan:s-1 and target:example.org
//! scan_results("s-2", "example.org").await;
//! let done = Backend::default_backend().invalidate_tag("target:example.org").await?;
//! assert!(done.is_complete()); // both results are misses from now on, in every tier
//! # Ok(()) }
//! ```
//!
//! Per-tier TTLs, a codec and a backend of your own:
//!
//! ```
//! use perf_cache::{Backend, Json, cached};
//! use std::sync::OnceLock;
//!
//! static BACKEND: OnceLock<Backend> = OnceLock::new();
//!
//! #[cached(l1_ttl = "5s", l2_ttl = 3600, codec = Json,
//!          backend = BACKEND.get_or_init(|| Backend::in_memory().clone()))]
//! async fn price(sku: u64) -> u64 { sku * 100 }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(price(3).await, 300);
//! # }
//! ```
//!
//! A `key` template, `skip`, methods and `#[derive(CacheKey)]`:
//!
//! ```
//! use perf_cache::{CacheKey, cached};
//!
//! #[derive(CacheKey, Clone)]
//! struct Tenant { name: String }
//!
//! struct Pool; // not part of any key
//!
//! #[cached(key = "user:{id}", prefix = "users")]
//! async fn user_name(pool: &Pool, id: u64) -> String { let _ = pool; format!("user {id}") }
//!
//! #[cached(skip(pool))]
//! async fn team_size(pool: &Pool, team: &str) -> usize { let _ = pool; team.len() }
//!
//! impl Tenant {
//!     #[cached] // `self` is in the key: each tenant has its own entries
//!     async fn greeting(&self, n: u32) -> String { format!("{}#{n}", self.name) }
//! }
//!
//! struct Repo;
//! impl Repo {
//!     #[cached(skip(self))] // every `Repo` shares the entries
//!     async fn find(&self, id: u64) -> Option<String> { Some(format!("row {id}")) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(user_name_cache_key(&7).as_str(), "user:7");
//! assert_eq!(user_name(&Pool, 7).await, "user 7");
//! assert_eq!(team_size(&Pool, "core").await, 4);
//! let t = Tenant { name: "acme".into() };
//! assert_eq!(t.greeting(1).await, "acme#1");
//! assert_eq!(t.greeting_cache_key(&1).as_str(), "(acme,):1");
//! assert_eq!(Repo.find(1).await.as_deref(), Some("row 1"));
//! assert!(Repo::invalidate_find(&1).await.is_complete());
//! # }
//! ```
//!
//! `Option`, `cache_none`, `Result`, `stale_if_error`, `refresh_ahead` and `single_flight`:
//!
//! ```
//! use perf_cache::cached;
//!
//! #[cached(cache_none, ttl = "30s")] // "no such row" is remembered for 30 s
//! async fn find_row(id: u64) -> Option<String> { (id < 10).then(|| format!("row {id}")) }
//!
//! #[cached(stale_if_error = "5m")] // `Ok` cached; an `Err` is never cached
//! async fn parse(text: String) -> Result<u32, std::num::ParseIntError> { Ok(text.parse::<u32>()?) }
//!
//! #[cached(l1_ttl = "1m", refresh_ahead = "10s")] // owned arguments only
//! async fn report(name: String) -> usize { name.len() }
//!
//! #[cached(single_flight = "off")] // concurrent callers of a cold key each run the body
//! async fn cheap(n: u64) -> u64 { n + 1 }
//!
//! #[cached(single_flight = "cluster")] // one body run across instances (with Redis)
//! async fn expensive(n: u64) -> u64 { n * 1_000 }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(find_row(42).await, None);
//! assert_eq!(parse("12".into()).await, Ok(12));
//! assert!(parse("x".into()).await.is_err());
//! assert_eq!(report("q3".into()).await, 2);
//! assert_eq!(cheap(1).await, 2);
//! assert_eq!(expensive(2).await, 2_000); // the in-memory default backend: process-wide
//! # }
//! ```
//!
//! Loader timeouts (see "Loader timeouts" below): the body must own its arguments, since it
//! may finish after its caller returned.
//!
//! ```
//! use perf_cache::{LoadTimeout, cached};
//!
//! #[derive(Debug, Clone, PartialEq)]
//! enum ApiError { Timeout, Upstream(String) }
//! impl From<LoadTimeout> for ApiError {
//!     fn from(_: LoadTimeout) -> Self { ApiError::Timeout }
//! }
//!
//! // Past 200 ms a stale quote (expired less than 5 min ago) is served while the body
//! // finishes; past 2 s a caller without one gets `Err(ApiError::Timeout)`.
//! #[cached(stale_if_error = "5m", soft_timeout = "200ms", hard_timeout = "2s")]
//! async fn quote(symbol: String) -> Result<u64, ApiError> { Ok(symbol.len() as u64) }
//!
//! #[cached(hard_timeout = "50ms")]
//! async fn slow_report(id: u64) -> std::io::Result<u64> {
//!     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//!     Ok(id)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(quote("ACME".into()).await, Ok(4));
//! let e = slow_report(1).await.unwrap_err();
//! assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
//! # }
//! ```
//!
//! Using a view you built yourself:
//!
//! ```
//! use perf_cache::{Backend, Cache, cached};
//!
//! #[cached(cache = Cache::<u64>::builder().prefix("squares").build_on(Backend::in_memory())
//!     .expect("a valid prefix"))]
//! async fn square(n: u64) -> u64 { n * n }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(square(4).await, 16);
//! # }
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
//! A [`Key`] is a list of escaped segments joined by `:` (grammar on [`Key`]), each written
//! by a [`CacheKey`] value ([`Key::arg`] and `#[cached]` arguments use the same trait, so a
//! value gives the same segment either way). No argument can
//! forge a separator or a Redis glob metacharacter (`* ? [ ] \`) or a cluster hash tag
//! (`{ }`). Redis and disk store `<namespace>:<key>`; the namespace is limited to
//! `[A-Za-z0-9_.-]`. Keys up to 46 bytes live inline: a key built from a `u64` never allocates.
//!
//! # Values, codecs and the envelope
//!
//! L1 holds values as they are (`V: Clone`; wrap large values in `Arc`). L2 and L3 hold bytes
//! produced by a [`Codec`]: [`Postcard`] by default (compact binary; measured against JSON in
//! `BENCHMARKS.md`), or [`Json`] for other languages' services. Every stored value starts with
//! a 42-byte envelope (version 2), unless the view stores plain values (see "Plain mode"
//! below):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | magic `0xCA` |
//! | 1 | envelope version of the entry (2; 3 when it has tags) |
//! | 2 | oldest envelope version that can read the entry (2; 3 when it has tags) |
//! | 3 | flags (bit 0: cached "not found") |
//! | 4–5 | header length (u16 LE): where the payload starts |
//! | 6 | codec id ([`Codec::ID`]: 1 postcard, 2 JSON) |
//! | 7 | reserved |
//! | 8–11 | format version (u32 LE, [`CacheBuilder::format_version`]) |
//! | 12–19 | absolute expiry, Unix milliseconds (u64 LE) |
//! | 20–27 | type fingerprint (u64 LE, FNV-1a of the value type's name) |
//! | 28–35 | generation stamp (u64 LE): 0 in Redis; in the disk copy, the Unix µs at which its load began (a bus gap distrusts older ones) |
//! | 36–39 | payload length (u32 LE) |
//! | 40–41 | tag count (u16 LE) |
//! | 42… | per tag: length (u16 LE), UTF-8 bytes, generation when stamped (u64 LE); the header length covers them |
//!
//! Readers accept entries from newer writers whose byte 2 allows it, skipping header fields
//! they do not know and bytes after the payload, so a rolling deploy does not turn into old
//! and new instances overwriting each other's entries. An entry with tags says version 3 in
//! byte 2: a version-2 reader, which would skip the tags and serve it after its tag was
//! invalidated, reads it as a miss instead. Version 1 entries (the previous 16-byte
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
//! # Plain mode (sharing keys with other languages)
//!
//! The envelope is this crate's own: a Python, Node or Go service sharing the Redis cannot read
//! a value written with it, nor we one of theirs. A view built with
//! [`CacheBuilder::storage_format`]`(`[`StorageFormat::Plain`]`)` stores **the codec's bytes
//! and nothing else**. Use the [`Json`] codec: it is the codec for other languages
//! (`json.loads(r.get(key))` in Python reads what we write, and `r.set(key, json.dumps(obj),
//! px=...)` writes what we read).
//!
//! ```
//! # #[cfg(not(feature = "redis"))] fn main() {}
//! # #[cfg(feature = "redis")]
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
//! # let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
//! # let ns = format!("doc-plain-{}", std::process::id());
//! use std::time::Duration;
//! use perf_cache::{Cache, Json, Key, StorageFormat};
//!
//! let prices = Cache::<Vec<u32>>::builder()
//!     .namespace(&ns)
//!     .redis_url(&redis_url)
//!     .codec(Json)
//!     .storage_format(StorageFormat::Plain)
//!     .build()
//!     .await?;
//! // Redis key "<ns>:price:7", value `[120,95]`, expiring in Redis after 30 s.
//! prices.set_with_ttl(&Key::new("price").arg(7_u64), vec![120, 95], Duration::from_secs(30)).await?;
//! // A key another service owns: the Redis key is exactly this text.
//! let theirs = Key::raw(format!("{ns}-catalog:prices:7"))?;
//! assert_eq!(prices.get(&theirs).await, None);
//! # let _ = prices.invalidate(&Key::new("price").arg(7_u64)).await;
//! # Ok(()) }
//! ```
//!
//! - **Time to live kept by Redis**: writes are `SET key bytes PX <ms>` (`l2_ttl`, or the
//!   per-call TTL); a pipelined `SET … PX` per value for [`Cache::set_many`].
//! - **Remaining TTL on an L2 hit** is read in the **same round trip**: `GET` and `PTTL`
//!   pipelined (on a cluster both name the same key, so both go to the node owning its slot;
//!   [`Cache::get_many`] sends `MGET` and a `PTTL` per key in one pipeline). The L1 copy is
//!   fresh for `min(PTTL, l1_ttl)` counted from when the request was sent (not from the reply,
//!   a round trip later), so it never outlives the Redis key (never a fresh TTL). A key without expiry (`PTTL` -1) is kept `l1_ttl`; a
//!   key that expired between the two commands (`PTTL` -2) is a miss. The pipeline is not a
//!   transaction: a write landing between the `GET` and the `PTTL` could pair the old value
//!   with the new key's TTL, still capped by `l1_ttl`.
//! - **Values another service wrote that do not decode** (not JSON, another shape, this crate's
//!   envelope, a hash — `WRONGTYPE`) are misses, counted as L2 misses and L2 `errors` and
//!   logged (rate-limited, the codec's name and the size, never the value); never a panic, and
//!   they never open the circuit breaker. A read leaves such a key as it is: only a load
//!   (`get_or_load…` whose loader returns a value) or a `set` replaces it (`SET` replaces a
//!   key of any type).
//! - **Refused with [`Error::InvalidConfig`]**: the [`Postcard`] codec (not self-describing:
//!   another service's bytes could decode into wrong values instead of failing, and few
//!   languages read it), [`CacheBuilder::negative_ttl`] (a plain value has no header to mark
//!   "not found", and any marker we picked — `null`, an empty string — is a value another
//!   service may legitimately write) and a non-zero [`CacheBuilder::format_version`] (nowhere
//!   to write it). A custom [`Codec`] (ID 16 and up) is accepted.
//! - **No L3**: plain views never write or read the private disk tier, even on a backend that
//!   has one. Their keys are shared with services whose deletes this process does not see; a
//!   private copy on disk would outlive them. [`Invalidation::l3`] is
//!   [`Reach::NotConfigured`] for a plain view.
//! - L1 behaves as for any view: another service's delete is seen when the L1 copy expires
//!   (at most the Redis TTL it had, or `l1_ttl`) or on [`Cache::invalidate`]. `refresh_ahead`
//!   and `stale_if_error` work as usual (a stale copy is served only when a loader fails).
//!   Without Redis a plain view is an L1 cache like any other.
//!
//! **Raw keys.** [`Key::raw`] names a key another service owns: Redis stores it under exactly
//! the given text, not `<namespace>:<prefix>:<key>`. It works in both formats. The text is 1 to
//! 1,024 bytes without ASCII control characters; glob metacharacters and `{hash tags}` are
//! kept, so a cluster routes the key as the owner's client does. In L1 a raw key never equals
//! a namespaced key with the same text (separate entries and single-flight loads).
//! [`Cache::invalidate`] removes a raw key from Redis; [`Cache::invalidate_all`] scans only
//! `<namespace>:<prefix>:*`, so it drops the view's raw keys from this process's L1 but never
//! deletes them from Redis: the other service owns them. Logs show a raw key's text before its
//! first `:` (or `raw`), never the whole key.
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
//! # Cluster-wide single-flight
//!
//! Single-flight is per process by default: two instances that miss the same cold key both
//! run the loader. [`CacheBuilder::single_flight`]`(`[`SingleFlight::Cluster`]`)` (or
//! `#[cached(single_flight = "cluster")]`, which overrides the view's setting for the
//! function) makes every instance sharing the Redis wait for one loader run:
//!
//! - **Mechanism.** Callers in a process still share one flight; its leader, after missing L1,
//!   L2 and L3, runs one script on the value key and the lease key
//!   `<namespace>%:l:{<namespace>:<key>}` (the reserved keyspace, in the value's cluster slot,
//!   so it works on a Redis Cluster): if the value is stored by now, that is the answer (an
//!   L2 hit); else `SET <lease> <random token> NX PX <lease_ttl>`. The instance that gets the
//!   lease reads the generation, the pattern epoch and Redis's clock like any load, runs the
//!   loader, stores the value (through the same fence as any load), then deletes the lease
//!   with a compare-and-delete script (its token only) that publishes the value key on
//!   `<namespace>%:lease`. The others wait on that message (the invalidation bus's subscriber
//!   listens to this channel too; older instances never subscribe to it) and, in case it is
//!   lost, poll the same script (first after 1 ms, backing off to every 20 ms, jittered):
//!   the stored value ends the wait; a lease that vanished without a value (the holder's
//!   loader failed or returned nothing to store, or it was cancelled) is taken by the first
//!   poll that finds it free, and that instance loads.
//! - **Bounds.** A waiter waits at most [`CacheBuilder::lease_wait`] (5 s by default; set it
//!   above the loader's usual duration), then runs the loader itself without the lease
//!   (counted as a timeout). The value is seen one message delivery after the holder's
//!   release (sub-millisecond on loopback), and at most ~40 ms (one jittered poll interval)
//!   after it when the message is lost or the instance has no bus. A holder that is cancelled or panics releases its lease from a spawned task (or,
//!   with no runtime left, the lease expires); a holder that dies or freezes keeps it for
//!   [`CacheBuilder::lease_ttl`] (10 s by default). The lease is not renewed: a loader running
//!   longer than `lease_ttl` lets a second instance load.
//! - **Errors are not shared across instances.** When the holder's loader fails, its own
//!   callers get the error (shared within its process as usual) and release the lease; each
//!   waiting instance then runs its own loader, one instance at a time through the lease.
//! - **Fallback.** Without Redis, while the circuit breaker is open, when the script fails (a
//!   counted L2 error), while invalidations wait to be replayed, and for
//!   [`StorageFormat::Plain`] views, loads use process single-flight (counted as
//!   `lease_fallbacks`). Refresh-ahead reloads stay per process.
//! - **Cost.** On the loading instance, one script before the loader (the `SET NX`) and one
//!   after the store (the compare-and-delete and `PUBLISH`), per cold load: two round trips
//!   more than process single-flight (cold miss 398 µs vs 242 µs on loopback, 1.67×, paired
//!   rounds); on a
//!   waiting instance, one script per poll. Hits are untouched. `BENCHMARKS.md`
//!   (`cache_lease`).
//! - **Counted** in [`CacheStats`] (`lease_acquired`, `lease_waits`, `lease_wait_timeouts`,
//!   `lease_fallbacks`) and the metric `cache_lease_total`.
//!
//! ```
//! # #[cfg(not(feature = "redis"))] fn main() {}
//! # #[cfg(feature = "redis")]
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
//! # let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
//! # let ns = format!("doc-cluster-flight-{}", std::process::id());
//! use std::time::Duration;
//! use perf_cache::{Cache, Key, SingleFlight};
//!
//! // Two instances: separate backends (L1, bus) on one Redis.
//! let instance = || {
//!     Cache::<u64>::builder()
//!         .namespace(&ns)
//!         .redis_url(&redis_url)
//!         .single_flight(SingleFlight::Cluster)
//!         .lease_wait(Duration::from_secs(2))
//!         .build()
//! };
//! let (a, b) = (instance().await?, instance().await?);
//! let key = Key::new("report").arg(1_u64);
//! let slow = || async { tokio::time::sleep(Duration::from_millis(50)).await; 7 };
//! let (x, y) = tokio::join!(a.get_or_load(&key, slow), b.get_or_load(&key, slow));
//! assert_eq!((x, y), (7, 7));
//! assert_eq!(a.stats().loads + b.stats().loads, 1); // one loader run in total
//! # a.invalidate(&key).await;
//! # Ok(()) }
//! ```
//!
//! # Loader timeouts
//!
//! FusionCache's soft and hard factory timeouts, per view ([`CacheBuilder::soft_timeout`],
//! [`CacheBuilder::hard_timeout`]) or per call ([`LoadOptions`] with
//! [`Cache::get_or_load_with`] / [`Cache::try_get_or_load_with`]; `#[cached(soft_timeout,
//! hard_timeout)]`). Default: none.
//!
//! - **Soft.** When the load has not finished after the soft timeout, a caller that holds a
//!   stale value (an L1 entry expired less than [`CacheBuilder::stale_if_error`] ago) gets it
//!   at once; without one it keeps waiting (up to the hard timeout). Every load API with a
//!   `'static` loader uses the view's soft timeout. Counted: `soft_timeouts`.
//! - **Hard.** After the hard timeout the caller gets [`LoadError::TimedOut`] (or, from
//!   `#[cached]`, its error type `From<`[`LoadTimeout`]`>`). Only calls that can report it use
//!   it: `get_or_load_with`, `try_get_or_load_with` and `#[cached(hard_timeout)]`;
//!   `get_or_load`, `try_get_or_load` and `get_or_load_optional` have no error to carry it and
//!   ignore the view's hard timeout (they wait for the loader). Counted: `hard_timeouts`.
//! - **The load goes on.** A load that may outlive its caller (a hard timeout is set, or a
//!   soft one and the caller holds a stale value) runs in a task of its own. It stores its
//!   value in every tier when it finishes, so the next call hits, **through the same fence as
//!   any load**: an invalidation or `set` of the key that begins while it runs turns its fill
//!   away (counted in `stale_fills_dropped`). **Single-flight holds**: a caller arriving while
//!   it runs joins it (never a second loader run), and waiters of the flight get the same
//!   treatment as its first caller (stale past soft, timeout past hard). Such a load is not
//!   cancelled with its caller; a panic in its loader reaches the caller still waiting.
//!   Cost: one `tokio::spawn` and a cross-thread wake per such load (about 10–18 µs on the
//!   shared 2-core bench machine, `cache_timeouts` in `BENCHMARKS.md`); calls without
//!   timeouts pay none of it.
//! - **Bound.** With a hard timeout, a load still running 10 minutes after it began (or the
//!   hard timeout, if longer) is abandoned: its loader future is dropped, nothing is stored,
//!   the flight ends and the next caller runs the loader again, so a hung loader cannot wedge a
//!   key for good. 10 minutes is how long a key's generation in Redis fences a fill (see
//!   "Coherence across instances"); a longer load could write a value an invalidation already
//!   removed. With only a soft timeout the load is never cut short (callers without a stale
//!   value wait for it, as without timeouts).
//! - **Runtime.** Timeouts use tokio's timer (a runtime with time enabled, as
//!   `#[tokio::main]` builds); polled outside any tokio runtime a load waits for its loader
//!   as if no timeout were set.
//! - **Borrowing loaders** (`#[cached]` with `&str`, `&self` arguments) cannot outlive the
//!   call: the macro refuses timeouts there at compile time, and a `cache` view's timeouts
//!   are not used by them.
//! - **Checked**: each timeout 1 ms ..= 1 day, soft below hard, soft only with
//!   `stale_if_error` (else it could never serve anything): [`Error::InvalidConfig`] naming
//!   the field from `build`, [`LoadError::InvalidOptions`] from a call, a compile error from
//!   `#[cached]`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
//! use std::time::Duration;
//! use perf_cache::{Cache, Key, LoadError, LoadOptions};
//!
//! let cache = Cache::<u64>::builder()
//!     .stale_if_error(Duration::from_secs(300))
//!     .soft_timeout(Duration::from_millis(10))
//!     .build()
//!     .await?;
//! let slow = || async {
//!     tokio::time::sleep(Duration::from_secs(60)).await;
//!     Ok::<u64, std::io::Error>(1)
//! };
//! let call = LoadOptions::default().hard_timeout(Duration::from_millis(30));
//! // No stale value, so the soft timeout serves nothing; past 30 ms: a timeout error.
//! let r = cache.try_get_or_load_with(&Key::new("n"), call, slow).await;
//! assert!(matches!(r, Err(LoadError::TimedOut { .. })));
//! assert_eq!(cache.stats().hard_timeouts, 1);
//! // The soft timeout must stay below the hard one (the view's or the call's).
//! let bad = LoadOptions::default().hard_timeout(Duration::from_millis(5));
//! let r = cache.try_get_or_load_with(&Key::new("n"), bad, slow).await;
//! assert!(matches!(r, Err(LoadError::InvalidOptions(_))));
//! # Ok(()) }
//! ```
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
//! | [`Cache::invalidate`] | one key, from every view that can hold it | one script (`UNLINK`, generation raised) | one row | one entry per view holding it |
//! | [`Cache::invalidate_pattern`] | keys of the view matching a [`Pattern`] | pattern epoch raised, `SCAN MATCH` + `UNLINK` | range scan | one pass |
//! | [`Backend::invalidate_pattern`] | keys of every view matching a [`Pattern`] | same | same | same |
//! | [`Backend::invalidate_group`] | several patterns and keys ([`InvalidationGroup`]) | one pipelined script per exact key (`UNLINK`, generation raised), one `SCAN` pass per pattern | same | one pass for all |
//! | [`Cache::invalidate_all`] | every key of the view | pattern epoch raised, `SCAN MATCH <namespace>:<prefix>:*` + `UNLINK` | range delete | one pass |
//! | [`Backend::invalidate_tag`] | every entry tagged with it, in every view (see "Tags") | `INCR` of the tag epoch and the tag (one pipeline) | nothing (checked on read) | nothing (checked on read) |
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
//! **Cost.** Redis: one script raising the namespace's pattern epoch (see "No stale fills in
//! Redis"), then `SCAN … MATCH … COUNT 1000` ([`BackendBuilder::scan_count`], 10–100,000)
//! walks the whole database (cost grows with the number of keys in it, not with the number
//! matched) and never blocks the server the way `KEYS` does; each page's keys are removed with
//! one `UNLINK` sent in the same pipeline as the next `SCAN`, one round trip per page (10,000
//! of 200,000 keys: about 140 ms, 8–12× faster than the seeds' scan-then-delete-each, and
//! `COUNT 10000` is no faster on loopback while each call holds the server ~6.4 ms instead of
//! ~0.6 ms: see `BENCHMARKS.md`). On a
//! cluster every primary is scanned and each key is unlinked on its own slot's node. Disk: only
//! rows starting with the pattern's literal head are read, in write transactions of at most
//! 1,024 rows. L1: one pass over the entries with the compiled pattern. Exact keys skip the
//! scan.
//!
//! **What it reports.** Every call returns an [`Invalidation`]: per tier whether it was
//! reached ([`Reach`]) and, for keys, patterns and groups, how many keys each tier removed
//! ([`Cache::invalidate`] runs the group path with one exact key: L1 counts one entry per view
//! that held the stored key). A tier not
//! reached is also counted (`errors` in [`TierStats`] for view calls) and logged. An
//! invalidation that missed Redis (breaker open, an error, a `SCAN` that failed part-way) is
//! kept — keys, whole-view clears and patterns, up to 10,000 per backend — and replayed before
//! Redis is read again; until then reads skip L2. If more pile up, L2 is treated as suspect and
//! not read until the longest L2 TTL has passed. [`Backend::invalidation_stats`] counts calls
//! by kind and keys removed per tier (also as metrics, below).
//!
//! **Bookkeeping keys** (key generations `<namespace>%:g:{…}`, the pattern epoch
//! `<namespace>%:pe`, leases of cluster-wide single-flight `<namespace>%:l:{…}`, tag
//! generations `<namespace>%:t:<tag>` and the tag epoch `<namespace>%:te`) are stored under
//! `<namespace>%:`. Namespaces cannot contain `%` (nor `:`), and every key and pattern the crate
//! sends starts with the literal `<namespace>:`, so neither a user pattern (even `*`) nor
//! `invalidate_all` can reach them.
//!
//! URLs are redacted ([`redact_url`]) in every log line, error and `Debug` output.
//!
//! # Tags
//!
//! An entry may carry tags ([`SetOptions::tags`], [`LoadOptions::tags`], [`set_result_tags`]
//! from inside a loader, `#[cached(tags = [..])]`): strings of 1 to [`MAX_TAG_LEN`] (128)
//! bytes without control characters, at most [`MAX_TAGS`] (32) per entry; a bad tag is an
//! [`Error::InvalidConfig`] naming `tags` (a load's: logged, the value returned but not
//! cached). [`Backend::invalidate_tag`] makes every entry carrying the tag a miss, in every
//! view and tier, in **O(1)**: no key is scanned or deleted. Plain views
//! ([`StorageFormat::Plain`]) have no envelope to carry tags: `set_with` with tags is an
//! error there, and a tagged load is returned but not cached. A value served stale by
//! `stale_if_error` is never one whose tag was invalidated.
//!
//! - **Generations.** Each tag has a counter in Redis, `<namespace>%:t:<tag>` (the tag escaped
//!   as one key segment: `*`, `%`, `:` or `{` in a tag stay literal), raised by `INCR` — no
//!   clocks compared between machines, one key per command, so it works on a cluster. An
//!   entry carries, per tag, the generation it was stamped with: in its envelope (L2, L3)
//!   and beside its L1 copy. It is a hit only while every one equals the tag's current
//!   generation. Without Redis, generations come from a process-wide counter seeded with the
//!   Unix µs at start (an evicted tag, or a restart reading its own disk file, never reuses
//!   one); an entry written to disk by an earlier run then reads as a miss.
//! - **The tag table.** Each backend keeps the current generation of the tags it met, so a
//!   tagged hit costs one atomic load per tag and no round trip (an entry without tags checks
//!   nothing). An unknown tag is fetched once (`GET`; several in one `MGET`; concurrent
//!   fetches of one tag share it). The table holds [`BackendBuilder::tag_table_size`] tags
//!   (10,000); one more evicts the oldest, whose entries become misses (never stale hits) and
//!   whose generation is fetched again on next use. `invalidate_tag` publishes the new
//!   generation on the bus; other instances raise theirs. A bus gap drops the whole table.
//!   Without the bus ([`BackendBuilder::bus`]`(false)`) nothing pushes generations: a held
//!   one older than 1 s is fetched again when next needed (a load, a Redis or disk read), so
//!   such an instance may serve a tag's entries up to ~1 s after `invalidate_tag` elsewhere
//!   (its L1 copies until one of their tags is fetched again, at most `l1_ttl`).
//! - **`invalidate_tag`**: turns away this process's fills in flight (the fence), pipelines
//!   `INCR <namespace>%:te` (the tag epoch) then `INCR` of the tag, updates the table,
//!   publishes. It reports `l2` and the new generation ([`Invalidation::tag_generation`]);
//!   counted as kind `tag`. If Redis is unreachable it is reported not complete, the `INCR`s
//!   are kept and replayed before Redis (or a tag generation) is read again, this process
//!   forgets the tag (its entries miss meanwhile) and asks every instance to resync.
//! - **No stale fills.** A load stamps the tags given up front with their generations as the
//!   load began: an invalidation during the load leaves its result stamped old, a miss
//!   everywhere. Tags the loader picks at run time ([`set_result_tags`], `#[cached]` tags)
//!   have no generation from the start; instead every load reads the tag epoch beside the
//!   key's generation (a second `GET` in flight with it: one more command per load, no more
//!   round trips) and stores such a result only if, after reading the tags' generations, the
//!   epoch (and this process's own) has not moved: otherwise the value is returned to its
//!   caller but not cached (counted in `stale_fills_dropped`). With frequent tag
//!   invalidations, results with run-time tags are cached less often.
//! - **Bounds.** This process: after `invalidate_tag` returns, no tier serves an entry of the
//!   tag. Another instance: its L1 (and its table) follows once the bus delivered the new
//!   generation (the bus's staleness bound below); its reads of Redis and disk entries check
//!   its table too, so they follow on the same delivery. A tag counter lost from Redis
//!   (eviction under `maxmemory` with an `allkeys-*` policy, `FLUSHALL`) restarts at 0: entries
//!   stamped with a higher generation miss, but one stamped 0 could match again — give Redis
//!   a `volatile-*` policy (tag counters have no TTL and are never evicted then).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> perf_cache::Result<()> {
//! use perf_cache::{Cache, Key, LoadOptions, SetOptions, set_result_tags};
//! let cache = Cache::<String>::builder().namespace("tags-doc").build().await?;
//! cache.set_with(&Key::new(1_u64), "a".into(), SetOptions::default().tags(["org:1"])).await?;
//! let opts = LoadOptions::default().tags(["org:1"]);
//! cache.get_or_load_with(&Key::new(2_u64), opts, || async {
//!     set_result_tags(["user:7"]); // decided by the loader
//!     "b".to_owned()
//! }).await.unwrap();
//! let done = cache.invalidate_tag("org:1").await?;
//! assert!(done.is_complete());
//! assert_eq!(cache.get(&Key::new(1_u64)).await, None);
//! assert_eq!(cache.get(&Key::new(2_u64)).await, None);
//! # Ok(()) }
//! ```
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
//!   A key invalidation turns away the fills of its stripe of keys. A pattern (or a group
//!   holding one, or another instance's pattern received on the bus) raises a pattern epoch
//!   and logs its patterns: a fill that began before is turned away only if its stored key
//!   matches one of the patterns logged since. The log keeps the last 64 entries (each
//!   pattern call logs twice: before the shared tiers and again before L1, so 32 calls); a
//!   fill older than the oldest entry kept is turned away whatever its key.
//!   `invalidate_all` and bus gaps turn away every fill in flight in the backend.
//! - **No stale fills in Redis.** `invalidate` and `set` raise a per-key generation kept in
//!   `<namespace>%:g:{<namespace>:<key>}` (the reserved keyspace: no pattern or `clear` reaches
//!   it; the hash tag keeps it in the value's cluster slot), computed from Redis's own clock so
//!   no two machines' clocks are compared. Every pattern, group with a pattern and
//!   `invalidate_all` first raises the namespace's *pattern epoch* `<namespace>%:pe` (the same
//!   way), then `SCAN`s. A load reads the key's generation, the epoch and Redis's `TIME` in
//!   one round trip before its loader runs, and writes its value only if, since then, the
//!   generation has not risen and the epoch has not moved: a load on any instance that began
//!   before an invalidation (key, pattern or all) never leaves its value in Redis afterwards.
//!   A pattern cannot name the keys a load elsewhere is about to write, so a moved epoch turns
//!   away every older fill of the namespace in Redis (loaded again by their next reader).
//!   - *One server*: one script checks both and writes: exact, no window.
//!   - *A cluster* (the key and the epoch live in different slots; no multi-slot scripts):
//!     the fill writes with its key's generation checked, re-reads the epoch, and if it moved
//!     removes its value when the key still holds exactly its bytes. `SCAN` returns every key
//!     present for its whole run and the epoch is raised before it, so no stale value stays;
//!     but one may be **readable for about two round trips** (from its write landing: the
//!     epoch's re-read, then the removal). Measured
//!     on a 3-primary loopback cluster on a loaded 2-core machine (test
//!     `cluster_pattern_racing_a_fill_on_another_instance_leaves_nothing`, 2,000 rounds, 0
//!     stale afterwards): from sending the write to the removal's reply, p50 0.49 ms, p99
//!     6.9 ms, max 34 ms.
//!   - *Lifetime*: generations and the epoch live 10 minutes after their last change. A fill
//!     that finds either absent and whose load began longer ago than that (by Redis's clock)
//!     writes nothing (on a cluster: finds its generation absent, or saw no epoch); its
//!     caller still gets the value, counted as a dropped stale fill. So a load of any length
//!     is fenced; the price is that a load over 10 minutes long is cached only where its
//!     generation and the epoch still exist. A load whose reads failed (Redis unreachable)
//!     is checked against "no generation, no epoch", with no age check.
//!
//!   Costs: the read before the loader is one script (on a cluster, two commands sent
//!   together); the fill is one script (on a cluster, plus one `GET` of the epoch, and one
//!   script more when it must remove its value); `set` and `invalidate` stay one round trip
//!   (a script each); a pattern costs one script more than its `SCAN`s. The epoch is one key
//!   per namespace, read by every load: on a cluster its node serves all those reads.
//! - **The invalidation bus.** Each backend has a random instance id and one subscriber (a
//!   second Redis connection, RESP3, named `perf-cache-bus-<id>`) on `<namespace>%:bus`,
//!   made from the L2 URL, from [`BackendBuilder::bus_redis_client`], or on a cluster through
//!   the first seed that answers (classic pub/sub reaches every node); when the subscription
//!   is lost every seed is tried in turn, with a growing pause between rounds, so losing one
//!   node does not lose the bus. A backend built on a `ConnectionManager` alone cannot
//!   subscribe and has **no bus** (logged once at build): other instances' invalidations never
//!   reach its L1 and disk copies, which live until their TTL. Every
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
//! - **Confirmed writes.** Each announcement carries a sequence number; every instance that
//!   received it confirms once it has applied it (on `<namespace>%:ack:<publisher id>`, the
//!   publisher's own subscriber in process), and the write waits until as many have
//!   confirmed as `PUBLISH` counted deliveries, at most
//!   [`BackendBuilder::bus_confirm_timeout`] (1 s). The counts are in
//!   [`Invalidation::bus_reached`] / [`Invalidation::bus_confirmed`]; a wait that ends short
//!   is counted in [`BusStats::unconfirmed`] and logged.
//!
//! **Staleness bound.** Once an `invalidate*`, `set` or `set_many` returned with every
//! delivery confirmed ([`Invalidation::is_confirmed`]), no instance that was subscribed
//! serves the old value from its L1 or disk file: a read anywhere after the write sees it
//! (test `once_a_write_returns_the_first_read_on_every_other_instance_sees_it`: 300 rounds,
//! three instances, 0 stale first reads; about half were stale without the wait). What is
//! not confirmed in time (a frozen or overloaded instance) is served stale until it applies
//! the message. With `bus_confirm_timeout` zero the bound is the bus delivery time instead:
//! on loopback, from the start of `invalidate` on A to the operation applied on B, p50
//! 0.13–0.19 ms and p99 2.6–3.8 ms on a loaded 2-core machine (bench `cache_bus`; figures
//! and the raw pub/sub peer in `BENCHMARKS.md`). When the bus breaks, for at most the detection time: immediately on a
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
//! weight; stale served; leases of cluster-wide single-flight; soft and hard load timeouts),
//! whose top level has the seed's `size, max_size, hits, misses,
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
//! | `cache_invalidations_total` | counter (per call) | `namespace`, `kind` = `key`/`all`/`pattern`/`group`/`tag` |
//! | `cache_invalidated_keys_total` | counter (per call) | `namespace`, `tier` = `l1`/`l2`/`l3` |
//! | `cache_stale_fills_dropped_total` | counter | `namespace` |
//! | `cache_load_timeouts_total` | counter | `namespace`, `kind` = `soft` (stale value served) / `hard` (caller timed out) |
//! | `cache_bus_messages_total` | counter (per message) | `namespace`, `direction` = `sent`/`received` |
//! | `cache_bus_resyncs_total` | counter (per gap) | `namespace` |
//! | `cache_bus_lag_seconds` | histogram (per message received) | `namespace` |
//! | `cache_lease_total` | counter | `namespace`, `outcome` = `acquired`/`waited`/`timeout`/`fallback` ([`SingleFlight::Cluster`]) |
//!
//! Tracing: loads run in a `cache.load` span (`namespace`, `key_prefix`) when a subscriber
//! takes DEBUG (none is built otherwise: it cost every miss); tier hits, misses on
//! unusable data, errors and breaker transitions are events with `tier`, `outcome` and
//! `key_prefix` (a key's first segment). Values, full keys and credentials are never recorded.
//!
//! # Sessions
//!
//! `SessionStore` (feature `redis`) keeps session data in Redis, with a TTL and optional
//! sliding expiry, so service instances can be stateless; its in-process mode
//! (`SessionStoreBuilder::in_process`) keeps them in a bounded map of one process instead,
//! for a single instance without Redis.
//!
//! # How the next features fit
//!
//! - **Tag invalidation** (done: "Tags" above). Tag generations live under the bookkeeping
//!   keyspace (`<namespace>%:t:<tag>`), out of reach of patterns and `invalidate_all`; tags
//!   are a bus operation kind, which older instances answer with a resync.
//! - **`#[cached]`.** Generated code names only `::perf_cache::__private` paths (not an API). A
//!   function's view is built once on its first call and kept in a `static` (one per value
//!   type for generic functions); a view that cannot be built is logged and the function runs
//!   uncached. `refresh_ahead` loads through [`Cache::get_or_load`]'s path; other loads pass a
//!   body that borrows the arguments to the same single-flight path.
//!
//! # Features
//!
//! - `macros` (default): `#[cached]` and `#[derive(CacheKey)]` (from `perf-cache-macros`).
//! - `redis`: L2 and `SessionStore`.
//! - `redis-cluster`: L2 on a Redis Cluster (`CacheBuilder::redis_cluster_urls`);
//!   `invalidate_all` and pattern invalidation scan every primary.
//! - `redis-tls`: `rediss://` URLs (rustls with the *ring* provider and the system's root
//!   certificates, or a private CA via `CacheBuilder::redis_root_cert_pem`).
//! - `disk`: L3.
//! - `moka`: moka as the L1 engine ([`L1Engine::Moka`]): TinyLFU admission, slower hits.
//! - `uuid`, `chrono`, `time`: [`CacheKey`] for `uuid::Uuid`, chrono's `DateTime<Utc>` and
//!   `NaiveDate`, time's `OffsetDateTime` and `Date` (canonical text forms, see [`CacheKey`]).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod backend_stats;
mod bookkeeping;
mod builder;
mod bus;
mod bus_confirm;
#[cfg(feature = "redis")]
mod bus_seeds;
mod cache;
mod cache_key;
#[cfg(any(feature = "uuid", feature = "chrono", feature = "time"))]
mod cache_key_ext;
mod clock;
mod codec;
mod default_backend;
mod envelope;
mod error;
mod fence;
mod flight;
mod glob;
mod group;
mod invalidation;
mod key;
mod load_error;
mod load_options;
mod local_call;
mod local_view;
mod macro_support;
mod options;
mod pattern;
mod pattern_log;
mod replay;
mod result_ttl;
mod single_flight;
mod stats;
mod storage_format;
mod sync_flight;
mod tag;
mod tag_macro;
mod tag_table;
mod tiers;

#[cfg(feature = "redis")]
mod breaker;
#[cfg(feature = "redis")]
mod session;
#[cfg(feature = "redis")]
mod session_memory;

pub use backend::{Backend, BackendBuilder};
pub use builder::{CacheBuilder, DEFAULT_MAX_VALUE_SIZE};
pub use bus::BusStats;
pub use cache::Cache;
pub use cache_key::{CacheKey, KeyWriter};
pub use codec::{Codec, CodecError, Json, Postcard};
pub use error::{Error, Result};
pub use group::{InvalidationGroup, InvalidationStats};
pub use invalidation::{Invalidation, Reach};
pub use key::Key;
pub use load_error::{LoadError, LoadTimeout};
pub use load_options::LoadOptions;
pub use options::SetOptions;
pub use pattern::Pattern;
pub use perf_redact::redact_url;
pub use result_ttl::{set_result_tags, set_result_ttl};
#[cfg(feature = "redis")]
pub use session::{SessionStore, SessionStoreBuilder};
pub use single_flight::{DEFAULT_LEASE_TTL, DEFAULT_LEASE_WAIT, SingleFlight};
#[cfg(feature = "redis")]
pub use stats::SessionStats;
pub use stats::{CacheStats, TierStats};
pub use storage_format::StorageFormat;
pub use tag::{MAX_TAG_LEN, MAX_TAGS};
pub use tiers::l1::L1Engine;

#[cfg(feature = "macros")]
pub use perf_cache_macros::{CacheKey, cached};

#[doc(hidden)]
pub mod __private {
    pub use crate::macro_support::*;
    pub use crate::tag_macro::*;
}

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
