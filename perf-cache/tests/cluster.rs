//! L2 on a private three-primary Redis Cluster (started with redis-server + redis-cli).
#![cfg(feature = "redis-cluster")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster::start_cluster;
use common::namespace;
use perf_cache::{Cache, Key};

async fn cache(ports: &[u16], ns: &str) -> Cache<u64> {
    Cache::<u64>::builder()
        .namespace(ns)
        .redis_cluster_urls(ports.iter().map(|p| format!("redis://127.0.0.1:{p}")))
        .redis_timeout(Duration::from_secs(1))
        .require_l2(true)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_round_trip_and_namespace_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, ports) = start_cluster(dir.path());
    let (ns, other_ns) = (namespace("cluster"), namespace("cluster-other"));
    let writer = cache(&ports, &ns).await;
    let other = cache(&ports, &other_ns).await;
    for i in 0..300_u64 {
        writer.set(&Key::new("k").arg(i), i).await.unwrap();
    }
    other.set(&Key::new("k").arg(0_u64), 7).await.unwrap();

    let reader = cache(&ports, &ns).await;
    for i in 0..300_u64 {
        assert_eq!(reader.get(&Key::new("k").arg(i)).await, Some(i));
    }
    let s = reader.stats();
    assert_eq!(
        s.l2.as_ref().unwrap().hits,
        300,
        "keys spread over three primaries: {s:?}"
    );

    assert!(writer.invalidate_all().await.is_complete());
    assert_eq!(writer.stats().l2.unwrap().errors, 0);
    let fresh = cache(&ports, &ns).await;
    for i in 0..300_u64 {
        assert_eq!(fresh.get(&Key::new("k").arg(i)).await, None);
    }
    let other_fresh = cache(&ports, &other_ns).await;
    assert_eq!(
        other_fresh.get(&Key::new("k").arg(0_u64)).await,
        Some(7),
        "other namespace kept"
    );

    // Sessions on the same cluster, with sliding expiry (a script routed by its key).
    let sessions = perf_cache::SessionStore::<u64>::builder()
        .redis_cluster_urls(ports.iter().map(|p| format!("redis://127.0.0.1:{p}")))
        .namespace(&ns)
        .timeout(Duration::from_secs(1))
        .sliding(true)
        .build()
        .await
        .unwrap();
    for i in 0..30_u64 {
        sessions.set(&format!("s{i}"), &i).await.unwrap();
    }
    for i in 0..30_u64 {
        assert_eq!(sessions.get(&format!("s{i}")).await.unwrap(), Some(i));
        sessions.delete(&format!("s{i}")).await.unwrap();
        assert_eq!(sessions.get(&format!("s{i}")).await.unwrap(), None);
    }

    plain_mode_on_the_cluster(&ports, &ns).await;
}

/// Plain mode: each `GET` + `PTTL` pipeline goes to the node owning its key's slot (a
/// misrouted `PTTL` would answer `MOVED` and read as a miss), also for raw keys with a hash tag.
async fn plain_mode_on_the_cluster(ports: &[u16], ns: &str) {
    let plain = || async {
        Cache::<u64>::builder()
            .namespace(ns)
            .redis_cluster_urls(ports.iter().map(|p| format!("redis://127.0.0.1:{p}")))
            .redis_timeout(Duration::from_secs(1))
            .require_l2(true)
            .codec(perf_cache::Json)
            .storage_format(perf_cache::StorageFormat::Plain)
            .l1_ttl(Duration::from_secs(3_600))
            .l2_ttl(Duration::from_secs(30))
            .build()
            .await
            .unwrap()
    };
    let writer = plain().await;
    let mut keys: Vec<Key> = (0..100_u64).map(|i| Key::new("p").arg(i)).collect();
    keys.extend((0..20_u64).map(|i| Key::raw(format!("{{{ns}-tag}}:raw:{i}")).unwrap()));
    writer
        .set_many(keys.iter().cloned().zip(0..))
        .await
        .unwrap();
    let reader = plain().await;
    for (i, key) in keys.iter().enumerate().take(60) {
        assert_eq!(reader.get(key).await, Some(i as u64), "{key:?}");
        let left = reader.remaining_ttl(key).await.unwrap();
        assert!(
            left <= Duration::from_secs(30),
            "PTTL from the owning node: {left:?}"
        );
    }
    let got = reader.get_many(&keys).await;
    let want: Vec<Option<u64>> = (0..keys.len() as u64).map(Some).collect();
    assert_eq!(got, want);
    let l2 = reader.stats().l2.unwrap();
    assert_eq!((l2.hits, l2.misses, l2.errors), (keys.len() as u64, 0, 0));
    for key in &keys[100..] {
        assert!(reader.invalidate(key).await.is_complete());
    }
    let fresh = plain().await;
    assert_eq!(
        fresh.get(&keys[100]).await,
        None,
        "raw key removed on its node"
    );
}

