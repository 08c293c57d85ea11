//! Paired, interleaved measurements for a noisy machine: each round runs every contender once,
//! back to back, so load from other processes hits them alike; the median of the per-round
//! ratios (ours / peer) is printed. Complements the criterion groups `cache_l1_hit_*` and
//! `cache_l2_hit_*` (same contenders, same keys and values).
//!
//! Run with `cargo bench -p perf-benches --bench cache_paired`.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use perf_cache::{Cache, Key};
use serde::{Deserialize, Serialize};

const KEYS: u64 = 1_000;
const ROUNDS: usize = 9;
/// More rounds for the L2 groups, whose per-round figures swing more (network round trips).
const L2_ROUNDS: usize = 15;

#[cached::macros::cached(max_size = 2_000)]
async fn cached_fn(n: u64) -> u64 {
    n
}

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `ops` calls of `op` on each of `threads` threads (own current-thread runtime each); slowest thread's time.
fn on_threads<F, Fut>(threads: usize, ops: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Sync,
    Fut: std::future::Future<Output = ()>,
{
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, op) = (&barrier, &op);
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    barrier.wait();
                    let start = Instant::now();
                    rt.block_on(async {
                        for i in 0..ops {
                            op((i + t as u64 * 7) % KEYS).await;
                        }
                    });
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

fn report(name: &str, ours: &[Duration], peers: &[(&str, Vec<Duration>)], ops: u64) {
    let per_op = |d: &[Duration]| {
        median(
            d.iter()
                .map(|d| d.as_secs_f64() * 1e9 / ops as f64)
                .collect(),
        )
    };
    println!("{name}: perf_cache median {:.0} ns/op", per_op(ours));
    for (peer, times) in peers {
        let ratios = ours
            .iter()
            .zip(times)
            .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
            .collect();
        println!(
            "  vs {peer}: median {:.0} ns/op, median paired ratio ours/peer = {:.2}",
            per_op(times),
            median(ratios)
        );
    }
}

fn l1(rt: &tokio::runtime::Runtime) {
    let (ours, moka_string, moka_key) = rt.block_on(async {
        let ours = Cache::<u64>::builder()
            .l1_max_entries(10_000)
            .metrics_interval(None)
            .build()
            .await
            .unwrap();
        let moka_string = moka::future::Cache::<String, u64>::new(10_000);
        let moka_key = moka::future::Cache::<Key, u64>::new(10_000);
        for n in 0..KEYS {
            ours.set(&Key::new("user").arg(n), n).await.unwrap();
            moka_string.insert(format!("user:{n}"), n).await;
            moka_key.insert(Key::new("user").arg(n), n).await;
            cached_fn(n).await;
        }
        ours.run_pending_tasks().await;
        moka_string.run_pending_tasks().await;
        moka_key.run_pending_tasks().await;
        (ours, moka_string, moka_key)
    });
    let ops = 200_000;
    for threads in [1, 2] {
        let (mut o, mut ms, mut mk, mut c) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            o.push(on_threads(threads, ops, |n| {
                let ours = &ours;
                async move {
                    black_box(ours.get(&Key::new("user").arg(black_box(n))).await);
                }
            }));
            ms.push(on_threads(threads, ops, |n| {
                let m = &moka_string;
                async move {
                    black_box(m.get(&format!("user:{}", black_box(n))).await);
                }
            }));
            mk.push(on_threads(threads, ops, |n| {
                let m = &moka_key;
                async move {
                    black_box(m.get(&Key::new("user").arg(black_box(n))).await);
                }
            }));
            c.push(on_threads(threads, ops, |n| async move {
                black_box(cached_fn(black_box(n)).await);
            }));
        }
        report(
            &format!("L1 hit, {threads} thread(s)"),
            &o,
            &[
                ("moka get, String key", ms),
                ("moka get, same Key type", mk),
                ("cached #[cached] hit", c),
            ],
            ops,
        );
    }
}

async fn spread<F, Fut>(tasks: u64, ops: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let per_task = ops / tasks;
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

fn l2() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = perf_benches::redis_url();
    let ns = format!("bench-paired-{}", std::process::id());
    let peer_ns = format!("bench-paired-peer-{}", std::process::id());
    rt.block_on(async {
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
        let peer = client.get_multiplexed_async_connection().await.unwrap();
        let manager = client.get_connection_manager().await.unwrap();
        for n in 0..KEYS {
            ours.set(&Key::new("user").arg(n), user(n)).await.unwrap();
            let bytes = postcard::to_allocvec(&user(n)).unwrap();
            let _: () = redis::cmd("SET")
                .arg(format!("{peer_ns}:user:{n}"))
                .arg(bytes)
                .query_async(&mut peer.clone())
                .await
                .unwrap();
        }
        for tasks in [1_u64, 64] {
            let ops = if tasks == 1 { 3_000 } else { 30_016 };
            let (mut o, mut p, mut m) = (Vec::new(), Vec::new(), Vec::new());
            // The three contenders run in a rotating order, so none always runs first or last.
            for round in 0..L2_ROUNDS {
                for turn in 0..3 {
                    match (round + turn) % 3 {
                        0 => {
                            let c = ours.clone();
                            o.push(
                                spread(tasks, ops, move |n| {
                                    let c = c.clone();
                                    async move {
                                        assert!(c.get(&Key::new("user").arg(n)).await.is_some());
                                    }
                                })
                                .await,
                            );
                        }
                        1 => {
                            let (conn, pns) = (peer.clone(), peer_ns.clone());
                            p.push(
                                spread(tasks, ops, move |n| {
                                    let (mut conn, pns) = (conn.clone(), pns.clone());
                                    async move {
                                        let bytes: Option<Vec<u8>> = redis::cmd("GET")
                                            .arg(format!("{pns}:user:{n}"))
                                            .query_async(&mut conn)
                                            .await
                                            .unwrap();
                                        black_box(
                                            postcard::from_bytes::<User>(&bytes.unwrap()).unwrap(),
                                        );
                                    }
                                })
                                .await,
                            );
                        }
                        _ => {
                            let (conn, pns) = (manager.clone(), peer_ns.clone());
                            m.push(
                                spread(tasks, ops, move |n| {
                                    let (mut conn, pns) = (conn.clone(), pns.clone());
                                    async move {
                                        let bytes: Option<Vec<u8>> = redis::cmd("GET")
                                            .arg(format!("{pns}:user:{n}"))
                                            .query_async(&mut conn)
                                            .await
                                            .unwrap();
                                        black_box(
                                            postcard::from_bytes::<User>(&bytes.unwrap()).unwrap(),
                                        );
                                    }
                                })
                                .await,
                            );
                        }
                    }
                }
            }
            report(
                &format!("L2 hit incl. decode, {tasks} task(s)"),
                &o,
                &[
                    ("redis-rs MultiplexedConnection GET + decode", p),
                    ("redis-rs ConnectionManager GET + decode", m),
                ],
                ops,
            );
        }
        ours.clear().await;
        let keys: Vec<String> = (0..KEYS).map(|n| format!("{peer_ns}:user:{n}")).collect();
        let _: i64 = redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut peer.clone())
            .await
            .unwrap();
    });
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` there is nothing to check.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    l1(&rt);
    l2();
}
