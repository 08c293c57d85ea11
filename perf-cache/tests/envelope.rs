//! Envelope v2 against the real Redis: type fingerprint, version 1 entries, newer writers.
#![cfg(feature = "redis")]

mod common;

use common::{cleanup, namespace, raw, redis_cache, redis_url};
use perf_cache::Key;

async fn raw_get(url: &str, key: &str) -> Vec<u8> {
    let mut c = raw(url).await;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

async fn raw_set(url: &str, key: &str, bytes: Vec<u8>) {
    let mut c = raw(url).await;
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(bytes)
        .query_async(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn caches_of_different_types_on_one_key_do_not_decode_each_other() {
    let url = redis_url();
    let ns = namespace("fingerprint");
    let small = redis_cache::<u32>(&ns).await;
    let wide = redis_cache::<u64>(&ns).await;
    let key = Key::new("n");
    small.set(&key, 7).await.unwrap();
    // postcard encodes 7u32 and 7u64 alike: only the type fingerprint tells them apart.
    assert_eq!(
        wide.get(&key).await,
        None,
        "another value type reads as a miss"
    );
    assert_eq!(small.get(&key).await, Some(7));
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn a_version_1_entry_is_one_miss_then_overwritten() {
    let url = redis_url();
    let ns = namespace("v1");
    let stored = format!("{ns}:n");
    // A version 1 entry as the previous release wrote it: 16-byte header, postcard 9u64.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let expires = u64::try_from(now_ms).unwrap() + 60_000;
    let mut v1 = vec![0xCA, 1, 1, 0, 0, 0, 0, 0];
    v1.extend_from_slice(&expires.to_le_bytes());
    v1.push(9);
    raw_set(&url, &stored, v1).await;

    let c = redis_cache::<u64>(&ns).await;
    let key = Key::new("n");
    assert_eq!(c.get(&key).await, None, "v1 reads as a miss");
    assert_eq!(c.get_or_load(&key, || async { 10 }).await, 10);
    let now = raw_get(&url, &stored).await;
    assert_eq!(
        (now[0], now[1]),
        (0xCA, 2),
        "overwritten with a version 2 entry"
    );
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn an_entry_from_a_newer_writer_is_read() {
    let url = redis_url();
    let ns = namespace("newer");
    let stored = format!("{ns}:s");
    let writer = redis_cache::<String>(&ns).await;
    let key = Key::new("s");
    writer.set(&key, "hello".to_owned()).await.unwrap();
    // Rewrite it as a version 3 writer that adds a header field and a trailer but says
    // version 2 readers can read it.
    let mut bytes = raw_get(&url, &stored).await;
    let header_len = usize::from(u16::from_le_bytes([bytes[4], bytes[5]]));
    let payload = bytes.split_off(header_len);
    bytes[1] = 3;
    bytes.extend_from_slice(&[0xAB; 10]);
    let new_len = u16::try_from(bytes.len()).unwrap();
    bytes[4..6].copy_from_slice(&new_len.to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes.extend_from_slice(b"trailer");
    raw_set(&url, &stored, bytes.clone()).await;

    let reader = redis_cache::<String>(&ns).await;
    assert_eq!(reader.get(&key).await.as_deref(), Some("hello"));
    assert_eq!(
        raw_get(&url, &stored).await,
        bytes,
        "read, not overwritten: no miss-and-overwrite war during a rolling deploy"
    );

    // A newer writer that says this version (3) cannot read it: a miss.
    bytes[2] = 4;
    raw_set(&url, &stored, bytes).await;
    let strict = redis_cache::<String>(&ns).await;
    assert_eq!(strict.get(&key).await, None);
    cleanup(&url, &ns).await;
}