/// Keys of `ns` held by the node on `port` (`SCAN` on that node alone).
async fn node_keys(port: u16, ns: &str) -> Vec<String> {
    let mut conn = common::raw(&format!("redis://127.0.0.1:{port}")).await;
    common::scan(&mut conn, format!("{ns}:*").as_str(), 1_000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_invalidation_reaches_every_primary() {
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, ports) = start_cluster(dir.path());
    let ns = namespace("cluster-pattern");
    let backend = perf_cache::Backend::builder()
        .namespace(&ns)
        .redis_cluster_urls(ports.iter().map(|p| format!("redis://127.0.0.1:{p}")))
        .redis_timeout(Duration::from_secs(1))
        .require_l2(true)
        .l1_max_entries(0) // reads go to the cluster
        .build()
        .await
        .unwrap();
    let orgs = common::view(&backend, "org");
    for i in 0..300_u64 {
        orgs.set(&Key::new(i % 3).arg("incident").arg(i), i)
            .await
            .unwrap();
    }
    let per_node: Vec<usize> = {
        let mut v = Vec::new();
        for port in &ports {
            v.push(node_keys(*port, &ns).await.len());
        }
        v
    };
    assert_eq!(per_node.iter().sum::<usize>(), 300);
    assert!(
        per_node.iter().all(|n| *n > 0),
        "keys on every primary: {per_node:?}"
    );

    // The seeds' `incidents:org:{org_id}:*`, across the three primaries.
    let done = backend
        .invalidate_pattern(&perf_cache::Pattern::new().lit("org").lit(1_u64).any())
        .await;
    assert!(done.is_complete(), "{done:?}");
    assert_eq!(done.l2_removed, 100);
    let mut left = Vec::new();
    for port in &ports {
        left.extend(node_keys(*port, &ns).await);
    }
    assert_eq!(left.len(), 200);
    assert!(
        left.iter().all(|k| !k.starts_with(&format!("{ns}:org:1:"))),
        "no key of org 1 is left on any primary"
    );
    for i in 0..300_u64 {
        let got = orgs.get(&Key::new(i % 3).arg("incident").arg(i)).await;
        assert_eq!(got.is_none(), i % 3 == 1, "key {i}");
    }

    // A group: one exact key (routed to its slot) and one pattern.
    let group = perf_cache::InvalidationGroup::new()
        .key(&Key::new("org").arg(0_u64).arg("incident").arg(0_u64))
        .pattern(perf_cache::Pattern::new().lit("org").lit(2_u64).any());
    let done = backend.invalidate_group(&group).await;
    assert!(done.is_complete(), "{done:?}");
    assert_eq!(done.l2_removed, 101);
    let mut left = 0;
    for port in &ports {
        left += node_keys(*port, &ns).await.len();
    }
    assert_eq!(left, 99);
}

/// On a cluster, the generation of a key lives in its slot: a load on B that began before
/// A's invalidation or `set` never writes its value, with no cross-slot error; and the bus
/// (one subscriber per instance, classic pub/sub reaching every node) keeps B's L1 coherent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_no_stale_fill_and_bus() {
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, ports) = start_cluster(dir.path());
    let ns = namespace("cluster-fence");
    let (a, b) = (cache(&ports, &ns).await, cache(&ports, &ns).await);
    for round in 0..100_u64 {
        let key = Key::new("k").arg(round);
        let (load, release) = common::race::load_in_flight(&b, &key, round).await;
        if round % 2 == 0 {
            assert!(a.invalidate(&key).await.is_complete());
        } else {
            a.set(&key, u64::MAX).await.unwrap();
        }
        release.notify_one();
        assert_eq!(load.await.unwrap(), round);
        let fresh = cache(&ports, &ns).await;
        let expected = (round % 2 == 1).then_some(u64::MAX);
        assert_eq!(fresh.get(&key).await, expected, "round {round}");
    }
    assert_eq!(b.stats().stale_fills_dropped, 100);
    assert_eq!(
        a.stats().l2.unwrap().errors,
        0,
        "no cross-slot or script error"
    );
    assert_eq!(
        b.stats().l2.unwrap().errors,
        0,
        "no cross-slot or script error"
    );

    let key = Key::new("coherent");
    a.set(&key, 1).await.unwrap();
    assert_eq!(b.get(&key).await, Some(1));
    a.set(&key, 2).await.unwrap();
    let mut seen = false;
    for _ in 0..500 {
        if b.get(&key).await == Some(2) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen, "B kept serving 1 from its L1");
}

