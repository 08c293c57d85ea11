//! `#[timed]`: outcome labels, names, labels, and the shapes of function it accepts.
#![cfg(feature = "macros")]

use std::fmt::Display;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use perf_metrics::{Metrics, PerformanceSnapshot, timed};

#[derive(Debug)]
struct ParseError;

impl From<std::num::ParseIntError> for ParseError {
    fn from(_: std::num::ParseIntError) -> Self {
        ParseError
    }
}

#[timed]
fn parse(input: &str) -> Result<u32, ParseError> {
    // `?` with a `From` conversion must still infer inside the wrapper.
    let n: u32 = input.parse()?;
    Ok(n)
}

#[timed]
async fn fetch(input: &str) -> Result<u32, ParseError> {
    tokio::task::yield_now().await;
    let n: u32 = input.parse()?;
    if n == 0 {
        return Err(ParseError);
    }
    Ok(n)
}

#[timed]
async fn never_finishes() -> Result<(), ParseError> {
    std::future::pending::<()>().await;
    Ok(())
}

#[timed]
fn panics() -> u32 {
    panic!("boom")
}

#[timed]
fn maybe(flag: bool) -> Option<u32> {
    flag.then_some(1)
}

#[timed]
fn shows(value: u32) -> impl Display {
    value * 2
}

#[timed]
fn generic<T: Clone>(value: &T) -> T {
    value.clone()
}

#[timed(
    name = "scan_duration_seconds",
    labels(scan_type = "nmap", tier = "fast")
)]
async fn scan(host: &str) -> Result<usize, String> {
    Ok(host.len())
}

struct Scanner {
    scans: u32,
}

impl Scanner {
    #[timed]
    fn record(&mut self) -> u32 {
        self.scans += 1;
        self.scans
    }

    #[timed]
    fn name(&self) -> &str {
        "scanner"
    }
}

mod inner {
    #[perf_metrics::timed]
    pub(crate) fn nested() {}
}

fn count(snapshot: &PerformanceSnapshot, name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot.find(name, labels).map_or(0, |s| s.count)
}

fn run<T>(metrics: &Metrics, f: impl FnOnce() -> T) -> T {
    metrics::with_local_recorder(&metrics.recorder(), f)
}

#[test]
fn sync_result_ok_and_err() {
    let metrics = Metrics::builder().build().unwrap();
    run(&metrics, || {
        assert_eq!(parse("42").unwrap(), 42);
        assert_eq!(parse("7").unwrap(), 7);
        assert!(parse("x").is_err());
    });
    let s = metrics.snapshot();
    let f = "function_duration_seconds";
    assert_eq!(
        count(
            &s,
            f,
            &[
                ("function", "parse"),
                ("outcome", "ok"),
                ("module", "timed")
            ]
        ),
        2
    );
    assert_eq!(
        count(&s, f, &[("function", "parse"), ("outcome", "error")]),
        1
    );
    assert_eq!(
        count(&s, f, &[("function", "parse"), ("outcome", "cancelled")]),
        0
    );
}

#[test]
fn async_ok_err_and_cancelled() {
    let metrics = Metrics::builder().build().unwrap();
    run(&metrics, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(fetch("5").await.unwrap(), 5);
            assert!(fetch("0").await.is_err());
            assert!(fetch("x").await.is_err());
        });

        // Polled once, then dropped: cancelled.
        {
            let mut future = pin!(never_finishes());
            let mut cx = Context::from_waker(Waker::noop());
            assert!(future.as_mut().poll(&mut cx).is_pending());
        }
        // Never polled: the body never started, nothing is recorded.
        drop(never_finishes());
    });
    let s = metrics.snapshot();
    let f = "function_duration_seconds";
    assert_eq!(count(&s, f, &[("function", "fetch"), ("outcome", "ok")]), 1);
    assert_eq!(
        count(&s, f, &[("function", "fetch"), ("outcome", "error")]),
        2
    );
    assert_eq!(
        count(
            &s,
            f,
            &[("function", "never_finishes"), ("outcome", "cancelled")]
        ),
        1
    );
    assert_eq!(
        count(&s, f, &[("function", "never_finishes"), ("outcome", "ok")]),
        0
    );
    assert_eq!(
        s.series_named(f)
            .filter(|x| x.labels["function"] == "never_finishes")
            .count(),
        1
    );
}

#[test]
fn async_completion_after_pending_is_ok() {
    let metrics = Metrics::builder().build().unwrap();
    run(&metrics, || {
        let mut future = pin!(fetch("3"));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending()); // at yield_now
        assert!(matches!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(3))));
    });
    let s = metrics.snapshot();
    assert_eq!(
        count(
            &s,
            "function_duration_seconds",
            &[("function", "fetch"), ("outcome", "ok")]
        ),
        1
    );
    assert_eq!(
        count(&s, "function_duration_seconds", &[("outcome", "cancelled")]),
        0
    );
}

#[test]
fn panic_is_an_error() {
    let metrics = Metrics::builder().build().unwrap();
    run(&metrics, || {
        assert!(std::panic::catch_unwind(panics).is_err());
    });
    let s = metrics.snapshot();
    assert_eq!(
        count(
            &s,
            "function_duration_seconds",
            &[("function", "panics"), ("outcome", "error")]
        ),
        1
    );
}

#[test]
fn non_result_returns_are_ok() {
    let metrics = Metrics::builder().build().unwrap();
    run(&metrics, || {
        assert_eq!(maybe(false), None);
        assert_eq!(maybe(true), Some(1));
        assert_eq!(shows(21).to_string(), "42");
        assert_eq!(generic(&String::from("a")), "a");
        let mut scanner = Scanner { scans: 0 };
        assert_eq!(scanner.record(), 1);
        assert_eq!(scanner.name(), "scanner");
        inner::nested();
    });
    let s = metrics.snapshot();
    let f = "function_duration_seconds";
    assert_eq!(count(&s, f, &[("function", "maybe"), ("outcome", "ok")]), 2);
    assert_eq!(count(&s, f, &[("function", "shows"), ("outcome", "ok")]), 1);
    assert_eq!(
        count(&s, f, &[("function", "generic"), ("outcome", "ok")]),
        1
    );
    assert_eq!(
        count(&s, f, &[("function", "record"), ("outcome", "ok")]),
        1
    );
    assert_eq!(count(&s, f, &[("function", "name"), ("outcome", "ok")]), 1);
    assert_eq!(
        count(&s, f, &[("function", "nested"), ("module", "timed::inner")]),
        1
    );
    assert!(s.series.iter().all(|x| x.labels["outcome"] == "ok"));
}

#[test]
fn custom_name_and_static_labels() {
    let metrics = Metrics::builder().service("scanner").build().unwrap();
    run(&metrics, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(scan("10.0.0.1")).unwrap(), 8);
    });
    let s = metrics.snapshot();
    let series = s.find("scan_duration_seconds", &[]).unwrap();
    assert_eq!(series.count, 1);
    let labels: Vec<(&str, &str)> = series
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("function", "scan"),
            ("module", "timed"),
            ("outcome", "ok"),
            ("scan_type", "nmap"),
            ("tier", "fast")
        ]
    );
    assert!(
        metrics
            .render()
            .contains(r#"scan_duration_seconds_count{service_name="scanner","#)
    );
    assert!(s.find("function_duration_seconds", &[]).is_none());
}
