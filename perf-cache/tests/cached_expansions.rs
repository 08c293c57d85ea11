//! Every shape of `#[cached]` expansion, compiled under `#![deny(warnings)]` and (through
//! `cargo clippy --all-targets`) the workspace clippy set, and each called once on the
//! in-memory default backend.
#![deny(warnings)]

use std::sync::Arc;

use perf_cache::{CacheKey, Json, cached};
use serde::{Deserialize, Serialize};

/// Public functions: the companions are public and documented too (`missing_docs`).
pub mod public {
    use perf_cache::cached;

    /// A documented public cached function.
    #[cached(ttl = 30, prefix = "public-double")]
    pub async fn double(n: u64) -> u64 {
        n * 2
    }
}

mod first {
    #[perf_cache::cached]
    pub(crate) async fn same_name(n: u64) -> String {
        format!("first {n}")
    }
}

mod second {
    #[perf_cache::cached]
    pub(crate) async fn same_name(n: u64) -> String {
        format!("second {n}")
    }
}

#[derive(CacheKey, Clone, Debug, PartialEq, Eq, Hash)]
enum Shape {
    Dot,
    Circle(u32),
    Rect { w: u32, h: u32 },
}

#[derive(CacheKey)]
struct Wrapper<T>(T, Option<String>);

#[derive(CacheKey)]
struct Unit;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Area(u64);

#[cached]
async fn no_arguments() -> u32 {
    7
}

#[cached(key = "area:{shape}")]
async fn area(shape: Shape) -> Area {
    match shape {
        Shape::Dot => Area(0),
        Shape::Circle(r) => Area(3 * u64::from(r) * u64::from(r)),
        Shape::Rect { w, h } => Area(u64::from(w) * u64::from(h)),
    }
}

#[cached(key = "{pair.0}-{pair.1}:{{literal}}")]
async fn pair_key(pair: (u8, String)) -> String {
    format!("{}{}", pair.0, pair.1)
}

#[cached(l1_ttl = "5s", l2_ttl = "1m", l3_ttl = "1h", codec = Json, stale_if_error = "30s")]
async fn per_tier(id: u64) -> Result<Vec<u64>, std::io::Error> {
    Ok(vec![id])
}

#[cached]
async fn io_alias(id: u64) -> std::io::Result<u64> {
    Ok(id)
}

#[cached]
#[allow(clippy::needless_lifetimes)]
async fn lifetimes<'a, T>(name: &'a str, value: &T, wrapped: Wrapper<u8>) -> usize
where
    T: CacheKey + AsRef<[u8]> + Sync + ?Sized,
    &'a str: CacheKey,
{
    name.len() + value.as_ref().len() + usize::from(wrapped.0)
}

#[cached]
async fn generic_return<T>(text: String) -> Option<T>
where
    T: std::str::FromStr + Clone + Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    text.parse().ok()
}

#[cached]
async fn const_generic<const N: usize>(values: [u8; N]) -> usize {
    values.len()
}

#[cached(cache = perf_cache::Cache::<u64>::builder()
    .prefix("explicit")
    .build_on(perf_cache::Backend::default_backend())
    .expect("valid view"))]
async fn explicit_cache(n: u64) -> u64 {
    n + 1
}

#[cached(backend = perf_cache::Backend::in_memory(), single_flight = "off")]
async fn no_flight(unit: Unit, n: u64) -> u64 {
    let Unit = unit;
    n
}

#[cached(refresh_ahead = "10s", ttl = "1m")]
async fn owned_refresh(name: String, ids: Vec<u32>, shared: Arc<str>) -> usize {
    name.len() + ids.len() + shared.len()
}

/// An error that is not `Clone`, taking a load timeout.
#[derive(Debug)]
enum SlowError {
    TimedOut(perf_cache::LoadTimeout),
}

impl From<perf_cache::LoadTimeout> for SlowError {
    fn from(t: perf_cache::LoadTimeout) -> Self {
        Self::TimedOut(t)
    }
}

#[cached(stale_if_error = "1m", soft_timeout = "200ms", hard_timeout = "2s")]
async fn timed(name: String, n: u64) -> Result<usize, SlowError> {
    Ok(name.len() + usize::try_from(n).unwrap_or(0))
}

#[cached(hard_timeout = "2s", refresh_ahead = "1s", ttl = "1m")]
async fn timed_refresh(n: u64) -> std::io::Result<u64> {
    Ok(n)
}

#[cached(soft_timeout = "50ms", cache = perf_cache::Cache::<u64>::builder()
    .prefix("timed-view")
    .stale_if_error(std::time::Duration::from_secs(60))
    .build_on(perf_cache::Backend::in_memory())
    .expect("a valid view"))]
async fn timed_view(n: u64) -> u64 {
    n + 1
}

#[cfg(not(any()))]
#[cached]
#[allow(clippy::unused_async)]
async fn with_cfg_and_lints(mut n: u64) -> u64 {
    n += 1;
    n
}

#[derive(CacheKey, Clone)]
struct Service {
    id: u32,
}