/// Value keys of `ns` on each primary (`SCAN` on each node; the per-key generations that
/// `set` raises live under `<ns>%:` and are not counted).
async fn keys_per_node(ports: &[u16], ns: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for port in ports {
        out.push(node_keys(*port, ns).await.len() as u64);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_get_many_and_set_many_span_slots() {
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, ports) = start_cluster(dir.path());
    let ns = namespace("cluster-many");
    let writer = cache(&ports, &ns).await;
    let items: Vec<(Key, u64)> = (0..120_u64)
        .map(|i| (Key::new("m").arg(i), i * 3))
        .collect();
    writer.set_many(items).await.unwrap();
    assert_eq!(writer.stats().l2.unwrap().errors, 0);
    let spread = keys_per_node(&ports, &ns).await;
    assert_eq!(spread.iter().sum::<u64>(), 120, "{spread:?}");
    assert!(
        spread.iter().all(|&n| n > 0),
        "the keys live on every primary, so one MGET would cross slots: {spread:?}"
    );

    // A reader with an empty L1: every key present comes from L2 in one `get_many`, in order;
    // an MGET sent across slots would fail (CROSSSLOT) and read as misses and errors. No bus:
    // on a loaded machine a late heartbeat makes an instance resync (empty its L1), which
    // would take the L1 hits counted below away; this test is about slots, not the bus.
    let reader = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_cluster_urls(ports.iter().map(|p| format!("redis://127.0.0.1:{p}")))
        .redis_timeout(Duration::from_secs(1))
        .require_l2(true)
        .bus(false)
        .build()
        .await
        .unwrap();
    let keys: Vec<Key> = (0..125_u64).map(|i| Key::new("m").arg(i)).collect();
    let got = reader.get_many(&keys).await;
    let expected: Vec<Option<u64>> = (0..125_u64).map(|i| (i < 120).then_some(i * 3)).collect();
    assert_eq!(got, expected);
    let s = reader.stats();
    let l2 = s.l2.clone().unwrap();
    assert_eq!((l2.hits, l2.misses, l2.errors), (120, 5, 0), "{s:?}");
    assert_eq!((s.hits, s.misses), (120, 5), "{s:?}");
    // Now from L1, no Redis call needed.
    assert_eq!(reader.get_many(&keys).await, expected);
    assert_eq!(reader.stats().l1.hits, 120);
    // And no node ever refused a command for crossing slots.
    for port in &ports {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "info", "errorstats"])
            .output()
            .unwrap();
        let stats = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !stats.contains("CROSSSLOT"),
            "node {port}: {stats}"
        );
    }
}

/// The `window_us` of every "cluster fill removed again" debug event: how long a fill that a
/// pattern overtook was readable (an upper bound: from sending the write to the removal's
/// reply).
#[derive(Clone, Default)]
struct Windows(std::sync::Arc<std::sync::Mutex<Vec<u64>>>);

