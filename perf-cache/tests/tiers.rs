//! Tier order, promotion, codecs, corrupt data, sizes and clear, against the real Redis.
#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{cleanup, namespace, raw, raw_exists, redis_url};
use perf_cache::{Cache, CacheBuilder, Error, Json, Key};

async fn l2_cache<V>(ns: &str) -> Cache<V>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    Cache::<V>::builder()
        .namespace(ns)
        .redis_url(redis_url())
        .require_l2(true)
        // Each test reads the tiers of one instance; coherence across instances is
        // tests/bus.rs.
        .bus(false)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn tier_order_and_promotion_keeps_remaining_ttl() {
    let url = redis_url();
    let ns = namespace("promote");
    let writer = l2_cache::<String>(&ns).await;
    let key = Key::new("user").arg(1_u64);
    writer
        .set_with_ttl(&key, "v1".into(), Duration::from_secs(3))
        .await
        .unwrap();
    assert!(
        raw_exists(&url, &format!("{ns}:user:1")).await,
        "stored in Redis under <ns>:<key>"
    );

    let reader = l2_cache::<String>(&ns).await; // empty L1, l1_ttl 60 s
    assert_eq!(reader.get(&key).await.as_deref(), Some("v1"));
    let s = reader.stats();
    assert_eq!((s.l1.misses, s.l2.as_ref().unwrap().hits), (1, 1));
    let left = reader.remaining_ttl(&key).await.expect("promoted into L1");
    assert!(
        left <= Duration::from_secs(3),
        "promoted with the remaining TTL, not l1_ttl: {left:?}"
    );

    // L1 answers first: a newer value in Redis is not seen until the L1 copy expires.
    writer.set(&key, "v2".into()).await.unwrap();
    assert_eq!(reader.get(&key).await.as_deref(), Some("v1"));
    assert_eq!(reader.stats().l1.hits, 1);
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn err_is_never_cached() {
    let url = redis_url();
    let ns = namespace("err");
    let cache = l2_cache::<u32>(&ns).await;
    let key = Key::new("k");
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let err = cache
        .try_get_or_load(&key, move || async move {
            r.fetch_add(1, Ordering::SeqCst);
            Err::<u32, _>("boom")
        })
        .await;
    assert_eq!(*err.unwrap_err(), "boom");
    assert!(!raw_exists(&url, &format!("{ns}:k")).await);
    let r = runs.clone();
    let ok = cache
        .try_get_or_load(&key, move || async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok::<_, &str>(5)
        })
        .await;
    assert_eq!(ok.unwrap(), 5);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().load_errors, 1);
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn negative_caching_is_opt_in_and_shared() {
    let url = redis_url();
    let ns = namespace("neg");
    let runs = Arc::new(AtomicUsize::new(0));
    let load = |runs: Arc<AtomicUsize>| {
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<Option<String>, String>(None)
        }
    };
    let key = Key::new("missing").arg(404_u64);

    let plain = l2_cache::<String>(&ns).await;
    assert_eq!(
        plain
            .get_or_load_optional(&key, load(runs.clone()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        plain
            .get_or_load_optional(&key, load(runs.clone()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "without negative_ttl, None is not cached"
    );

    let ns2 = namespace("neg2");
    let neg = || {
        Cache::<String>::builder()
            .namespace(&ns2)
            .redis_url(redis_url())
            .negative_ttl(Duration::from_secs(30))
            .build()
    };
    let a = neg().await.unwrap();
    runs.store(0, Ordering::SeqCst);
    assert_eq!(
        a.get_or_load_optional(&key, load(runs.clone()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        a.get_or_load_optional(&key, load(runs.clone()))
            .await
            .unwrap(),
        None
    );
    let b = neg().await.unwrap(); // another instance: the negative entry is in Redis
    assert_eq!(
        b.get_or_load_optional(&key, load(runs.clone()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // get_or_load needs a value: a negative entry does not satisfy it.
    assert_eq!(
        b.get_or_load(&key, || async { "now".to_owned() }).await,
        "now"
    );
    cleanup(&url, &ns).await;
    cleanup(&url, &ns2).await;
}

#[derive(Clone, serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct V1 {
    id: u64,
    name: String,
}

#[derive(Clone, serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct V2 {
    name: String,
    tags: Vec<String>,
}

/// A builder for an L2 cache of namespace `ns` writing format version `version`.
fn versioned<V>(ns: &str, version: u32) -> CacheBuilder<V>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    Cache::<V>::builder()
        .namespace(ns)
        .redis_url(redis_url())
        .format_version(version)
}

#[tokio::test]
async fn codec_or_format_change_reads_as_miss_and_is_overwritten() {
    let url = redis_url();
    let ns = namespace("format");
    let key = Key::new("row").arg(7_u64);
    let old = versioned::<V1>(&ns, 1).build().await.unwrap();
    old.set(
        &key,
        V1 {
            id: 7,
            name: "a".into(),
        },
    )
    .await
    .unwrap();

    let new = versioned::<V2>(&ns, 2).build().await.unwrap();
    assert_eq!(
        new.get(&key).await,
        None,
        "other format version: miss, no error, no panic"
    );
    let v2 = V2 {
        name: "b".into(),
        tags: vec!["x".into()],
    };
    let loaded = new
        .get_or_load(&key, {
            let v2 = v2.clone();
            move || async move { v2 }
        })
        .await;
    assert_eq!(loaded, v2);

    let new_again = versioned::<V2>(&ns, 2).build().await.unwrap();
    assert_eq!(
        new_again.get(&key).await,
        Some(v2.clone()),
        "overwritten in Redis"
    );

    let json = versioned::<V2>(&ns, 2).codec(Json).build().await.unwrap();
    assert_eq!(json.get(&key).await, None, "other codec: miss");
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn corrupt_bytes_in_redis_read_as_miss() {
    let url = redis_url();
    let ns = namespace("corrupt");
    let mut c = raw(&url).await;
    for (i, bytes) in [
        b"".to_vec(),
        b"garbage".to_vec(),
        vec![
            0xCA, 1, 1, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 127, 0xff, 0xff,
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let _: () = redis::cmd("SET")
            .arg(format!("{ns}:k:{i}"))
            .arg(bytes)
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let cache = l2_cache::<(String, u64)>(&ns).await;
    for i in 0..3_u64 {
        let key = Key::new("k").arg(i);
        assert_eq!(cache.get(&key).await, None);
        let v = cache
            .get_or_load(&key, move || async move { ("fresh".to_owned(), i) })
            .await;
        assert_eq!(v, ("fresh".to_owned(), i));
    }
    assert_eq!(
        cache.stats().l2.unwrap().errors,
        0,
        "corrupt data is a miss, not a tier error"
    );
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn value_too_large_is_a_clear_error() {
    let ns = namespace("large");
    let cache = Cache::<Vec<u8>>::builder()
        .namespace(&ns)
        .max_value_size(64)
        .build()
        .await
        .unwrap();
    let err = cache.set(&Key::new("big"), vec![7; 100]).await.unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { max: 64, .. }), "{err}");
    assert!(err.to_string().contains("max_value_size"));
    assert_eq!(cache.get(&Key::new("big")).await, None, "nothing stored");
    cache.set(&Key::new("small"), vec![7; 8]).await.unwrap();
}

#[tokio::test]
async fn clear_leaves_other_namespaces_alone() {
    let url = redis_url();
    let (na, nb) = (namespace("clear-a"), namespace("clear-b"));
    let a = l2_cache::<u8>(&na).await;
    let b = l2_cache::<u8>(&nb).await;
    for i in 0..1_200_u32 {
        a.set(&Key::new("k").arg(i), 1).await.unwrap();
    }
    b.set(&Key::new("k").arg(0_u32), 2).await.unwrap();
    assert!(a.invalidate_all().await.is_complete());
    assert_eq!(a.get(&Key::new("k").arg(0_u32)).await, None);
    assert!(!raw_exists(&url, &format!("{na}:k:1199")).await);
    assert!(raw_exists(&url, &format!("{nb}:k:0")).await);
    assert_eq!(b.get(&Key::new("k").arg(0_u32)).await, Some(2));
    cleanup(&url, &nb).await;
}

#[tokio::test]
async fn config_errors_name_the_field() {
    let err = Cache::<u8>::builder()
        .redis_url(redis_url())
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("namespace"), "{err}");
    let err = Cache::<u8>::builder()
        .l1_ttl(Duration::ZERO)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("l1_ttl"), "{err}");
    let err = Cache::<u8>::builder()
        .namespace("a:b*")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("namespace"), "{err}");
}

#[tokio::test]
async fn debug_output_redacts_the_password() {
    let cache = Cache::<u8>::builder()
        .namespace(namespace("redact"))
        .redis_url("redis://user:hunter2@127.0.0.1:1/0")
        .redis_timeout(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    let text = format!("{cache:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("***"), "{text}");
}
