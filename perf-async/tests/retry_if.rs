//! `RetryIf` decides which failures are retried, and its notify hook hears about every retry
//! with the delay before it (paused clock, no jitter, so the delays are exact).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use perf_async::{Error, Parallel, RetryIf, RetryPolicy};

const MAX_RETRIES: usize = 3;

fn parallel() -> Parallel {
    let policy = RetryPolicy::exponential()
        .max_retries(MAX_RETRIES)
        .initial_delay(Duration::from_millis(10))
        .jitter(false);
    Parallel::builder()
        .max_concurrent(4)
        .timeout(Duration::from_millis(500))
        .retry(policy)
        .build()
        .unwrap()
}

#[derive(Debug, Clone, PartialEq)]
enum DbError {
    Deadlock,
    UniqueViolation,
}

/// What the notify hook was called with: the task index, its error, the delay in µs.
type Notified = Arc<Mutex<Vec<(Option<usize>, Option<DbError>, u128)>>>;

/// A delay to the nearest microsecond: backon grows delays in `f32`, so 10 ms doubled twice
/// comes out as 39.999999 ms.
fn micros(delay: Duration) -> u128 {
    (delay.as_nanos() + 500) / 1000
}

/// A predicate and a hook kept as boxed closures, as a struct field would hold them.
type Predicate = Box<dyn Fn(&Error<DbError>) -> bool + Send + Sync>;
type Hook = Box<dyn Fn(&Error<DbError>, Duration) + Send + Sync>;

/// Retries deadlocks only; records every notification.
fn deadlocks_only(notified: &Notified) -> RetryIf<DbError, Predicate, Hook> {
    let sink = Arc::clone(notified);
    let predicate: Predicate = Box::new(|failure| failure.task_error() == Some(&DbError::Deadlock));
    let hook: Hook = Box::new(move |failure, delay| {
        let record = (
            failure.index(),
            failure.task_error().cloned(),
            micros(delay),
        );
        sink.lock().unwrap().push(record);
    });
    RetryIf::when(predicate).notify(hook)
}

/// Factories whose task `i` counts its attempts in `attempts[i]` and fails with `error(i)`.
fn failing(
    attempts: &[Arc<AtomicUsize>],
    error: fn(usize) -> DbError,
) -> Vec<impl FnMut() -> std::future::Ready<Result<(), DbError>> + Send + 'static> {
    attempts
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let count = Arc::clone(count);
            move || {
                count.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Err(error(i)))
            }
        })
        .collect()
}

/// `collect_retrying` of `factories` with [`deadlocks_only`], in spawned or local mode.
async fn collect_deadlocks_only<F>(
    spawned: bool,
    factories: Vec<F>,
    notified: &Notified,
) -> Vec<Result<(), Error<DbError>>>
where
    F: FnMut() -> std::future::Ready<Result<(), DbError>> + Send + 'static,
{
    let retry_if = deadlocks_only(notified);
    if spawned {
        parallel()
            .spawned()
            .collect_retrying(factories, retry_if)
            .await
    } else {
        parallel()
            .local()
            .collect_retrying(factories, retry_if)
            .await
    }
}

fn counters(n: usize) -> Vec<Arc<AtomicUsize>> {
    (0..n).map(|_| Arc::new(AtomicUsize::new(0))).collect()
}

