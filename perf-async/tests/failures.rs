//! Fail-fast stops and cancels, collect-all keeps going, panics are isolated, dropping aborts,
//! timeouts and retries count right, progress is monotonic.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::DropCounter;
use perf_async::{Error, Parallel, RetryIf, RetryPolicy};

fn parallel(limit: usize) -> Parallel {
    Parallel::builder().max_concurrent(limit).build().unwrap()
}

/// Task 1 fails after a short wait; every other task holds a guard and never finishes.
fn one_failing_task(
    i: usize,
    guards: &DropCounter,
) -> impl Future<Output = Result<usize, String>> + Send + 'static {
    let guard = guards.guard();
    async move {
        let _guard = guard;
        if i == 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            return Err(format!("task {i} broke"));
        }
        std::future::pending::<()>().await;
        Ok(i)
    }
}

#[tokio::test(start_paused = true)]
async fn local_fail_fast_stops_admission_and_drops_the_rest() {
    let guards = DropCounter::default();
    let tasks = (0..100).map(|i| one_failing_task(i, &guards));
    let err = parallel(4).local().try_run(tasks).await.unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(err.into_task_error().as_deref(), Some("task 1 broke"));
    // Only the first window was ever admitted, and every admitted future is gone.
    assert_eq!(guards.created(), 4);
    assert_eq!(guards.dropped(), 4);
}

#[tokio::test(start_paused = true)]
async fn spawned_fail_fast_stops_admission_and_aborts_the_rest() {
    let guards = DropCounter::default();
    let tasks = (0..100).map(|i| one_failing_task(i, &guards));
    let err = parallel(4).spawned().try_run(tasks).await.unwrap_err();
    assert!(matches!(err, Error::Task { index: 1, .. }), "{err:?}");
    assert_eq!(guards.created(), 4);
    guards.wait_all_dropped().await;
    assert_eq!(guards.dropped(), 4, "aborted tasks must be dropped");
}

