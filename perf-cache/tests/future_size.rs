//! The futures of the `get_or_load` family stay small: the miss path (lower tiers, single
//! flight, the loader) is boxed, so a caller's own future does not grow by its state and an L1
//! hit never moves it around. `get` keeps its lower-tier read inline (it is the L2-hit path of
//! a cache without L1, where a per-call allocation cost ~7 % of throughput at 64 tasks) and is
//! bounded separately. `size_of` is deterministic, so these bounds are behaviour, not timing.

mod common;

use std::mem::size_of_val;

use perf_cache::{Cache, Key};

/// Every bound below; a future at or above it is a regression (unboxed, the load path alone
/// was about 2 KB).
const MAX_FUTURE: usize = 256;

/// `get`'s bound: its lower-tier read is inline (about 1.6 KB with every tier when it was set;
/// 2,056 bytes since the fill ticket carries what Redis held at the load's start and the tag
/// check of a lower tier's entry joined the read).
const MAX_GET_FUTURE: usize = 2_304;

/// A loader that captures something, as real ones do (a pool handle, an id).
fn loader(id: u64) -> impl FnOnce() -> std::future::Ready<String> + Send + 'static {
    move || std::future::ready(format!("value {id}"))
}

#[tokio::test]
async fn get_and_load_futures_are_small() {
    let cache = Cache::<String>::builder()
        .namespace(common::namespace("future-size"))
        .build()
        .await
        .unwrap();
    let key = Key::new("k").arg(1_u64);

    let get = cache.get(&key);
    let get_size = size_of_val(&get);
    drop(get);

    let load = cache.get_or_load(&key, loader(1));
    let load_size = size_of_val(&load);
    drop(load);

    let try_load =
        cache.try_get_or_load(&key, || async { Ok::<_, std::io::Error>("x".to_owned()) });
    let try_load_size = size_of_val(&try_load);
    drop(try_load);

    let optional = cache.get_or_load_optional(&key, || async {
        Ok::<_, std::io::Error>(Some("x".to_owned()))
    });
    let optional_size = size_of_val(&optional);
    drop(optional);

    assert!(
        get_size < MAX_GET_FUTURE,
        "get's future is {get_size} bytes"
    );
    let sizes = [
        ("get_or_load", load_size),
        ("try_get_or_load", try_load_size),
        ("get_or_load_optional", optional_size),
    ];
    println!("future sizes in bytes: {sizes:?}");
    for (name, size) in sizes {
        assert!(
            size < MAX_FUTURE,
            "{name}'s future is {size} bytes: {sizes:?}"
        );
    }

    // The futures still work: a miss loads, a hit returns the loaded value.
    assert_eq!(cache.get_or_load(&key, loader(1)).await, "value 1");
    assert_eq!(cache.get_or_load(&key, loader(2)).await, "value 1");
    assert_eq!(cache.get(&key).await.as_deref(), Some("value 1"));
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn futures_are_small_with_every_tier() {
    let ns = common::namespace("future-size-l2");
    let cache = Cache::<String>::builder()
        .namespace(&ns)
        .redis_url(common::redis_url())
        .require_l2(true)
        .build()
        .await
        .unwrap();
    let key = Key::new("k").arg(1_u64);
    let load = cache.get_or_load(&key, loader(1));
    let load_size = size_of_val(&load);
    assert!(load_size < MAX_FUTURE, "get_or_load: {load_size} bytes");
    assert_eq!(load.await, "value 1");
    let get = cache.get(&key);
    let get_size = size_of_val(&get);
    assert!(get_size < MAX_GET_FUTURE, "get: {get_size} bytes");
    assert_eq!(get.await.as_deref(), Some("value 1"));
    common::cleanup(&common::redis_url(), &ns).await;
}
