//! perf-metrics: cost of one histogram record and one `#[timed]` call, against the raw
//! `metrics::histogram!` macro (same recorder installed), the Prometheus exporter's own histogram
//! handle, and a plain `hdrhistogram` record; single-threaded and with two threads recording into
//! the same series.
//!
//! Run: `cargo bench -p perf-benches --bench metrics_record -- --warm-up-time 1 --measurement-time 3`
//!
//! Two-thread rows time one round in which each of two threads records once (`iters` records
//! per thread, wall time / `iters`), so they read as per-record latency under contention. The
//! second thread is long-lived (like a runtime worker) and the same for every row.

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use metrics::{Histogram, Key, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use perf_metrics::Metrics;

const VALUE: f64 = 0.042;
/// The same 42 ms in the integer microseconds hdrhistogram records.
const VALUE_MICROS: u64 = 42_000;
const UPKEEP: Duration = Duration::from_secs(1);

/// Our recorder, installed globally once for the whole run (upkeep every second).
fn installed() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        Metrics::builder()
            .service("bench")
            .instance("bench")
            .upkeep_interval(UPKEEP)
            .install()
            .expect("first install")
    })
}

/// The exporter alone, with its own upkeep thread at the same interval.
fn exporter_handle() -> Histogram {
    static EXPORTER: OnceLock<(
        metrics_exporter_prometheus::PrometheusRecorder,
        PrometheusHandle,
    )> = OnceLock::new();
    let (recorder, _) = EXPORTER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(perf_metrics::DEFAULT_LATENCY_BUCKETS)
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        let upkeep = handle.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            }
        });
        (recorder, handle)
    });
    static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);
    recorder.register_histogram(&Key::from_static_name("bench_exporter_seconds"), &METADATA)
}

fn ours_handle() -> Histogram {
    installed();
    metrics::histogram!("bench_handle_seconds", "endpoint" => "/api/scans/{id}")
}

fn via_macro() {
    metrics::histogram!("bench_macro_seconds", "endpoint" => "/api/scans/{id}")
        .record(black_box(VALUE));
}

fn hdr() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds")
}

#[perf_metrics::timed]
fn timed_work(x: u64) -> u64 {
    black_box(x)
}

fn manual_work(x: u64) -> u64 {
    let start = Instant::now();
    let result = black_box(x);
    metrics::histogram!(
        "function_duration_seconds",
        "function" => "manual_work",
        "module" => module_path!(),
        "outcome" => "ok"
    )
    .record(start.elapsed().as_secs_f64());
    result
}

fn untimed_work(x: u64) -> u64 {
    black_box(x)
}

type Job = Box<dyn FnOnce() + Send>;

/// A second, long-lived recording thread (like a runtime worker), so every sample sees the same
/// pair of threads rather than a fresh one.
fn helper() -> &'static Mutex<(mpsc::Sender<Job>, mpsc::Receiver<()>)> {
    static HELPER: OnceLock<Mutex<(mpsc::Sender<Job>, mpsc::Receiver<()>)>> = OnceLock::new();
    HELPER.get_or_init(|| {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            for job in job_rx {
                job();
                if done_tx.send(()).is_err() {
                    break;
                }
            }
        });
        Mutex::new((jobs, done))
    })
}

/// Wall time of `iters` rounds in which two threads each call `f` once.
fn two_threads<F: Fn() + Send + Sync + Clone + 'static>(iters: u64, f: F) -> Duration {
    two_threads_each(iters, f.clone(), f)
}

/// Wall time of `iters` rounds in which this thread calls `mine` and the helper `theirs`.
fn two_threads_each(iters: u64, mine: impl Fn(), theirs: impl Fn() + Send + 'static) -> Duration {
    let helper = helper().lock().expect("helper not poisoned");
    let barrier = Arc::new(Barrier::new(2));
    let their_barrier = Arc::clone(&barrier);
    helper
        .0
        .send(Box::new(move || {
            their_barrier.wait();
            for _ in 0..iters {
                theirs();
            }
        }))
        .expect("helper alive");
    barrier.wait();
    let start = Instant::now();
    for _ in 0..iters {
        mine();
    }
    helper.1.recv().expect("helper finished");
    start.elapsed()
}

fn histogram_record(c: &mut Criterion) {
    let ours = ours_handle();
    let exporter = exporter_handle();

    let mut group = c.benchmark_group("metrics_histogram_record/single_thread");
    group.bench_function("perf_metrics handle (export buckets + window)", |b| {
        b.iter(|| ours.record(black_box(VALUE)))
    });
    group.bench_function("exporter handle alone", |b| {
        b.iter(|| exporter.record(black_box(VALUE)))
    });
    group.bench_function("metrics::histogram! macro (perf_metrics installed)", |b| {
        b.iter(via_macro)
    });
    let mut h = hdr();
    group.bench_function("hdrhistogram record", |b| {
        b.iter(|| h.record(black_box(VALUE_MICROS)).expect("in range"))
    });
    group.finish();

    let mut group = c.benchmark_group("metrics_histogram_record/two_threads_same_series");
    group.bench_function("perf_metrics handle (export buckets + window)", |b| {
        b.iter_custom(|iters| {
            let ours = ours.clone();
            two_threads(iters, move || ours.record(black_box(VALUE)))
        });
    });
    // Control: the same two threads on two different series share no data at all, so the
    // difference to the row above is the cost of sharing one series.
    let other = metrics::histogram!("bench_handle_seconds", "endpoint" => "/control");
    group.bench_function(
        "control: perf_metrics handles, one series per thread",
        |b| {
            b.iter_custom(|iters| {
                let (mine, theirs) = (ours.clone(), other.clone());
                two_threads_each(
                    iters,
                    move || mine.record(black_box(VALUE)),
                    move || {
                        theirs.record(black_box(VALUE));
                    },
                )
            });
        },
    );
    group.bench_function("exporter handle alone", |b| {
        b.iter_custom(|iters| {
            let exporter = exporter.clone();
            two_threads(iters, move || exporter.record(black_box(VALUE)))
        });
    });
    group.bench_function("metrics::histogram! macro (perf_metrics installed)", |b| {
        b.iter_custom(|iters| two_threads(iters, via_macro));
    });
    let shared = Arc::new(Mutex::new(hdr()));
    group.bench_function("hdrhistogram behind a Mutex", |b| {
        b.iter_custom(|iters| {
            let shared = Arc::clone(&shared);
            two_threads(iters, move || {
                let mut h = shared.lock().expect("not poisoned");
                h.record(black_box(VALUE_MICROS)).expect("in range");
            })
        });
    });
    group.finish();
}

fn timed_call(c: &mut Criterion) {
    installed();
    let mut group = c.benchmark_group("metrics_timed_call/single_thread");
    group.bench_function("#[timed] fn", |b| b.iter(|| timed_work(black_box(7))));
    group.bench_function("Instant + metrics::histogram! by hand", |b| {
        b.iter(|| manual_work(black_box(7)))
    });
    group.bench_function("untimed fn", |b| b.iter(|| untimed_work(black_box(7))));
    group.finish();

    let mut group = c.benchmark_group("metrics_timed_call/two_threads_same_series");
    group.bench_function("#[timed] fn", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(timed_work(black_box(7)));
            })
        });
    });
    group.bench_function("Instant + metrics::histogram! by hand", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, || {
                black_box(manual_work(black_box(7)));
            })
        });
    });
    group.finish();
}

criterion_group!(benches, histogram_record, timed_call);
criterion_main!(benches);
