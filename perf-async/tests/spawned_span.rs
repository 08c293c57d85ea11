//! Spawned tasks run inside the span that was current where the run was awaited, so their logs
//! keep the request's context (and perf-db's per-request N+1 detection sees their queries).
//!
//! A `tracing-subscriber` `Registry` layer records, for every event a task emits, the task's
//! index, the name of the span current inside the task, and that span's `request_id` field.
//! The subscriber is the process-wide default (spawned tasks run on worker threads), so every
//! test uses its own `request_id`s and reads only its own records.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use perf_async::{Parallel, RetryIf, RetryPolicy};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Instrument, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// What one task saw: the current span's name and its `request_id`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    span: Option<&'static str>,
    request_id: Option<u64>,
}

/// `(request id the task was given, task index)` → what the task saw, per event.
type Records = Arc<Mutex<BTreeMap<(u64, u64), Vec<Seen>>>>;

#[derive(Default)]
struct U64Field {
    name: &'static str,
    value: Option<u64>,
}

impl Visit for U64Field {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == self.name {
            self.value = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

fn field(name: &'static str, record: impl FnOnce(&mut U64Field)) -> Option<u64> {
    let mut visitor = U64Field { name, value: None };
    record(&mut visitor);
    visitor.value
}

/// The `request_id` a span was opened with, kept in the span's extensions.
struct RequestId(u64);

struct TaskSpans {
    records: Records,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TaskSpans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(request_id) = field("request_id", |v| attrs.record(v))
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let (Some(given), Some(task)) = (
            field("given_request", |v| event.record(v)),
            field("task", |v| event.record(v)),
        ) else {
            return;
        };
        // The event's contextual parent: the span current inside the task.
        let current = ctx.event_span(event);
        let seen = Seen {
            span: current.as_ref().map(|span| span.name()),
            request_id: current
                .as_ref()
                .and_then(|span| span.extensions().get::<RequestId>().map(|r| r.0)),
        };
        let mut records = self.records.lock().unwrap();
        records.entry((given, task)).or_default().push(seen);
    }
}

fn records() -> &'static Records {
    static RECORDS: OnceLock<Records> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let records = Records::default();
        tracing_subscriber::registry()
            .with(TaskSpans {
                records: Arc::clone(&records),
            })
            .try_init()
            .expect("no other global subscriber in this test binary");
        records
    })
}

/// What every task that was given `request_id` saw, by task index.
fn seen_by_tasks_of(request_id: u64) -> BTreeMap<u64, Vec<Seen>> {
    records()
        .lock()
        .unwrap()
        .iter()
        .filter(|((given, _), _)| *given == request_id)
        .map(|((_, task), seen)| (*task, seen.clone()))
        .collect()
}

fn inside_request(request_id: u64) -> Seen {
    Seen {
        span: Some("request"),
        request_id: Some(request_id),
    }
}

/// A task that yields to the scheduler (so it is polled by the runtime, not only at spawn) and
/// emits one event before and one after.
async fn task(request_id: u64, index: u64) -> u64 {
    tracing::info!(given_request = request_id, task = index, "start");
    tokio::time::sleep(Duration::from_millis(index % 3)).await;
    tracing::info!(given_request = request_id, task = index, "end");
    index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_run_inside_the_callers_span() {
    records();
    let parallel = Parallel::builder().max_concurrent(4).build().unwrap();
    let request_id = 101;
    let span = tracing::info_span!("request", perf.request_scope = true, request_id);
    let out = parallel
        .spawned()
        .run((0..20).map(|i| task(request_id, i)))
        .instrument(span)
        .await
        .unwrap();
    assert_eq!(out, (0..20).collect::<Vec<_>>());

    let seen = seen_by_tasks_of(request_id);
    assert_eq!(seen.len(), 20, "every task emitted its events: {seen:?}");
    for (index, events) in seen {
        assert_eq!(
            events,
            [inside_request(request_id), inside_request(request_id)],
            "task {index}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_sharing_one_parallel_keep_their_own_spans() {
    records();
    let parallel = Parallel::builder().max_concurrent(3).build().unwrap();
    let run = |request_id: u64| {
        let span = tracing::info_span!("request", perf.request_scope = true, request_id);
        let parallel = parallel.clone();
        async move {
            parallel
                .spawned()
                .try_run(
                    (0..10).map(move |i| async move { Ok::<_, String>(task(request_id, i).await) }),
                )
                .await
                .unwrap()
        }
        .instrument(span)
    };
    let (a, b) = tokio::join!(tokio::spawn(run(201)), tokio::spawn(run(202)));
    assert_eq!(a.unwrap().len(), 10);
    assert_eq!(b.unwrap().len(), 10);
    for request_id in [201, 202] {
        let seen = seen_by_tasks_of(request_id);
        assert_eq!(seen.len(), 10);
        for (index, events) in seen {
            assert_eq!(
                events,
                [inside_request(request_id), inside_request(request_id)],
                "request {request_id} task {index}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_of_a_spawned_retrying_task_runs_inside_the_callers_span() {
    records();
    let policy = RetryPolicy::exponential()
        .max_retries(2)
        .initial_delay(Duration::from_millis(1))
        .jitter(false);
    let parallel = Parallel::builder().retry(policy).build().unwrap();
    let request_id = 301;
    let factories = (0..4u64).map(|i| {
        let mut attempt = 0;
        move || {
            attempt += 1;
            let this_attempt = attempt;
            async move {
                task(request_id, i).await;
                // Every task fails its first attempt.
                if this_attempt == 1 {
                    Err("transient")
                } else {
                    Ok(i)
                }
            }
        }
    });
    let span = tracing::info_span!("request", perf.request_scope = true, request_id);
    let results = parallel
        .spawned()
        .collect_retrying(factories, RetryIf::always())
        .instrument(span)
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let seen = seen_by_tasks_of(request_id);
    assert_eq!(seen.len(), 4);
    for (index, events) in seen {
        // Two attempts, two events each, all in the request's span.
        assert_eq!(events, vec![inside_request(request_id); 4], "task {index}");
    }
}

#[tokio::test]
async fn local_tasks_run_inside_the_callers_span() {
    records();
    let parallel = Parallel::builder().max_concurrent(4).build().unwrap();
    let request_id = 401;
    let span = tracing::info_span!("request", perf.request_scope = true, request_id);
    parallel
        .local()
        .run((0..8).map(|i| task(request_id, i)))
        .instrument(span)
        .await
        .unwrap();
    let seen = seen_by_tasks_of(request_id);
    assert_eq!(seen.len(), 8);
    for (index, events) in seen {
        assert_eq!(
            events,
            [inside_request(request_id), inside_request(request_id)],
            "task {index}"
        );
    }
}