#[tokio::test(start_paused = true)]
async fn collect_all_runs_every_task_and_keeps_each_result() {
    for spawned in [false, true] {
        let tasks = (0..10).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(10 - i)).await;
            if i % 3 == 0 { Err(i) } else { Ok(i * 10) }
        });
        let options = parallel(3);
        let results = if spawned {
            options.spawned().collect(tasks).await
        } else {
            options.local().collect(tasks).await
        };
        assert_eq!(results.len(), 10);
        for (i, result) in results.into_iter().enumerate() {
            let i = u64::try_from(i).unwrap();
            match result {
                Ok(v) => assert_eq!(v, i * 10),
                Err(Error::Task { index, source }) => {
                    assert_eq!(index, usize::try_from(i).unwrap());
                    assert_eq!(source, i);
                    assert_eq!(i % 3, 0);
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_panic_becomes_that_tasks_error_and_others_go_on() {
    let finished = Arc::new(AtomicUsize::new(0));
    let tasks = (0..20).map(|i| {
        let finished = Arc::clone(&finished);
        async move {
            tokio::task::yield_now().await;
            assert!(i != 7, "task seven exploded");
            finished.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(i)
        }
    });
    let results = parallel(4).spawned().collect(tasks).await;
    assert_eq!(finished.load(Ordering::SeqCst), 19);
    for (i, result) in results.iter().enumerate() {
        if i == 7 {
            match result {
                Err(Error::Panicked { index, message }) => {
                    assert_eq!(*index, 7);
                    assert_eq!(message, "task seven exploded");
                }
                other => panic!("unexpected {other:?}"),
            }
        } else {
            assert_eq!(result.as_ref().ok(), Some(&i));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_spawned_future_aborts_every_running_task() {
    let guards = DropCounter::default();
    let started = Arc::new(AtomicUsize::new(0));
    let tasks = (0..50).map(|_| {
        let guard = guards.guard();
        let started = Arc::clone(&started);
        async move {
            let _guard = guard;
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
    });
    let options = parallel(6);
    let mut run = Box::pin(options.spawned().run(tasks));
    while started.load(Ordering::SeqCst) < 6 {
        assert!(futures::poll!(run.as_mut()).is_pending());
        tokio::task::yield_now().await;
    }
    assert_eq!(guards.created(), 6);
    drop(run);
    guards.wait_all_dropped().await;
    assert_eq!(
        guards.dropped(),
        6,
        "no orphan task may survive the dropped future"
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_fail_only_the_slow_tasks_with_their_index() {
    let options = Parallel::builder()
        .max_concurrent(3)
        .timeout(Duration::from_millis(35))
        .build()
        .unwrap();
    for spawned in [false, true] {
        let tasks = (0..6u64).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(i * 10)).await;
            Ok::<_, String>(i)
        });
        let results = if spawned {
            options.spawned().collect(tasks).await
        } else {
            options.local().collect(tasks).await
        };
        for (i, result) in results.into_iter().enumerate() {
            if i <= 3 {
                assert_eq!(result.unwrap(), u64::try_from(i).unwrap());
            } else {
                match result {
                    Err(Error::Timeout { index, timeout }) => {
                        assert_eq!(index, i);
                        assert_eq!(timeout, Duration::from_millis(35));
                    }
                    other => panic!("task {i}: expected timeout, got {other:?}"),
                }
            }
        }
    }
    // Fail-fast with infallible tasks: the timeout is the error.
    let err = options
        .local()
        .run([tokio::time::sleep(Duration::from_secs(1))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { index: 0, .. }), "{err:?}");
}

fn no_jitter(retries: usize) -> RetryPolicy {
    RetryPolicy::exponential()
        .max_retries(retries)
        .initial_delay(Duration::from_millis(100))
        .factor(2.0)
        .jitter(false)
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_success_or_at_the_limit() {
    let options = Parallel::builder()
        .max_concurrent(2)
        .retry(no_jitter(2))
        .build()
        .unwrap();
    for spawned in [false, true] {
        let attempts: Vec<Arc<AtomicUsize>> =
            (0..5).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        // Task i fails its first i attempts.
        let factories = attempts.iter().enumerate().map(|(i, count)| {
            let count = Arc::clone(count);
            move || {
                let attempt = count.fetch_add(1, Ordering::SeqCst);
                async move {
                    if attempt < i {
                        Err(format!("attempt {attempt}"))
                    } else {
                        Ok(i)
                    }
                }
            }
        });
        let results = if spawned {
            options
                .spawned()
                .collect_retrying(factories, RetryIf::always())
                .await
        } else {
            options
                .local()
                .collect_retrying(factories, RetryIf::always())
                .await
        };
        let counts: Vec<usize> = attempts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        // 1 attempt + at most 2 retries.
        assert_eq!(counts, [1, 2, 3, 3, 3]);
        assert_eq!(results[2].as_ref().ok(), Some(&2));
        for i in [3, 4] {
            match &results[i] {
                Err(Error::Task { index, source }) => {
                    assert_eq!(*index, i);
                    assert_eq!(source, "attempt 2", "the last failure is reported");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn retries_wait_with_exponential_backoff() {
    let options = Parallel::builder().retry(no_jitter(3)).build().unwrap();
    let stamps = Mutex::new(Vec::new());
    let factory = || {
        stamps.lock().unwrap().push(tokio::time::Instant::now());
        async { Err::<(), _>("down") }
    };
    let err = options
        .local()
        .try_run_retrying([factory], RetryIf::always())
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(0));
    let stamps = stamps.into_inner().unwrap();
    assert_eq!(stamps.len(), 4);
    let gaps: Vec<Duration> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, expected_ms) in gaps.iter().zip([100, 200, 400]) {
        let expected = Duration::from_millis(expected_ms);
        // The paused clock advances in whole milliseconds.
        assert!(
            *gap >= expected && *gap <= expected + Duration::from_millis(1),
            "{gaps:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_retried() {
    let options = Parallel::builder()
        .timeout(Duration::from_millis(50))
        .retry(no_jitter(1))
        .build()
        .unwrap();
    let attempts = AtomicUsize::new(0);
    let factory = || {
        let first = attempts.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok::<_, String>("second attempt")
        }
    };
    let out = options
        .local()
        .try_run_retrying([factory], RetryIf::always())
        .await
        .unwrap();
    assert_eq!(out, ["second attempt"]);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn without_a_policy_the_retrying_forms_make_one_attempt() {
    let attempts = AtomicUsize::new(0);
    let factory = || {
        attempts.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("no") }
    };
    let results = parallel(1)
        .local()
        .collect_retrying([factory], RetryIf::always())
        .await;
    assert!(results[0].is_err());
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

fn recorded(calls: &Arc<Mutex<Vec<(usize, usize)>>>) -> Vec<(usize, usize)> {
    calls.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn progress_is_monotonic_and_ends_at_total() {
    for spawned in [false, true] {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&calls);
        let options = Parallel::builder()
            .max_concurrent(4)
            .on_progress(move |done, total| sink.lock().unwrap().push((done, total)))
            .build()
            .unwrap();
        // `filter` hides the exact length: the total must still be right.
        let tasks = (0..40u64).filter(|i| i % 4 != 3).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(40 - i)).await;
            if i == 5 { Err("five") } else { Ok(i) }
        });
        let results = if spawned {
            options.spawned().collect(tasks).await
        } else {
            options.local().collect(tasks).await
        };
        assert_eq!(results.len(), 30);
        let expected: Vec<(usize, usize)> = (1..=30).map(|done| (done, 30)).collect();
        assert_eq!(recorded(&calls), expected);
    }
}

#[tokio::test(start_paused = true)]
async fn progress_stops_where_fail_fast_stopped() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&calls);
    let options = Parallel::builder()
        .max_concurrent(2)
        .on_progress(move |done, total| sink.lock().unwrap().push((done, total)))
        .build()
        .unwrap();
    let tasks = (0..10u64).map(|i| async move {
        tokio::time::sleep(Duration::from_millis(i)).await;
        if i == 3 { Err("three") } else { Ok(i) }
    });
    assert_eq!(
        options.local().try_run(tasks).await.unwrap_err().index(),
        Some(3)
    );
    assert_eq!(recorded(&calls), [(1, 10), (2, 10), (3, 10), (4, 10)]);
}
