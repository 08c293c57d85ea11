//! SessionStore: undecodable sessions are logged and counted; sliding expiry updates what is
//! stored (Redis's TTL and the envelope's expiry).
#![cfg(feature = "redis")]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::capture::Capture;
use common::{cleanup, namespace, raw, redis_url};
use perf_cache::SessionStore;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Session {
    user_id: u64,
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn an_undecodable_session_is_logged_and_counted_without_its_id_or_data() {
    let (capture, _guard) = Capture::install();
    let url = redis_url();
    let ns = namespace("sess-decode");
    let store = SessionStore::<Session>::builder()
        .redis_url(&url)
        .namespace(&ns)
        .build()
        .await
        .unwrap();
    // Written by another version of the service: not our envelope.
    let mut c = raw(&url).await;
    let _: () = redis::cmd("SET")
        .arg(format!("{ns}:secret-session-id"))
        .arg(r#"{"user_id":"alice@example.com"}"#)
        .query_async(&mut c)
        .await
        .unwrap();
    store.set("good-id", &Session { user_id: 1 }).await.unwrap();

    assert_eq!(store.get("secret-session-id").await.unwrap(), None);
    assert_eq!(store.get("absent-id").await.unwrap(), None);
    assert_eq!(
        store.get("good-id").await.unwrap(),
        Some(Session { user_id: 1 })
    );
    assert_eq!(store.stats().decode_failures, 1, "absent is not a failure");

    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.contains(&ns), "names the namespace: {line}");
    assert!(line.contains("could not be decoded"), "{line}");
    for secret in ["secret-session-id", "alice@example.com", "user_id"] {
        assert!(!line.contains(secret), "leaks {secret}: {line}");
    }
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn sliding_expiry_updates_the_stored_expiry() {
    let url = redis_url();
    let ns = namespace("sess-slide");
    let ttl = Duration::from_secs(2);
    let store = SessionStore::<Session>::builder()
        .redis_url(&url)
        .namespace(&ns)
        .ttl(ttl)
        .sliding(true)
        .build()
        .await
        .unwrap();
    store.set("id", &Session { user_id: 2 }).await.unwrap();
    let mut c = raw(&url).await;
    let stored = |c: &mut redis::aio::MultiplexedConnection| {
        let mut c = c.clone();
        let key = format!("{ns}:id");
        async move {
            let (bytes, pttl): (Vec<u8>, i64) = redis::pipe()
                .cmd("GET")
                .arg(&key)
                .cmd("PTTL")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap();
            let expiry = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
            (expiry, pttl)
        }
    };
    let (written_expiry, _) = stored(&mut c).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before_read = now_ms();
    assert_eq!(store.get("id").await.unwrap(), Some(Session { user_id: 2 }));
    let (expiry, pttl) = stored(&mut c).await;
    assert!(
        expiry >= before_read + 2_000,
        "the envelope's expiry slid forward: {expiry} < {before_read} + 2000 (written {written_expiry})"
    );
    assert!(expiry > written_expiry);
    assert!(
        pttl > 1_500,
        "Redis's TTL restarted at the read: PTTL {pttl}"
    );
    // What another reader sees is the slid session, in time and in content.
    let other = SessionStore::<Session>::builder()
        .redis_url(&url)
        .namespace(&ns)
        .ttl(ttl)
        .build()
        .await
        .unwrap();
    assert_eq!(other.get("id").await.unwrap(), Some(Session { user_id: 2 }));
    assert_eq!(other.stats().decode_failures, 0);
    store.delete("id").await.unwrap();
    assert_eq!(store.get("id").await.unwrap(), None, "no key re-created");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{ns}:id"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

/// The sliding read patches the expiry in place only in an envelope this version reads
/// (version 2 header). An entry in the 16-byte version-1 layout starts with the same magic
/// byte but keeps its expiry at bytes 8..16: it must read as absent and stay byte for byte
/// as it was (only Redis's TTL restarts), never be half-overwritten at the v2 offset.
#[tokio::test]
async fn sliding_read_never_patches_an_envelope_of_another_version() {
    let url = redis_url();
    let ns = namespace("sess-slide-v1");
    let store = SessionStore::<Session>::builder()
        .redis_url(&url)
        .namespace(&ns)
        .ttl(Duration::from_secs(60))
        .sliding(true)
        .build()
        .await
        .unwrap();
    // Version 1: magic, version 1, codec id (JSON), flags, format version, expiry, payload;
    // long enough (over 42 bytes) that a length check alone would let the patch through.
    let mut v1 = vec![0xCA, 1, 2, 0, 0, 0, 0, 0];
    v1.extend_from_slice(&(now_ms() + 600_000).to_le_bytes());
    v1.extend_from_slice(br#"{"user_id":3,"padding":"xxxxxxxxxxxxxxxxxxxxxxxx"}"#);
    assert!(v1.len() > 42);
    let key = format!("{ns}:old");
    let mut c = raw(&url).await;
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&v1)
        .arg("PX")
        .arg(5_000)
        .query_async(&mut c)
        .await
        .unwrap();

    assert_eq!(store.get("old").await.unwrap(), None);
    assert_eq!(store.stats().decode_failures, 1);
    let (stored, pttl): (Vec<u8>, i64) = redis::pipe()
        .cmd("GET")
        .arg(&key)
        .cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(stored, v1, "the other version's bytes are untouched");
    assert!(pttl > 5_000, "Redis's TTL restarted: PTTL {pttl}");
    cleanup(&url, &ns).await;
}
