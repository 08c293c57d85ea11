//! Plain mode (`StorageFormat::Plain`) and `Key::raw`, checked against a real Python redis-py
//! client on the same keys, both ways. scripts/test installs python3 and redis-py; without them
//! these tests fail with a message naming what to install.
#![cfg(feature = "redis")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{namespace, raw, redis_url};
use perf_cache::{Backend, Cache, Error, Json, Key, Reach, StorageFormat};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    items: Vec<String>,
    total: f64,
    note: String,
}

fn order(id: u64) -> Order {
    Order {
        id,
        items: vec!["tea".into(), format!("cake-{id}")],
        total: 12.5 + f64::from(u32::try_from(id).unwrap()),
        note: "crème brûlée, \"quoted\" 🍰".into(),
    }
}

const PRELUDE: &str = "import json, os, sys, redis\nr = redis.Redis.from_url(os.environ['REDIS_URL'])\nargs = sys.argv[1:]\n";

/// Runs `script` (after a prelude that connects `r` to REDIS_URL and puts the arguments in
/// `args`) with python3 and redis-py, and returns what it printed.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .args(args)
        .env("REDIS_URL", redis_url())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 could not be run ({e}): the interop tests need python3 and redis-py \
                 (apt-get install python3; python3 -m pip install redis). scripts/test installs both."
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'redis'"),
        "the interop tests need redis-py for python3: python3 -m pip install redis \
         (scripts/test installs it)"
    );
    assert!(out.status.success(), "python3 failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

async fn plain_view(ns: &str, l1_ttl: Duration) -> Cache<Order, Json> {
    Cache::<Order>::builder()
        .namespace(ns)
        .redis_url(redis_url())
        .require_l2(true)
        .codec(Json)
        .storage_format(StorageFormat::Plain)
        .l1_ttl(l1_ttl)
        .l2_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap()
}

/// A JSON view of `ns` in the default (enveloped) storage format.
async fn json_envelope_view(ns: &str) -> Cache<Order, Json> {
    Cache::<Order>::builder()
        .namespace(ns)
        .redis_url(redis_url())
        .codec(Json)
        .build()
        .await
        .unwrap()
}

async fn pttl(key: &str) -> i64 {
    common::pttl(&redis_url(), key).await
}

async fn raw_cmd<T: redis::FromRedisValue>(cmd: &mut redis::Cmd) -> T {
    let mut c = raw(&redis_url()).await;
    cmd.query_async(&mut c).await.unwrap()
}

/// Asserts that the L1 copy of `key` expires no later than the Redis key `text`: the L1
/// remaining time, read first, is at most Redis's `PTTL` read after it plus the time between
/// the two reads (plus 1 ms: `PTTL` rounds down).
async fn assert_l1_within_redis(cache: &Cache<Order, Json>, key: &Key, text: &str) -> Duration {
    let before = Instant::now();
    let ours = cache.remaining_ttl(key).await.expect("an L1 copy");
    let theirs = pttl(text).await;
    let between = before.elapsed();
    assert!(theirs > 0, "the Redis key {text} has a TTL: {theirs}");
    let bound = Duration::from_millis(u64::try_from(theirs).unwrap() + 1) + between;
    assert!(
        ours <= bound,
        "the L1 copy ({ours:?}) outlives Redis's key ({theirs} ms, {between:?} apart)"
    );
    ours
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_writes_and_we_read_with_the_remaining_ttl() {
    let ns = namespace("interop-py-writes");
    let cache = plain_view(&ns, Duration::from_secs(3_600)).await;
    let expiring = format!("{ns}:py:order:1");
    let forever = format!("{ns}:py:order:2");
    let short = format!("{ns}:py:order:3");
    let written = python(
        "for k, i, px in zip(args[0::3], args[1::3], args[2::3]):\n\
         \x20   o = {'id': int(i), 'items': ['tea', 'cake-' + i], 'total': 12.5 + int(i), 'note': 'crème brûlée, \"quoted\" 🍰'}\n\
         \x20   r.set(k, json.dumps(o), px=int(px) if px != '0' else None)\n\
         print(len(args) // 3)",
        &[
            &expiring, "1", "3000", &forever, "2", "0", &short, "3", "300",
        ],
    );
    assert_eq!(written.trim(), "3");

    let key = Key::raw(&expiring).unwrap();
    assert_eq!(cache.get(&key).await, Some(order(1)));
    let left = assert_l1_within_redis(&cache, &key, &expiring).await;
    assert!(
        left <= Duration::from_secs(3),
        "not a fresh l1_ttl: {left:?}"
    );

    // No expiry in Redis (PTTL -1): L1 keeps it for l1_ttl.
    let key2 = Key::raw(&forever).unwrap();
    assert_eq!(cache.get(&key2).await, Some(order(2)));
    assert_eq!(pttl(&forever).await, -1);
    let left = cache.remaining_ttl(&key2).await.unwrap();
    assert!(
        left > Duration::from_secs(3_000),
        "l1_ttl for PTTL -1: {left:?}"
    );

    // The L1 copy dies with the Redis key, not l1_ttl (1 h) later.
    let key3 = Key::raw(&short).unwrap();
    assert_eq!(cache.get(&key3).await, Some(order(3)));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(pttl(&short).await, -2, "expired in Redis");
    assert_eq!(cache.get(&key3).await, None, "and in L1");

    let s = cache.stats();
    let l2 = s.l2.clone().unwrap();
    assert_eq!((l2.hits, l2.misses, l2.errors), (3, 1, 0), "{s:?}");
    assert_eq!((s.l1.hits, s.total_requests), (0, 4), "{s:?}");
    let _: i64 = raw_cmd(redis::cmd("UNLINK").arg(&forever)).await;
}

/// A TCP proxy to Redis that holds every reply `delay` before passing it on: a slow network.
async fn slow_reply_proxy(delay: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url::Url::parse(&redis_url()).unwrap();
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(6379)
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(&target).await.unwrap();
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
            });
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                    tokio::time::sleep(delay).await;
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let mut proxied = url;
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(port)).unwrap();
    proxied.to_string()
}

