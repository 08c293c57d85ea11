//! L2 on a private three-primary Redis Cluster (started with redis-server + redis-cli).
#![cfg(feature = "redis-cluster")]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, namespace, require_binary};
use perf_cache::{Cache, Key};

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_cluster(dir: &std::path::Path) -> (Vec<Node>, Vec<u16>) {
    require_binary("redis-server", "redis-server");
    require_binary("redis-cli", "redis-tools");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nodes: Vec<Node> = ports
        .iter()
        .map(|port| {
            let p = port.to_string();
            Node(
                Command::new("redis-server")
                    .args([
                        "--port",
                        &p,
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                    ])
                    .args([
                        "--cluster-config-file",
                        &format!("nodes-{p}.conf"),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ])
                    .current_dir(dir)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start redis-server: {e}")),
            )
        })
        .collect();
    for port in &ports {
        let mut up = false;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(up, "cluster node on {port} did not start");
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("redis-cli is needed for the cluster test: {e}"));
    assert!(status.success(), "redis-cli --cluster create failed");
    for port in &ports {
        let mut ok = false;
        for _ in 0..250 {
            let out = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "cluster", "info"])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok") {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        assert!(ok, "cluster not ready on {port}");
    }
    (nodes, ports)
}

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
    // an MGET sent across slots would fail (CROSSSLOT) and read as misses and errors.
    let reader = cache(&ports, &ns).await;
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
        let load = tokio::spawn(async move { bc.get_or_load_with(&k, opts, loader).await });
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
