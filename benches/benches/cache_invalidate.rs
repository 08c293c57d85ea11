//! Pattern invalidation in Redis: drop 10,000 matching keys among 200,000, three ways, in
//! the same run and on the same keys:
//!
//! - `perf_cache_invalidate_pattern`: `Backend::invalidate_pattern` (`SCAN MATCH … COUNT 1000`,
//!   each page's `UNLINK` pipelined with the next `SCAN`);
//! - `perf_cache_invalidate_pattern_scan_count_10000`: the same with
//!   `BackendBuilder::scan_count(10_000)`;
//! - `seed_scan_then_del_each`: the seeds' approach, redis-py's `scan_iter(match=…)` (server
//!   default `COUNT`, 10) with one `DEL` round trip per key found;
//! - `scan_count_1000_unlink_per_page`: plain `SCAN MATCH … COUNT 1000`, then one `UNLINK` per
//!   page, one round trip after the other.
//!
//! The keys live in a private `redis-server` the bench starts on a free loopback port (and
//! kills at the end), so `SCAN` walks exactly these 200,000 keys, other clients' traffic does
//! not blur the figures, and 200,000 extra keys never slow other users' `SCAN`s of the shared
//! server. Before every timed iteration the 10,000 matching keys are written again (pipelined,
//! not timed); the 190,000 others stay for the whole run. After criterion's groups, a paired run
//! times the three contenders round by round (order rotated, 7 rounds) and prints each one's
//! median and the median of the per-round ratios, which holds up better on a loaded machine
//! than contenders measured one after the other. The paired run also reads what each of our
//! `SCAN` calls cost the server (`INFO commandstats`, `usec_per_call` of `scan`, after a
//! `CONFIG RESETSTAT`): the time Redis is busy with one call and serves nobody else.
//!
//! Run with `cargo bench -p perf-benches --bench cache_invalidate -- --warm-up-time 1
//! --measurement-time 3`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perf_benches::{PrivateRedis, multi_thread_runtime};
use perf_cache::{Backend, Pattern};
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};

const MATCHING: u64 = 10_000;
/// Paired rounds after criterion's groups.
const ROUNDS: usize = 9;
const OTHERS: u64 = 190_000;

/// Writes `keys` with a value, pipelined in chunks.
async fn load(conn: &mut MultiplexedConnection, keys: impl Iterator<Item = String>) {
    let keys: Vec<String> = keys.collect();
    for chunk in keys.chunks(5_000) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("SET")
                .arg(key)
                .arg(b"v")
                .arg("EX")
                .arg(3_600)
                .ignore();
        }
        let () = pipe.query_async(conn).await.unwrap();
    }
}

fn matching(ns: &str) -> impl Iterator<Item = String> + '_ {
    (0..MATCHING).map(move |i| format!("{ns}:scans:get_scan_results:42:{i}"))
}

async fn seed_scan_then_del_each(conn: &mut MultiplexedConnection, pattern: &str) -> u64 {
    let mut found = Vec::new();
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .query_async(conn)
            .await
            .unwrap();
        for key in keys {
            // redis-py's `scan_iter` yields each key; the seed awaits one `DEL` per key.
            let n: u64 = redis::cmd("DEL").arg(&key).query_async(conn).await.unwrap();
            found.push(n);
        }
        if next == 0 {
            return found.iter().sum();
        }
        cursor = next;
    }
}

async fn scan_unlink_per_page<C: ConnectionLike>(conn: &mut C, pattern: &str) -> u64 {
    let mut removed = 0;
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            removed += redis::cmd("UNLINK")
                .arg(keys)
                .query_async::<u64>(conn)
                .await
                .unwrap();
        }
        if next == 0 {
            return removed;
        }
        cursor = next;
    }
}

/// `iters` timed calls of `remove`, each on the 10,000 matching keys written again (not
/// timed) just before; every call must remove exactly those keys.
fn timed_removals(
    rt: &tokio::runtime::Runtime,
    conn: &mut MultiplexedConnection,
    ns: &str,
    iters: u64,
    mut remove: impl AsyncFnMut(&mut MultiplexedConnection) -> u64,
) -> Duration {
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            load(conn, matching(ns)).await;
            let start = Instant::now();
            let removed = remove(conn).await;
            total += start.elapsed();
            assert_eq!(removed, MATCHING);
        }
        total
    })
}

