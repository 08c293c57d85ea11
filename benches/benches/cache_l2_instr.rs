//! Instruction counts of one L2 hit (incl. decode) for callgrind, which counts instructions
//! exactly where wall-clock figures on a shared machine drift. Not a criterion bench: it runs
//! a fixed number of reads of one contender on a current-thread runtime, 64 tasks at once, and
//! only the function `measured_reads` is meant to be collected:
//!
//! ```text
//! cargo bench -p perf-benches --bench cache_l2_instr --no-run
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_reads*' \
//!     target/release/deps/cache_l2_instr-<hash> --bench ours|mux|manager
//! ```
//!
//! Divide the total by the number of reads printed. Contenders as in `cache_l2`: `ours`
//! (perf-cache `get`, L1 off), `mux` (redis-rs `MultiplexedConnection` `GET` + postcard decode),
//! `manager` (redis-rs `ConnectionManager` `GET` + decode).

use std::hint::black_box;

use perf_benches::{
    KEYS, User, current_thread_runtime, get_decode, l2_only_cache, multi_thread_runtime, peer_key,
    set_encoded, user,
};
use perf_cache::{Cache, Key};

const TASKS: u64 = 64;
/// Reads per task; `PER_TASK=n` in the environment overrides it.
fn per_task() -> u64 {
    std::env::var("PER_TASK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

enum Contender {
    Ours(Cache<User>),
    Mux(redis::aio::MultiplexedConnection, String),
    Manager(redis::aio::ConnectionManager, String),
}

async fn read(c: &Contender, n: u64) {
    match c {
        Contender::Ours(cache) => {
            let v = cache.get(&Key::new("user").arg(n)).await;
            assert!(v.is_some());
            black_box(v);
        }
        Contender::Mux(conn, ns) => {
            black_box(get_decode(&mut conn.clone(), peer_key(ns, n)).await);
        }
        Contender::Manager(conn, ns) => {
            black_box(get_decode(&mut conn.clone(), peer_key(ns, n)).await);
        }
    }
}

#[inline(never)]
fn measured_reads(rt: &tokio::runtime::Runtime, c: &std::sync::Arc<Contender>) {
    rt.block_on(async {
        let per_task = per_task();
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let c = std::sync::Arc::clone(c);
                tokio::spawn(async move {
                    for i in 0..per_task {
                        read(&c, (t * 31 + i) % KEYS).await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` there is nothing to check.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let which = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    // `--multi`: the criterion benches' runtime (2 worker threads), e.g. for `perf stat`.
    let rt = if args.iter().any(|a| a == "--multi") {
        multi_thread_runtime()
    } else {
        current_thread_runtime()
    };
    let url = perf_benches::redis_url();
    let ns = format!("bench-l2-instr-{}", std::process::id());
    let contender = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let c = match which.as_deref() {
            Some("mux") => {
                Contender::Mux(client.get_multiplexed_async_connection().await.unwrap(), ns)
            }
            Some("manager") => {
                Contender::Manager(client.get_connection_manager().await.unwrap(), ns)
            }
            _ => Contender::Ours(l2_only_cache(&ns, &url).await),
        };
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        for n in 0..KEYS {
            match &c {
                Contender::Ours(cache) => {
                    cache.set(&Key::new("user").arg(n), user(n)).await.unwrap()
                }
                Contender::Mux(_, ns) | Contender::Manager(_, ns) => {
                    set_encoded(&mut conn, peer_key(ns, n), &user(n)).await;
                }
            }
        }
        // Warm up every key once, outside the measured function.
        for n in 0..KEYS {
            read(&c, n).await;
        }
        c
    });
    let contender = std::sync::Arc::new(contender);
    let start = std::time::Instant::now();
    measured_reads(&rt, &contender);
    let took = start.elapsed();
    let reads = TASKS * per_task();
    println!(
        "{reads} reads, {:.2} µs/read wall",
        took.as_secs_f64() * 1e6 / reads as f64
    );
    rt.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let pattern = match &*contender {
            Contender::Ours(cache) => format!("{}:*", cache.namespace()),
            Contender::Mux(_, ns) | Contender::Manager(_, ns) => format!("{ns}:*"),
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: i64 = redis::cmd("UNLINK")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    });
}
