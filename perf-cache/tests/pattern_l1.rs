//! Pattern invalidation in L1 alone, on both engines: exactly the matching entries of every
//! view go, whatever the view's prefix, and other views' entries stay.

use perf_cache::{Backend, Cache, InvalidationGroup, Key, L1Engine, Pattern};

fn engines() -> Vec<L1Engine> {
    vec![
        L1Engine::QuickCache,
        #[cfg(feature = "moka")]
        L1Engine::Moka,
    ]
}

#[tokio::test]
async fn l1_removes_exactly_the_matching_entries_on_every_engine() {
    for engine in engines() {
        let backend = Backend::builder()
            .namespace("pattern-l1")
            .l1_engine(engine)
            .l1_max_entries(10_000)
            .build()
            .await
            .unwrap();
        let a = Cache::<u64>::builder()
            .prefix("a")
            .build_on(&backend)
            .unwrap();
        let b = Cache::<String>::builder()
            .prefix("b")
            .build_on(&backend)
            .unwrap();
        for i in 0..100_u64 {
            a.set(&Key::new("user").arg(i).arg("x"), i).await.unwrap();
            b.set(&Key::new("user").arg(i).arg("x"), i.to_string())
                .await
                .unwrap();
        }
        backend.run_pending_tasks().await;
        assert_eq!(backend.l1_entries(), 200, "{engine:?}");

        // View-relative: `user:1?:*` in view `a` only (10..=19).
        let done = a
            .invalidate_pattern(&Pattern::new().lit("user").glob("1?").any())
            .await;
        assert_eq!(done.l1_removed, 10, "{engine:?}");
        // Backend-relative, across views: `*:user:5:*` (one in each view).
        let done = backend
            .invalidate_pattern(&Pattern::new().any().lit("user").lit(5_u64).any())
            .await;
        assert_eq!(done.l1_removed, 2, "{engine:?}");
        // A group: an exact key of `b`, and `b:user:[2-3]?:*` (20..=39).
        let group = InvalidationGroup::new()
            .key(&Key::new("b").arg("user").arg(99_u64).arg("x"))
            .pattern(Pattern::new().lit("b").lit("user").glob("[2-3]?").any());
        assert_eq!(
            backend.invalidate_group(&group).await.l1_removed,
            21,
            "{engine:?}"
        );

        backend.run_pending_tasks().await;
        assert_eq!(backend.l1_entries(), 200 - 10 - 2 - 21, "{engine:?}");
        for i in 0..100_u64 {
            let in_a = a.get(&Key::new("user").arg(i).arg("x")).await;
            let in_b = b.get(&Key::new("user").arg(i).arg("x")).await;
            assert_eq!(
                in_a.is_none(),
                (10..20).contains(&i) || i == 5,
                "{engine:?} a {i}"
            );
            assert_eq!(
                in_b.is_none(),
                (20..40).contains(&i) || i == 5 || i == 99,
                "{engine:?} b {i}"
            );
        }
    }
}
