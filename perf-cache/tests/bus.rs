//! Two instances (two backends with separate L1s sharing one Redis): no stale fills in Redis,
//! and L1 coherence through the invalidation bus, including when the bus breaks.
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use common::{PrivateRedis, cleanup, eventually, free_port, namespace, raw, redis_url};
use perf_cache::{Backend, Cache, Key};

async fn backend(url: &str, ns: &str, bus: bool) -> Backend {
    Backend::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        .bus(bus)
        .bus_heartbeat(Duration::from_millis(100))
        .redis_timeout(Duration::from_millis(200))
        .build()
        .await
        .unwrap()
}

/// A backend whose writes wait at most `confirm` for the other instances' confirmations.
async fn confirming(url: &str, ns: &str, confirm: Duration) -> Backend {
    Backend::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        .bus_confirm_timeout(confirm)
        .build()
        .await
        .unwrap()
}

fn view(backend: &Backend) -> Cache<u64> {
    common::view(backend, "v")
}

/// A load on B that began before A's invalidation (or set) never writes its value into
/// Redis afterwards. The bus is off, so only the compare-and-set in Redis stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_began_before_another_instances_invalidation_never_fills_redis() {
    let url = redis_url();
    let ns = namespace("bus-fence");
    let a = view(&backend(&url, &ns, false).await);
    let b = view(&backend(&url, &ns, false).await);
    // A third instance with no L1: reads what Redis serves.
    let probe_backend = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .bus(false)
        .l1_max_entries(0)
        .build()
        .await
        .unwrap();
    let probe = view(&probe_backend);
    let mut conn = raw(&url).await;
    let rounds = 300_u64;
    let mut stale = 0;
    for round in 0..rounds {
        let key = Key::new(round);
        let stored = format!("{ns}:v:{round}");
        let (load, release) = common::race::load_in_flight(&b, &key, round).await;
        let set = round % 2 == 1;
        if set {
            a.set(&key, u64::MAX).await.unwrap();
        } else {
            assert!(a.invalidate(&key).await.is_complete());
        }
        release.notify_one();
        assert_eq!(load.await.unwrap(), round, "B's caller gets its value");
        let raw_value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&stored)
            .query_async(&mut conn)
            .await
            .unwrap();
        let now = probe.get(&key).await;
        if set {
            if now != Some(u64::MAX) {
                stale += 1;
            }
        } else if raw_value.is_some() {
            stale += 1;
        }
        // B itself does not keep the refused value either.
        if b.get(&key).await == Some(round) {
            stale += 1;
        }
    }
    assert_eq!(stale, 0);
    assert_eq!(b.stats().stale_fills_dropped, rounds);
    cleanup(&url, &ns).await;
}

/// A write or an invalidation on A reaches B's L1 over the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_or_invalidation_on_a_reaches_b_after_delivery() {
    let url = redis_url();
    let ns = namespace("bus-coherence");
    let (ba, bb) = (
        backend(&url, &ns, true).await,
        backend(&url, &ns, true).await,
    );
    let (a, b) = (view(&ba), view(&bb));
    assert_ne!(
        ba.bus_stats().unwrap().instance_id,
        bb.bus_stats().unwrap().instance_id
    );
    let key = Key::new(1_u64);
    a.set(&key, 1).await.unwrap();
    assert_eq!(b.get(&key).await, Some(1), "B reads Redis, keeps 1 in L1");

    a.set(&key, 2).await.unwrap();
    assert!(
        eventually(500, async || b.get(&key).await == Some(2)).await,
        "B still serves 1 from its L1"
    );

    let _ = a.invalidate(&key).await;
    assert!(eventually(500, async || b.get(&key).await.is_none()).await);

    b.set(&key, 3).await.unwrap();
    assert_eq!(a.get(&key).await, Some(3));
    let _ = b.invalidate_all().await;
    assert!(eventually(500, async || a.get(&key).await.is_none()).await);

    let (sa, sb) = (ba.bus_stats().unwrap(), bb.bus_stats().unwrap());
    assert!(sb.applied >= 2, "{sb:?}");
    assert!(sa.applied >= 1, "{sa:?}");
    assert_eq!((sa.resyncs, sb.resyncs), (0, 0));
    cleanup(&url, &ns).await;
}