impl tracing::field::Visit for &Windows {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "window_us" {
            self.0.lock().unwrap().push(value);
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Windows {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut visitor = self;
        event.record(&mut visitor);
    }
}

/// A pattern on A racing a fill on B, on the cluster (the epoch and the key in different
/// slots): the fill writes, re-reads the epoch, and removes its value if the epoch moved. 0
/// stale values afterwards, in every round; the time such a value was readable is reported.
/// Current-thread runtime, so the events of B's load tasks reach this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn cluster_pattern_racing_a_fill_on_another_instance_leaves_nothing() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let windows = Windows::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(windows.clone()));
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, ports) = start_cluster(dir.path());
    let ns = namespace("cluster-pe");
    let instance = || async {
        perf_cache::Backend::builder()
            .namespace(&ns)
            .redis_cluster_urls(ports.iter().map(|p| format!("redis://127.0.0.1:{p}")))
            .redis_timeout(Duration::from_secs(5))
            .require_l2(true)
            .bus(false) // the Redis fence alone
            .build()
            .await
            .unwrap()
    };
    let (a, b) = (instance().await, instance().await);
    let (view_a, view_b) = (common::view(&a, "v"), common::view(&b, "v"));
    let fresh = common::view(&instance().await, "v");
    const ROUNDS: u64 = 2_000;
    let mut stale = 0;
    for round in 0..ROUNDS {
        let key = Key::new(round).arg("x");
        let (load, release) = common::race::load_in_flight(&view_b, &key, round).await;
        let pattern = perf_cache::Pattern::new().lit("v").lit(round).any();
        if round % 2 == 0 {
            assert!(a.invalidate_pattern(&pattern).await.is_complete());
            release.notify_one();
        } else {
            let (done, ()) = tokio::join!(a.invalidate_pattern(&pattern), async {
                release.notify_one()
            });
            assert!(done.is_complete());
        }
        assert_eq!(load.await.unwrap(), round);
        if fresh.get(&key).await.is_some() || view_a.get(&key).await.is_some() {
            stale += 1;
        }
    }
    assert_eq!(
        stale, 0,
        "values loaded before a pattern left on the cluster"
    );
    let dropped = view_b.stats().stale_fills_dropped;
    let removed = a.invalidation_stats().l2_removed;
    // A fill written before the epoch moved is removed by the `SCAN`, and may also see the
    // moved epoch and remove it (again): the two overlap.
    assert!(
        dropped + removed >= ROUNDS,
        "dropped {dropped}, removed {removed}"
    );
    assert!(dropped >= ROUNDS / 2, "{dropped}");
    assert_eq!(
        view_b.stats().l2.unwrap().errors,
        0,
        "no cross-slot or script error"
    );
    let mut w = windows.0.lock().unwrap().clone();
    w.sort_unstable();
    // The value at per-mille `q` of the sorted windows.
    let at = |q: usize| {
        w.get(w.len().saturating_sub(1) * q / 1_000)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "cluster fills removed again: {} of {ROUNDS} rounds; readable for at most p50 {} µs, p99 {} µs, max {} µs",
        w.len(),
        at(500),
        at(990),
        at(1_000)
    );
}

