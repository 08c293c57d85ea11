//! Tag invalidation against a real Redis: exactly the tagged entries of every view and tier
//! miss afterwards, on one instance and across two; O(1) commands whatever the number of
//! tagged keys; no stale fills when a slow load races `invalidate_tag` (tags given up front
//! and tags the loader picks); a bounded tag table; a bus gap; hostile tags.
#![cfg(all(feature = "redis", feature = "disk"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PrivateRedis, eventually, free_port, namespace, raw, redis_url};
use perf_cache::{Backend, Cache, Key, LoadOptions, Reach, SetOptions, set_result_tags};
use tokio::sync::Notify;

async fn backend(url: &str, ns: &str) -> Backend {
    Backend::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        .redis_timeout(Duration::from_secs(2))
        .bus_heartbeat(Duration::from_millis(100))
        .l1_max_entries(100_000)
        .build()
        .await
        .unwrap()
}

/// A backend without L1 or bus: every read goes to Redis (what another instance would see).
async fn probe(url: &str, ns: &str) -> Backend {
    Backend::builder()
        .namespace(ns)
        .redis_url(url)
        .require_l2(true)
        .redis_timeout(Duration::from_secs(2))
        .bus(false)
        .l1_max_entries(0)
        .build()
        .await
        .unwrap()
}

fn tagged(tags: &[&str]) -> SetOptions {
    SetOptions::default().tags(tags.iter().copied())
}

