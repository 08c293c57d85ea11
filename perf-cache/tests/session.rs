//! SessionStore against the real Redis.
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use common::{namespace, redis_url};
use perf_cache::SessionStore;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Session {
    user_id: u64,
    roles: Vec<String>,
}

#[tokio::test]
async fn round_trip_and_expiry() {
    let store = SessionStore::<Session>::builder()
        .redis_url(redis_url())
        .namespace(namespace("sess"))
        .ttl(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let s = Session {
        user_id: 1,
        roles: vec!["admin".into()],
    };
    store.set("abc:*", &s).await.unwrap();
    assert_eq!(store.get("abc:*").await.unwrap(), Some(s));
    assert_eq!(store.get("abc").await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(store.get("abc:*").await.unwrap(), None, "expired");
    store.delete("abc:*").await.unwrap();
}

#[tokio::test]
async fn sliding_expiry_extends_on_read() {
    let store = SessionStore::<Session>::builder()
        .redis_url(redis_url())
        .namespace(namespace("slide"))
        .ttl(Duration::from_secs(1))
        .sliding(true)
        .build()
        .await
        .unwrap();
    let s = Session {
        user_id: 2,
        roles: vec![],
    };
    store.set("id", &s).await.unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            store.get("id").await.unwrap(),
            Some(s.clone()),
            "each read restarts the TTL"
        );
    }
    store.delete("id").await.unwrap();
    assert_eq!(store.get("id").await.unwrap(), None);
}
