//! Tag invalidation, in the same run:
//!
//! - `invalidate_tag/{1000,10000,100000}`: `Backend::invalidate_tag` of a tag carried by 1k,
//!   10k or 100k entries (goal: flat, one round trip whatever the count), against the peer
//!   `invalidate_pattern/{n}`: `Backend::invalidate_pattern` removing the same number of keys
//!   (`SCAN MATCH` + `UNLINK`), rewritten before every timed call (not timed);
//! - `l1_hit/tags_3` vs `l1_hit/no_tags`: an L1 hit on entries with three tags (each checked
//!   against the in-process tag table) and on entries without (goal ≤ 1.1×).
//!
//! Keys live in a private `redis-server` started on a free loopback port (killed at the end).
//! Run with `cargo bench -p perf-benches --bench cache_tags -- --warm-up-time 1
//! --measurement-time 3`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use perf_benches::{PrivateRedis, current_thread_runtime, multi_thread_runtime};
use perf_cache::{Backend, Cache, Key, Pattern, SetOptions};

/// Writes `n` raw keys `<ns>:p<n>:<i>` (pipelined): the pattern peer's keys.
async fn write_raw(conn: &mut redis::aio::MultiplexedConnection, ns: &str, n: u64) {
    for start in (0..n).step_by(5_000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 5_000).min(n) {
            pipe.cmd("SET")
                .arg(format!("{ns}:p{n}:{i}"))
                .arg(b"v")
                .arg("EX")
                .arg(3_600)
                .ignore();
        }
        let () = pipe.query_async(conn).await.unwrap();
    }
}

fn invalidation(c: &mut Criterion) {
    let rt = multi_thread_runtime();
    let server = PrivateRedis::start();
    let ns = format!("bench-tags-{}", std::process::id());
    let (backend, mut conn) = rt.block_on(async {
        let backend = Backend::builder()
            .namespace(&ns)
            .redis_url(&server.url)
            .require_l2(true)
            .bus(false)
            .redis_timeout(Duration::from_secs(5))
            .l1_max_entries(0)
            .build()
            .await
            .unwrap();
        let conn = redis::Client::open(server.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (backend, conn)
    });
    let mut g = c.benchmark_group("cache_tags_invalidate");
    g.sample_size(10);
    for n in [1_000_u64, 10_000, 100_000] {
        let view: Cache<u64> = Cache::builder()
            .prefix(format!("t{n}"))
            .build_on(&backend)
            .unwrap();
        let tag = format!("tag-{n}");
        rt.block_on(async {
            // The tagged entries (written once: a tag invalidation removes no key).
            for start in (0..n).step_by(500) {
                let writes = (start..(start + 500).min(n)).map(|i| {
                    let (view, tag) = (&view, &tag);
                    async move {
                        view.set_with(&Key::new(i), i, SetOptions::default().tags([tag.as_str()]))
                            .await
                            .unwrap();
                    }
                });
                futures::future::join_all(writes).await;
            }
        });
        g.bench_with_input(BenchmarkId::new("invalidate_tag", n), &n, |b, _| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let done = backend.invalidate_tag(&tag).await.unwrap();
                        assert!(done.is_complete());
                    }
                    start.elapsed()
                })
            });
        });
        let pattern = Pattern::new().lit(format!("p{n}")).any();
        g.bench_with_input(BenchmarkId::new("invalidate_pattern", n), &n, |b, _| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        write_raw(&mut conn, &ns, n).await;
                        let start = Instant::now();
                        let done = backend.invalidate_pattern(&pattern).await;
                        total += start.elapsed();
                        assert_eq!(done.l2_removed, n);
                    }
                    total
                })
            });
        });
    }
    g.finish();
}

fn l1_hit(c: &mut Criterion) {
    let rt = current_thread_runtime();
    let (plain, tagged) = rt.block_on(async {
        let b1 = Backend::builder()
            .l1_max_entries(10_000)
            .build()
            .await
            .unwrap();
        let b2 = Backend::builder()
            .l1_max_entries(10_000)
            .build()
            .await
            .unwrap();
        let plain: Cache<u64> = Cache::builder().prefix("v").build_on(&b1).unwrap();
        let tagged: Cache<u64> = Cache::builder().prefix("v").build_on(&b2).unwrap();
        for i in 0..1_000_u64 {
            plain.set(&Key::new(i), i).await.unwrap();
            let tags = [
                format!("scan:{}", i % 10),
                format!("target:{}", i % 7),
                "all".to_owned(),
            ];
            tagged
                .set_with(&Key::new(i), i, SetOptions::default().tags(tags))
                .await
                .unwrap();
        }
        (plain, tagged)
    });
    let mut g = c.benchmark_group("cache_tags_l1_hit");
    for (name, cache) in [("no_tags", &plain), ("tags_3", &tagged)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for n in 0..iters {
                        let v = cache.get(&Key::new(n % 1_000)).await;
                        black_box(v.expect("a hit"));
                    }
                    start.elapsed()
                })
            });
        });
    }
    g.finish();
}

criterion_group!(benches, invalidation, l1_hit);
criterion_main!(benches);
