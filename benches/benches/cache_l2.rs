//! L2 (Redis) hit including decode: perf-cache `get` with L1 off vs two raw redis-rs peers,
//! `GET` + postcard decode through a `MultiplexedConnection` (the peer) and through a
//! `ConnectionManager` (what perf-cache's L2 is built on: the multiplexed connection plus
//! automatic reconnection), with 1 and 64 concurrent tasks. Same value, same number of keys;
//! each side reads keys it wrote itself.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::{
    KEYS, get_decode, l2_only_cache, multi_thread_runtime, peer_key, set_encoded, spread,
    unlink_peer_keys, user,
};
use perf_cache::Key;

fn l2_hit(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let url = perf_benches::redis_url();
    let ns = format!("bench-l2-{}", std::process::id());
    let peer_ns = format!("bench-l2-peer-{}", std::process::id());
    let (ours, peer, manager) = rt.block_on(async {
        let ours = l2_only_cache(&ns, &url).await;
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut peer = client.get_multiplexed_async_connection().await.unwrap();
        // Default configuration, like `peer`: both have redis-rs's default response timeout.
        let manager = client.get_connection_manager().await.unwrap();
        for n in 0..KEYS {
            ours.set(&Key::new("user").arg(n), user(n)).await.unwrap();
            set_encoded(&mut peer, peer_key(&peer_ns, n), &user(n)).await;
        }
        (ours, peer, manager)
    });
    for tasks in [1_u64, 64] {
        let mut g = c.benchmark_group(format!("cache_l2_hit_{tasks}_tasks"));
        g.bench_function("perf_cache_get", |b| {
            b.iter_custom(|iters| {
                let ours = ours.clone();
                rt.block_on(spread(tasks, iters, move |n| {
                    let ours = ours.clone();
                    async move {
                        let v = ours.get(&Key::new("user").arg(n)).await;
                        assert!(v.is_some());
                        black_box(v);
                    }
                }))
            });
        });
        g.bench_function("redis_rs_get_decode", |b| {
            b.iter_custom(|iters| {
                let (peer, peer_ns) = (peer.clone(), peer_ns.clone());
                rt.block_on(spread(tasks, iters, move |n| {
                    let (mut peer, peer_ns) = (peer.clone(), peer_ns.clone());
                    async move {
                        let v = get_decode(&mut peer, peer_key(&peer_ns, n)).await;
                        black_box(v);
                    }
                }))
            });
        });
        g.bench_function("redis_rs_conn_manager_get_decode", |b| {
            b.iter_custom(|iters| {
                let (manager, peer_ns) = (manager.clone(), peer_ns.clone());
                rt.block_on(spread(tasks, iters, move |n| {
                    let (mut manager, peer_ns) = (manager.clone(), peer_ns.clone());
                    async move {
                        let v = get_decode(&mut manager, peer_key(&peer_ns, n)).await;
                        black_box(v);
                    }
                }))
            });
        });
        g.finish();
    }
    rt.block_on(async {
        let _ = ours.invalidate_all().await;
        let mut peer = peer;
        unlink_peer_keys(&mut peer, &peer_ns).await;
    });
}

criterion_group!(benches, l2_hit);
criterion_main!(benches);
