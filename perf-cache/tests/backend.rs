//! One backend, many typed views: one Redis connection, one L1 budget, separate key spaces.
#![cfg(feature = "redis")]

mod common;

use common::{cleanup, clients_named, namespace, raw_exists, redis_url};
use perf_cache::{Backend, Cache, Key};

#[tokio::test]
async fn hundred_views_share_one_redis_connection_and_one_l1_budget() {
    let url = redis_url();
    let ns = namespace("views");
    let backend = Backend::builder()
        .namespace(&ns)
        .redis_url(&url)
        .redis_client_name(&ns)
        .require_l2(true)
        .l1_max_entries(40)
        .build()
        .await
        .unwrap();
    let mut numbers = Vec::new();
    let mut names = Vec::new();
    for i in 0..50_u64 {
        numbers.push(
            Cache::<u64>::builder()
                .prefix(format!("n{i}"))
                .build_on(&backend)
                .unwrap(),
        );
        names.push(
            Cache::<String>::builder()
                .prefix(format!("s{i}"))
                .build_on(&backend)
                .unwrap(),
        );
    }
    let key = Key::new("item").arg(1_u64);
    for (i, (n, s)) in (0_u64..).zip(numbers.iter().zip(&names)) {
        n.set(&key, i).await.unwrap();
        s.set(&key, format!("name-{i}")).await.unwrap();
    }
    for (i, (n, s)) in (0_u64..).zip(numbers.iter().zip(&names)) {
        assert_eq!(n.get(&key).await, Some(i), "view n{i}");
        assert_eq!(s.get(&key).await, Some(format!("name-{i}")), "view s{i}");
    }
    assert!(raw_exists(&url, &format!("{ns}:n7:item:1")).await);
    assert!(raw_exists(&url, &format!("{ns}:s49:item:1")).await);
    assert_eq!(
        clients_named(&url, &ns).await.len(),
        1,
        "100 views on one backend hold exactly one Redis connection"
    );

    // One L1 budget: 100 entries were written into a 40-entry L1 shared by all views.
    backend.run_pending_tasks().await;
    let entries = backend.l1_entries();
    assert!(
        (1..=40).contains(&entries),
        "shared L1 holds at most its budget, got {entries}"
    );
    let stats = numbers[0].stats();
    assert_eq!(stats.max_size, 40);
    assert_eq!(stats.size, entries, "every view reports the shared L1");

    // Clearing one view leaves the others alone, in Redis and in L1.
    let _ = numbers[3].invalidate_all().await;
    assert!(!raw_exists(&url, &format!("{ns}:n3:item:1")).await);
    assert!(raw_exists(&url, &format!("{ns}:n4:item:1")).await);
    assert_eq!(numbers[3].get(&key).await, None);
    assert_eq!(numbers[4].get(&key).await, Some(4));
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn an_existing_connection_manager_is_shared_not_copied() {
    let url = redis_url();
    let ns = namespace("manager");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut manager = redis::aio::ConnectionManager::new(client).await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(&ns)
        .query_async(&mut manager)
        .await
        .unwrap();
    let backend = Backend::builder()
        .namespace(&ns)
        .redis_connection_manager(manager)
        .build()
        .await
        .unwrap();
    let a = Cache::<u32>::builder()
        .prefix("a")
        .build_on(&backend)
        .unwrap();
    let b = Cache::<u32>::builder()
        .prefix("b")
        .build_on(&backend)
        .unwrap();
    a.set(&Key::new(1_u64), 10).await.unwrap();
    b.set(&Key::new(1_u64), 20).await.unwrap();
    assert!(raw_exists(&url, &format!("{ns}:a:1")).await);
    assert!(raw_exists(&url, &format!("{ns}:b:1")).await);
    assert_eq!(clients_named(&url, &ns).await.len(), 1);
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn an_existing_client_is_used_for_l2() {
    let url = redis_url();
    let ns = namespace("client");
    let cache = Cache::<u32>::builder()
        .namespace(&ns)
        .redis_client(redis::Client::open(url.as_str()).unwrap())
        .require_l2(true)
        .build()
        .await
        .unwrap();
    cache.set(&Key::new(5_u64), 5).await.unwrap();
    assert!(raw_exists(&url, &format!("{ns}:5")).await);
    cleanup(&url, &ns).await;
}

#[tokio::test]
async fn views_with_one_prefix_and_another_type_read_a_miss() {
    let backend = Backend::builder().build().await.unwrap();
    let numbers = common::view(&backend, "p");
    let strings = Cache::<String>::builder()
        .prefix("p")
        .build_on(&backend)
        .unwrap();
    let key = Key::new(1_u64);
    numbers.set(&key, 7).await.unwrap();
    assert_eq!(strings.get(&key).await, None, "type checked on read");
    assert_eq!(numbers.get(&key).await, Some(7));
    let s = strings.stats();
    assert_eq!((s.hits, s.misses), (0, 1));
}

#[test]
fn the_default_in_memory_backend_needs_no_runtime() {
    // No tokio runtime here: creating the backend and a view must not need one.
    let backend = Backend::in_memory();
    let cache = common::view(backend, "no-runtime");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let v = cache.get_or_load(&Key::new(3_u64), || async { 9 }).await;
        assert_eq!(v, 9);
        assert_eq!(cache.get(&Key::new(3_u64)).await, Some(9));
    });
}

#[tokio::test]
async fn view_builders_refuse_backend_settings_and_need_a_prefix() {
    let backend = Backend::builder().build().await.unwrap();
    let err = Cache::<u8>::builder()
        .prefix("x")
        .redis_url(redis_url())
        .build_on(&backend)
        .unwrap_err();
    assert!(err.to_string().contains("redis_url"), "{err}");
    let err = Cache::<u8>::builder().build_on(&backend).unwrap_err();
    assert!(err.to_string().contains("prefix"), "{err}");
    let err = Cache::<u8>::builder()
        .prefix("a:b")
        .build_on(&backend)
        .unwrap_err();
    assert!(err.to_string().contains("prefix"), "{err}");
}

#[tokio::test]
async fn configuration_errors_have_one_shape() {
    let err = Backend::builder()
        .redis_url(redis_url())
        .namespace("shape")
        .breaker_threshold(0)
        .build()
        .await
        .unwrap_err();
    match err {
        perf_cache::Error::InvalidConfig {
            field,
            value,
            allowed,
        } => {
            assert_eq!(
                (field, value.as_str(), allowed.as_str()),
                ("breaker_threshold", "0", "1..=1000")
            );
        }
        other => panic!("{other:?}"),
    }
    let err = Cache::<u8>::builder()
        .redis_url("redis://user:s3cret@127.0.0.1:1/0?x=1#frag")
        .namespace("shape")
        .breaker_threshold(0)
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `breaker_threshold`: got 0, allowed: 1..=1000"
    );
}