/// Removes the namespace's keys and its bookkeeping keys (generations, tags).
async fn cleanup(url: &str, ns: &str) {
    common::cleanup(url, ns).await;
    let mut c = raw(url).await;
    let keys: Vec<Vec<u8>> = common::scan(&mut c, format!("{ns}%*").as_str(), 1000).await;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

async fn hits(cache: &Cache<u64>, keys: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut out = Vec::new();
    for k in keys {
        if cache.get(&Key::new(k)).await.is_some() {
            out.push(k);
        }
    }
    out
}

/// Keys 0..20 in two views; even keys of `scans` and key 0 of `reports` tagged `scan:1`, the
/// others `scan:2`. Invalidating `scan:1` removes exactly those 11, from L1, Redis and the
/// disk file, on this instance and (after bus delivery) on another one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_tag_removes_exactly_the_tagged_entries_of_every_view_and_tier() {
    let url = redis_url();
    let ns = namespace("tags-exact");
    let dir = tempfile::tempdir().unwrap();
    let ba = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .redis_timeout(Duration::from_secs(2))
        .disk_path(dir.path().join("a.redb"))
        .bus_heartbeat(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let bb = backend(&url, &ns).await;
    let (scans, reports) = (common::view(&ba, "scans"), common::view(&ba, "reports"));
    for k in 0..20_u64 {
        let tag = if k % 2 == 0 { "scan:1" } else { "scan:2" };
        scans
            .set_with(&Key::new(k), k, tagged(&[tag]))
            .await
            .unwrap();
        let tag = if k == 0 { "scan:1" } else { "scan:2" };
        reports
            .set_with(&Key::new(k), k, tagged(&[tag, "reports"]))
            .await
            .unwrap();
    }
    let (b_scans, b_reports) = (common::view(&bb, "scans"), common::view(&bb, "reports"));
    assert_eq!(
        hits(&b_scans, 0..20).await.len(),
        20,
        "B holds them all in L1"
    );
    assert_eq!(hits(&b_reports, 0..20).await.len(), 20);

    let done = ba.invalidate_tag("scan:1").await.unwrap();
    assert!(done.is_complete());
    assert_eq!((done.l2, done.l3), (Reach::Done, Reach::Done));
    assert_eq!(done.tag_generation, Some(1));
    assert_eq!(ba.invalidation_stats().tags, 1);

    let odd: Vec<u64> = (1..20).step_by(2).collect();
    // A's L1.
    assert_eq!(hits(&scans, 0..20).await, odd);
    assert_eq!(hits(&reports, 0..20).await, (1..20).collect::<Vec<_>>());
    // Redis, as an instance without L1 reads it.
    let p = probe(&url, &ns).await;
    assert_eq!(hits(&common::view(&p, "scans"), 0..20).await, odd);
    assert_eq!(
        hits(&common::view(&p, "reports"), 0..20).await,
        (1..20).collect::<Vec<_>>()
    );
    // The disk file alone: the values leave Redis and A's L1 is emptied by a pattern that
    // matches nothing in Redis; A then reads L3.
    let mut c = raw(&url).await;
    let values: Vec<String> = common::scan(&mut c, format!("{ns}:*").as_str(), 1000).await;
    assert_eq!(
        values.len(),
        40,
        "invalidate_tag deletes nothing: entries miss by generation"
    );
    let _: i64 = redis::cmd("UNLINK")
        .arg(&values)
        .query_async(&mut c)
        .await
        .unwrap();
    let a_cold = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .disk_path(dir.path().join("a.redb"));
    drop((scans, reports));
    drop(ba);
    let ba = build_retrying(a_cold).await;
    let (scans, reports) = (common::view(&ba, "scans"), common::view(&ba, "reports"));
    assert_eq!(hits(&scans, 0..20).await, odd, "L3 checks the generations");
    assert_eq!(hits(&reports, 0..20).await.len(), 19);
    assert_eq!(scans.stats().l3.unwrap().hits, 10);
    // B: after bus delivery.
    assert!(
        eventually(300, async || hits(&b_scans, 0..20).await == odd).await,
        "B's L1 still served entries tagged scan:1"
    );
    assert_eq!(hits(&b_reports, 0..20).await.len(), 19);
    cleanup(&url, &ns).await;
}

/// The disk file of a dropped backend may still be held by a background task for a moment.
async fn build_retrying(b: perf_cache::BackendBuilder) -> Backend {
    for _ in 0..100 {
        if let Ok(backend) = b.clone().build().await {
            return backend;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the disk file was not released");
}

async fn command_calls(c: &mut redis::aio::MultiplexedConnection) -> Vec<(String, u64)> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(c)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// 10,000 tagged keys: `invalidate_tag` sends two `INCR`s (the tag and the tag epoch) and
/// nothing else, touches no value key, and all 10,000 read as misses afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_tag_costs_two_commands_for_ten_thousand_keys() {
    let server = PrivateRedis::start(free_port());
    let url = server.url();
    let ns = namespace("tags-o1");
    let b = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .redis_timeout(Duration::from_secs(2))
        .bus(false)
        .l1_max_entries(20_000)
        .build()
        .await
        .unwrap();
    let cache = common::view(&b, "v");
    let n = 10_000_u64;
    for k in 0..n {
        let tags = if k % 2 == 0 {
            ["big", "even"]
        } else {
            ["big", "odd"]
        };
        cache
            .set_with(&Key::new(k), k, tagged(&tags))
            .await
            .unwrap();
    }
    let mut c = raw(&url).await;
    let dbsize = |c: &mut redis::aio::MultiplexedConnection| {
        let mut c = c.clone();
        async move {
            redis::cmd("DBSIZE")
                .query_async::<u64>(&mut c)
                .await
                .unwrap()
        }
    };
    let keys_before = dbsize(&mut c).await;
    let before = command_calls(&mut c).await;
    assert!(b.invalidate_tag("big").await.unwrap().is_complete());
    let after = command_calls(&mut c).await;
    let delta: Vec<(String, u64)> = after
        .iter()
        .filter(|(name, _)| name != "info")
        .filter_map(|(name, calls)| {
            let was = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, c)| *c);
            (calls > &was).then(|| (name.clone(), calls - was))
        })
        .collect();
    assert_eq!(delta, [("incr".to_owned(), 2)]);
    assert_eq!(
        dbsize(&mut c).await,
        keys_before + 2,
        "no value key written or removed (the tag's and the epoch's counters are new)"
    );
    assert_eq!(hits(&cache, 0..n).await.len(), 0, "this instance's L1");
    let p = probe(&url, &ns).await;
    assert_eq!(hits(&common::view(&p, "v"), 0..n).await.len(), 0, "Redis");
}

