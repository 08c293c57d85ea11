//! The L1 behaviours a view relies on, run on every engine: quick_cache (default) and, with
//! feature `moka`, moka. (The engine contract itself is unit-tested in `src/tiers/l1.rs`,
//! also on every engine.)

use std::sync::Arc;
use std::time::Duration;

use perf_cache::{Backend, Cache, Key, L1Engine};

fn engines() -> Vec<L1Engine> {
    #[allow(unused_mut)]
    let mut all = vec![L1Engine::QuickCache];
    #[cfg(feature = "moka")]
    all.push(L1Engine::Moka);
    all
}

async fn backend(engine: L1Engine, entries: u64) -> Backend {
    Backend::builder()
        .l1_engine(engine)
        .l1_max_entries(entries)
        .metrics_interval(None)
        .build()
        .await
        .unwrap()
}

fn view<V>(backend: &Backend, prefix: &str) -> Cache<V>
where
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    Cache::<V>::builder()
        .prefix(prefix)
        .build_on(backend)
        .unwrap()
}

#[tokio::test]
async fn hits_misses_and_types_are_exact_on_every_engine() {
    for engine in engines() {
        let b = backend(engine, 1_000).await;
        let numbers = view::<u64>(&b, "n");
        let strings = view::<String>(&b, "n");
        let other = view::<u64>(&b, "o");
        for i in 0..100_u64 {
            numbers.set(&Key::new(i), i * 2).await.unwrap();
        }
        for i in 0..150_u64 {
            let want = (i < 100).then_some(i * 2);
            assert_eq!(numbers.get(&Key::new(i)).await, want, "{engine:?} {i}");
        }
        // Same prefix, other type: a miss, never a wrong value. Other prefix: its own space.
        assert_eq!(strings.get(&Key::new(1_u64)).await, None, "{engine:?}");
        assert_eq!(other.get(&Key::new(1_u64)).await, None, "{engine:?}");
        let s = numbers.stats();
        assert_eq!((s.hits, s.misses, s.l1.hits), (100, 50, 100), "{engine:?}");
        assert_eq!((strings.stats().misses, other.stats().misses), (1, 1));
    }
}

#[tokio::test]
async fn racing_hits_are_all_counted_on_every_engine() {
    for engine in engines() {
        let b = backend(engine, 1_000).await;
        let cache = view::<u64>(&b, "race");
        for i in 0..64_u64 {
            cache.set(&Key::new(i), i).await.unwrap();
        }
        let threads: Vec<_> = (0..8_u64)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        for i in 0..2_000_u64 {
                            let n = (i + t) % 64;
                            assert_eq!(cache.get(&Key::new(n)).await, Some(n));
                        }
                    });
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (16_000, 0), "{engine:?}");
    }
}

#[tokio::test]
async fn each_entry_expires_at_its_own_deadline_on_every_engine() {
    for engine in engines() {
        let b = backend(engine, 1_000).await;
        let cache = view::<u64>(&b, "ttl");
        cache
            .set_with_ttl(&Key::new("short"), 1, Duration::from_millis(50))
            .await
            .unwrap();
        cache.set(&Key::new("long"), 2).await.unwrap();
        assert_eq!(cache.get(&Key::new("short")).await, Some(1), "{engine:?}");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get(&Key::new("short")).await, None, "{engine:?}");
        assert_eq!(cache.get(&Key::new("long")).await, Some(2), "{engine:?}");
        // Expired entries are dropped by the upkeep, not only hidden.
        b.run_pending_tasks().await;
        assert_eq!(b.l1_entries(), 1, "{engine:?}");
    }
}