/// Read-your-writes across instances: once a write or an invalidation on A returned, the
/// very first read on B and on C (no waiting, no retry) sees it, although both held the old
/// value in L1 and B is kept busy by readers meanwhile. Every kind of write, 300 rounds; the
/// reports count the three subscribers (A's own included) and three confirmations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_a_write_returns_the_first_read_on_every_other_instance_sees_it() {
    use perf_cache::{Pattern, SetOptions};
    let url = redis_url();
    let ns = namespace("bus-confirm");
    let (ba, bb, bc) = (
        backend(&url, &ns, true).await,
        backend(&url, &ns, true).await,
        backend(&url, &ns, true).await,
    );
    let (a, b, c) = (view(&ba), view(&bb), view(&bc));
    // Readers on B's L1 all along, so B's subscriber competes with them for the 2 cores.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..4_u64)
        .map(|n| {
            let (b, stop) = (b.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = b.get(&Key::new(10_000 + n)).await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let (mut stale, rounds) = (Vec::new(), 300_u64);
    for round in 0..rounds {
        let key = Key::new(round);
        let tagged = SetOptions::default().tags([format!("t{round}")]);
        a.set_with(&key, round, tagged).await.unwrap();
        // Both keep `round` in L1 (read from Redis, then from L1).
        for reader in [&b, &c] {
            assert_eq!(reader.get(&key).await, Some(round));
            assert_eq!(reader.get(&key).await, Some(round));
        }
        let expected = match round % 5 {
            0 => {
                a.set(&key, round + 1).await.unwrap();
                Some(round + 1)
            }
            1 => {
                let done = a.invalidate(&key).await;
                assert_eq!((done.bus_reached, done.bus_confirmed), (3, 3), "{done:?}");
                None
            }
            2 => {
                let p = Pattern::new().lit("v").lit(round);
                let done = ba.invalidate_pattern(&p).await;
                assert!(done.is_confirmed() && done.bus_reached == 3, "{done:?}");
                None
            }
            3 => {
                let done = ba.invalidate_tag(&format!("t{round}")).await.unwrap();
                assert_eq!((done.bus_reached, done.bus_confirmed), (3, 3), "{done:?}");
                None
            }
            _ => {
                let done = a.invalidate_all().await;
                assert!(done.is_confirmed() && done.bus_reached == 3, "{done:?}");
                None
            }
        };
        for (name, reader) in [("B", &b), ("C", &c)] {
            let seen = reader.get(&key).await;
            if seen != expected {
                stale.push((round, name, seen));
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in busy {
        task.await.unwrap();
    }
    assert!(
        stale.is_empty(),
        "{} first reads after the write returned saw the old value, e.g. (round, instance, \
         value) {:?}",
        stale.len(),
        &stale[..stale.len().min(6)]
    );
    for s in [&ba, &bb, &bc].map(|x| x.bus_stats().unwrap()) {
        assert_eq!(
            (s.unconfirmed, s.resyncs, s.publish_failures),
            (0, 0, 0),
            "{s:?}"
        );
    }
    cleanup(&url, &ns).await;
}

/// A subscriber that never confirms (an older version, a frozen process): the write waits
/// out `bus_confirm_timeout`, returns, and says so; once it is gone, writes are confirmed
/// again. With the timeout zero nothing is waited for or counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_confirms_is_waited_for_then_reported() {
    let url = redis_url();
    let ns = namespace("bus-unconfirmed");
    let ba = confirming(&url, &ns, Duration::from_millis(150)).await;
    let bb = backend(&url, &ns, true).await;
    let (a, b) = (view(&ba), view(&bb));
    let key = Key::new(1_u64);
    a.set(&key, 1).await.unwrap();
    assert_eq!(b.get(&key).await, Some(1));

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut silent = client.get_async_pubsub().await.unwrap();
    silent.subscribe(format!("{ns}%:bus")).await.unwrap();
    let done = a.invalidate(&key).await;
    assert!(done.is_complete(), "{done:?}");
    assert_eq!((done.bus_reached, done.bus_confirmed), (3, 2), "{done:?}");
    assert!(!done.is_confirmed());
    assert_eq!(ba.bus_stats().unwrap().unconfirmed, 1);
    // The instances that confirmed did apply it.
    assert_eq!(b.get(&key).await, None);

    drop(silent);
    assert!(
        eventually(200, async || { a.invalidate(&key).await.bus_reached == 2 }).await,
        "Redis dropped the silent subscriber"
    );
    let done = a.invalidate(&key).await;
    assert_eq!((done.bus_reached, done.bus_confirmed), (2, 2), "{done:?}");
    assert_eq!(
        ba.bus_stats().unwrap().unconfirmed,
        1,
        "nothing else went unconfirmed"
    );

    let off = confirming(&url, &ns, Duration::ZERO).await;
    let done = view(&off).invalidate(&key).await;
    assert_eq!((done.bus_reached, done.bus_confirmed), (0, 0), "{done:?}");
    assert!(done.is_confirmed());
    // An unwrapped announcement is still applied by the others.
    b.set(&key, 5).await.unwrap();
    assert_eq!(a.get(&key).await, Some(5));
    let _ = view(&off).invalidate(&key).await;
    assert!(eventually(500, async || b.get(&key).await.is_none()).await);
    cleanup(&url, &ns).await;
}

/// The id of the connection named `name` in `CLIENT LIST`.
async fn client_id(url: &str, name: &str) -> Option<i64> {
    common::clients_named(url, name)
        .await
        .first()
        .and_then(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .and_then(|id| id.parse().ok())
        })
}

/// B's subscriber is killed, then A invalidates: the message is lost, but B resyncs and
/// does not serve the old value afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_subscriber_never_leaves_a_stale_l1() {
    let url = redis_url();
    let ns = namespace("bus-kill");
    let (ba, bb) = (
        backend(&url, &ns, true).await,
        backend(&url, &ns, true).await,
    );
    let (a, b) = (view(&ba), view(&bb));
    let key = Key::new(7_u64);
    a.set(&key, 1).await.unwrap();
    assert_eq!(b.get(&key).await, Some(1));

    let name = format!(
        "perf-cache-bus-{:016x}",
        bb.bus_stats().unwrap().instance_id
    );
    let id = client_id(&url, &name)
        .await
        .expect("B's subscriber is in CLIENT LIST under its name");
    let mut c = raw(&url).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    let _ = a.invalidate(&key).await;

    assert!(
        eventually(500, async || bb.bus_stats().unwrap().resyncs >= 1).await,
        "B noticed the gap"
    );
    assert_eq!(b.get(&key).await, None, "B served the value A invalidated");
    // B subscribes again, under the same name, and follows A again.
    assert!(eventually(500, async || bb.bus_stats().unwrap().subscribed).await);
    assert!(client_id(&url, &name).await.is_some());
    a.set(&key, 5).await.unwrap();
    assert_eq!(b.get(&key).await, Some(5));
    a.set(&key, 6).await.unwrap();
    assert!(eventually(500, async || b.get(&key).await == Some(6)).await);
    cleanup(&url, &ns).await;
}

/// A frozen Redis sends no disconnect: B notices the silence after the heartbeat gap and
/// empties its L1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_makes_b_drop_its_l1_after_the_heartbeat_gap() {
    let server = PrivateRedis::start(free_port());
    let url = server.url();
    let ns = namespace("bus-frozen");
    let bb = backend(&url, &ns, true).await;
    let b = view(&bb);
    for n in 0..10_u64 {
        b.set(&Key::new(n), n).await.unwrap();
    }
    assert_eq!(bb.l1_entries(), 10);
    assert!(eventually(500, async || bb.bus_stats().unwrap().received >= 2).await);

    server.signal("STOP");
    let gap = eventually(1_000, async || bb.bus_stats().unwrap().resyncs >= 1).await;
    let entries = bb.l1_entries();
    let subscribed = bb.bus_stats().unwrap().subscribed;
    server.signal("CONT");
    assert!(gap, "B never noticed the silence");
    assert_eq!(entries, 0, "B kept its L1 through the gap");
    assert!(!subscribed);
    // Once Redis answers again, B subscribes again.
    assert!(eventually(1_000, async || bb.bus_stats().unwrap().subscribed).await);
}

/// The wire format, written independently of the crate: `P`, version 1, origin, send time,
/// then the postcard operation (variant index, then length-prefixed strings).
fn message(op_variant: u8, strings: &[&str]) -> Vec<u8> {
    let mut m = vec![b'P', 1];
    m.extend_from_slice(&0x0123_4567_89ab_cdef_u64.to_le_bytes());
    m.extend_from_slice(&0_u64.to_le_bytes());
    m.push(op_variant);
    for s in strings {
        m.push(u8::try_from(s.len()).unwrap()); // < 128: a one-byte varint
        m.extend_from_slice(s.as_bytes());
    }
    m
}

/// Operations another instance publishes (a pattern, an operation this version does not
/// know, garbage) are applied exactly: the matching L1 entries go, an unknown operation
/// resyncs, garbage is counted and ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_pattern_unknown_and_foreign_messages() {
    let url = redis_url();
    let ns = namespace("bus-ops");
    let bb = backend(&url, &ns, true).await;
    let users = common::view(&bb, "user");
    let orders = common::view(&bb, "order");
    for n in 1..=3_u64 {
        users.set(&Key::new(n), n).await.unwrap();
        orders.set(&Key::new(n), n).await.unwrap();
    }
    assert_eq!(bb.l1_entries(), 6);
    let mut c = raw(&url).await;
    let channel = format!("{ns}%:bus");
    let mut publish = async |bytes: Vec<u8>| {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(bytes)
            .query_async(&mut c)
            .await
            .unwrap();
    };

    let before = bb.bus_stats().unwrap().undecodable;
    publish(b"not a bus message".to_vec()).await;
    assert!(eventually(500, async || bb.bus_stats().unwrap().undecodable > before).await);
    assert_eq!(bb.l1_entries(), 6, "garbage changed nothing");

    // Variant 3: Pattern { space, pattern } over stored keys, Redis glob semantics.
    let pattern = format!("{ns}:user:[12]");
    publish(message(3, &[&ns, &pattern])).await;
    assert!(eventually(500, async || bb.l1_entries() == 4).await);
    let mut kept = Vec::new();
    for n in 1..=3_u64 {
        kept.push((
            users.get(&Key::new(n)).await,
            orders.get(&Key::new(n)).await,
        ));
    }
    // user:1 and user:2 were reloaded from Redis (still there: only L1 was told).
    assert_eq!(bb.l1_entries(), 6);
    assert_eq!(users.stats().l2.unwrap().hits, 2, "exactly two L1 misses");
    assert_eq!(orders.stats().l2.unwrap().hits, 0);
    assert!(kept.iter().all(|(u, o)| u.is_some() && o.is_some()));

    // An operation from a newer version: everything is dropped rather than missed.
    publish(message(200, &[])).await;
    assert!(eventually(500, async || bb.l1_entries() == 0).await);
    cleanup(&url, &ns).await;
}

