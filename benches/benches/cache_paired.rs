//! Paired, interleaved measurements for a noisy machine: each round runs every contender once,
//! back to back, so load from other processes hits them alike; the median of the per-round
//! ratios (ours / peer) is printed. Complements the criterion groups `cache_l1_hit_*` and
//! `cache_l2_hit_*` (same contenders, same keys and values).
//!
//! Run with `cargo bench -p perf-benches --bench cache_paired` (add `-- l1` or `-- l2` for one
//! part).

use std::hint::black_box;
use std::time::Duration;

use perf_benches::{
    KEYS, current_thread_runtime, get_decode, l1_contenders, l2_only_cache, multi_thread_runtime,
    on_threads, peer_key, set_encoded, spread, unlink_peer_keys, user, view_of,
};
use perf_cache::Key;

const ROUNDS: usize = 9;
/// More rounds for the L2 groups, whose per-round figures swing more (network round trips).
const L2_ROUNDS: usize = 15;

#[cached::macros::cached(max_size = 2_000)]
async fn cached_fn(n: u64) -> u64 {
    n
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
    let k = rt.block_on(l1_contenders(cached_fn));
    let ops = 200_000;
    for threads in [1, 2] {
        let mut ours = Vec::new();
        let mut peers: Vec<(&str, Vec<Duration>)> = [
            "perf-cache view, moka engine",
            "raw quick_cache get, same Key type",
            "raw moka sync get, same Key type",
            "raw moka future get, String key",
            "cached #[cached] hit",
            "perf-cache, 100 views on one backend",
            "perf-cache get_or_load hit",
            "perf-cache get again (same view, last in the round)",
        ]
        .into_iter()
        .map(|name| (name, Vec::new()))
        .collect();
        for _ in 0..ROUNDS {
            let k = &k;
            ours.push(on_threads(threads, ops, |n| async move {
                black_box(k.ours.get(&Key::new(black_box(n))).await);
            }));
            peers[0].1.push(on_threads(threads, ops, |n| async move {
                black_box(k.ours_moka.get(&Key::new(black_box(n))).await);
            }));
            peers[1].1.push(on_threads(threads, ops, |n| async move {
                black_box(k.quick_key.get(&Key::new(black_box(n))));
            }));
            peers[2].1.push(on_threads(threads, ops, |n| async move {
                black_box(k.moka_sync_key.get(&Key::new(black_box(n))));
            }));
            peers[3].1.push(on_threads(threads, ops, |n| async move {
                black_box(k.moka_string.get(&black_box(n).to_string()).await);
            }));
            peers[4].1.push(on_threads(threads, ops, |n| async move {
                black_box(cached_fn(black_box(n)).await);
            }));
            peers[5].1.push(on_threads(threads, ops, |n| async move {
                black_box(
                    k.hundred_views[view_of(n)]
                        .get(&Key::new(black_box(n)))
                        .await,
                );
            }));
            peers[6].1.push(on_threads(threads, ops, |n| async move {
                let n = black_box(n);
                black_box(
                    k.ours
                        .get_or_load(&Key::new(n), move || async move { n })
                        .await,
                );
            }));
            peers[7].1.push(on_threads(threads, ops, |n| async move {
                black_box(k.ours.get(&Key::new(black_box(n))).await);
            }));
        }
        report(&format!("L1 hit, {threads} thread(s)"), &ours, &peers, ops);
    }
}

/// One round of raw redis-rs `GET` + decode over `conn`, spread like the other contenders.
async fn get_decode_round<C>(tasks: u64, ops: u64, conn: C, pns: String) -> Duration
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    spread(tasks, ops, move |n| {
        let (mut conn, pns) = (conn.clone(), pns.clone());
        async move {
            black_box(get_decode(&mut conn, peer_key(&pns, n)).await);
        }
    })
    .await
}

fn l2() {
    let rt = multi_thread_runtime();
    let url = perf_benches::redis_url();
    let ns = format!("bench-paired-{}", std::process::id());
    let peer_ns = format!("bench-paired-peer-{}", std::process::id());
    rt.block_on(async {
        let ours = l2_only_cache(&ns, &url).await;
        let client = redis::Client::open(url.as_str()).unwrap();
        let peer = client.get_multiplexed_async_connection().await.unwrap();
        let manager = client.get_connection_manager().await.unwrap();
        for n in 0..KEYS {
            ours.set(&Key::new("user").arg(n), user(n)).await.unwrap();
            set_encoded(&mut peer.clone(), peer_key(&peer_ns, n), &user(n)).await;
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
                            p.push(
                                get_decode_round(tasks, ops, peer.clone(), peer_ns.clone()).await,
                            );
                        }
                        _ => {
                            m.push(
                                get_decode_round(tasks, ops, manager.clone(), peer_ns.clone())
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
        let _ = ours.invalidate_all().await;
        unlink_peer_keys(&mut peer.clone(), &peer_ns).await;
    });
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` there is nothing to check.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // An optional filter argument (`-- l1` or `-- l2`) runs one part only.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let rt = current_thread_runtime();
    if filter.as_deref().is_none_or(|f| f == "l1") {
        l1(&rt);
    }
    if filter.as_deref().is_none_or(|f| f == "l2") {
        l2();
    }
}
