//! An L1 hit allocates nothing, through `get` and through the `get_or_load` family: the miss
//! path is boxed below the L1 check, never above it. Every allocation of this test process
//! is counted, so the file holds this one test.

use perf_cache::{Cache, Key};

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

#[test]
fn l1_hits_allocate_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cache = Cache::<u64>::builder()
            .metrics_interval(None)
            .build()
            .await
            .unwrap();
        let keys: Vec<Key> = (0..100_u64).map(|i| Key::new("k").arg(i)).collect();
        for (i, key) in (0_u64..).zip(&keys) {
            cache.set(key, i).await.unwrap();
        }
        // One pass first: this thread's first count claims its statistics stripe.
        for key in &keys {
            assert!(cache.get(key).await.is_some());
        }

        // The allocator counts every thread of the process, and a thread started before the
        // window (the backend's clock thread, the test harness) may make its own first
        // allocations late on a loaded machine. So the same 3,000 hits are measured in three
        // windows and the cleanest one must be 0: an allocation on the hit path shows in all
        // three.
        let mut windows = Vec::new();
        for _ in 0..3 {
            let before = ALLOCATOR.total_allocated();
            for _ in 0..10 {
                for (i, key) in (0_u64..).zip(&keys) {
                    assert_eq!(cache.get(key).await, Some(i));
                    let loaded = cache.get_or_load(key, move || async move { i + 1 }).await;
                    assert_eq!(loaded, i);
                    let tried = cache
                        .try_get_or_load(key, move || async move { Ok::<_, ()>(i + 1) })
                        .await;
                    assert_eq!(tried, Ok(i));
                    assert_eq!(
                        Key::new("k").arg(i),
                        *key,
                        "a key built from a u64 is inline"
                    );
                }
            }
            windows.push(ALLOCATOR.total_allocated() - before);
        }
        assert_eq!(
            windows.iter().min(),
            Some(&0),
            "bytes allocated by 3,000 hits and 1,000 key builds, per window: {windows:?}"
        );

        // The counter sees allocations: a miss boxes its path and stores a new entry.
        let before = ALLOCATOR.total_allocated();
        let v = cache.get_or_load(&Key::new("new"), || async { 7 }).await;
        assert_eq!(v, 7);
        assert!(ALLOCATOR.total_allocated() > before);
        assert_eq!(cache.stats().l1.hits, 9_100);
    });
}