/// A loader held until released; it tags its result `tag` itself when `decide` is set.
fn gated(
    value: u64,
    tag: String,
    decide: bool,
) -> (
    Arc<Notify>,
    Arc<Notify>,
    impl FnOnce() -> common::race::Loading + Send + 'static,
) {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    let loader = move || -> common::race::Loading {
        Box::pin(async move {
            s.notify_one();
            r.notified().await;
            if decide {
                assert!(set_result_tags([tag]));
            }
            value
        })
    };
    (started, release, loader)
}

/// Starts a tagged load of `key` on `cache` and waits until its loader runs.
async fn load_in_flight(
    cache: &Cache<u64>,
    key: &Key,
    value: u64,
    decide: bool,
) -> (tokio::task::JoinHandle<u64>, Arc<Notify>) {
    let (started, release, loader) = gated(value, race_tag(value), decide);
    let options = if decide {
        LoadOptions::default()
    } else {
        LoadOptions::default().tags([race_tag(value)])
    };
    let (c, k) = (cache.clone(), key.clone());
    let load = tokio::spawn(async move { c.get_or_load_with(&k, options, loader).await.unwrap() });
    started.notified().await;
    (load, release)
}

/// The tag of round `n`: `race` when given up front (even rounds: the loading instance
/// knows its generation), a new tag when the loader picks it (odd rounds: the loading
/// instance has never seen it, so it can only fetch its generation after the invalidation).
fn race_tag(n: u64) -> String {
    if n.is_multiple_of(2) {
        "race".to_owned()
    } else {
        format!("race-{n}")
    }
}

/// Whether Redis holds, under `<ns>:v:<n>`, an entry stamped with its tag's current
/// generation (one any instance that knows that generation would serve): the envelope's
/// first tag is read from the raw bytes.
async fn redis_serves(c: &mut redis::aio::MultiplexedConnection, ns: &str, n: u64) -> bool {
    let bytes: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("{ns}:v:{n}"))
        .query_async(c)
        .await
        .unwrap();
    let Some(b) = bytes else { return false };
    assert_eq!(u16::from_le_bytes([b[40], b[41]]), 1, "one tag");
    let len = usize::from(u16::from_le_bytes([b[42], b[43]]));
    assert_eq!(&b[44..44 + len], race_tag(n).as_bytes());
    let current: Option<u64> = redis::cmd("GET")
        .arg(format!("{ns}%:t:{}", race_tag(n)))
        .query_async(c)
        .await
        .unwrap();
    let stamped = u64::from_le_bytes(b[44 + len..52 + len].try_into().unwrap());
    stamped == current.unwrap_or(0)
}