/// After a gap of the bus, L3 entries written before it read as misses (an invalidation
/// may have been missed meanwhile); entries written after it are served again.
#[cfg(feature = "disk")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_gap_older_disk_entries_are_distrusted() {
    let url = redis_url();
    let ns = namespace("bus-l3");
    let dir = tempfile::tempdir().unwrap();
    let bb = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .disk_path(dir.path().join("b.redb"))
        .l1_max_entries(0) // every read goes to Redis, then the disk
        .bus_heartbeat(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let b = view(&bb);
    let key = Key::new(1_u64);
    let stored = format!("{ns}:v:1");
    let mut c = raw(&url).await;
    let unlink = async |c: &mut redis::aio::MultiplexedConnection| {
        let _: i64 = redis::cmd("UNLINK")
            .arg(&stored)
            .query_async(c)
            .await
            .unwrap();
    };

    b.set(&key, 1).await.unwrap();
    unlink(&mut c).await;
    assert_eq!(b.get(&key).await, Some(1), "served from the disk");

    let name = format!(
        "perf-cache-bus-{:016x}",
        bb.bus_stats().unwrap().instance_id
    );
    let id = client_id(&url, &name).await.unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(eventually(500, async || bb.bus_stats().unwrap().resyncs >= 1).await);
    assert_eq!(
        b.get(&key).await,
        None,
        "a disk entry from before the gap was served"
    );

    assert!(eventually(500, async || bb.bus_stats().unwrap().subscribed).await);
    b.set(&key, 2).await.unwrap();
    unlink(&mut c).await;
    assert_eq!(b.get(&key).await, Some(2), "written after the gap: trusted");
    cleanup(&url, &ns).await;
}

