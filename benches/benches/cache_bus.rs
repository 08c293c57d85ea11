//! Coherence latency across instances on loopback: from the start of `invalidate` on
//! instance A to the moment instance B has applied it to its L1 (B's bus counter moves), vs
//! the floor for any pub/sub design, a raw redis-rs `PUBLISH` until a RESP3 subscriber on
//! another connection receives it. Ours twice: with the writer waiting for confirmations (the
//! default, `invalidate` returns once B applied it) and without (`bus_confirm_timeout` zero).
//! Prints p50/p99 of every measured iteration as well, and of how long `invalidate` itself
//! took (what a writer pays).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use perf_cache::{Backend, Cache, Key};

fn percentile(samples: &Mutex<Vec<Duration>>, name: &str) {
    let mut s = samples.lock().unwrap().clone();
    if s.is_empty() {
        return;
    }
    s.sort();
    let at = |p: f64| {
        // Index arithmetic on a small sample count.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((s.len() - 1) as f64 * p).round() as usize;
        s[i]
    };
    eprintln!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        s.len(),
        at(0.50),
        at(0.99),
        s[s.len() - 1]
    );
}

fn bus_latency(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = perf_benches::redis_url();
    let ns = format!("bench-bus-{}", std::process::id());
    let (a, a_unconfirmed, bb) = rt.block_on(async {
        let (ns, url) = (&ns, &url);
        let backend = |confirm: Duration| async move {
            Backend::builder()
                .namespace(ns)
                .redis_url(url)
                .require_l2(true)
                .bus_confirm_timeout(confirm)
                .build()
                .await
                .unwrap()
        };
        let second = Duration::from_secs(1);
        let (ba, ba0, bb) = (
            backend(second).await,
            backend(Duration::ZERO).await,
            backend(second).await,
        );
        let view = |b: &Backend| Cache::<u64>::builder().prefix("b").build_on(b).unwrap();
        (view(&ba), view(&ba0), bb)
    });
    let (tx, rx) = rt.block_on(async {
        let client = redis::Client::open(format!("{url}?protocol=resp3")).unwrap();
        let (push_tx, push_rx) = tokio::sync::mpsc::unbounded_channel();
        let config = redis::AsyncConnectionConfig::new().set_push_sender(push_tx);
        let mut sub = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .unwrap();
        let channel = format!("{ns}-peer");
        sub.subscribe(&channel).await.unwrap();
        let publisher = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (
            (publisher, channel, sub),
            Arc::new(tokio::sync::Mutex::new(push_rx)),
        )
    });

    let samples = || Arc::new(Mutex::new(Vec::new()));
    let (ours, ours_call) = (samples(), samples());
    let (unconfirmed, unconfirmed_call) = (samples(), samples());
    let peer = samples();
    let mut g = c.benchmark_group("cache_bus_invalidate_on_a_to_applied_on_b");
    for (name, a, applied, call) in [
        ("perf_cache_invalidate", &a, &ours, &ours_call),
        (
            "perf_cache_invalidate_unconfirmed",
            &a_unconfirmed,
            &unconfirmed,
            &unconfirmed_call,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (a, bb) = (a.clone(), bb.clone());
                let (applied, call) = (Arc::clone(applied), Arc::clone(call));
                rt.block_on(async move {
                    let mut total = Duration::ZERO;
                    for n in 0..iters {
                        let key = Key::new(n);
                        let before = bb.bus_stats().unwrap().applied;
                        let start = Instant::now();
                        let _ = a.invalidate(&key).await;
                        call.lock().unwrap().push(start.elapsed());
                        while bb.bus_stats().unwrap().applied == before {
                            tokio::task::yield_now().await;
                        }
                        let took = start.elapsed();
                        applied.lock().unwrap().push(took);
                        total += took;
                    }
                    total
                })
            });
        });
    }
    g.bench_function("redis_rs_publish_to_subscriber", |b| {
        b.iter_custom(|iters| {
            let (publisher, channel, _) = &tx;
            let (mut publisher, channel, rx, peer) = (
                publisher.clone(),
                channel.clone(),
                Arc::clone(&rx),
                Arc::clone(&peer),
            );
            rt.block_on(async move {
                let mut rx = rx.lock().await;
                let mut total = Duration::ZERO;
                for n in 0..iters {
                    let start = Instant::now();
                    let _: i64 = redis::cmd("PUBLISH")
                        .arg(&channel)
                        .arg(n)
                        .query_async(&mut publisher)
                        .await
                        .unwrap();
                    loop {
                        let push = rx.recv().await.unwrap();
                        if push.kind == redis::PushKind::Message {
                            break;
                        }
                    }
                    let took = start.elapsed();
                    peer.lock().unwrap().push(took);
                    total += took;
                }
                total
            })
        });
    });
    g.finish();
    percentile(
        &ours,
        "perf_cache_invalidate (A call start -> applied on B)",
    );
    percentile(&ours_call, "perf_cache_invalidate (the call itself)");
    percentile(
        &unconfirmed,
        "perf_cache_invalidate_unconfirmed (A call start -> applied on B)",
    );
    percentile(
        &unconfirmed_call,
        "perf_cache_invalidate_unconfirmed (the call itself)",
    );
    percentile(&peer, "redis_rs_publish_to_subscriber");
}

criterion_group!(benches, bus_latency);
criterion_main!(benches);
