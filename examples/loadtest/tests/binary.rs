//! Runs the built `loadtest` binary against an in-test stub of scan-service and checks what it
//! sent (the stub's counts) against what it reported (stdout, JSON, SVG, exit code).
//! Runs are bounded by `--iterations` (the counts do not depend on speed) with a generous
//! `--duration` as a safety net; nothing asserts on speed.

mod stub;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use stub::{Counts, Mode};

/// Runs the binary with `args` (after `--url http://addr`) and returns its output.
async fn loadtest(addr: SocketAddr, args: &[&str]) -> Output {
    let mut argv = vec!["--url".to_owned(), format!("http://{addr}")];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
            .args(&argv)
            .env_remove("SCAN_SERVICE_USER")
            .env_remove("SCAN_SERVICE_PASSWORD")
            .output()
            .expect("the loadtest binary runs")
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_json(dir: &Path) -> Value {
    let raw = std::fs::read_to_string(dir.join("loadtest.json")).expect("loadtest.json written");
    serde_json::from_str(&raw).expect("loadtest.json is JSON")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

/// `observed` is within 6 binomial standard deviations of `n * p`.
fn assert_binomial(name: &str, observed: u64, n: u64, p: f64) {
    #[allow(clippy::cast_precision_loss)]
    let (n, observed) = (n as f64, observed as f64);
    let (mean, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
    assert!(
        (observed - mean).abs() <= 6.0 * sd,
        "{name}: {observed} requests, expected {mean:.0} ± {:.0} (6 sd)",
        6.0 * sd
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_mix_logins_ids_cache_delta_json_and_svg() {
    let (addr, stub) = stub::start(Mode::Healthy).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (users, iterations) = (6u64, 200u64);
    let output = loadtest(
        addr,
        &[
            "--users",
            "6",
            "--iterations",
            "200",
            "--duration",
            "120s",
            "--ids",
            "100",
            "--pages",
            "3",
            "--filter-share",
            "0.3",
            "--seed",
            "42",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let c: &Counts = &stub.counts;

    // Login once per user, and every scenario request carries that user's token.
    assert_eq!(Counts::get(&c.logins), users, "one login per user");
    assert_eq!(Counts::get(&c.unauthorized), 0);
    assert_eq!(
        c.used.lock().unwrap().len(),
        6,
        "each user used its own token"
    );
    assert!(
        c.contract_violations.lock().unwrap().is_empty(),
        "{:?}",
        c.contract_violations
    );

    // The mix: 3:2:1 over users × iterations tasks.
    let (list, one, create) = (
        Counts::get(&c.view_list),
        Counts::get(&c.view_one),
        Counts::get(&c.create),
    );
    let n = users * iterations;
    assert_eq!(
        list + one + create,
        n,
        "every user ran exactly --iterations tasks"
    );
    assert_binomial("view_list", list, n, 3.0 / 6.0);
    assert_binomial("view_one", one, n, 2.0 / 6.0);
    assert_binomial("create", create, n, 1.0 / 6.0);
    let filtered = Counts::get(&c.filtered);
    assert!(
        filtered > 0 && filtered < list,
        "some list views filter: {filtered} of {list}"
    );

    // Zipf ids over 1..=100 and pages over 1..=3, the lowest the most requested.
    let ids = c.ids.lock().unwrap().clone();
    assert!(ids.keys().all(|id| (1..=100).contains(id)), "{ids:?}");
    let count = |id| ids.get(&id).copied().unwrap_or(0);
    assert!(
        count(1) > count(2) && count(2) > count(50),
        "id 1: {}, id 2: {}, id 50: {}",
        count(1),
        count(2),
        count(50)
    );
    let pages = c.pages.lock().unwrap().clone();
    assert!(pages.keys().all(|p| (1..=3).contains(p)), "{pages:?}");
    assert!(pages.get(&1) > pages.get(&3), "{pages:?}");

    // The JSON: every field, counts equal to what the stub received.
    let json = read_json(&out);
    for field in [
        "config",
        "started_at",
        "elapsed_seconds",
        "users",
        "requests",
        "errors",
        "error_rate",
        "rps",
        "latency_ms",
        "tasks",
        "errors_by_kind",
        "errors_by_status",
        "cache",
        "timeline",
        "warnings",
    ] {
        assert!(
            json.get(field).is_some(),
            "loadtest.json has no `{field}`:\n{json:#}"
        );
    }
    for field in ["p50", "p95", "p99", "max", "mean"] {
        assert!(
            json["latency_ms"][field].as_f64().is_some(),
            "latency_ms.{field}"
        );
    }
    for kind in [
        "timeout",
        "connect",
        "transport",
        "status_429",
        "status_4xx",
        "status_5xx",
    ] {
        assert_eq!(json["errors_by_kind"][kind], 0, "errors_by_kind.{kind}");
    }
    assert_eq!(u(&json["requests"]), n + users);
    assert_eq!(u(&json["errors"]), 0);
    assert_eq!(json["error_rate"], 0.0);
    assert!(json["rps"].as_f64().unwrap() > 0.0);
    assert_eq!(u(&json["tasks"]["view_list"]["requests"]), list);
    assert_eq!(u(&json["tasks"]["view_one"]["requests"]), one);
    assert_eq!(u(&json["tasks"]["create"]["requests"]), create);
    assert_eq!(u(&json["tasks"]["login"]["requests"]), users);
    for task in ["view_list", "view_one", "create", "login"] {
        for field in [
            "requests",
            "errors",
            "error_rate",
            "rps",
            "latency_ms",
            "errors_by_kind",
        ] {
            assert!(
                json["tasks"][task].get(field).is_some(),
                "tasks.{task}.{field}"
            );
        }
    }
    assert_eq!(u(&json["users"]["started"]), users);
    assert_eq!(u(&json["users"]["failed_login"]), 0);
    assert_eq!(u(&json["users"]["tasks"]), n);
    assert_eq!(u(&json["config"]["seed"]), 42);
    assert_eq!(json["config"]["mix"], "view_list=3,view_one=2,create=1");
    let timeline = json["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty());
    assert_eq!(
        timeline.iter().map(|s| u(&s["requests"])).sum::<u64>(),
        n + users
    );
    for s in timeline {
        for field in [
            "second",
            "span_seconds",
            "requests",
            "errors",
            "rps",
            "p50_ms",
            "p95_ms",
            "p99_ms",
        ] {
            assert!(
                s.get(field).is_some(),
                "timeline entry without {field}: {s}"
            );
        }
    }

    // The cache hit rate is the run's, not the service's lifetime 50 %.
    let (hits, misses) = (Counts::get(&c.cache_hits), Counts::get(&c.cache_misses));
    assert_eq!(hits + misses, one);
    let cache = &json["cache"];
    assert_eq!(u(&cache["before"]["hits"]), stub::LIFETIME_HITS);
    assert_eq!(u(&cache["before"]["misses"]), stub::LIFETIME_MISSES);
    assert_eq!((u(&cache["hits"]), u(&cache["misses"])), (hits, misses));
    #[allow(clippy::cast_precision_loss)]
    let expected = hits as f64 / (hits + misses) as f64;
    let ratio = cache["hit_ratio"].as_f64().unwrap();
    assert!(
        (ratio - expected).abs() < 1e-12,
        "hit_ratio {ratio}, expected {expected}"
    );
    assert!(
        ratio > 0.5,
        "a Zipf load on 10 cached ids of 100 beats the lifetime 50 %: {ratio}"
    );
    assert_eq!(cache["hit_rate"], format!("{:.2}%", expected * 100.0));
    assert_eq!(
        Counts::get(&c.cache_stats),
        2,
        "cache stats read before and after"
    );

    // Stdout has the table and the run's hit rate.
    for needle in [
        "view_list",
        "view_one",
        "create",
        "login",
        "p99 ms",
        "cache hit rate during the run",
    ] {
        assert!(
            stdout.contains(needle),
            "stdout lacks `{needle}`:\n{stdout}"
        );
    }
    assert!(
        stdout.contains(&format!("{:.2}%", expected * 100.0)),
        "{stdout}"
    );
    assert!(!stdout.contains(stub::PASSWORD) && !stderr.contains(stub::PASSWORD));

    // The SVG: well-formed XML with both panels, their axis labels and every series.
    let svg = std::fs::read_to_string(out.join("loadtest.svg")).expect("loadtest.svg written");
    let doc = roxmltree::Document::parse(&svg).expect("loadtest.svg is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
        .collect();
    for label in [
        "p50",
        "p95",
        "p99",
        "requests/s",
        "errors/s",
        "latency (ms)",
        "requests per second",
        "seconds since start",
        "Latency per second",
        "Throughput per second",
    ] {
        assert!(
            texts.iter().any(|t| t == label),
            "the SVG has no text `{label}`: {texts:?}"
        );
    }
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    assert!(lines >= 3, "p50, p95 and p99 are polylines; found {lines}");
    let seconds = timeline.len();
    let bars = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#2CA02C"))
        .count();
    assert!(
        (seconds..=seconds + 1).contains(&bars),
        "a requests/s bar per second (a trailing sliver left out) and one in the legend: \
         {bars} bars for {seconds} seconds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_kind_and_fail_the_error_budget() {
    let (addr, stub) = stub::start(Mode::Faulty).await;
    let dir = tempfile::tempdir().unwrap();
    let output = loadtest(
        addr,
        &[
            "--users",
            "4",
            "--iterations",
            "60",
            "--duration",
            "120s",
            "--mix",
            "view_one=2,create=1",
            "--request-timeout",
            "300ms",
            "--max-error-rate",
            "0.01",
            "--seed",
            "7",
            "--out",
            dir.path().to_str().unwrap(),
        ],
    )
    .await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("--max-error-rate"), "{stderr}");

    let c = &stub.counts;
    let (sent_500, sent_429, sent_422, slow) = (
        Counts::get(&c.sent_500),
        Counts::get(&c.sent_429),
        Counts::get(&c.sent_422),
        Counts::get(&c.sent_slow),
    );
    assert!(
        sent_500 > 0 && sent_429 > 0 && sent_422 > 0,
        "{sent_500} {sent_429} {sent_422}"
    );
    assert_eq!(slow, stub::SLOW_ANSWERS, "the stub sent its slow answers");
    assert_eq!(Counts::get(&c.view_list), 0, "view_list has weight 0");
    assert_eq!(Counts::get(&c.view_one) + Counts::get(&c.create), 240);

    let json = read_json(dir.path());
    let kinds = &json["errors_by_kind"];
    assert_eq!(u(&kinds["status_5xx"]), sent_500);
    assert_eq!(u(&kinds["status_429"]), sent_429);
    assert_eq!(
        u(&kinds["status_4xx"]),
        sent_422,
        "422s are 4xx, apart from 429s"
    );
    assert_eq!(u(&kinds["timeout"]), slow, "each slow answer is a timeout");
    assert_eq!(u(&kinds["connect"]), 0);
    assert_eq!(u(&kinds["transport"]), 0);
    assert_eq!(u(&json["errors"]), sent_500 + sent_429 + sent_422 + slow);
    let by_status = &json["errors_by_status"];
    assert_eq!(u(&by_status["500"]), sent_500);
    assert_eq!(u(&by_status["429"]), sent_429);
    assert_eq!(u(&by_status["422"]), sent_422);
    assert_eq!(
        u(&json["tasks"]["create"]["errors_by_kind"]["status_4xx"]),
        sent_422
    );
    assert_eq!(
        u(&json["tasks"]["view_one"]["errors_by_kind"]["timeout"]),
        slow
    );
    assert_eq!(u(&json["requests"]), 244);
    let rate = json["error_rate"].as_f64().unwrap();
    #[allow(clippy::cast_precision_loss)]
    let expected = (sent_500 + sent_429 + sent_422 + slow) as f64 / 244.0;
    assert!(
        (rate - expected).abs() < 1e-12,
        "error_rate {rate}, expected {expected}"
    );
    assert!(stdout.contains(&format!("5xx {sent_500}")), "{stdout}");
    assert!(stdout.contains(&format!("429 {sent_429}")), "{stdout}");
    assert!(stdout.contains(&format!("timeout {slow}")), "{stdout}");

    // The chart shows the errors: red bars besides the legend's.
    let svg = std::fs::read_to_string(dir.path().join("loadtest.svg")).expect("loadtest.svg");
    let doc = roxmltree::Document::parse(&svg).expect("loadtest.svg is well-formed XML");
    let error_bars = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#C81E1E"))
        .count();
    assert!(error_bars >= 2, "errors/s bars and legend: {error_bars}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_service_exits_2_with_a_message() {
    // A port that was free a moment ago: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = loadtest(addr, &["--users", "2", "--duration", "5s"]).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not reachable") && stderr.contains(&addr.to_string()),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_login_exits_2_without_printing_the_password() {
    let (addr, stub) = stub::start(Mode::Healthy).await;
    let output = loadtest(
        addr,
        &[
            "--users",
            "3",
            "--duration",
            "5s",
            "--password",
            "hunter2-wrong",
        ],
    )
    .await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("login failed") && stderr.contains("401"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2-wrong") && !stdout.contains("hunter2-wrong"));
    assert_eq!(
        Counts::get(&stub.counts.logins),
        1,
        "a 401 is not retried; no other user starts"
    );
    assert_eq!(
        Counts::get(&stub.counts.view_one) + Counts::get(&stub.counts.view_list),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_ends_a_run_with_think_time_and_ramp_up() {
    let (addr, stub) = stub::start(Mode::NoCacheStats).await;
    let dir = tempfile::tempdir().unwrap();
    let output = loadtest(
        addr,
        &[
            "--users",
            "4",
            "--ramp-up",
            "40",
            "--duration",
            "1500ms",
            "--think-time",
            "20ms..60ms",
            "--out",
            dir.path().to_str().unwrap(),
        ],
    )
    .await;
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    // Every user started (the last at 75 ms) and logged in once; the duration ended the run.
    assert_eq!(Counts::get(&stub.counts.logins), 4);
    let json = read_json(dir.path());
    assert_eq!(u(&json["users"]["started"]), 4);
    let sent = Counts::get(&stub.counts.view_list)
        + Counts::get(&stub.counts.view_one)
        + Counts::get(&stub.counts.create);
    assert!(
        sent >= 4,
        "each user ran at least one task before the deadline: {sent}"
    );
    assert_eq!(u(&json["users"]["tasks"]), sent);
    assert_eq!(json["config"]["think_time"], "20ms..60ms");
    // No cache stats at this service: the run still reports, without a hit rate.
    assert!(json["cache"].is_null());
    assert!(
        json["warnings"]
            .to_string()
            .contains("cache stats unavailable"),
        "{}",
        json["warnings"]
    );
    assert!(stdout.contains("unknown (no cache stats)"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_readiness_and_sends_accept_encoding_on_scenario_requests_only() {
    let (addr, stub) = stub::start_warming(Mode::Healthy, 3).await;
    let output = loadtest(
        addr,
        &[
            "--users",
            "2",
            "--iterations",
            "10",
            "--duration",
            "120s",
            "--wait-ready",
            "30s",
            "--accept-encoding",
            "gzip",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let c = &stub.counts;
    assert_eq!(Counts::get(&c.health), 4, "three 503s, then ready");
    let encodings = c.encodings.lock().unwrap().clone();
    let seen = |kind: &str, enc: &str| encodings.get(&(kind.to_owned(), enc.to_owned())).copied();
    assert_eq!(seen("scenario", "gzip"), Some(20), "{encodings:?}");
    assert_eq!(seen("scenario", "none"), None, "{encodings:?}");
    assert_eq!(
        seen("login", "none"),
        Some(2),
        "the login answer is parsed: no compression"
    );
    assert_eq!(
        seen("stats", "none"),
        Some(2),
        "the cache stats are parsed: no compression"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_never_gets_ready_exits_2() {
    let (addr, stub) = stub::start_warming(Mode::Healthy, u64::MAX).await;
    let output = loadtest(addr, &["--users", "2", "--wait-ready", "700ms"]).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("did not report ready") && stderr.contains("503"),
        "{stderr}"
    );
    assert!(Counts::get(&stub.counts.health) >= 2, "it polled /health");
    assert_eq!(Counts::get(&stub.counts.logins), 0, "no user started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_logins_are_retried_and_counted() {
    let (addr, stub) = stub::start(Mode::ThrottledLogins).await;
    let dir = tempfile::tempdir().unwrap();
    let output = loadtest(
        addr,
        &[
            "--users",
            "5",
            "--iterations",
            "4",
            "--duration",
            "120s",
            "--out",
            dir.path().to_str().unwrap(),
        ],
    )
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let c = &stub.counts;
    let throttled = Counts::get(&c.sent_429);
    assert!(throttled >= 1, "some logins were throttled");
    assert_eq!(
        Counts::get(&c.logins),
        5 + throttled,
        "each throttled login was retried"
    );
    assert_eq!(c.issued.lock().unwrap().len(), 5);
    let json = read_json(dir.path());
    assert_eq!(u(&json["users"]["failed_login"]), 0);
    assert_eq!(
        u(&json["users"]["tasks"]),
        20,
        "every user ran once logged in"
    );
    assert_eq!(u(&json["tasks"]["login"]["requests"]), 5 + throttled);
    assert_eq!(
        u(&json["tasks"]["login"]["errors_by_kind"]["status_429"]),
        throttled
    );
    assert_eq!(u(&json["errors_by_status"]["429"]), throttled);
}
