//! `#[cached(tags = [..])]` end to end against L1 + the real Redis: the templates tag each
//! result, `Backend::invalidate_tag` drops exactly the results carrying the tag (in this
//! instance and, after bus delivery, in another), and a body may add tags of its own.
#![cfg(feature = "redis")]
#![deny(warnings)]

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use perf_cache::{Backend, cached, set_result_tags};

static BACKEND: OnceLock<Backend> = OnceLock::new();
static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(prefix = "scans", tags = ["scan:{scan_id}", "target:{target}"],
         backend = BACKEND.get().expect("the test sets BACKEND"))]
async fn scan_results(scan_id: &str, target: &str) -> String {
    RUNS.fetch_add(1, SeqCst);
    format!("{scan_id}@{target}")
}

#[cached(prefix = "reports", tags = "target:{target}",
         backend = BACKEND.get().expect("the test sets BACKEND"))]
async fn report(target: String, page: u32) -> Result<String, String> {
    RUNS.fetch_add(1, SeqCst);
    if page > 1 {
        // Known only once the body ran.
        set_result_tags(["paged"]);
    }
    Ok(format!("{target}#{page}"))
}

fn runs() -> usize {
    RUNS.load(SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_templates_invalidate_what_they_name() {
    let url = common::redis_url();
    let ns = common::namespace("cached-tags");
    let build = || {
        Backend::builder()
            .namespace(&ns)
            .redis_url(&url)
            .require_l2(true)
            .bus_heartbeat(Duration::from_millis(100))
            .build()
    };
    let a = build().await.unwrap();
    BACKEND.set(a.clone()).unwrap();

    for (scan, target) in [("s1", "a.org"), ("s2", "a.org"), ("s3", "b.org")] {
        scan_results(scan, target).await;
    }
    for page in 1..=3 {
        report("a.org".into(), page).await.unwrap();
        report("b.org".into(), page).await.unwrap();
    }
    assert_eq!(runs(), 9);
    scan_results("s1", "a.org").await;
    report("b.org".into(), 3).await.unwrap();
    assert_eq!(runs(), 9, "all hits");

    // Another instance reads the same entries from Redis (its own L1).
    let b = build().await.unwrap();
    let b_reports = perf_cache::Cache::<String>::builder()
        .prefix("reports")
        .build_on(&b)
        .unwrap();
    let b_key = |target: &str, page: u32| perf_cache::Key::new(target).arg(page);
    assert_eq!(
        b_reports.get(&b_key("a.org", 2)).await.as_deref(),
        Some("a.org#2")
    );
    assert_eq!(
        b_reports.get(&b_key("b.org", 2)).await.as_deref(),
        Some("b.org#2")
    );

    // The template's value is the argument's key text: `target:a.org`.
    assert!(
        a.invalidate_tag("target:a.org")
            .await
            .unwrap()
            .is_complete()
    );
    scan_results("s3", "b.org").await;
    report("b.org".into(), 1).await.unwrap();
    assert_eq!(runs(), 9, "b.org entries stay");
    scan_results("s1", "a.org").await;
    scan_results("s2", "a.org").await;
    report("a.org".into(), 1).await.unwrap();
    assert_eq!(runs(), 12, "a.org entries of both functions were dropped");
    // B (nothing reloaded a.org page 2 since): its L1 copy goes once the bus delivered.
    assert!(
        common::eventually(300, async || b_reports
            .get(&b_key("a.org", 2))
            .await
            .is_none())
        .await,
        "B served a result of an invalidated tag"
    );
    assert_eq!(
        b_reports.get(&b_key("b.org", 2)).await.as_deref(),
        Some("b.org#2")
    );

    // One scan only.
    assert!(a.invalidate_tag("scan:s3").await.unwrap().is_complete());
    scan_results("s3", "b.org").await;
    scan_results("s1", "a.org").await;
    assert_eq!(runs(), 13);

    // The body's own tag: pages 2 and 3 of both targets.
    assert!(a.invalidate_tag("paged").await.unwrap().is_complete());
    report("b.org".into(), 1).await.unwrap();
    assert_eq!(runs(), 13);
    report("b.org".into(), 2).await.unwrap();
    report("a.org".into(), 3).await.unwrap();
    assert_eq!(runs(), 15);
    assert_eq!(a.invalidation_stats().tags, 3);

    let mut c = common::raw(&url).await;
    let keys: Vec<Vec<u8>> = common::scan(&mut c, format!("{ns}%*").as_str(), 1000).await;
    common::cleanup(&url, &ns).await;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}