fn counts(attempts: &[Arc<AtomicUsize>]) -> Vec<usize> {
    attempts.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_error_runs_the_task_exactly_once() {
    for spawned in [false, true] {
        let notified = Notified::default();
        let attempts = counters(3);
        let factories = failing(&attempts, |_| DbError::UniqueViolation);
        let results = collect_deadlocks_only(spawned, factories, &notified).await;
        assert_eq!(counts(&attempts), [1, 1, 1], "spawned: {spawned}");
        assert!(notified.lock().unwrap().is_empty(), "nothing was retried");
        for (i, result) in results.iter().enumerate() {
            match result {
                Err(Error::Task { index, source }) => {
                    assert_eq!((*index, source), (i, &DbError::UniqueViolation));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_retryable_error_runs_one_plus_max_retries_times_and_each_retry_is_notified() {
    for spawned in [false, true] {
        let notified = Notified::default();
        let attempts = counters(2);
        let factories = failing(&attempts, |_| DbError::Deadlock);
        let results = collect_deadlocks_only(spawned, factories, &notified).await;
        assert_eq!(
            counts(&attempts),
            [1 + MAX_RETRIES; 2],
            "spawned: {spawned}"
        );
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().unwrap_err().task_error() == Some(&DbError::Deadlock))
        );

        let mut notified = notified.lock().unwrap().clone();
        // The two tasks interleave; order by task, keeping each task's own order.
        notified.sort_by_key(|(index, _, _)| *index);
        let delays = [10_000, 20_000, 40_000];
        let expected: Vec<_> = [0, 1]
            .into_iter()
            .flat_map(|index| delays.map(|delay| (Some(index), Some(DbError::Deadlock), delay)))
            .collect();
        assert_eq!(notified, expected, "spawned: {spawned}");
    }
}

#[tokio::test(start_paused = true)]
async fn retrying_stops_at_the_first_failure_the_predicate_refuses() {
    let notified = Notified::default();
    let attempts = AtomicUsize::new(0);
    // A deadlock, then a unique violation (the retried INSERT found its own first row).
    let factory = || {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst);
        async move {
            if attempt == 0 {
                Err::<(), _>(DbError::Deadlock)
            } else {
                Err(DbError::UniqueViolation)
            }
        }
    };
    let err = parallel()
        .local()
        .try_run_retrying([factory], deadlocks_only(&notified))
        .await
        .unwrap_err();
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(err.task_error(), Some(&DbError::UniqueViolation));
    assert_eq!(
        *notified.lock().unwrap(),
        [(Some(0), Some(DbError::Deadlock), 10_000)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_predicate_sees_timeouts_and_can_refuse_them() {
    let attempts = AtomicUsize::new(0);
    let slow = || {
        attempts.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, DbError>(())
        }
    };
    // A timed-out write may have committed: do not run it again.
    let retry_if =
        RetryIf::when(|failure: &Error<DbError>| !matches!(failure, Error::Timeout { .. }));
    let err = parallel()
        .local()
        .try_run_retrying([slow], retry_if)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { index: 0, .. }), "{err:?}");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn always_retries_every_failure_and_notifies_each_retry() {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&delays);
    let retry_if = RetryIf::always().notify(move |failure: &Error<DbError>, delay| {
        assert!(matches!(
            failure,
            Error::Timeout { index: 0, .. } | Error::Task { index: 0, .. }
        ));
        sink.lock().unwrap().push(micros(delay));
    });
    let attempts = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&attempts);
    // Times out, then fails, then fails again, then fails a last time.
    let factory = move || {
        let attempt = count.fetch_add(1, Ordering::SeqCst);
        async move {
            if attempt == 0 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Err::<(), _>(DbError::UniqueViolation)
        }
    };
    let err = parallel()
        .spawned()
        .try_run_retrying([factory], retry_if)
        .await
        .unwrap_err();
    assert_eq!(err.task_error(), Some(&DbError::UniqueViolation));
    assert_eq!(attempts.load(Ordering::SeqCst), 1 + MAX_RETRIES);
    assert_eq!(*delays.lock().unwrap(), [10_000, 20_000, 40_000]);
}

#[tokio::test(start_paused = true)]
async fn without_a_policy_neither_the_predicate_nor_the_hook_is_called() {
    let calls = AtomicUsize::new(0);
    let parallel = Parallel::builder().build().unwrap();
    let retry_if = RetryIf::when(|_: &Error<DbError>| {
        calls.fetch_add(1, Ordering::SeqCst);
        true
    })
    .notify(|_, _| {
        calls.fetch_add(1, Ordering::SeqCst);
    });
    let attempts = AtomicUsize::new(0);
    let factory = || {
        attempts.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>(DbError::Deadlock) }
    };
    let results = parallel.local().collect_retrying([factory], retry_if).await;
    assert!(results[0].is_err());
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