/// `usec_per_call` of `scan` in `INFO commandstats` (since the last `CONFIG RESETSTAT`).
async fn scan_usec_per_call(conn: &mut MultiplexedConnection) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_scan:"))
        .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("usec_per_call=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn invalidate_10k_of_200k(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let server = PrivateRedis::start();
    let url = server.url.clone();
    let ns = format!("bench-inv-{}", std::process::id());
    let (backend, mut conn, mut manager) = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let manager: ConnectionManager = client.get_connection_manager().await.unwrap();
        load(
            &mut conn,
            (0..OTHERS).map(|i| format!("{ns}:scans:get_scan_results:f{i}:x")),
        )
        .await;
        let size: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
        assert_eq!(size, OTHERS, "a private server holds only the bench's keys");
        let backend = |count: usize| {
            Backend::builder()
                .namespace(&ns)
                .redis_url(&url)
                .redis_timeout(Duration::from_secs(5))
                .require_l2(true)
                .l1_max_entries(0)
                .bus(false)
                .scan_count(count)
                .build()
        };
        let backend = (
            backend(1_000).await.unwrap(),
            backend(10_000).await.unwrap(),
        );
        (backend, conn, manager)
    });
    let (backend, backend_10k) = backend;
    let pattern = format!("{ns}:scans:get_scan_results:42:*");
    let ours = Pattern::new()
        .lit("scans")
        .lit("get_scan_results")
        .lit(42_u64)
        .any();

    let mut g = c.benchmark_group("cache_invalidate_10k_of_200k");
    g.sample_size(10);
    g.bench_function("perf_cache_invalidate_pattern", |b| {
        b.iter_custom(|iters| {
            timed_removals(&rt, &mut conn, &ns, iters, async |_| {
                backend.invalidate_pattern(&ours).await.l2_removed
            })
        });
    });
    g.bench_function("perf_cache_invalidate_pattern_scan_count_10000", |b| {
        b.iter_custom(|iters| {
            timed_removals(&rt, &mut conn, &ns, iters, async |_| {
                backend_10k.invalidate_pattern(&ours).await.l2_removed
            })
        });
    });
    g.bench_function("scan_count_1000_unlink_per_page", |b| {
        b.iter_custom(|iters| {
            timed_removals(&rt, &mut conn, &ns, iters, async |conn| {
                scan_unlink_per_page(conn, &pattern).await
            })
        });
    });
    g.bench_function("seed_scan_then_del_each", |b| {
        b.iter_custom(|iters| {
            timed_removals(&rt, &mut conn, &ns, iters, async |conn| {
                seed_scan_then_del_each(conn, &pattern).await
            })
        });
    });
    g.finish();

    // Paired rounds: every round times each contender once on freshly written keys. The
    // fourth is plain SCAN + UNLINK through a `ConnectionManager` (what our L2 runs on), to
    // show the manager's own share.
    // The fifth is ours with `scan_count(10_000)`; for both of ours the server's time per
    // `SCAN` call is read after each call.
    let rounds = ROUNDS;
    let mut times: [Vec<f64>; 5] = Default::default();
    let mut scan_usec: [Vec<f64>; 2] = Default::default();
    rt.block_on(async {
        for round in 0..rounds {
            for turn in 0..5 {
                let who = (round + turn) % 5;
                load(&mut conn, matching(&ns)).await;
                let () = redis::cmd("CONFIG")
                    .arg("RESETSTAT")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let start = Instant::now();
                let removed = match who {
                    0 => backend.invalidate_pattern(&ours).await.l2_removed,
                    1 => scan_unlink_per_page(&mut conn, &pattern).await,
                    2 => seed_scan_then_del_each(&mut conn, &pattern).await,
                    3 => scan_unlink_per_page(&mut manager, &pattern).await,
                    _ => backend_10k.invalidate_pattern(&ours).await.l2_removed,
                };
                times[who].push(start.elapsed().as_secs_f64() * 1e3);
                assert_eq!(removed, MATCHING);
                if who == 0 || who == 4 {
                    scan_usec[usize::from(who == 4)].push(scan_usec_per_call(&mut conn).await);
                }
            }
        }
    });
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios = |a: &[f64], b: &[f64]| median(a.iter().zip(b).map(|(x, y)| x / y).collect());
    println!(
        "cache_invalidate paired ({rounds} rounds): ours {:.1} ms, scan+unlink per page {:.1} ms, seed {:.1} ms, \
         scan+unlink per page through a ConnectionManager {:.1} ms; ours/plain {:.2}, seed/ours {:.1}, \
         ours/plain-through-manager {:.2}",
        median(times[0].clone()),
        median(times[1].clone()),
        median(times[2].clone()),
        median(times[3].clone()),
        ratios(&times[0], &times[1]),
        ratios(&times[2], &times[0]),
        ratios(&times[0], &times[3]),
    );
    println!(
        "cache_invalidate paired scan_count: 1,000 {:.1} ms ({:.0} µs per SCAN call), 10,000 {:.1} ms \
         ({:.0} µs per SCAN call); seed/ours-10000 {:.1}, ours-10000/plain {:.2}, ours-10000/ours-1000 {:.2}",
        median(times[0].clone()),
        median(scan_usec[0].clone()),
        median(times[4].clone()),
        median(scan_usec[1].clone()),
        ratios(&times[2], &times[4]),
        ratios(&times[4], &times[1]),
        ratios(&times[4], &times[0]),
    );
    rt.block_on(async {
        let done = backend.invalidate_pattern(&Pattern::new().any()).await;
        assert_eq!(done.l2_removed, OTHERS);
    });
}

criterion_group!(benches, invalidate_10k_of_200k);
criterion_main!(benches);
