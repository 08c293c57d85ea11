//! Fail-open logging: tier errors are rate-limited and never show credentials.
#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use common::capture::Capture;
use common::{free_port, namespace};
use perf_cache::{Cache, Key};

#[tokio::test(flavor = "current_thread")]
async fn tier_errors_are_counted_logged_rate_limited_and_redacted() {
    let (capture, _guard) = Capture::install();

    // Nothing listens on this port; the breaker is set high so every call really fails.
    let url = format!("redis://app:hunter2@127.0.0.1:{}", free_port());
    let cache = Cache::<u64>::builder()
        .namespace(namespace("logging"))
        .redis_url(&url)
        .redis_timeout(Duration::from_millis(50))
        .breaker_threshold(1_000)
        .build()
        .await
        .unwrap();
    for i in 0..30_u64 {
        assert_eq!(
            cache
                .get_or_load(&Key::new("k").arg(i), move || async move { i })
                .await,
            i
        );
    }
    let errors = cache.stats().l2.unwrap().errors;
    assert!(
        errors >= 30,
        "every failed get and set is counted: {errors}"
    );

    let lines = capture.lines();
    assert!(!lines.is_empty(), "the outage is logged");
    assert!(
        lines.len() <= 3,
        "rate-limited to about one line per 10 s, got {}: {lines:#?}",
        lines.len()
    );
    for line in &lines {
        assert!(!line.contains("hunter2"), "password leaked: {line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("tier=\"l2\"")),
        "{lines:#?}"
    );
}
