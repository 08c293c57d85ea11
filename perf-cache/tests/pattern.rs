//! Pattern invalidation against a real Redis: the matcher agrees with `SCAN MATCH`, every tier
//! removes exactly the matching keys, user values cannot widen a pattern, bookkeeping keys are
//! out of reach, and an invalidation that missed Redis is replayed before L2 is read again.
#![cfg(feature = "redis")]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{PrivateRedis, free_port, namespace, redis_url};
use perf_cache::{Backend, Cache, InvalidationGroup, Key, Pattern, Reach};
use proptest::prelude::*;

/// Every stored key under `prefix` (`SCAN MATCH <prefix>*`, prefix without metacharacters).
async fn stored(url: &str, prefix: &str) -> BTreeSet<Vec<u8>> {
    let mut conn = common::raw(url).await;
    common::scan(&mut conn, format!("{prefix}*").as_str(), 1_000)
        .await
        .into_iter()
        .collect()
}

/// `SCAN MATCH <pattern>` over the whole database.
async fn scan_match(conn: &mut redis::aio::MultiplexedConnection, pattern: &[u8]) -> Vec<Vec<u8>> {
    common::scan(conn, pattern, 10_000).await
}

/// Bytes that exercise every rule of the glob: metacharacters, `^`, `-`, the separator, and
/// bytes above 0x7F (signed `char` ranges).
const ALPHABET: &[u8] = b"ab:*?[]\\^-\x80\xff";

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 0..=max)
}

/// One piece of a glob: a raw byte, a wildcard, an escape, or a class (negated or not, with
/// single bytes and ranges in either order, terminated or not).
fn piece() -> impl Strategy<Value = Vec<u8>> {
    let byte = || proptest::sample::select(ALPHABET);
    let class_item = prop_oneof![
        byte().prop_map(|b| vec![b]),
        (byte(), byte()).prop_map(|(a, b)| vec![a, b'-', b]),
        byte().prop_map(|b| vec![b'\\', b]),
    ];
    prop_oneof![
        byte().prop_map(|b| vec![b]),
        Just(b"*".to_vec()),
        Just(b"?".to_vec()),
        byte().prop_map(|b| vec![b'\\', b]),
        (
            any::<bool>(),
            proptest::collection::vec(class_item, 0..3),
            any::<bool>()
        )
            .prop_map(|(negated, items, closed)| {
                let mut class = vec![b'['];
                if negated {
                    class.push(b'^');
                }
                class.extend(items.concat());
                if closed {
                    class.push(b']');
                }
                class
            }),
    ]
}

/// Raw byte strings (any byte sequence is a glob) and globs assembled from pieces.
fn glob() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes(7),
        proptest::collection::vec(piece(), 0..5).prop_map(|pieces| pieces.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random keys and random globs: the crate's matcher (the one L1 and the disk use)
    /// selects exactly the keys a real Redis `SCAN MATCH` selects.
    #[test]
    fn matcher_selects_exactly_what_redis_scan_match_selects(
        keys in proptest::collection::btree_set(bytes(6), 1..24),
        globs in proptest::collection::vec(glob(), 1..16),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let url = redis_url();
            let ns = namespace("glob-prop");
            let mut conn = common::raw(&url).await;
            let head = format!("{ns}:").into_bytes();
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("SET").arg([head.as_slice(), key].concat()).arg(1).arg("EX").arg(60).ignore();
            }
            let () = pipe.query_async(&mut conn).await.unwrap();
            for glob in &globs {
                let pattern = Pattern::new().glob(glob);
                let redis: BTreeSet<Vec<u8>> = scan_match(&mut conn, &[head.as_slice(), glob].concat())
                    .await
                    .into_iter()
                    .map(|k| k[head.len()..].to_vec())
                    .collect();
                let ours: BTreeSet<Vec<u8>> = keys.iter().filter(|k| pattern.matches(k)).cloned().collect();
                assert_eq!(
                    ours, redis,
                    "glob {:?} over keys {:?}",
                    String::from_utf8_lossy(glob),
                    keys.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect::<Vec<_>>()
                );
            }
            let ours: Vec<Vec<u8>> = keys.iter().map(|k| [head.as_slice(), k].concat()).collect();
            let _: i64 = redis::cmd("UNLINK").arg(ours).query_async(&mut conn).await.unwrap();
        });
    }
}

