//! Installing the global recorder: at most once per process, so one test in its own binary.
#![cfg(feature = "macros")]

use perf_metrics::{Error, Metrics, timed};

#[timed(labels(kind = "global"))]
fn work(fail: bool) -> Result<(), String> {
    if fail { Err("failed".into()) } else { Ok(()) }
}

#[test]
fn install_once_then_every_thread_records_into_it() {
    let metrics = Metrics::builder()
        .service("scanner")
        .instance("i1")
        .install()
        .unwrap();
    assert!(matches!(
        Metrics::builder().install(),
        Err(Error::AlreadyInstalled)
    ));

    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for i in 0..1000 {
                    work(i % 10 == 0).unwrap_or_default();
                    metrics::histogram!("db_query_duration_seconds", "pool" => "main")
                        .record(0.002);
                }
            });
        }
    });

    let snapshot = metrics.snapshot();
    let ok = snapshot
        .find(
            "function_duration_seconds",
            &[("function", "work"), ("outcome", "ok"), ("kind", "global")],
        )
        .unwrap();
    let err = snapshot
        .find(
            "function_duration_seconds",
            &[("function", "work"), ("outcome", "error")],
        )
        .unwrap();
    assert_eq!((ok.count, err.count), (1800, 200));
    assert_eq!(
        snapshot
            .find("db_query_duration_seconds", &[])
            .unwrap()
            .count,
        2000
    );

    // A local recorder still takes precedence on its thread (the cached handles are only used
    // for the installed global recorder).
    let local = Metrics::builder().build().unwrap();
    metrics::with_local_recorder(&local.recorder(), || work(false)).unwrap();
    assert_eq!(
        local
            .snapshot()
            .find("function_duration_seconds", &[])
            .unwrap()
            .count,
        1
    );
    let ok = metrics.snapshot();
    let ok = ok
        .find("function_duration_seconds", &[("outcome", "ok")])
        .unwrap();
    assert_eq!(ok.count, 1800);

    let text = metrics.render();
    assert!(text.contains(r#"function_duration_seconds_count{service_name="scanner",service_instance_id="i1",function="work",module="global",outcome="error",kind="global"} 200"#), "{text}");
}
