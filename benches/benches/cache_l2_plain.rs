//! Plain-mode L2 hit (`StorageFormat::Plain`, JSON, L1 off): perf-cache `get`, which pipelines
//! `GET` + `PTTL` in one round trip and decodes the JSON, vs raw redis-rs through a
//! `ConnectionManager` doing `GET` + `serde_json::from_slice` of the same value (the peer a
//! user would write; one command fewer) and the same pipelined `GET` + `PTTL` + decode (the
//! same work as ours). Also perf-cache's envelope format with the JSON codec, for the cost of
//! plain mode against the default format. 1 and 64 concurrent tasks; each side reads keys it
//! wrote itself.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::{KEYS, User, multi_thread_runtime, peer_key, spread, user};
use perf_cache::{Cache, Json, Key, StorageFormat};
use redis::aio::ConnectionManager;

async fn l2_only(ns: &str, url: &str, format: StorageFormat) -> Cache<User, Json> {
    Cache::<User>::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        .l1_max_entries(0)
        .metrics_interval(None)
        .codec(Json)
        .storage_format(format)
        .build()
        .await
        .unwrap()
}

async fn peer_get(conn: &mut ConnectionManager, key: String) -> User {
    let bytes: Vec<u8> = redis::cmd("GET").arg(key).query_async(conn).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn peer_get_pttl(conn: &mut ConnectionManager, key: String) -> (User, i64) {
    let (bytes, ttl): (Vec<u8>, i64) = redis::pipe()
        .cmd("GET")
        .arg(&key)
        .cmd("PTTL")
        .arg(&key)
        .query_async(conn)
        .await
        .unwrap();
    (serde_json::from_slice(&bytes).unwrap(), ttl)
}

fn l2_plain_hit(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let url = perf_benches::redis_url();
    let pid = std::process::id();
    let (plain_ns, env_ns, peer_ns) = (
        format!("bench-l2p-{pid}"),
        format!("bench-l2p-env-{pid}"),
        format!("bench-l2p-peer-{pid}"),
    );
    let (plain, enveloped, manager) = rt.block_on(async {
        let plain = l2_only(&plain_ns, &url, StorageFormat::Plain).await;
        let enveloped = l2_only(&env_ns, &url, StorageFormat::Envelope).await;
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut manager = client.get_connection_manager().await.unwrap();
        for n in 0..KEYS {
            plain.set(&Key::new("user").arg(n), user(n)).await.unwrap();
            enveloped
                .set(&Key::new("user").arg(n), user(n))
                .await
                .unwrap();
            let json = serde_json::to_vec(&user(n)).unwrap();
            let _: () = redis::cmd("SET")
                .arg(peer_key(&peer_ns, n))
                .arg(json)
                .arg("PX")
                .arg(3_600_000)
                .query_async(&mut manager)
                .await
                .unwrap();
        }
        (plain, enveloped, manager)
    });
    for tasks in [1_u64, 64] {
        let mut g = c.benchmark_group(format!("cache_l2_plain_hit_{tasks}_tasks"));
        for (name, cache) in [
            ("perf_cache_plain_get", &plain),
            ("perf_cache_envelope_json_get", &enveloped),
        ] {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let cache = cache.clone();
                    rt.block_on(spread(tasks, iters, move |n| {
                        let cache = cache.clone();
                        async move {
                            let v = cache.get(&Key::new("user").arg(n)).await;
                            assert!(v.is_some());
                            black_box(v);
                        }
                    }))
                });
            });
        }
        g.bench_function("redis_rs_get_json", |b| {
            b.iter_custom(|iters| {
                let (manager, peer_ns) = (manager.clone(), peer_ns.clone());
                rt.block_on(spread(tasks, iters, move |n| {
                    let (mut manager, peer_ns) = (manager.clone(), peer_ns.clone());
                    async move {
                        black_box(peer_get(&mut manager, peer_key(&peer_ns, n)).await);
                    }
                }))
            });
        });
        g.bench_function("redis_rs_get_pttl_json", |b| {
            b.iter_custom(|iters| {
                let (manager, peer_ns) = (manager.clone(), peer_ns.clone());
                rt.block_on(spread(tasks, iters, move |n| {
                    let (mut manager, peer_ns) = (manager.clone(), peer_ns.clone());
                    async move {
                        black_box(peer_get_pttl(&mut manager, peer_key(&peer_ns, n)).await);
                    }
                }))
            });
        });
        g.finish();
    }
    rt.block_on(async {
        let _ = plain.invalidate_all().await;
        let _ = enveloped.invalidate_all().await;
        let mut manager = manager;
        perf_benches::unlink_peer_keys(&mut manager, &peer_ns).await;
    });
}

criterion_group!(benches, l2_plain_hit);
criterion_main!(benches);
