//! The HTTP layer with the installed global recorder, where it keeps its series handles instead
//! of looking them up per request: counts stay exact per endpoint, method and status class
//! under concurrent requests, cancelled requests are counted, the in-flight gauge returns to 0,
//! and a local recorder still gets its own counts. Installing is once per process: one test in
//! its own binary.
#![cfg(feature = "axum")]

#[path = "support/never_answers.rs"]
mod never_answers;

use std::pin::pin;
use std::task::{Context, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use never_answers::never_answers;
use perf_metrics::{HttpMetricsLayer, Metrics};
use tower::{ServiceBuilder, ServiceExt};

/// Value of the one `metric` series whose label set ends with `labels` (as rendered).
fn value(text: &str, metric: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            series
                .ends_with(&format!("{labels}}}"))
                .then(|| value.parse().ok())?
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_handles_count_exactly_like_lookups() {
    let metrics = Metrics::builder().service("scanner").install().unwrap();
    let app = Router::new()
        .route(
            "/api/scans/{id}",
            get(|| async { "scan" }).post(|| async { StatusCode::CREATED }),
        )
        .route("/gone", get(|| async { StatusCode::NOT_FOUND }))
        .layer(HttpMetricsLayer::new());
    let send = |method: &'static str, uri: String| {
        let app = app.clone();
        tokio::spawn(async move {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            app.oneshot(request).await.unwrap().status()
        })
    };
    let mut calls = Vec::new();
    for i in 0..300 {
        calls.push(send("GET", format!("/api/scans/{i}")));
        if i % 3 == 0 {
            calls.push(send("POST", format!("/api/scans/{i}")));
        }
        if i % 10 == 0 {
            calls.push(send("GET", "/gone".to_owned()));
        }
    }
    for call in calls {
        assert!(call.await.unwrap().as_u16() < 500);
    }
    let hanging = ServiceBuilder::new()
        .layer(HttpMetricsLayer::new())
        .service(never_answers());
    {
        let mut future = pin!(hanging.oneshot(Request::get("/y").body(()).unwrap()));
        assert!(
            future
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        let text = metrics.render();
        let in_flight = value(
            &text,
            "requests_in_flight",
            r#"endpoint="unmatched",method="GET""#,
        );
        assert_eq!(in_flight, Some(1.0), "{text}");
    }

    let text = metrics.render();
    let total = |labels: &str| value(&text, "requests_total", labels);
    let scans = r#"endpoint="/api/scans/{id}""#;
    assert_eq!(
        total(&format!(r#"{scans},method="GET",status="2xx""#)),
        Some(300.0)
    );
    assert_eq!(
        total(&format!(r#"{scans},method="POST",status="2xx""#)),
        Some(100.0)
    );
    assert_eq!(
        total(r#"endpoint="/gone",method="GET",status="4xx""#),
        Some(30.0)
    );
    assert_eq!(
        total(r#"endpoint="unmatched",method="GET",status="cancelled""#),
        Some(1.0)
    );
    let count = value(
        &text,
        "request_duration_seconds_count",
        &format!(r#"{scans},method="GET",status="2xx""#),
    );
    assert_eq!(count, Some(300.0));
    for (endpoint, method) in [
        (scans, "GET"),
        (scans, "POST"),
        (r#"endpoint="unmatched""#, "GET"),
    ] {
        let labels = format!(r#"{endpoint},method="{method}""#);
        assert_eq!(
            value(&text, "requests_in_flight", &labels),
            Some(0.0),
            "{labels}"
        );
    }

    // A local recorder still takes precedence on its thread: its requests go to it alone.
    let local = Metrics::builder().build().unwrap();
    let local_recorder = local.recorder();
    {
        let _guard = metrics::set_default_local_recorder(&local_recorder);
        let request = Request::get("/api/scans/1").body(Body::empty()).unwrap();
        assert_eq!(
            app.clone().oneshot(request).await.unwrap().status(),
            StatusCode::OK
        );
    }
    let get_2xx = format!(r#"{scans},method="GET",status="2xx""#);
    assert_eq!(
        value(&local.render(), "requests_total", &get_2xx),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics.render(), "requests_total", &get_2xx),
        Some(300.0)
    );
}