/// The cluster bus subscribes through the first seed that answers and, when that node dies,
/// through another seed: losing the first seed node does not lose the bus. A's invalidation
/// (published on a surviving node) still reaches B's L1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_bus_survives_the_loss_of_the_first_seed_node() {
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, ports) = start_cluster(dir.path());
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect();
    let ns = namespace("cluster-seeds");
    let b = perf_cache::Backend::builder()
        .namespace(&ns)
        .redis_cluster_urls(urls.clone())
        .redis_timeout(Duration::from_millis(500))
        .require_l2(true)
        .bus_heartbeat(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    // A publishes through the third node, which survives.
    let a = perf_cache::Backend::builder()
        .namespace(&ns)
        .redis_url(&urls[2])
        .bus_heartbeat(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let name = format!("perf-cache-bus-{:016x}", b.bus_stats().unwrap().instance_id);
    assert_eq!(
        common::clients_named(&urls[0], &name).await.len(),
        1,
        "subscribed through the first seed"
    );

    drop(nodes.remove(0)); // kills the first seed node's process
    let back = common::eventually(1_000, async || {
        let s = b.bus_stats().unwrap();
        s.resyncs >= 1 && s.subscribed
    })
    .await;
    assert!(back, "{:?}", b.bus_stats());
    let elsewhere = common::clients_named(&urls[1], &name).await.len()
        + common::clients_named(&urls[2], &name).await.len();
    assert_eq!(elsewhere, 1, "subscribed again through another seed");

    let (va, vb) = (common::view(&a, "v"), common::view(&b, "v"));
    let key = Key::new(1_u64);
    vb.set(&key, 1).await.unwrap(); // in B's L1 (Redis may be unreachable for its slot)
    assert!(vb.remaining_ttl(&key).await.is_some());
    let before = b.bus_stats().unwrap();
    // A's key invalidation is published whether or not its own Redis write can succeed here
    // (A talks to one node of the cluster as to a standalone server).
    let _ = va.invalidate(&key).await;
    assert!(
        common::eventually(500, async || vb.remaining_ttl(&key).await.is_none()).await,
        "A's invalidation reached B"
    );
    // `applied` is counted once the operation is done, just after the L1 removal seen above.
    assert!(
        common::eventually(500, async || b.bus_stats().unwrap().applied
            > before.applied)
        .await,
        "{:?}",
        b.bus_stats()
    );
    let after = b.bus_stats().unwrap();
    assert_eq!(
        after.resyncs, before.resyncs,
        "by the message, not a resync"
    );
}

/// Tag invalidation on a cluster: entries on every primary carry the tag; `invalidate_tag`
/// (two single-key `INCR`s, each routed to its slot) makes exactly them misses on this
/// instance, on an instance without L1 (reading the cluster) and on a second instance after
/// bus delivery; a load on B racing it never fills; no cross-slot error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tag_invalidation() {
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, ports) = start_cluster(dir.path());
    let ns = namespace("cluster-tags");
    let (a, b) = (cache(&ports, &ns).await, cache(&ports, &ns).await);
    let tagged = |t: &str| perf_cache::SetOptions::default().tags([t.to_owned()]);
    for n in 0..30_u64 {
        let tag = if n % 3 == 0 { "third" } else { "rest" };
        a.set_with(&Key::new(n), n, tagged(tag)).await.unwrap();
        assert_eq!(b.get(&Key::new(n)).await, Some(n));
    }
    assert!(
        keys_per_node(&ports, &ns).await.iter().all(|&k| k > 0),
        "entries on every primary"
    );
    let done = a.backend().invalidate_tag("third").await.unwrap();
    assert!(done.is_complete());
    assert_eq!(done.tag_generation, Some(1));
    let expect: Vec<u64> = (0..30).filter(|n| n % 3 != 0).collect();
    let hits = async |c: &Cache<u64>| {
        let mut out = Vec::new();
        for n in 0..30_u64 {
            if c.get(&Key::new(n)).await.is_some() {
                out.push(n);
            }
        }
        out
    };
    assert_eq!(hits(&a).await, expect);
    let fresh = cache(&ports, &ns).await;
    assert_eq!(hits(&fresh).await, expect, "the cluster's copies");
    let mut seen = false;
    for _ in 0..500 {
        if hits(&b).await == expect {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen, "B kept serving entries tagged `third`");

    for round in 0..50_u64 {
        let key = Key::new("load").arg(round);
        let (started, release, loader) = common::race::gated(round);
        let (bc, k) = (b.clone(), key.clone());
        let opts = perf_cache::LoadOptions::default().tags(["race"]);
        let load =
            tokio::spawn(async move { bc.get_or_load_with(&k, opts, loader).await.unwrap() });
        started.notified().await;
        assert!(
            a.backend()
                .invalidate_tag("race")
                .await
                .unwrap()
                .is_complete()
        );
        release.notify_one();
        assert_eq!(load.await.unwrap(), round);
        assert_eq!(
            cache(&ports, &ns).await.get(&key).await,
            None,
            "round {round}"
        );
    }
    for c in [&a, &b] {
        assert_eq!(
            c.stats().l2.unwrap().errors,
            0,
            "no cross-slot or script error"
        );
    }
}