/// `rounds` races of a slow load of `loads` against `invalidate_tag` on `invalidator`; after
/// the call returns (and the load finished), `readers` must not serve the load's value, and
/// (with `redis`: URL and namespace) Redis must hold no copy stamped with the tag's current
/// generation. Even rounds: tags given up front; odd rounds: the loader picks them.
async fn race(
    loads: &Cache<u64>,
    invalidator: &Backend,
    readers: &[&Cache<u64>],
    redis: Option<(&str, &str)>,
    rounds: u64,
) {
    let mut conn = match redis {
        Some((url, _)) => Some(raw(url).await),
        None => None,
    };
    let mut stale = 0;
    for round in 0..rounds {
        let key = Key::new(round);
        let (load, release) = load_in_flight(loads, &key, round, round % 2 == 1).await;
        let tag = race_tag(round);
        if round % 4 < 2 {
            let _ = invalidator.invalidate_tag(&tag).await.unwrap();
            release.notify_one();
        } else {
            let invalidate = async { invalidator.invalidate_tag(&tag).await.unwrap() };
            let _ = tokio::join!(invalidate, async { release.notify_one() });
        }
        assert_eq!(load.await.unwrap(), round, "the caller gets its value");
        for r in readers {
            if r.get(&key).await == Some(round) {
                stale += 1;
            }
        }
        if let (Some(c), Some((_, ns))) = (&mut conn, redis)
            && redis_serves(c, ns, round).await
        {
            stale += 1;
        }
    }
    assert_eq!(
        stale, 0,
        "values loaded before invalidate_tag read afterwards"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_racing_invalidate_tag_is_never_readable_afterwards_in_process() {
    let b = Backend::builder()
        .l1_max_entries(100_000)
        .build()
        .await
        .unwrap();
    let cache = common::view(&b, "v");
    race(&cache, &b, &[&cache], None, 10_000).await;
    assert_eq!(b.invalidation_stats().tags, 10_000);
    assert!(cache.stats().stale_fills_dropped >= 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_racing_invalidate_tag_is_never_readable_afterwards_with_redis() {
    let url = redis_url();
    let ns = namespace("tags-race1");
    let b = backend(&url, &ns).await;
    let cache = common::view(&b, "v");
    race(&cache, &b, &[&cache], Some((&url, &ns)), 1_000).await;
    // A new instance (its tag table fetched now) reads none of them from Redis.
    let p = probe(&url, &ns).await;
    assert_eq!(hits(&common::view(&p, "v"), 0..1_000).await.len(), 0);
    cleanup(&url, &ns).await;
}

/// Loads on B, `invalidate_tag` on A: after A's call returns, A never serves B's value,
/// Redis holds no copy of it stamped with the tag's current generation, and B's own L1 stops
/// serving it once the bus delivered A's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_load_on_another_instance_racing_invalidate_tag_is_never_readable_afterwards() {
    let url = redis_url();
    let ns = namespace("tags-race2");
    let (ba, bb) = (backend(&url, &ns).await, backend(&url, &ns).await);
    let (a, b) = (common::view(&ba, "v"), common::view(&bb, "v"));
    race(&b, &ba, &[&a], Some((&url, &ns)), 500).await;
    let p = probe(&url, &ns).await;
    assert_eq!(hits(&common::view(&p, "v"), 0..500).await.len(), 0, "Redis");
    // B's L1, once the bus delivered the last message: none of the 500 values.
    let last = ba.invalidation_stats().tags;
    assert_eq!(last, 500);
    assert!(
        eventually(300, async || hits(&b, 0..500).await.is_empty()).await,
        "B's L1 kept a value loaded before A's invalidate_tag"
    );
    cleanup(&url, &ns).await;
}

/// A tag table of 100 tags, 300 entries with a tag each: the table evicts, entries whose
/// tag was evicted are fetched again (never served on a stale generation), and tags
/// invalidated by another instance while evicted here are seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_tag_table_never_serves_a_stale_hit() {
    // Without Redis: an evicted tag's entries are misses (its generation is this process's).
    let local = Backend::builder()
        .tag_table_size(100)
        .build()
        .await
        .unwrap();
    let cache = common::view(&local, "v");
    for k in 0..300_u64 {
        let tag = format!("t{k}");
        cache
            .set_with(&Key::new(k), k, tagged(&[&tag]))
            .await
            .unwrap();
    }
    assert_eq!(local.tag_table(), (100, 200));
    assert_eq!(hits(&cache, 0..300).await, (200..300).collect::<Vec<_>>());
    let _ = local.invalidate_tag("t250").await.unwrap();
    assert_eq!(hits(&cache, 200..300).await.len(), 99);

    // With Redis: A holds 100 tags; B invalidates half of the 300 tags (A hears of those it
    // holds, the others it has forgotten and fetches again).
    let url = redis_url();
    let ns = namespace("tags-bound");
    let ba = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .redis_timeout(Duration::from_secs(2))
        .tag_table_size(100)
        .l1_max_entries(10_000)
        .build()
        .await
        .unwrap();
    let bb = backend(&url, &ns).await;
    let a = common::view(&ba, "v");
    for k in 0..300_u64 {
        let tag = format!("t{k}");
        a.set_with(&Key::new(k), k, tagged(&[&tag])).await.unwrap();
    }
    for k in (0..300_u64).step_by(2) {
        let _ = bb.invalidate_tag(&format!("t{k}")).await.unwrap();
    }
    let odd: Vec<u64> = (1..300).step_by(2).collect();
    assert!(
        eventually(300, async || hits(&a, 0..300).await == odd).await,
        "A served an entry whose tag B invalidated"
    );
    let (held, evicted) = ba.tag_table();
    assert_eq!(held, 100);
    assert!(evicted >= 200, "{evicted}");
    cleanup(&url, &ns).await;
}

/// B's subscriber is killed and A invalidates a tag meanwhile: the message is lost, B
/// resyncs (its tag table is dropped) and does not serve the entry from L1 or Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidation_missed_during_a_bus_gap_is_not_served() {
    let url = redis_url();
    let ns = namespace("tags-gap");
    let (ba, bb) = (backend(&url, &ns).await, backend(&url, &ns).await);
    let (a, b) = (common::view(&ba, "v"), common::view(&bb, "v"));
    let key = Key::new(1_u64);
    a.set_with(&key, 1, tagged(&["gap"])).await.unwrap();
    assert_eq!(
        b.get(&key).await,
        Some(1),
        "B knows the tag's generation now"
    );
    let name = format!(
        "perf-cache-bus-{:016x}",
        bb.bus_stats().unwrap().instance_id
    );
    let line = common::clients_named(&url, &name).await;
    let id: i64 = line
        .first()
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .and_then(|id| id.parse().ok())
        .expect("B's subscriber is in CLIENT LIST");
    let mut c = raw(&url).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    assert!(ba.invalidate_tag("gap").await.unwrap().is_complete());
    assert!(eventually(500, async || bb.bus_stats().unwrap().resyncs >= 1).await);
    let l2_hits = b.stats().l2.unwrap().hits;
    assert_eq!(
        b.get(&key).await,
        None,
        "B served an entry of an invalidated tag"
    );
    assert_eq!(
        b.stats().l2.unwrap().hits,
        l2_hits,
        "the Redis copy read as a miss too"
    );
    assert_eq!(
        b.stats().l2.unwrap().hits,
        1,
        "only the read before the gap"
    );
    cleanup(&url, &ns).await;
}

/// Tags with glob characters, `%`, `:` or braces are literal: invalidating `a*` leaves `ab`
/// alone; each tag has its own counter; bad tags are refused naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tags_are_literal_or_refused() {
    let url = redis_url();
    let ns = namespace("tags-hostile");
    let b = backend(&url, &ns).await;
    let cache = common::view(&b, "v");
    let tags = ["a*", "ab", "%", "x:y", "{h}", "[a]b", "?", "\\"];
    for (k, tag) in tags.iter().enumerate() {
        let k = k as u64;
        cache
            .set_with(&Key::new(k), k, tagged(&[tag]))
            .await
            .unwrap();
    }
    for (k, tag) in tags.iter().enumerate() {
        let _ = b.invalidate_tag(tag).await.unwrap();
        let left = hits(&cache, 0..tags.len() as u64).await;
        assert_eq!(
            left,
            ((k as u64 + 1)..tags.len() as u64).collect::<Vec<_>>(),
            "{tag}"
        );
    }
    let mut c = raw(&url).await;
    let mut counters: Vec<String> = common::scan(&mut c, format!("{ns}%:t:*").as_str(), 1000).await;
    counters.sort();
    assert_eq!(counters.len(), tags.len(), "{counters:?}");
    assert!(counters.iter().all(|k| k.starts_with(&format!("{ns}%:t:"))));

    for bad in ["".to_owned(), "x".repeat(10 * 1024), "a\u{7}".to_owned()] {
        let err = b.invalidate_tag(&bad).await.unwrap_err();
        assert!(err.to_string().contains("tags"), "{err}");
        let err = cache
            .set_with(&Key::new(99_u64), 1, tagged(&[&bad]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("1 to 128 bytes"), "{err}");
    }
    let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    let err = cache
        .set_with(&Key::new(99_u64), 1, SetOptions::default().tags(many))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 32"), "{err}");
    assert_eq!(cache.get(&Key::new(99_u64)).await, None);
    cleanup(&url, &ns).await;
}

/// Loader-chosen tags and TTL, invalid ones (not cached), groups with tags, and the L1-only
/// backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_tags_options_and_groups() {
    let url = redis_url();
    let ns = namespace("tags-loader");
    let b = backend(&url, &ns).await;
    let cache = common::view(&b, "v");
    let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let load = |k: u64, tags: Vec<String>| {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        async move {
            cache
                .get_or_load_with(
                    &Key::new(k),
                    LoadOptions::default().ttl(Duration::from_secs(30)),
                    move || async move {
                        runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        set_result_tags(tags);
                        k
                    },
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(load(1, vec!["org:1".into()]).await, 1);
    assert_eq!(load(1, vec!["org:1".into()]).await, 1);
    assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 1, "cached");
    assert!(cache.remaining_ttl(&Key::new(1_u64)).await.unwrap() <= Duration::from_secs(30));
    let _ = b.invalidate_tag("org:1").await.unwrap();
    assert_eq!(load(1, vec!["org:1".into()]).await, 1);
    assert_eq!(
        runs.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "invalidated"
    );
    // An invalid tag: returned, not cached.
    assert_eq!(load(2, vec![String::new()]).await, 2);
    assert_eq!(load(2, vec![String::new()]).await, 2);
    assert_eq!(runs.load(std::sync::atomic::Ordering::Relaxed), 4);
    // A group with a tag and a key.
    cache
        .set_with(&Key::new(3_u64), 3, tagged(&["g"]))
        .await
        .unwrap();
    cache.set(&Key::new(4_u64), 4).await.unwrap();
    let group = perf_cache::InvalidationGroup::new()
        .tag("g")
        .key(&Key::new("v").arg(4_u64));
    assert!(b.invalidate_group(&group).await.is_complete());
    assert_eq!(hits(&cache, 3..5).await, Vec::<u64>::new());
    assert_eq!(
        (b.invalidation_stats().groups, b.invalidation_stats().tags),
        (1, 1)
    );
    cleanup(&url, &ns).await;
}

/// Without the bus nothing pushes generations: another instance re-reads a tag it holds once
/// its copy is older than 1 s, so its reads of Redis stop serving the tag's entries (its L1
/// copies follow like any invalidation without the bus: within `l1_ttl`; here it has none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_bus_held_generations_are_read_again() {
    let url = redis_url();
    let ns = namespace("tags-nobus");
    let no_bus = || {
        Backend::builder()
            .namespace(&ns)
            .redis_url(&url)
            .require_l2(true)
            .redis_timeout(Duration::from_secs(2))
            .bus(false)
    };
    let a = no_bus().build().await.unwrap();
    let b = no_bus().l1_max_entries(0).build().await.unwrap();
    let (va, vb) = (common::view(&a, "v"), common::view(&b, "v"));
    va.set_with(&Key::new(1_u64), 1, tagged(&["nb"]))
        .await
        .unwrap();
    assert_eq!(
        vb.get(&Key::new(1_u64)).await,
        Some(1),
        "B holds generation 0"
    );
    assert!(a.invalidate_tag("nb").await.unwrap().is_complete());
    assert!(
        eventually(300, async || vb.get(&Key::new(1_u64)).await.is_none()).await,
        "B kept serving the tag's entry from Redis"
    );
    assert_eq!(va.get(&Key::new(1_u64)).await, None);
    cleanup(&url, &ns).await;
}