impl Service {
    #[cached]
    async fn by_ref(&self, n: u32) -> u32 {
        self.id + n
    }

    #[cached(skip(self))]
    async fn skipped(&self, n: u32) -> u32 {
        n
    }

    #[cached]
    async fn by_value(self, n: u32) -> u32 {
        self.id * n
    }

    #[cached(hard_timeout = "1s", skip(self))]
    async fn by_arc_timed(self: Arc<Self>, n: u32) -> Result<u32, SlowError> {
        Ok(self.id + n)
    }

    #[cached(refresh_ahead = "1s")]
    async fn by_arc(self: Arc<Self>, n: u32) -> u32 {
        self.id + n + 1
    }

    #[cached(key = "{self.id}")]
    async fn templated(&self) -> Option<u32> {
        Some(self.id)
    }

    #[cached]
    async fn constructor(id: u32) -> Self {
        Self { id }
    }

    #[cached(associated)]
    async fn associated_plain(id: u32) -> u32 {
        id
    }
}

impl Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::deserialize(d).map(|id| Self { id })
    }
}

#[derive(CacheKey)]
struct Generic<T>(T);

impl<T: CacheKey + Clone + Send + Sync + 'static> Generic<T> {
    #[cached]
    async fn echo(&self, n: u8) -> u8 {
        n
    }
}

#[tokio::test]
async fn every_expansion_runs() {
    // Same name, same arguments, different modules: different prefixes, no collision.
    assert_eq!(first::same_name(1).await, "first 1");
    assert_eq!(second::same_name(1).await, "second 1");
    assert_eq!(first::same_name(1).await, "first 1");
    assert_eq!(public::double(2).await, 4);
    assert!(public::invalidate_double(&2).await.is_complete());
    assert_eq!(public::double_cache_key(&2).as_str(), "2");
    assert_eq!(no_arguments().await, 7);
    assert_eq!(no_arguments_cache_key().as_str(), "()");
    assert!(invalidate_no_arguments_all().await.is_complete());
    assert_eq!(area(Shape::Rect { w: 2, h: 3 }).await, Area(6));
    assert_eq!(area(Shape::Circle(1)).await, Area(3));
    assert_eq!(area(Shape::Dot).await, Area(0));
    assert_eq!(
        area_cache_key(&Shape::Rect { w: 2, h: 3 }).as_str(),
        "area:Rect(2,3,)"
    );
    assert_eq!(area_cache_key(&Shape::Dot).as_str(), "area:Dot");
    assert_eq!(pair_key((1, "a".into())).await, "1a");
    assert_eq!(
        pair_key_cache_key(&(1, "a:b".into())).as_str(),
        "1-a%3Ab:%7Bliteral%7D"
    );
    assert_eq!(per_tier(3).await.unwrap(), [3]);
    assert_eq!(io_alias(3).await.unwrap(), 3);
    assert_eq!(lifetimes("ab", "cd", Wrapper(1, None)).await, 5);
    assert_eq!(generic_return::<u32>("5".into()).await, Some(5));
    assert_eq!(generic_return::<i8>("-5".into()).await, Some(-5));
    assert_eq!(const_generic([1, 2, 3]).await, 3);
    assert_eq!(explicit_cache(1).await, 2);
    assert_eq!(no_flight(Unit, 4).await, 4);
    assert_eq!(owned_refresh("a".into(), vec![1], Arc::from("xy")).await, 4);
    assert_eq!(
        refresh_owned_refresh("a".into(), vec![1], Arc::from("xy")).await,
        4
    );
    assert_eq!(with_cfg_and_lints(1).await, 2);
    assert_eq!(timed("ab".into(), 1).await.ok(), Some(3));
    assert!(matches!(
        SlowError::from(perf_cache::LoadTimeout::new(std::time::Duration::from_secs(1))),
        SlowError::TimedOut(t) if t.after.as_secs() == 1
    ));
    assert_eq!(timed_refresh(4).await.ok(), Some(4));
    assert_eq!(timed_view(1).await, 2);
    let s = Service { id: 10 };
    assert_eq!(s.by_ref(1).await, 11);
    assert_eq!(s.skipped(1).await, 1);
    assert_eq!(Service::skipped_cache_key(&1).as_str(), "1");
    assert_eq!(s.templated().await, Some(10));
    assert_eq!(s.clone().by_value(2).await, 20);
    assert_eq!(Arc::new(s.clone()).by_arc(1).await, 12);
    assert_eq!(Arc::new(s.clone()).by_arc_timed(1).await.ok(), Some(11));
    assert_eq!(Service::constructor(5).await.id, 5);
    assert_eq!(Service::associated_plain(5).await, 5);
    assert!(s.invalidate_by_ref(&1).await.is_complete());
    assert!(Service::invalidate_by_ref_all().await.is_complete());
    assert_eq!(Generic(1_u8).echo(3).await, 3);
    assert_eq!(Generic("x".to_owned()).echo(3).await, 3);
}

/// Not `Serialize`: only L1-only functions can cache it.
#[derive(Clone, Debug, PartialEq)]
struct Opaque(Arc<str>);