/// A backend on a `ConnectionManager` of the caller's has a bus only when given a client to
/// subscribe with (`bus_redis_client`); then invalidations flow both ways. Without one it
/// has none, and says so once at build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_manager_backend_gets_a_bus_from_bus_redis_client() {
    let url = redis_url();
    let ns = namespace("bus-manager");
    let client = redis::Client::open(url.as_str()).unwrap();
    let manager = || async {
        redis::aio::ConnectionManager::new(client.clone())
            .await
            .unwrap()
    };
    let (capture, guard) = common::capture::Capture::install();
    let without = Backend::builder()
        .namespace(&ns)
        .redis_connection_manager(manager().await)
        .build()
        .await
        .unwrap();
    drop(guard);
    assert_eq!(without.bus_stats(), None);
    let warned: Vec<String> = capture
        .lines()
        .into_iter()
        .filter(|l| l.contains("no invalidation bus") && l.contains("bus_redis_client"))
        .collect();
    assert_eq!(warned.len(), 1, "{:?}", capture.lines());

    let a = Backend::builder()
        .namespace(&ns)
        .redis_connection_manager(manager().await)
        .bus_redis_client(client.clone())
        .bus_heartbeat(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let b = backend(&url, &ns, true).await;
    let stats = a.bus_stats().expect("a bus");
    assert!(stats.subscribed);
    let name = format!("perf-cache-bus-{:016x}", stats.instance_id);
    assert_eq!(
        common::clients_named(&url, &name).await.len(),
        1,
        "its own subscriber"
    );
    let (va, vb) = (view(&a), view(&b));
    let key = Key::new(1_u64);
    // B holds 1 in L1; A's invalidation reaches it.
    vb.set(&key, 1).await.unwrap();
    assert!(va.invalidate(&key).await.is_complete());
    assert!(eventually(500, async || vb.remaining_ttl(&key).await.is_none()).await);
    // A holds 2 in L1; B's write reaches it (A then reads 3 from Redis).
    va.set(&key, 2).await.unwrap();
    vb.set(&key, 3).await.unwrap();
    assert!(eventually(500, async || va.get(&key).await == Some(3)).await);
    assert_eq!(a.bus_stats().unwrap().resyncs, 0);
    assert!(a.bus_stats().unwrap().applied >= 1);
    cleanup(&url, &ns).await;
}