#[tokio::test]
async fn memory_is_bounded_and_evictions_counted_on_every_engine() {
    for engine in engines() {
        let b = backend(engine, 100).await;
        let cache = view::<u64>(&b, "cap");
        for i in 0..2_000_u64 {
            cache.set(&Key::new(i), i).await.unwrap();
        }
        b.run_pending_tasks().await;
        let s = cache.stats();
        assert!(s.size <= 100 && s.size > 50, "{engine:?}: {s:?}");
        assert_eq!(s.evictions, 2_000 - s.size, "{engine:?}: {s:?}");

        let bytes = Backend::builder()
            .l1_engine(engine)
            .l1_max_bytes(5_000)
            .metrics_interval(None)
            .build()
            .await
            .unwrap();
        let text = view::<String>(&bytes, "bytes");
        for i in 0..200_u64 {
            text.set(&Key::new(i), "x".repeat(100)).await.unwrap();
        }
        bytes.run_pending_tasks().await;
        let s = text.stats();
        assert!(s.l1_weight <= 5_000 && s.l1_weight > 0, "{engine:?}: {s:?}");
        assert!(s.size < 200, "{engine:?}: {s:?}");
    }
}

#[tokio::test]
async fn invalidation_removes_exactly_its_entries_on_every_engine() {
    for engine in engines() {
        let b = backend(engine, 1_000).await;
        let a = view::<u64>(&b, "a");
        let z = view::<u64>(&b, "z");
        for i in 0..10_u64 {
            a.set(&Key::new(i), i).await.unwrap();
            z.set(&Key::new(i), i + 100).await.unwrap();
        }
        assert!(a.invalidate(&Key::new(3_u64)).await.is_complete());
        assert_eq!(a.get(&Key::new(3_u64)).await, None, "{engine:?}");
        assert_eq!(z.get(&Key::new(3_u64)).await, Some(103), "{engine:?}");
        // Removal by predicate: this view's key space only.
        assert!(a.invalidate_all().await.is_complete());
        b.run_pending_tasks().await;
        for i in 0..10_u64 {
            assert_eq!(a.get(&Key::new(i)).await, None, "{engine:?} {i}");
            assert_eq!(z.get(&Key::new(i)).await, Some(i + 100), "{engine:?} {i}");
        }
        assert_eq!(b.l1_entries(), 10, "{engine:?}");
    }
}

#[tokio::test]
async fn get_or_load_hits_run_no_loader_on_every_engine() {
    for engine in engines() {
        let b = backend(engine, 1_000).await;
        let cache = view::<u64>(&b, "load");
        let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for _ in 0..3 {
            for i in 0..20_u64 {
                let runs = Arc::clone(&runs);
                let v = cache
                    .get_or_load(&Key::new(i), move || async move {
                        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        i * 7
                    })
                    .await;
                assert_eq!(v, i * 7, "{engine:?}");
            }
        }
        assert_eq!(
            runs.load(std::sync::atomic::Ordering::SeqCst),
            20,
            "{engine:?}"
        );
        let s = cache.stats();
        assert_eq!(
            (s.l1.hits, s.loads, s.total_requests),
            (40, 20, 60),
            "{engine:?}"
        );
    }
}

#[tokio::test]
async fn a_cached_not_found_serves_only_callers_that_accept_it_on_every_engine() {
    for engine in engines() {
        let b = backend(engine, 1_000).await;
        let cache = Cache::<u64>::builder()
            .prefix("neg")
            .negative_ttl(Duration::from_secs(60))
            .build_on(&b)
            .unwrap();
        let key = Key::new(404_u64);
        let found = cache
            .get_or_load_optional(&key, || async { Ok::<_, String>(None) })
            .await;
        assert_eq!(found.unwrap(), None, "{engine:?}");
        // Cached "not found": an optional caller gets it from L1 without its loader.
        let again = cache
            .get_or_load_optional(&key, || async { Ok::<_, String>(Some(1)) })
            .await;
        assert_eq!(again.unwrap(), None, "{engine:?}");
        assert_eq!(cache.get(&key).await, None, "{engine:?}");
        // A caller that needs a value runs its loader instead of reading the negative entry.
        assert_eq!(
            cache.get_or_load(&key, || async { 5 }).await,
            5,
            "{engine:?}"
        );
        assert_eq!(cache.get(&key).await, Some(5), "{engine:?}");
        assert_eq!(cache.stats().loads, 2, "{engine:?}");
    }
}