/// The remaining TTL is counted from when the request left, not from the reply: over a slow
/// network (replies held 150 ms) the L1 copy still expires no later than the Redis key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promoted_copy_never_outlives_redis_over_a_slow_network() {
    let ns = namespace("interop-slow");
    let cache = Cache::<Order>::builder()
        .namespace(&ns)
        .redis_url(slow_reply_proxy(Duration::from_millis(150)).await)
        .redis_timeout(Duration::from_secs(5))
        .require_l2(true)
        .codec(Json)
        .storage_format(StorageFormat::Plain)
        .l1_ttl(Duration::from_secs(3_600))
        .build()
        .await
        .unwrap();
    let texts: Vec<String> = (0..3).map(|i| format!("{ns}:slow:{i}")).collect();
    for (i, text) in texts.iter().enumerate() {
        let json = serde_json::to_vec(&order(i as u64)).unwrap();
        let _: () = raw_cmd(redis::cmd("SET").arg(text).arg(json).arg("PX").arg(5_000)).await;
    }
    let key = Key::raw(&texts[0]).unwrap();
    assert_eq!(cache.get(&key).await, Some(order(0)));
    assert_l1_within_redis(&cache, &key, &texts[0]).await;
    let keys: Vec<Key> = texts[1..].iter().map(|t| Key::raw(t).unwrap()).collect();
    assert_eq!(
        cache.get_many(&keys).await,
        [Some(order(1)), Some(order(2))]
    );
    for (key, text) in keys.iter().zip(&texts[1..]) {
        assert_l1_within_redis(&cache, key, text).await;
    }
    common::cleanup(&redis_url(), &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_write_and_python_reads_plain_json_with_redis_ttls() {
    let ns = namespace("interop-rs-writes");
    let cache = plain_view(&ns, Duration::from_secs(3_600)).await;
    let raw_text = format!("{ns}-raw:order:8");
    let namespaced = Key::new("order").arg(7_u64);
    let raw_key = Key::raw(&raw_text).unwrap();
    cache.set(&namespaced, order(7)).await.unwrap();
    cache
        .set_with_ttl(&raw_key, order(8), Duration::from_secs(5))
        .await
        .unwrap();
    let ns_text = format!("{ns}:order:7");
    let seen = python(
        "print(json.dumps({k: [json.loads(r.get(k)), r.pttl(k)] for k in args}))",
        &[&ns_text, &raw_text],
    );
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen[&ns_text][0], serde_json::to_value(order(7)).unwrap());
    assert_eq!(seen[&raw_text][0], serde_json::to_value(order(8)).unwrap());
    let ttl7 = seen[&ns_text][1].as_i64().unwrap();
    let ttl8 = seen[&raw_text][1].as_i64().unwrap();
    assert!((1..=60_000).contains(&ttl7), "l2_ttl in Redis: {ttl7}");
    assert!((1..=5_000).contains(&ttl8), "per-call ttl in Redis: {ttl8}");
    // The L1 copy of a write with a TTL lives no longer than the Redis key.
    assert_l1_within_redis(&cache, &raw_key, &raw_text).await;

    // Exactly the codec's bytes: no header in front of the JSON.
    let bytes: Vec<u8> = raw_cmd(redis::cmd("GET").arg(&ns_text)).await;
    assert_eq!(bytes, serde_json::to_vec(&order(7)).unwrap());

    for key in [&namespaced, &raw_key] {
        let done = cache.invalidate(key).await;
        assert!(done.is_complete(), "{done:?}");
        assert_eq!(done.l3, Reach::NotConfigured);
    }
    let gone = python(
        "print(sum(r.exists(k) for k in args))",
        &[&ns_text, &raw_text],
    );
    assert_eq!(gone.trim(), "0", "Python sees both keys gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_deletes_and_we_miss_after_invalidation_or_the_l1_ttl() {
    let ns = namespace("interop-py-deletes");
    let long_l1 = plain_view(&ns, Duration::from_secs(3_600)).await;
    let short_l1 = plain_view(&ns, Duration::from_millis(200)).await;
    let text = format!("{ns}:py:order:4");
    let key = Key::raw(&text).unwrap();
    let set =
        "r.set(args[0], json.dumps({'id': 4, 'items': [], 'total': 1.0, 'note': ''}), px=60000)";
    let expected = Order {
        id: 4,
        items: vec![],
        total: 1.0,
        note: String::new(),
    };
    python(set, &[&text]);
    assert_eq!(long_l1.get(&key).await, Some(expected.clone()));
    assert_eq!(short_l1.get(&key).await, Some(expected.clone()));
    python("r.delete(args[0])", &[&text]);
    // L1 copies are private: they do not see another service's delete ...
    assert_eq!(long_l1.get(&key).await, Some(expected.clone()));
    // ... until they are invalidated
    assert!(long_l1.invalidate(&key).await.is_complete());
    assert_eq!(long_l1.get(&key).await, None);
    // ... or l1_ttl has passed.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(short_l1.get(&key).await, None);
    assert_eq!(short_l1.stats().l2.unwrap().misses, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_another_service_wrote_is_a_miss_and_keeps_the_breaker_closed() {
    let ns = namespace("interop-wrongtype");
    let cache = Cache::<Order>::builder()
        .namespace(&ns)
        .redis_url(redis_url())
        .require_l2(true)
        .breaker_threshold(1)
        .codec(Json)
        .storage_format(StorageFormat::Plain)
        .build()
        .await
        .unwrap();
    let hash = format!("{ns}:hash");
    python(
        "r.hset(args[0], mapping={'id': 1, 'note': 'a hash'})",
        &[&hash],
    );
    let key = Key::raw(&hash).unwrap();
    for _ in 0..5 {
        assert_eq!(cache.get(&key).await, None);
    }
    let s = cache.stats();
    let l2 = s.l2.clone().unwrap();
    assert_eq!((l2.hits, l2.misses, l2.errors), (0, 5, 5), "{s:?}");
    assert!(!s.breaker_open, "WRONGTYPE is not an outage");
    // L2 still serves every other key.
    cache.set(&Key::new("ok"), order(1)).await.unwrap();
    let other = plain_view(&ns, Duration::from_secs(60)).await;
    assert_eq!(other.get(&Key::new("ok")).await, Some(order(1)));
    // Through MGET a hash reads as absent: a miss without an error.
    let got = other.get_many(&[key.clone(), Key::new("ok")]).await;
    assert_eq!(got, [None, Some(order(1))]);
    let l2 = other.stats().l2.unwrap();
    assert_eq!((l2.hits, l2.misses, l2.errors), (1, 1, 0));
    // Reads never overwrite the other service's key; a load stores its value over it.
    let kind: String = raw_cmd(redis::cmd("TYPE").arg(&hash)).await;
    assert_eq!(kind, "hash");
    let loaded = cache.get_or_load(&key, || async { order(9) }).await;
    assert_eq!(loaded, order(9));
    let kind: String = raw_cmd(redis::cmd("TYPE").arg(&hash)).await;
    assert_eq!(
        kind, "string",
        "a load stores its value (SET replaces any type)"
    );
    let _: i64 = raw_cmd(redis::cmd("UNLINK").arg(&hash)).await;
    common::cleanup(&redis_url(), &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_are_counted_misses_and_are_not_overwritten_by_reads() {
    let ns = namespace("interop-hostile");
    let cache = plain_view(&ns, Duration::from_secs(60)).await;
    let envelope_view = json_envelope_view(&ns).await;
    let deep = "[".repeat(100_000);
    let hostile: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        Vec::new(),
        b"{\"id\":".to_vec(),
        deep.into_bytes(),
        b"\xff\xfe\x00binary".to_vec(),
        br#"{"id":"seven","items":[],"total":1,"note":""}"#.to_vec(),
        br#"{"id":-1,"items":[],"total":1,"note":""}"#.to_vec(),
        br#"{"id":1,"items":[],"total":1e400,"note":""}"#.to_vec(),
        b"null".to_vec(),
        br#"{"id":1,"items":[],"total":1,"note":"x"} trailing"#.to_vec(),
    ];
    let mut keys = Vec::new();
    for (i, bytes) in hostile.iter().enumerate() {
        let text = format!("{ns}:hostile:{i}");
        let _: () = raw_cmd(
            redis::cmd("SET")
                .arg(&text)
                .arg(bytes)
                .arg("PX")
                .arg(60_000),
        )
        .await;
        keys.push((text, bytes));
    }
    // An enveloped value (this crate's own header) is not plain JSON either.
    envelope_view
        .set(
            &Key::raw(format!("{ns}:hostile:envelope")).unwrap(),
            order(1),
        )
        .await
        .unwrap();
    let enveloped: Vec<u8> = raw_cmd(redis::cmd("GET").arg(format!("{ns}:hostile:envelope"))).await;
    keys.push((format!("{ns}:hostile:envelope"), &enveloped));
    // Raw keys work in the envelope format too: a fresh view reads it from Redis.
    let fresh_envelope_view = json_envelope_view(&ns).await;
    let raw_enveloped = Key::raw(format!("{ns}:hostile:envelope")).unwrap();
    assert_eq!(
        fresh_envelope_view
            .get_many(&[raw_enveloped.clone(), Key::new("absent")])
            .await,
        [Some(order(1)), None]
    );
    assert_eq!(
        fresh_envelope_view.get(&raw_enveloped).await,
        Some(order(1))
    );
    assert_eq!(fresh_envelope_view.stats().l2.unwrap().hits, 1);

    for (text, _) in &keys {
        assert_eq!(cache.get(&Key::raw(text).unwrap()).await, None, "{text}");
    }
    let n = keys.len() as u64;
    let l2 = cache.stats().l2.unwrap();
    assert_eq!((l2.hits, l2.misses, l2.errors), (0, n, n));
    assert!(!cache.stats().breaker_open);
    for (text, bytes) in &keys {
        let now: Vec<u8> = raw_cmd(redis::cmd("GET").arg(text)).await;
        assert_eq!(
            &now, *bytes,
            "a read left {text} as the other service wrote it"
        );
    }
    // A load replaces it with a value every reader understands.
    let key = Key::raw(&keys[0].0).unwrap();
    assert_eq!(
        cache.get_or_load(&key, || async { order(5) }).await,
        order(5)
    );
    let now: Vec<u8> = raw_cmd(redis::cmd("GET").arg(&keys[0].0)).await;
    assert_eq!(serde_json::from_slice::<Order>(&now).unwrap(), order(5));
    common::cleanup(&redis_url(), &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_and_set_many_in_plain_mode() {
    let ns = namespace("interop-many");
    let writer = plain_view(&ns, Duration::from_secs(3_600)).await;
    writer
        .set_many((0..20_u64).map(|i| (Key::new("o").arg(i), order(i))))
        .await
        .unwrap();
    let texts: Vec<String> = (0..20).map(|i| format!("{ns}:o:{i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let seen = python(
        "p = r.pipeline()\nfor k in args:\n    p.get(k)\n    p.pttl(k)\nv = p.execute()\n\
         print(json.dumps([[json.loads(v[i]), v[i + 1]] for i in range(0, len(v), 2)]))",
        &refs,
    );
    let seen: Vec<(Order, i64)> = serde_json::from_str(&seen).unwrap();
    for (i, (o, ttl)) in seen.into_iter().enumerate() {
        assert_eq!(o, order(i as u64));
        assert!((1..=60_000).contains(&ttl), "SET PX l2_ttl: {ttl}");
    }

    let raw_texts: Vec<String> = (0..5).map(|i| format!("{ns}:py:{i}")).collect();
    let mut args: Vec<&str> = raw_texts.iter().map(String::as_str).collect();
    let hostile = format!("{ns}:py:hostile");
    let hash = format!("{ns}:py:hash");
    args.push(&hostile);
    args.push(&hash);
    python(
        "for i, k in enumerate(args[:5]):\n\
         \x20   r.set(k, json.dumps({'id': 100 + i, 'items': ['tea', 'cake-%d' % (100 + i)], 'total': 112.5 + i, 'note': 'crème brûlée, \"quoted\" 🍰'}), px=1000 * (i + 1))\n\
         r.set(args[5], b'{oops', px=60000)\n\
         r.hset(args[6], 'f', 'v')",
        &args,
    );

    // A fresh backend: nothing in L1, every key from one MGET + PTTL round trip.
    let reader = plain_view(&ns, Duration::from_secs(3_600)).await;
    let mut keys: Vec<Key> = (0..20_u64).map(|i| Key::new("o").arg(i)).collect();
    keys.extend(raw_texts.iter().map(|t| Key::raw(t).unwrap()));
    keys.push(Key::raw(&hostile).unwrap());
    keys.push(Key::raw(&hash).unwrap());
    keys.push(Key::new("absent"));
    let got = reader.get_many(&keys).await;
    for (i, value) in got[..20].iter().enumerate() {
        assert_eq!(value, &Some(order(i as u64)));
    }
    for i in 0..5 {
        let o = got[20 + i].as_ref().unwrap();
        assert_eq!(o.id, 100 + i as u64);
        let left = assert_l1_within_redis(&reader, &keys[20 + i], &raw_texts[i]).await;
        assert!(
            left <= Duration::from_secs(i as u64 + 1),
            "PTTL honoured: {left:?}"
        );
    }
    assert_eq!(&got[25..], &[None, None, None]);
    let s = reader.stats();
    let l2 = s.l2.clone().unwrap();
    assert_eq!((l2.hits, l2.misses, l2.errors), (25, 3, 1), "{s:?}");
    assert_eq!((s.hits, s.misses, s.total_requests), (25, 3, 28), "{s:?}");
    // Again: L1 answers the 25 it holds.
    let again = reader.get_many(&keys).await;
    assert_eq!(again, got);
    assert_eq!(reader.stats().l1.hits, 25);
    for t in raw_texts.iter().chain([&hostile, &hash]) {
        let _: i64 = raw_cmd(redis::cmd("UNLINK").arg(t)).await;
    }
    common::cleanup(&redis_url(), &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_keys_never_collide_with_namespaced_ones_and_invalidate_all_leaves_them_in_redis() {
    let ns = namespace("interop-raw");
    let other = namespace("interop-raw-owner");
    let cache = plain_view(&ns, Duration::from_secs(3_600)).await;
    // The same text, once as a namespaced key (Redis: `<ns>:<other>:1`) and once raw
    // (Redis: `<other>:1`).
    let namespaced = Key::new(other.as_str()).arg(1_u64);
    let raw_key = Key::raw(format!("{other}:1")).unwrap();
    assert_eq!(namespaced.as_str(), raw_key.as_str());
    cache.set(&namespaced, order(1)).await.unwrap();
    cache.set(&raw_key, order(2)).await.unwrap();
    assert_eq!(cache.get(&namespaced).await, Some(order(1)));
    assert_eq!(cache.get(&raw_key).await, Some(order(2)));
    assert_eq!(cache.stats().l1.hits, 2, "both from L1, each its own entry");
    let fresh = plain_view(&ns, Duration::from_secs(3_600)).await;
    assert_eq!(fresh.get(&namespaced).await, Some(order(1)));
    assert_eq!(fresh.get(&raw_key).await, Some(order(2)));

    // invalidate_all scans `<ns>:*`: the raw key stays in Redis, leaves L1, and is read back.
    assert!(cache.invalidate_all().await.is_complete());
    assert!(!common::raw_exists(&redis_url(), &format!("{ns}:{other}:1")).await);
    assert!(common::raw_exists(&redis_url(), &format!("{other}:1")).await);
    assert_eq!(cache.get(&namespaced).await, None);
    assert_eq!(cache.get(&raw_key).await, Some(order(2)));
    assert_eq!(cache.stats().l2.unwrap().hits, 1, "read back from Redis");
    // invalidate reaches it.
    assert!(cache.invalidate(&raw_key).await.is_complete());
    assert!(!common::raw_exists(&redis_url(), &format!("{other}:1")).await);
}

#[tokio::test]
async fn plain_mode_refuses_combinations_it_cannot_honour() {
    let plain = || {
        Cache::<Order>::builder()
            .codec(Json)
            .storage_format(StorageFormat::Plain)
    };
    let field = |r: perf_cache::Result<Cache<Order, Json>>| match r {
        Err(Error::InvalidConfig { field, .. }) => field,
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    let postcard = Cache::<Order>::builder()
        .storage_format(StorageFormat::Plain)
        .build()
        .await;
    assert!(
        matches!(postcard, Err(Error::InvalidConfig { field: "codec", .. })),
        "{postcard:?}"
    );
    assert_eq!(
        field(plain().negative_ttl(Duration::from_secs(1)).build().await),
        "negative_ttl"
    );
    assert_eq!(
        field(plain().format_version(3).build().await),
        "format_version"
    );
    let on_backend = plain()
        .prefix("p")
        .negative_ttl(Duration::from_secs(1))
        .build_on(Backend::in_memory());
    assert_eq!(field(on_backend), "negative_ttl");
    // Without Redis a plain view is an L1 cache like any other.
    let local = plain().prefix("p").build_on(Backend::in_memory()).unwrap();
    local.set(&Key::new(1_u64), order(1)).await.unwrap();
    assert_eq!(local.get(&Key::new(1_u64)).await, Some(order(1)));
}

/// Plain views never write or read the private disk tier; envelope views on the same backend
/// still do.
#[cfg(feature = "disk")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_views_skip_the_disk() {
    let ns = namespace("interop-disk");
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::builder()
        .namespace(&ns)
        .redis_url(redis_url())
        .require_l2(true)
        .disk_path(dir.path().join("l3.redb"))
        .l1_max_entries(0) // every read goes to the lower tiers
        .metrics_interval(None)
        .build()
        .await
        .unwrap();
    let plain = Cache::<Order>::builder()
        .prefix("plain")
        .codec(Json)
        .storage_format(StorageFormat::Plain)
        .build_on(&backend)
        .unwrap();
    let enveloped = Cache::<Order>::builder()
        .prefix("env")
        .codec(Json)
        .build_on(&backend)
        .unwrap();
    let key = Key::new(1_u64);
    plain.set(&key, order(1)).await.unwrap();
    enveloped.set(&key, order(1)).await.unwrap();
    for view in ["plain", "env"] {
        let _: i64 = raw_cmd(redis::cmd("UNLINK").arg(format!("{ns}:{view}:1"))).await;
    }
    assert_eq!(plain.get(&key).await, None, "not kept on disk");
    assert_eq!(
        enveloped.get(&key).await,
        Some(order(1)),
        "control: from disk"
    );
    let l3 = plain.stats().l3.unwrap();
    assert_eq!((l3.hits, l3.misses), (0, 0), "plain views do not read L3");
    assert_eq!(enveloped.stats().l3.unwrap().hits, 1);
    let done = plain.invalidate(&key).await;
    assert_eq!((done.l2, done.l3), (Reach::Done, Reach::NotConfigured));
}

/// Racing callers on keys shared with Python: a key Python wrote is read, never loaded; a cold
/// key is loaded once for all callers and Python reads the result. Keys with non-ASCII text and
/// braces are sent byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_loads_on_shared_keys_run_the_loader_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let ns = namespace("interop-race");
    let cache = plain_view(&ns, Duration::from_secs(3_600)).await;
    let theirs = format!("{ns}:py:clé:{{tag}}:1");
    let cold = format!("{ns}:py:clé:{{tag}}:2");
    let json = serde_json::to_string(&order(1)).unwrap();
    python("r.set(args[0], args[1], px=60000)", &[&theirs, &json]);

    let loads = Arc::new(AtomicU32::new(0));
    for (text, want, expected_loads) in [(&theirs, order(1), 0), (&cold, order(2), 1)] {
        let key = Key::raw(text).unwrap();
        let callers: Vec<_> = (0..64)
            .map(|_| {
                let (cache, key, loads) = (cache.clone(), key.clone(), Arc::clone(&loads));
                tokio::spawn(async move {
                    cache
                        .get_or_load(&key, move || async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            order(2)
                        })
                        .await
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), want);
        }
        assert_eq!(loads.load(Ordering::SeqCst), expected_loads, "{text}");
    }
    let s = cache.stats();
    assert_eq!((s.total_requests, s.loads), (128, 1), "{s:?}");
    let seen = python(
        "print(json.dumps([json.loads(r.get(args[0])), r.pttl(args[0])]))",
        &[&cold],
    );
    let (stored, ttl): (Order, i64) = serde_json::from_str(&seen).unwrap();
    assert_eq!(stored, order(2));
    assert!((1..=60_000).contains(&ttl), "{ttl}");
    common::cleanup(&redis_url(), &ns).await;
}
