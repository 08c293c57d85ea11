//! Invalidations are counted by kind, with the keys each tier removed, in
//! `Backend::invalidation_stats` and through the metrics facade.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use perf_cache::{Backend, Cache, InvalidationGroup, Key, Pattern};

#[test]
fn invalidations_are_counted_by_kind_and_tier() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let backend = metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let backend = Backend::builder()
                .namespace("inv-metrics")
                .metrics_interval(None)
                .build()
                .await
                .unwrap();
            let users = Cache::<u64>::builder()
                .prefix("user")
                .build_on(&backend)
                .unwrap();
            for i in 0..10_u64 {
                users.set(&Key::new(i % 2).arg(i), i).await.unwrap();
            }
            let _ = users.invalidate(&Key::new(0_u64).arg(0_u64)).await;
            let done = users
                .invalidate_pattern(&Pattern::new().lit(1_u64).any())
                .await;
            assert_eq!(done.l1_removed, 5);
            let group = InvalidationGroup::new()
                .key(&Key::new("user").arg(0_u64).arg(2_u64))
                .pattern(Pattern::new().lit("user").lit(0_u64).glob("[48]"));
            assert_eq!(backend.invalidate_group(&group).await.l1_removed, 3);
            let _ = users.invalidate_all().await;
            backend
        })
    });
    let stats = backend.invalidation_stats();
    assert_eq!(
        (stats.keys, stats.patterns, stats.groups, stats.all),
        (1, 1, 1, 1)
    );
    // 1 (the key) + 5 (the pattern) + 3 (the group); `invalidate_all` counts none.
    assert_eq!(
        (stats.l1_removed, stats.l2_removed, stats.l3_removed),
        (9, 0, 0)
    );

    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str, label: (&str, &str)| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let k = key.key();
            let hit = k.name() == name
                && k.labels()
                    .any(|l| l.key() == "namespace" && l.value() == "inv-metrics")
                && k.labels()
                    .any(|l| l.key() == label.0 && l.value() == label.1);
            match (hit, value) {
                (true, DebugValue::Counter(n)) => Some(*n),
                _ => None,
            }
        })
    };
    for kind in ["key", "pattern", "group", "all"] {
        assert_eq!(
            counter("cache_invalidations_total", ("kind", kind)),
            Some(1),
            "{kind}"
        );
    }
    assert_eq!(
        counter("cache_invalidated_keys_total", ("tier", "l1")),
        Some(9)
    );
    assert_eq!(
        counter("cache_invalidated_keys_total", ("tier", "l2")),
        None
    );
}
