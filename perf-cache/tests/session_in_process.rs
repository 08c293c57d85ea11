//! SessionStore's in-process mode: the same API without Redis, TTL and sliding expiry
//! honoured, bounded, and refused together with a Redis URL.
#![cfg(feature = "redis")]

use std::time::Duration;

use perf_cache::{Error, SessionStore};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Session {
    user: String,
}

fn session(user: &str) -> Session {
    Session {
        user: user.to_owned(),
    }
}

#[tokio::test(start_paused = true)]
async fn fixed_and_sliding_ttls_are_honoured_without_redis() {
    let ttl = Duration::from_secs(60);
    let fixed = SessionStore::<Session>::builder()
        .in_process(100)
        .ttl(ttl)
        .build()
        .await
        .unwrap();
    let sliding = SessionStore::<Session>::builder()
        .in_process(100)
        .ttl(ttl)
        .sliding(true)
        .build()
        .await
        .unwrap();
    assert!(fixed.is_in_process());
    fixed.set("a", &session("ada")).await.unwrap();
    sliding.set("a", &session("ada")).await.unwrap();
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(40)).await;
        assert_eq!(sliding.get("a").await.unwrap(), Some(session("ada")));
    }
    // 120 s after `set`: the fixed one is gone, the sliding one was read every 40 s.
    assert_eq!(fixed.get("a").await.unwrap(), None);
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        sliding.get("a").await.unwrap(),
        None,
        "61 s since its last read"
    );
    assert_eq!(fixed.stats().decode_failures, 0);
}

#[tokio::test]
async fn delete_and_overwrite_and_clones_share_the_map() {
    let store = SessionStore::<Session>::builder()
        .in_process(10)
        .build()
        .await
        .unwrap();
    let other = store.clone();
    store.set("t", &session("ada")).await.unwrap();
    other.set("t", &session("bob")).await.unwrap();
    assert_eq!(store.get("t").await.unwrap(), Some(session("bob")));
    other.delete("t").await.unwrap();
    assert_eq!(store.get("t").await.unwrap(), None);
}

#[tokio::test]
async fn the_store_is_bounded() {
    let store = SessionStore::<u32>::builder()
        .in_process(3)
        .build()
        .await
        .unwrap();
    for i in 0..10_u32 {
        store.set(&format!("s{i}"), &i).await.unwrap();
    }
    let mut present = 0;
    for i in 0..10_u32 {
        if store.get(&format!("s{i}")).await.unwrap().is_some() {
            present += 1;
        }
    }
    assert_eq!(present, 3);
    assert_eq!(store.get("s9").await.unwrap(), Some(9), "the newest stays");
}

#[tokio::test]
async fn invalid_settings_are_refused() {
    let both = SessionStore::<u32>::builder()
        .redis_url("redis://127.0.0.1:6379")
        .in_process(10)
        .build()
        .await;
    assert!(
        matches!(
            both,
            Err(Error::InvalidConfig {
                field: "in_process",
                ..
            })
        ),
        "{both:?}"
    );
    let zero = SessionStore::<u32>::builder().in_process(0).build().await;
    assert!(matches!(
        zero,
        Err(Error::InvalidConfig {
            field: "in_process",
            ..
        })
    ));
    let ttl = SessionStore::<u32>::builder()
        .in_process(1)
        .ttl(Duration::from_millis(10))
        .build()
        .await;
    assert!(matches!(
        ttl,
        Err(Error::InvalidConfig { field: "ttl", .. })
    ));
}
