//! The tower layer labels by route template, counts, and tracks requests in flight.
#![cfg(feature = "axum")]

#[path = "support/never_answers.rs"]
mod never_answers;

use std::borrow::Cow;
use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, Response, StatusCode};
use never_answers::never_answers;
use perf_metrics::{HttpMetricsLayer, Metrics};
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn app() -> Router {
    Router::new()
        .route("/api/scans/{id}", get(|| async { "scan" }))
        .route(
            "/api/scans",
            post(|| async { (StatusCode::CREATED, "created") }),
        )
        .route(
            "/api/fail",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .layer(HttpMetricsLayer::new())
}

async fn send(app: &Router, method: &str, uri: &str) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

/// The exposition text. (prometheus-parse, used in `exposition.rs`, splits label sets at the
/// first `}`, so it cannot read route templates such as `/api/scans/{id}`; promtool checks this
/// output in `dashboards.rs`.)
fn parse(metrics: &Metrics) -> String {
    metrics.render()
}

/// Value of the first series of `metric` whose labels include `labels`.
fn value(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let label_set = series
                .strip_prefix(metric)?
                .strip_prefix('{')?
                .strip_suffix('}')?;
            let has = |k: &str, v: &str| {
                let pair = format!("{k}=\"{v}\"");
                label_set.starts_with(&pair) || label_set.contains(&format!(",{pair}"))
            };
            labels
                .iter()
                .all(|(k, v)| has(k, v))
                .then(|| value.parse().ok())?
        })
}