#[cfg(feature = "disk")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tier_removes_exactly_the_matching_keys() {
    let url = redis_url();
    let ns = namespace("pattern-tiers");
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .disk_path(dir.path().join("l3.redb"))
        .l1_max_entries(10_000)
        .build()
        .await
        .unwrap();
    let scans = common::view(&backend, "scans");
    let reports = common::view(&backend, "reports");
    // 30 scans × 3 result pages, plus summaries and reports, 1,500 keys in all... kept small
    // enough to check key by key.
    for scan in 0..30_u64 {
        for page in 0..3_u64 {
            let k = Key::new("get_scan_results").arg(scan).arg(page);
            scans.set(&k, scan * 10 + page).await.unwrap();
        }
        scans
            .set(&Key::new("get_scan_summary").arg(scan).arg("v1"), scan)
            .await
            .unwrap();
        reports
            .set(&Key::new("pdf").arg(scan).arg("en"), scan)
            .await
            .unwrap();
        reports
            .set(&Key::new("csv").arg("x").arg(scan).arg("en"), scan)
            .await
            .unwrap();
    }
    let before = stored(&url, &format!("{ns}:")).await;
    assert_eq!(before.len(), 30 * 6);

    // Scan 7 and every scan 1x: `scans:get_scan_results:1?:*` plus `reports:*:7:*`.
    let group = InvalidationGroup::new()
        .pattern(
            Pattern::new()
                .lit("scans")
                .lit("get_scan_results")
                .glob("1?")
                .any(),
        )
        .pattern(Pattern::new().lit("reports").any().lit(7_u64).any());
    let expected: BTreeSet<Vec<u8>> = before
        .iter()
        .filter(|k| {
            let k = String::from_utf8_lossy(k);
            let rel = k.strip_prefix(&format!("{ns}:")).unwrap().to_owned();
            let parts: Vec<&str> = rel.split(':').collect();
            (parts[0] == "scans"
                && parts[1] == "get_scan_results"
                && parts[2].len() == 2
                && parts[2].starts_with('1'))
                || (parts[0] == "reports" && parts[2..parts.len() - 1].contains(&"7"))
        })
        .cloned()
        .collect();
    assert_eq!(expected.len(), 10 * 3 + 2);

    let done = backend.invalidate_group(&group).await;
    assert!(done.is_complete(), "{done:?}");
    assert_eq!((done.l2, done.l3), (Reach::Done, Reach::Done));
    assert_eq!(done.l2_removed, 32);
    assert_eq!(done.l3_removed, 32);
    assert_eq!(done.l1_removed, 32);

    let after = stored(&url, &format!("{ns}:")).await;
    let gone: BTreeSet<Vec<u8>> = before.difference(&after).cloned().collect();
    assert_eq!(gone, expected, "Redis lost exactly the matching keys");

    // Each survivor is still in L1 and each removed key in no tier: a view reading through
    // L1 only finds survivors, and one with L1 off (reads go to Redis, then disk) agrees.
    backend.run_pending_tasks().await;
    assert_eq!(backend.l1_entries(), 30 * 6 - 32);
    for scan in 0..30_u64 {
        for page in 0..3_u64 {
            let k = Key::new("get_scan_results").arg(scan).arg(page);
            let doomed = (10..20).contains(&scan);
            assert_eq!(
                scans.get(&k).await.is_none(),
                doomed,
                "scan {scan} page {page}"
            );
        }
        let pdf = reports.get(&Key::new("pdf").arg(scan).arg("en")).await;
        assert_eq!(pdf.is_none(), scan == 7, "report of scan {scan}");
    }
    let stats = backend.invalidation_stats();
    assert_eq!(
        (
            stats.groups,
            stats.l1_removed,
            stats.l2_removed,
            stats.l3_removed
        ),
        (1, 32, 32, 32)
    );
    common::cleanup(&url, &ns).await;
}

#[cfg(feature = "disk")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_tier_removes_exactly_the_matching_rows_in_batches() {
    // No L1 and no Redis: every read comes from the disk file.
    let dir = tempfile::tempdir().unwrap();
    let ns = namespace("pattern-disk");
    let backend = Backend::builder()
        .namespace(&ns)
        .disk_path(dir.path().join("l3.redb"))
        .l1_max_entries(0)
        .build()
        .await
        .unwrap();
    let cache = common::view(&backend, "v");
    let other = common::view(&backend, "w");
    // More rows than one batch (1,024) under the pattern's literal head.
    let items: Vec<(Key, u64)> = (0..3_000_u64).map(|i| (Key::new("u").arg(i), i)).collect();
    cache.set_many(items).await.unwrap();
    other.set(&Key::new("u").arg(5_u64), 5).await.unwrap();
    // Every key whose number ends in 5: 300 of them.
    let done = cache
        .invalidate_pattern(&Pattern::new().lit("u").glob("*5"))
        .await;
    assert_eq!(done.l3, Reach::Done);
    assert_eq!(done.l3_removed, 300);
    for i in 0..3_000_u64 {
        let got = cache.get(&Key::new("u").arg(i)).await;
        assert_eq!(got.is_none(), i % 10 == 5, "row {i}");
    }
    assert_eq!(
        other.get(&Key::new("u").arg(5_u64)).await,
        Some(5),
        "another view's row stays"
    );
}

