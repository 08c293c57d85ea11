//! L2 (Redis) hit including decode: perf-cache `get` with L1 off vs two raw redis-rs peers,
//! `GET` + postcard decode through a `MultiplexedConnection` (the peer) and through a
//! `ConnectionManager` (what perf-cache's L2 is built on: the multiplexed connection plus
//! automatic reconnection), with 1 and 64 concurrent tasks. Same value, same number of keys;
//! each side reads keys it wrote itself.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perf_cache::{Cache, Key};
use serde::{Deserialize, Serialize};

const KEYS: u64 = 1_000;

#[derive(Clone, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    email: String,
    roles: Vec<String>,
    active: bool,
}

fn user(id: u64) -> User {
    User {
        id,
        name: format!("User number {id}"),
        email: format!("user{id}@example.com"),
        roles: vec!["reader".to_owned(), "writer".to_owned()],
        active: true,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `iters` operations spread over `tasks` concurrent tasks; returns the wall time.
async fn spread<F, Fut>(tasks: u64, iters: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_task = iters.div_ceil(tasks);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    op((t * 31 + i) % KEYS).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    start.elapsed()
}

fn l2_hit(c: &mut Criterion) {
    let rt = runtime();
    let url = perf_benches::redis_url();
    let ns = format!("bench-l2-{}", std::process::id());
    let peer_ns = format!("bench-l2-peer-{}", std::process::id());
    let (ours, peer, manager) = rt.block_on(async {
        let ours = Cache::<User>::builder()
            .namespace(&ns)
            .redis_url(&url)
            .require_l2(true)
            .l1_max_entries(0)
            .metrics_interval(None)
            .build()
            .await
            .unwrap();
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut peer = client.get_multiplexed_async_connection().await.unwrap();
        // Default configuration, like `peer`: both have redis-rs's default response timeout.
        let manager = client.get_connection_manager().await.unwrap();
        for n in 0..KEYS {
            ours.set(&Key::new("user").arg(n), user(n)).await.unwrap();
            let bytes = postcard::to_allocvec(&user(n)).unwrap();
            let _: () = redis::cmd("SET")
                .arg(format!("{peer_ns}:user:{n}"))
                .arg(bytes)
                .query_async(&mut peer)
                .await
                .unwrap();
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
                        let bytes: Option<Vec<u8>> = redis::cmd("GET")
                            .arg(format!("{peer_ns}:user:{n}"))
                            .query_async(&mut peer)
                            .await
                            .unwrap();
                        let v: User = postcard::from_bytes(&bytes.unwrap()).unwrap();
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
                        let bytes: Option<Vec<u8>> = redis::cmd("GET")
                            .arg(format!("{peer_ns}:user:{n}"))
                            .query_async(&mut manager)
                            .await
                            .unwrap();
                        let v: User = postcard::from_bytes(&bytes.unwrap()).unwrap();
                        black_box(v);
                    }
                }))
            });
        });
        g.finish();
    }
    rt.block_on(async {
        ours.clear().await;
        let mut peer = peer;
        let keys: Vec<String> = (0..KEYS).map(|n| format!("{peer_ns}:user:{n}")).collect();
        let _: i64 = redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut peer)
            .await
            .unwrap();
    });
}

criterion_group!(benches, l2_hit);
criterion_main!(benches);