#[tokio::test(flavor = "current_thread")]
async fn axum_requests_are_labelled_by_route_template() {
    let metrics = Metrics::builder().service("scanner").build().unwrap();
    let recorder = metrics.recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let app = app();

    assert_eq!(send(&app, "GET", "/api/scans/123").await, StatusCode::OK);
    assert_eq!(send(&app, "GET", "/api/scans/456").await, StatusCode::OK);
    assert_eq!(send(&app, "POST", "/api/scans").await, StatusCode::CREATED);
    assert_eq!(
        send(&app, "GET", "/api/fail").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(send(&app, "GET", "/nope/789").await, StatusCode::NOT_FOUND);

    let text = metrics.render();
    for raw in ["/api/scans/123", "/api/scans/456", "/nope/789"] {
        assert!(!text.contains(raw), "raw path {raw} leaked into {text}");
    }
    let text = parse(&metrics);
    let ok = [
        ("endpoint", "/api/scans/{id}"),
        ("method", "GET"),
        ("status", "2xx"),
    ];
    assert_eq!(value(&text, "requests_total", &ok), Some(2.0));
    assert_eq!(
        value(&text, "request_duration_seconds_count", &ok),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            "requests_total",
            &[
                ("endpoint", "/api/scans"),
                ("method", "POST"),
                ("status", "2xx")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "requests_total",
            &[("endpoint", "/api/fail"), ("status", "5xx")]
        ),
        Some(1.0)
    );
    // Router::layer also wraps the fallback, which has no MatchedPath.
    assert_eq!(
        value(
            &text,
            "requests_total",
            &[
                ("endpoint", "unmatched"),
                ("method", "GET"),
                ("status", "4xx")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "requests_in_flight",
            &[("endpoint", "/api/scans/{id}"), ("method", "GET")]
        ),
        Some(0.0)
    );

    let snapshot = metrics.snapshot();
    let series = snapshot.find("request_duration_seconds", &ok).unwrap();
    assert_eq!(series.count, 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_layer_around_the_whole_router_reports_unmatched() {
    let metrics = Metrics::builder().build().unwrap();
    let recorder = metrics.recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    // Outside the router, routing has not happened yet: no MatchedPath, never the raw path.
    let app = ServiceBuilder::new()
        .layer(HttpMetricsLayer::new())
        .service(Router::new().route("/api/scans/{id}", get(|| async { "scan" })));
    let request = Request::get("/api/scans/1").body(Body::empty()).unwrap();
    assert_eq!(app.oneshot(request).await.unwrap().status(), StatusCode::OK);
    let text = parse(&metrics);
    assert_eq!(
        value(
            &text,
            "requests_total",
            &[
                ("endpoint", "unmatched"),
                ("method", "GET"),
                ("status", "2xx")
            ]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn classifier_names_endpoints_for_plain_tower_services() {
    let metrics = Metrics::builder().build().unwrap();
    let recorder = metrics.recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let layer = HttpMetricsLayer::new().endpoint_classifier(|uri, _| {
        uri.path()
            .starts_with("/api/scans/")
            .then_some(Cow::Borrowed("/api/scans/{id}"))
    });
    let service =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new(()))
            }));
    for uri in ["/api/scans/1", "/api/scans/2", "/other"] {
        let request = Request::put(uri).body(()).unwrap();
        service.clone().oneshot(request).await.unwrap();
    }
    let text = parse(&metrics);
    assert_eq!(
        value(
            &text,
            "requests_total",
            &[
                ("endpoint", "/api/scans/{id}"),
                ("method", "PUT"),
                ("status", "2xx")
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "requests_total", &[("endpoint", "unmatched")]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn inner_errors_and_dropped_requests() {
    let metrics = Metrics::builder().build().unwrap();
    let recorder = metrics.recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let failing = ServiceBuilder::new()
        .layer(HttpMetricsLayer::new())
        .service(service_fn(|_req: Request<()>| async {
            Err::<Response<()>, _>("down")
        }));
    assert!(
        failing
            .oneshot(Request::get("/x").body(()).unwrap())
            .await
            .is_err()
    );

    let hanging = ServiceBuilder::new()
        .layer(HttpMetricsLayer::new())
        .service(never_answers());
    {
        let mut future = pin!(hanging.oneshot(Request::get("/y").body(()).unwrap()));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        let text = parse(&metrics);
        assert_eq!(
            value(
                &text,
                "requests_in_flight",
                &[("endpoint", "unmatched"), ("method", "GET")]
            ),
            Some(1.0)
        );
    } // dropped: client went away

    let text = parse(&metrics);
    assert_eq!(
        value(&text, "requests_total", &[("status", "error")]),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "requests_total", &[("status", "cancelled")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "requests_in_flight",
            &[("endpoint", "unmatched"), ("method", "GET")]
        ),
        Some(0.0)
    );
}

/// Distinct `status` values among the rendered `requests_total` series.
fn statuses(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("requests_total{"))
        .filter_map(|l| {
            let start = l.find("status=\"")? + "status=\"".len();
            Some(l[start..].split('"').next()?.to_owned())
        })
        .collect()
}

async fn send_statuses(layer: HttpMetricsLayer) -> std::collections::BTreeSet<String> {
    let metrics = Metrics::builder().service("scanner").build().unwrap();
    let recorder = metrics.recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let service =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|req: Request<()>| async move {
                let code: u16 = req.uri().path().trim_start_matches('/').parse().unwrap();
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::from_u16(code).unwrap();
                Ok::<_, Infallible>(response)
            }));
    // 100 distinct codes across every class, non-standard ones included.
    for code in (100..1000u16).step_by(9).take(100) {
        let request = Request::get(format!("/{code}")).body(()).unwrap();
        service.clone().oneshot(request).await.unwrap();
    }
    statuses(&metrics.render())
}

#[tokio::test(flavor = "current_thread")]
async fn status_codes_are_grouped_into_classes_unless_exact_codes_are_asked_for() {
    let grouped = send_statuses(HttpMetricsLayer::new()).await;
    assert_eq!(
        grouped.iter().map(String::as_str).collect::<Vec<_>>(),
        ["1xx", "2xx", "3xx", "4xx", "5xx"]
    );
    let exact = send_statuses(HttpMetricsLayer::new().exact_status_codes(true)).await;
    assert_eq!(exact.len(), 100);
}