/// A tenant or target value holding glob metacharacters is literal in a pattern, whether it
/// came through the builder or through a `Key`: it can never reach another tenant's keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_never_widen_an_invalidation() {
    let url = redis_url();
    let ns = namespace("pattern-injection");
    let backend = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .l1_max_entries(10_000)
        .build()
        .await
        .unwrap();
    let cache = common::view(&backend, "t");
    let tenants = [
        "a", "b", "ab", "a*", "*", "?", "a?", "[ab]", "[a-z]", "[^a]", "]", "[", "\\", "a\\",
        "\\*", "%2A", "a:b", "",
    ];
    for (i, tenant) in tenants.iter().enumerate() {
        for item in 0..3_u64 {
            cache
                .set(&Key::new("tenant").arg(*tenant).arg(item), i as u64)
                .await
                .unwrap();
        }
    }
    let all = stored(&url, &format!("{ns}:")).await;
    assert_eq!(all.len(), tenants.len() * 3);
    for (i, tenant) in tenants.iter().enumerate() {
        // Through the builder, or derived from a `Key` built with the same value.
        let pattern = if i % 2 == 0 {
            Pattern::new().lit("tenant").lit(*tenant).any()
        } else {
            Pattern::under(&Key::new("tenant").arg(*tenant))
        };
        let before = stored(&url, &format!("{ns}:")).await;
        let done = cache.invalidate_pattern(&pattern).await;
        let after = stored(&url, &format!("{ns}:")).await;
        assert_eq!(
            done.l2_removed, 3,
            "tenant {tenant:?} removed only its own keys"
        );
        assert_eq!(done.l1_removed, 3, "tenant {tenant:?} in L1");
        assert_eq!(before.len() - after.len(), 3, "tenant {tenant:?}");
        // Every other tenant still reads its own value.
        for (j, other) in tenants.iter().enumerate().skip(i + 1) {
            assert_eq!(
                cache.get(&Key::new("tenant").arg(*other).arg(0_u64)).await,
                Some(j as u64),
                "{tenant:?} reached {other:?}"
            );
        }
    }
    assert!(stored(&url, &format!("{ns}:")).await.is_empty());
}

