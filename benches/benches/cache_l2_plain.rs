//! Plain-mode L2 hit (`StorageFormat::Plain`, JSON, L1 off): perf-cache `get`, which pipelines
//! `GET` + `PTTL` in one round trip and decodes the JSON, vs raw redis-rs through a
//! `ConnectionManager` doing `GET` + `serde_json::from_slice` of the same value (the peer a
//! user would write; one command fewer) and the same pipelined `GET` + `PTTL` + decode (the
//! same work as ours). Also perf-cache's envelope format with the JSON codec, for the cost of
//! plain mode against the default format. 1 and 64 concurrent tasks; each side reads keys it
//! wrote itself.
//!
//! `cargo bench -p perf-benches --bench cache_l2_plain` runs the criterion groups;
//! `… -- paired` runs the same contenders interleaved instead (each round runs every
//! contender once, in a rotating order) and prints the median of the per-round ratios: on a
//! loaded machine criterion's sequential groups favour whichever contender runs later.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use perf_benches::{KEYS, User, l2_only_builder, multi_thread_runtime, peer_key, spread, user};
use perf_cache::{Cache, Json, Key, StorageFormat};
use redis::aio::ConnectionManager;

async fn l2_only(ns: &str, url: &str, format: StorageFormat) -> Cache<User, Json> {
    l2_only_builder(ns, url)
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

struct Contenders {
    plain: Cache<User, Json>,
    enveloped: Cache<User, Json>,
    manager: ConnectionManager,
    peer_ns: String,
}

async fn contenders(url: &str) -> Contenders {
    let pid = std::process::id();
    let (plain_ns, env_ns, peer_ns) = (
        format!("bench-l2p-{pid}"),
        format!("bench-l2p-env-{pid}"),
        format!("bench-l2p-peer-{pid}"),
    );
    {
        let plain = l2_only(&plain_ns, url, StorageFormat::Plain).await;
        let enveloped = l2_only(&env_ns, url, StorageFormat::Envelope).await;
        let client = redis::Client::open(url).unwrap();
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
        Contenders {
            plain,
            enveloped,
            manager,
            peer_ns,
        }
    }
}

impl Contenders {
    async fn cleanup(self) {
        let _ = self.plain.invalidate_all().await;
        let _ = self.enveloped.invalidate_all().await;
        let mut manager = self.manager;
        perf_benches::unlink_peer_keys(&mut manager, &self.peer_ns).await;
    }

    /// `ops` reads by contender `which` (0: ours plain, 1: peer GET, 2: peer GET + PTTL, 3:
    /// ours envelope) spread over `tasks` tasks.
    async fn run(&self, which: usize, tasks: u64, ops: u64) -> Duration {
        match which {
            0 | 3 => {
                let cache = if which == 0 {
                    self.plain.clone()
                } else {
                    self.enveloped.clone()
                };
                spread(tasks, ops, move |n| {
                    let cache = cache.clone();
                    async move {
                        let v = cache.get(&Key::new("user").arg(n)).await;
                        assert!(v.is_some());
                        black_box(v);
                    }
                })
                .await
            }
            _ => {
                let (manager, peer_ns) = (self.manager.clone(), self.peer_ns.clone());
                spread(tasks, ops, move |n| {
                    let (mut manager, peer_ns) = (manager.clone(), peer_ns.clone());
                    async move {
                        let key = peer_key(&peer_ns, n);
                        if which == 1 {
                            black_box(peer_get(&mut manager, key).await);
                        } else {
                            black_box(peer_get_pttl(&mut manager, key).await);
                        }
                    }
                })
                .await
            }
        }
    }
}

fn l2_plain_hit(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let url = perf_benches::redis_url();
    let all = rt.block_on(contenders(&url));
    let (plain, enveloped, manager, peer_ns) = (
        all.plain.clone(),
        all.enveloped.clone(),
        all.manager.clone(),
        all.peer_ns.clone(),
    );
    for tasks in [1_u64, 64] {
        let mut g = c.benchmark_group(format!("cache_l2_plain_hit_{tasks}_tasks"));
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
        g.finish();
    }
    rt.block_on(all.cleanup());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The interleaved run: 15 rounds, every contender once per round in a rotating order.
fn paired() {
    const ROUNDS: usize = 15;
    const NAMES: [&str; 4] = [
        "perf-cache plain get (GET + PTTL + JSON)",
        "redis-rs ConnectionManager GET + serde_json",
        "redis-rs ConnectionManager GET + PTTL pipelined + serde_json",
        "perf-cache envelope get (JSON codec)",
    ];
    let rt = multi_thread_runtime();
    let url = perf_benches::redis_url();
    rt.block_on(async {
        let all = contenders(&url).await;
        for tasks in [1_u64, 64] {
            let ops = if tasks == 1 { 2_000 } else { 30_016 };
            let mut times: [Vec<f64>; 4] = Default::default();
            for round in 0..ROUNDS {
                for turn in 0..4 {
                    let which = (round + turn) % 4;
                    let took = all.run(which, tasks, ops).await;
                    times[which].push(took.as_secs_f64() * 1e9 / ops as f64);
                }
            }
            println!("plain L2 hit, {tasks} task(s), {ROUNDS} paired rounds of {ops} reads:");
            println!(
                "  {}: median {:.0} ns/op",
                NAMES[0],
                median(times[0].clone())
            );
            for which in 1..4 {
                let ratios = times[0]
                    .iter()
                    .zip(&times[which])
                    .map(|(a, b)| a / b)
                    .collect();
                println!(
                    "  vs {}: median {:.0} ns/op, median paired ratio ours/peer = {:.2}",
                    NAMES[which],
                    median(times[which].clone()),
                    median(ratios)
                );
            }
        }
        all.cleanup().await;
    });
}

criterion_group!(benches, l2_plain_hit);

fn main() {
    // `-- paired` runs the interleaved measurement instead of the criterion groups.
    if std::env::args().skip(1).any(|a| a == "paired") {
        if std::env::args().any(|a| a == "--bench") {
            paired();
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