/// Public L1-only functions: their companions are public and documented too.
pub mod public_local {
    use perf_cache::cached;

    /// A documented public `local` function.
    #[cached(local, ttl = "1m")]
    pub async fn triple(n: u64) -> u64 {
        n * 3
    }

    /// A documented public plain `fn`.
    #[cached(prefix = "public-sync")]
    pub fn quadruple(n: u64) -> u64 {
        n * 4
    }
}

#[cached(local, cache_none, key = "opaque:{name}")]
async fn local_opaque(name: &str, _unused: u8) -> Option<Opaque> {
    (!name.is_empty()).then(|| Opaque(Arc::from(name)))
}

#[cached(local, single_flight = "off")]
async fn local_unshared(n: u64) -> Result<Opaque, String> {
    Ok(Opaque(Arc::from(n.to_string())))
}

#[cached(l1_ttl = "5s", cache_none)]
fn sync_option(n: u64) -> Option<Opaque> {
    (n > 0).then(|| Opaque(Arc::from("pos")))
}

#[cached(skip(pool), single_flight = "off")]
fn sync_result(pool: &str, n: u64) -> Result<u64, std::num::ParseIntError> {
    Ok(pool.len() as u64 + n)
}

#[cached]
fn sync_generic<T: CacheKey + std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[cached(plain, ttl = "1m")]
async fn plain_json(n: u64) -> Area {
    Area(n)
}

#[cached(plain, codec = Json, prefix = "plain-explicit")]
async fn plain_explicit(n: u64) -> Result<Area, String> {
    Ok(Area(n))
}

#[cached(tags = ["scan:{scan_id}", "target:{target}"])]
async fn tagged_borrowed(scan_id: &str, target: &str) -> String {
    format!("{scan_id}@{target}")
}

/// Owned arguments: the tag vector is built from them before the body's call takes them.
#[cached(tags = "scan:{scan_id}", refresh_ahead = "1s", l1_ttl = "1m")]
async fn tagged_owned(scan_id: String) -> usize {
    scan_id.len()
}

#[cached(tags = "n:{n}", single_flight = "off")]
async fn tagged_unshared(n: u64) -> u64 {
    n
}

impl Service {
    #[cached(tags = "svc:{self.id}", skip(self))]
    async fn tagged_method(&self, n: u32) -> u32 {
        self.id + n
    }

    #[cached(local)]
    async fn local_method(&self, n: u64) -> Opaque {
        Opaque(Arc::from(format!("{}-{n}", self.id)))
    }

    #[cached(skip(self))]
    fn sync_method(&self, n: u64) -> u64 {
        n + 1
    }
}

#[tokio::test]
async fn every_l1_only_and_plain_expansion_runs() {
    assert_eq!(public_local::triple(2).await, 6);
    assert!(public_local::invalidate_triple(&2).await.is_complete());
    assert!(public_local::invalidate_triple_all().await.is_complete());
    assert_eq!(public_local::refresh_triple(2).await, 6);
    assert_eq!(public_local::quadruple(2), 8);
    assert!(public_local::invalidate_quadruple(&2).is_complete());
    assert!(public_local::invalidate_quadruple_all().is_complete());
    assert_eq!(public_local::refresh_quadruple(2), 8);
    assert_eq!(public_local::quadruple_cache_key(&2).as_str(), "2");
    assert_eq!(local_opaque("a", 1).await, Some(Opaque(Arc::from("a"))));
    assert_eq!(local_opaque("", 1).await, None);
    assert_eq!(local_opaque_cache_key("a").as_str(), "opaque:a");
    assert_eq!(local_unshared(3).await, Ok(Opaque(Arc::from("3"))));
    assert_eq!(sync_option(0), None);
    assert_eq!(sync_option(1), Some(Opaque(Arc::from("pos"))));
    assert_eq!(refresh_sync_option(0), None);
    assert_eq!(sync_result("ab", 1), Ok(3));
    assert_eq!(sync_generic(&7_u8), "7");
    assert_eq!(sync_generic(&"x"), "\"x\"");
    assert_eq!(plain_json(4).await, Area(4));
    assert_eq!(plain_explicit(4).await, Ok(Area(4)));
    let s = Service { id: 1 };
    assert_eq!(s.local_method(2).await, Opaque(Arc::from("1-2")));
    assert!(s.invalidate_local_method(&2).await.is_complete());
    assert_eq!(s.sync_method(2), 3);
    assert!(Service::invalidate_sync_method(&2).is_complete());
}

#[tokio::test]
async fn every_tagged_expansion_runs() {
    assert_eq!(tagged_borrowed("s1", "t").await, "s1@t");
    assert_eq!(refresh_tagged_borrowed("s1", "t").await, "s1@t");
    assert_eq!(tagged_owned("abc".to_owned()).await, 3);
    assert_eq!(refresh_tagged_owned("abc".to_owned()).await, 3);
    assert_eq!(tagged_unshared(5).await, 5);
    assert_eq!(Service { id: 1 }.tagged_method(2).await, 3);
}