/// Bookkeeping keys live under `<namespace>%:`: neither a `*` pattern (view or backend) nor
/// `invalidate_all` reaches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookkeeping_keys_survive_star_patterns_and_invalidate_all() {
    let url = redis_url();
    let ns = namespace("pattern-bookkeeping");
    let backend = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .build()
        .await
        .unwrap();
    let cache = common::view(&backend, "v");
    let mut conn = common::raw(&url).await;
    let bookkeeping = [format!("{ns}%:tag:user"), format!("{ns}%:lease:user:1")];
    for key in &bookkeeping {
        let () = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("EX")
            .arg(60)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    cache.set(&Key::new("user").arg(1_u64), 1).await.unwrap();
    for pattern in [
        Pattern::new().any(),
        Pattern::new().glob("*%*"),
        Pattern::new().glob("?*"),
    ] {
        let _ = backend.invalidate_pattern(&pattern).await;
        let _ = cache.invalidate_pattern(&pattern).await;
    }
    assert!(cache.invalidate_all().await.is_complete());
    assert!(
        stored(&url, &format!("{ns}:")).await.is_empty(),
        "user keys gone"
    );
    for key in &bookkeeping {
        assert!(common::raw_exists(&url, key).await, "{key} must survive");
    }
    let _: i64 = redis::cmd("DEL")
        .arg(&bookkeeping[..])
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// The breaker is open while a pattern is invalidated: the pattern is kept, and replayed
/// before Redis is read again, so the old values are never served afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_that_missed_redis_is_replayed_before_l2_is_read_again() {
    let server = PrivateRedis::start(free_port());
    let url = server.url();
    let ns = namespace("pattern-replay");
    let backend = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .l1_max_entries(0) // every read goes to Redis
        .redis_timeout(Duration::from_millis(100))
        .breaker_threshold(1)
        .breaker_cooldown(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let cache = common::view(&backend, "v");
    for i in 0..50_u64 {
        cache
            .set(&Key::new("org").arg(i % 2).arg(i), i)
            .await
            .unwrap();
    }
    // Open the breaker: one read times out against the frozen server.
    server.signal("STOP");
    assert_eq!(cache.get(&Key::new("other")).await, None);
    server.signal("CONT");
    assert!(cache.stats().breaker_open);

    let done = cache
        .invalidate_pattern(&Pattern::new().lit("org").lit(0_u64).any())
        .await;
    assert_eq!(done.l2, Reach::Skipped);
    assert!(!done.is_complete());
    assert_eq!(
        stored(&url, &format!("{ns}:v:org:0:")).await.len(),
        25,
        "not reached yet"
    );

    tokio::time::sleep(Duration::from_millis(400)).await;
    for i in 0..50_u64 {
        let got = cache.get(&Key::new("org").arg(i % 2).arg(i)).await;
        let expected = if i % 2 == 0 { None } else { Some(i) };
        assert_eq!(got, expected, "key {i}: no invalidated value is served");
    }
    assert!(
        stored(&url, &format!("{ns}:v:org:0:")).await.is_empty(),
        "the kept pattern ran"
    );
    assert_eq!(stored(&url, &format!("{ns}:v:org:1:")).await.len(), 25);
}

/// A `SCAN` failing part-way (Redis frozen mid-invalidation) is reported and kept too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_against_a_frozen_redis_is_reported_failed_and_kept() {
    let server = PrivateRedis::start(free_port());
    let url = server.url();
    let ns = namespace("pattern-frozen");
    let cache = Cache::<u64>::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .l1_max_entries(0)
        .redis_timeout(Duration::from_millis(100))
        .breaker_threshold(1)
        .breaker_cooldown(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    for i in 0..20_u64 {
        cache.set(&Key::new("k").arg(i), i).await.unwrap();
    }
    server.signal("STOP");
    let done = cache
        .invalidate_pattern(&Pattern::new().lit("k").any())
        .await;
    server.signal("CONT");
    assert_eq!(done.l2, Reach::Failed);
    assert_eq!(cache.stats().l2.unwrap().errors, 1, "counted");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..20_u64 {
        assert_eq!(cache.get(&Key::new("k").arg(i)).await, None, "key {i}");
    }
    assert!(stored(&url, &format!("{ns}:")).await.is_empty());
}

/// A group mixing exact keys (one `UNLINK`) with patterns (one `SCAN` pass each) removes
/// exactly those keys from Redis and L1, and counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_keys_and_patterns_removes_exactly_them() {
    let url = redis_url();
    let ns = namespace("pattern-group");
    let backend = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .require_l2(true)
        .l1_max_entries(1_000)
        .build()
        .await
        .unwrap();
    let incidents = common::view(&backend, "incident");
    let lists = common::view(&backend, "incidents");
    for id in 0..20_u64 {
        incidents.set(&Key::new(id), id).await.unwrap();
    }
    for org in 0..4_u64 {
        for status in ["all", "open", "closed"] {
            let key = Key::new("org").arg(org).arg("status").arg(status);
            lists.set(&key, org).await.unwrap();
        }
    }
    // The seeds' `invalidate_incident_cache(incident_id=3, org_id=2)`, plus a key that does
    // not exist (not counted).
    let group = InvalidationGroup::new()
        .key(&Key::new("incident").arg(3_u64))
        .key(&Key::new("incident").arg(99_u64))
        .pattern(Pattern::new().lit("incidents").lit("org").lit(2_u64).any());
    let before = stored(&url, &format!("{ns}:")).await;
    let done = backend.invalidate_group(&group).await;
    let after = stored(&url, &format!("{ns}:")).await;
    assert!(done.is_complete(), "{done:?}");
    assert_eq!((done.l2_removed, done.l1_removed), (4, 4));
    let gone: BTreeSet<String> = before
        .difference(&after)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    let expected: BTreeSet<String> = [
        format!("{ns}:incident:3"),
        format!("{ns}:incidents:org:2:status:all"),
        format!("{ns}:incidents:org:2:status:open"),
        format!("{ns}:incidents:org:2:status:closed"),
    ]
    .into();
    assert_eq!(gone, expected);
    assert_eq!(incidents.get(&Key::new(3_u64)).await, None);
    assert_eq!(incidents.get(&Key::new(4_u64)).await, Some(4));
    let kept = Key::new("org").arg(1_u64).arg("status").arg("open");
    assert_eq!(lists.get(&kept).await, Some(1));
    assert_eq!(backend.invalidation_stats().groups, 1);
    common::cleanup(&url, &ns).await;
}
