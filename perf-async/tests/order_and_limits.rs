//! Results keep input order, the in-flight count never exceeds the limit, edge sizes work.

mod common;

use std::future::Future;
use std::time::Duration;

use common::InFlight;
use perf_async::{Error, Parallel, batch_process, process_chunks, run_parallel};
use proptest::prelude::*;

fn parallel(limit: usize) -> Parallel {
    Parallel::builder().max_concurrent(limit).build().unwrap()
}

/// Later inputs finish first, so any completion-order leak shows up.
fn reversed_ms(i: usize, n: usize) -> Duration {
    Duration::from_millis(u64::try_from(n - i).unwrap())
}

#[tokio::test(start_paused = true)]
async fn local_keeps_input_order_when_later_tasks_finish_first() {
    let out = run_parallel(
        (0..50).map(|i| async move {
            tokio::time::sleep(reversed_ms(i, 50)).await;
            i
        }),
        7,
    )
    .await
    .unwrap();
    assert_eq!(out, (0..50).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn spawned_keeps_input_order_when_later_tasks_finish_first() {
    let out = parallel(7)
        .spawned()
        .run((0..50).map(|i| async move {
            tokio::time::sleep(reversed_ms(i, 50)).await;
            i
        }))
        .await
        .unwrap();
    assert_eq!(out, (0..50).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn local_in_flight_never_exceeds_limit_and_reaches_it() {
    let in_flight = InFlight::default();
    let tasks = (0..200).map(|i| {
        let in_flight = in_flight.clone();
        async move {
            let _guard = in_flight.enter();
            tokio::time::sleep(Duration::from_millis(1 + (i * 7 % 13))).await;
        }
    });
    run_parallel(tasks, 9).await.unwrap();
    assert_eq!(in_flight.max(), 9);
    assert_eq!(in_flight.entered(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_task_count_never_exceeds_limit() {
    // The guard is created at admission, before the spawn, and dropped with the task's future:
    // it counts tasks that exist, not only those running.
    let existing = InFlight::default();
    let tasks = (0..500).map(|i| {
        let guard = existing.enter();
        async move {
            let _guard = guard;
            for _ in 0..(i % 5) {
                tokio::task::yield_now().await;
            }
            i
        }
    });
    let out = parallel(8).spawned().run(tasks).await.unwrap();
    assert_eq!(out, (0..500).collect::<Vec<_>>());
    assert!(
        existing.max() <= 8,
        "max existing tasks {} > 8",
        existing.max()
    );
    assert_eq!(existing.now(), 0);
}

#[tokio::test]
async fn empty_input_returns_empty_output() {
    let none = std::iter::empty::<std::future::Ready<u8>>();
    assert!(run_parallel(none.clone(), 3).await.unwrap().is_empty());
    assert!(parallel(3).spawned().run(none).await.unwrap().is_empty());
    assert!(
        batch_process(Vec::<u8>::new(), 3, |x| async move { x })
            .await
            .unwrap()
            .is_empty()
    );
    let chunks = process_chunks(Vec::<u8>::new(), 2, 3, |c| async move { c.len() });
    assert!(chunks.await.unwrap().is_empty());
    let results = parallel(3)
        .local()
        .collect(std::iter::empty::<std::future::Ready<Result<u8, ()>>>())
        .await;
    assert!(results.is_empty());
}

fn assert_invalid<E: std::fmt::Debug>(error: Error<E>, expected_field: &str) {
    match &error {
        Error::InvalidConfig { field, allowed, .. } => {
            assert_eq!(*field, expected_field);
            assert!(!allowed.is_empty());
        }
        other => panic!("expected InvalidConfig for {expected_field}, got {other:?}"),
    }
}

#[tokio::test]
async fn zero_limits_are_errors_not_hangs() {
    let err = run_parallel([async { 1 }], 0).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `max_concurrent`: got 0, allowed: 1..=usize::MAX"
    );
    assert_invalid(
        Parallel::builder().max_concurrent(0).build().unwrap_err(),
        "max_concurrent",
    );
    assert_invalid(
        batch_process([1], 0, |x| async move { x })
            .await
            .unwrap_err(),
        "batch_size",
    );
    let chunk_err = process_chunks([1], 0, 2, |c| async move { c })
        .await
        .unwrap_err();
    assert_invalid(chunk_err, "chunk_size");
    let limit_err = process_chunks([1], 2, 0, |c| async move { c })
        .await
        .unwrap_err();
    assert_invalid(limit_err, "max_concurrent");
}

#[test]
fn other_invalid_options_name_their_field() {
    let zero_timeout = Parallel::builder()
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_invalid(zero_timeout, "timeout");
    let slow_factor = perf_async::RetryPolicy::exponential().factor(0.5);
    assert_invalid(
        Parallel::builder().retry(slow_factor).build().unwrap_err(),
        "retry.factor",
    );
    let inverted = perf_async::RetryPolicy::exponential()
        .initial_delay(Duration::from_secs(2))
        .max_delay(Duration::from_secs(1));
    assert_invalid(
        Parallel::builder().retry(inverted).build().unwrap_err(),
        "retry.max_delay",
    );
}

/// The workspace's one `InvalidConfig` shape: field, rendered value, what is allowed.
#[test]
fn invalid_options_render_field_value_and_allowed() {
    let rendered = |error: Error| error.to_string();
    assert_eq!(
        rendered(
            Parallel::builder()
                .timeout(Duration::ZERO)
                .build()
                .unwrap_err()
        ),
        "invalid `timeout`: got 0s, allowed: above zero"
    );
    let slow_factor = perf_async::RetryPolicy::exponential().factor(0.5);
    assert_eq!(
        rendered(Parallel::builder().retry(slow_factor).build().unwrap_err()),
        "invalid `retry.factor`: got 0.5, allowed: finite, 1.0..=f32::MAX"
    );
    let inverted = perf_async::RetryPolicy::exponential()
        .initial_delay(Duration::from_secs(2))
        .max_delay(Duration::from_secs(1));
    match Parallel::builder().retry(inverted).build().unwrap_err() {
        Error::InvalidConfig {
            field,
            value,
            allowed,
        } => {
            assert_eq!(field, "retry.max_delay");
            assert_eq!(value, "1s");
            // The allowed range names the actual lower bound, not only the other field.
            let allowed: String = allowed;
            assert_eq!(
                allowed,
                "2s..=Duration::MAX (not below retry.initial_delay)"
            );
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn spawned_mode_outside_a_runtime_is_an_error() {
    let options = parallel(2);
    let mut fut = std::pin::pin!(options.spawned().run([async { 1 }]));
    // Polled by hand, outside any runtime: there is no runtime to spawn on.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => {
            assert!(matches!(result, Err(Error::NoRuntime)), "{result:?}");
        }
        std::task::Poll::Pending => panic!("expected an immediate NoRuntime error"),
    }
}

#[test]
fn spawned_collect_outside_a_runtime_fails_every_task() {
    let options = parallel(2);
    let tasks = (0..3).map(|i| async move { Ok::<_, String>(i) });
    let mut fut = std::pin::pin!(options.spawned().collect(tasks));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(results) => {
            assert_eq!(results.len(), 3);
            assert!(
                results.iter().all(|r| matches!(r, Err(Error::NoRuntime))),
                "{results:?}"
            );
        }
        std::task::Poll::Pending => panic!("expected an immediate NoRuntime result"),
    }
}

#[tokio::test]
async fn hundred_thousand_tasks_local() {
    let out = run_parallel((0..100_000u64).map(|i| async move { i * 2 }), 64)
        .await
        .unwrap();
    assert_eq!(out.len(), 100_000);
    assert!(out.iter().enumerate().all(|(i, v)| *v == 2 * i as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_tasks_spawned() {
    let out = parallel(64)
        .spawned()
        .run((0..100_000u64).map(|i| async move { i * 2 }))
        .await
        .unwrap();
    assert_eq!(out.len(), 100_000);
    assert!(out.iter().enumerate().all(|(i, v)| *v == 2 * i as u64));
}

#[tokio::test(start_paused = true)]
async fn process_chunks_passes_whole_chunks_with_several_in_flight() {
    let in_flight = InFlight::default();
    let sizes = process_chunks(0..23u32, 5, 3, |chunk: Vec<u32>| {
        let in_flight = in_flight.clone();
        async move {
            let _guard = in_flight.enter();
            tokio::time::sleep(Duration::from_millis(10)).await;
            (chunk[0], chunk.len())
        }
    })
    .await
    .unwrap();
    assert_eq!(sizes, [(0, 5), (5, 5), (10, 5), (15, 5), (20, 3)]);
    assert_eq!(in_flight.max(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn order_and_in_flight_bound_hold(
        durations in proptest::collection::vec(0u64..20, 0..120),
        limit in 1usize..16,
        spawned in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let in_flight = InFlight::default();
        let n = durations.len();
        let tasks = durations.iter().copied().enumerate().map(|(i, ms)| {
            let in_flight = in_flight.clone();
            async move {
                let _guard = in_flight.enter();
                tokio::time::sleep(Duration::from_millis(ms)).await;
                i
            }
        });
        let options = parallel(limit);
        let out = runtime.block_on(async {
            if spawned {
                options.spawned().run(tasks).await
            } else {
                options.local().run(tasks).await
            }
        }).unwrap();
        prop_assert_eq!(out, (0..n).collect::<Vec<_>>());
        prop_assert!(in_flight.max() <= limit);
        prop_assert_eq!(in_flight.now(), 0);
    }
}
