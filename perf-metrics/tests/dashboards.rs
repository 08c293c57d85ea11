//! The Grafana dashboard and Prometheus alert rules in `perf-metrics/dashboards/`.
//!
//! A structural check in Rust (rules parse and are complete, every metric and label an
//! expression names is in the naming table, the dashboard JSON is well formed); promtool checks
//! and unit-tests the rules, runs every alert and dashboard query against the series the
//! recorder renders (as Prometheus 2 and 3 store them) and lints a real exposition. promtool is
//! required: a test that needs it fails naming the Debian package (`prometheus`) when it is
//! missing (`scripts/test` installs it when run as root).

#[path = "support/ingest.rs"]
mod ingest;
#[path = "support/promql.rs"]
mod promql;
#[path = "support/promtool.rs"]
mod promtool;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use perf_metrics::names::{self, MetricKind};
use serde::Deserialize;

const GLOBAL_LABELS: &[&str] = &[names::SERVICE_LABEL, names::INSTANCE_LABEL];

/// Labels Prometheus attaches to every scraped series (`job`, `instance`) and those Kubernetes
/// discovery through the Prometheus Operator adds (`service`, `namespace`, `pod`, `container`,
/// `node`).
const TARGET_LABELS: &[(&str, &str)] = &[
    ("job", "scanner"),
    ("instance", "10.0.0.7:9000"),
    ("service", "scanner-svc"),
    ("namespace", "prod"),
    ("pod", "scanner-7f9c"),
    ("container", "scanner"),
    ("node", "worker-3"),
];

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// The naming-table row behind an exported series name (`x_bucket` → histogram `x`).
fn resolve(series: &str) -> Option<&'static names::MetricName> {
    names::find(series).or_else(|| {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = series.strip_suffix(suffix)?;
            names::find(base).filter(|m| m.kind == MetricKind::Histogram)
        })
    })
}

/// Every metric in `expr` is in the naming table and every label is one those metrics carry.
fn check_expr(context: &str, expr: &str) {
    let used = promql::names(expr);
    assert!(!used.metrics.is_empty(), "{context}: no metric in `{expr}`");
    let mut allowed: BTreeSet<&str> = GLOBAL_LABELS.iter().copied().collect();
    for metric in &used.metrics {
        let row = resolve(metric).unwrap_or_else(|| {
            panic!("{context}: `{metric}` is not in the naming table (expr `{expr}`)")
        });
        allowed.extend(row.labels.iter().copied());
        if row.kind == MetricKind::Histogram {
            allowed.insert("le");
        }
    }
    for label in &used.labels {
        assert!(
            allowed.contains(label.as_str()),
            "{context}: label `{label}` is not carried by {:?} (expr `{expr}`)",
            used.metrics
        );
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    for_: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn rules() -> RuleFile {
    let text = std::fs::read_to_string(dashboards_dir().join("alerts.yml")).unwrap();
    serde_yaml_ng::from_str(&text).expect("alerts.yml parses")
}

fn is_duration(s: &str) -> bool {
    s.strip_suffix(['s', 'm', 'h', 'd'])
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

#[test]
fn alert_rules_are_complete_and_use_known_metrics() {
    let file = rules();
    assert!(!file.groups.is_empty());
    let mut alerts = BTreeSet::new();
    for group in &file.groups {
        assert!(
            !group.name.is_empty() && !group.rules.is_empty(),
            "group {group:?}"
        );
        for rule in &group.rules {
            let context = format!("alert {}", rule.alert);
            assert!(alerts.insert(rule.alert.clone()), "{context}: duplicate");
            assert!(
                rule.alert
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase()),
                "{context}: CamelCase"
            );
            assert!(
                is_duration(&rule.for_),
                "{context}: `for: {}` is not a duration",
                rule.for_
            );
            let severity = rule.labels.get("severity").map(String::as_str);
            assert!(
                matches!(severity, Some("warning" | "critical")),
                "{context}: severity {severity:?}"
            );
            for key in ["summary", "description"] {
                assert!(
                    rule.annotations.get(key).is_some_and(|s| !s.is_empty()),
                    "{context}: no {key}"
                );
            }
            check_expr(&context, &rule.expr);
        }
    }

    // The seed service's thresholds are all there.
    let by_name: BTreeMap<&str, &Rule> = file
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| (r.alert.as_str(), r))
        .collect();
    let expect = |alert: &str, needles: &[&str], for_: &str| {
        let rule = by_name
            .get(alert)
            .unwrap_or_else(|| panic!("missing alert {alert}"));
        for needle in needles {
            assert!(
                rule.expr.contains(needle),
                "{alert}: `{needle}` not in `{}`",
                rule.expr
            );
        }
        assert_eq!(rule.for_, for_, "{alert}");
    };
    expect(
        "HighRequestLatencyP95",
        &[
            "histogram_quantile(0.95",
            "request_duration_seconds_bucket",
            "> 0.1",
        ],
        "5m",
    );
    expect("LowCacheHitRate", &["cache_requests_total", "< 0.7"], "10m");
    expect(
        "SlowDatabaseQueries",
        &["db_query_duration_seconds_bucket{le=\"1.0\"}", "> 0"],
        "1m",
    );
    expect("DatabasePoolWaiters", &["db_pool_waiting", "> 0"], "1m");
    expect(
        "DatabaseStatementTimeouts",
        &["db_queries_total{outcome=\"timeout\"}", "> 0"],
        "0m",
    );
    expect(
        "HighErrorRate",
        &["requests_total{status=~\"5..|error\"}", "> 0.001"],
        "5m",
    );
    println!(
        "alert rules: Rust structural check ran ({} alerts)",
        alerts.len()
    );
}

fn dashboard() -> serde_json::Value {
    let text = std::fs::read_to_string(dashboards_dir().join("grafana-perf.json")).unwrap();
    serde_json::from_str(&text).expect("grafana-perf.json parses")
}

/// Every target's expression, with its panel title.
fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default().to_owned();
            exprs.push((panel["title"].as_str().unwrap_or_default().to_owned(), expr));
        }
    }
    exprs
}

#[test]
fn dashboard_is_well_formed_and_uses_known_metrics() {
    let d = dashboard();
    for key in ["title", "uid"] {
        assert!(
            d[key].as_str().is_some_and(|s| !s.is_empty()),
            "dashboard {key}"
        );
    }
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 30),
        "schemaVersion"
    );

    let variables = d["templating"]["list"].as_array().expect("templating.list");
    let datasource = variables
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["query"], "prometheus");
    let ds_uid = format!("${{{}}}", datasource["name"].as_str().unwrap());
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        // label_values(metric, label)
        let definition = variable["definition"].as_str().expect("definition");
        let args = definition
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("unexpected variable query `{definition}`"));
        let (metric, label) = args.split_once(',').expect("label_values(metric, label)");
        let row = resolve(metric.trim())
            .unwrap_or_else(|| panic!("`{metric}` is not in the naming table"));
        let label = label.trim();
        assert!(
            GLOBAL_LABELS.contains(&label) || row.labels.contains(&label),
            "{definition}"
        );
    }

    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut graphs = 0;
    for panel in panels {
        let title = panel["title"].as_str().expect("panel title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "{title}: duplicate id"
        );
        let grid = &panel["gridPos"];
        for key in ["h", "w", "x", "y"] {
            assert!(grid[key].as_u64().is_some(), "{title}: gridPos.{key}");
        }
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title}: wider than the grid"
        );
        if panel["type"] == "row" {
            continue;
        }
        graphs += 1;
        assert!(
            matches!(
                panel["type"].as_str(),
                Some("timeseries" | "stat" | "gauge" | "table")
            ),
            "{title}: type"
        );
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        assert_eq!(
            panel["datasource"]["uid"].as_str(),
            Some(ds_uid.as_str()),
            "{title}"
        );
        assert!(
            panel["fieldConfig"]["defaults"]["unit"].is_string(),
            "{title}: unit"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no targets");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert!(
                refs.insert(target["refId"].as_str().expect("refId")),
                "{title}: duplicate refId"
            );
            check_expr(title, target["expr"].as_str().expect("expr"));
        }
    }

    // The seed dashboard's views are all there.
    let exprs = dashboard_exprs(&d);
    let has = |needle: &str| exprs.iter().any(|(_, e)| e.contains(needle));
    for needle in [
        "histogram_quantile(0.99, sum by (le) (rate(request_duration_seconds_bucket",
        "rate(requests_total",
        "status=~\"5..|error\"",
        "sum by (tier) (rate(cache_requests_total",
        "db_pool_connections{service_name=~\"$service\",state=\"in_use\"}",
        "db_pool_waiting",
        "db_slow_queries_total",
    ] {
        assert!(has(needle), "no panel uses `{needle}`");
    }
    println!(
        "dashboard: Rust structural check ran ({graphs} panels, {} queries)",
        exprs.len()
    );
}

#[test]
fn naming_table_is_consistent_with_the_docs() {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/names.rs"))
            .unwrap();
    let documented: BTreeSet<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("//! | `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let table: BTreeSet<&str> = names::ALL.iter().map(|m| m.name).collect();
    assert_eq!(documented, table, "the doc table and names::ALL differ");
    for m in names::ALL {
        assert!(
            m.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            m.name
        );
        match m.kind {
            MetricKind::Counter => assert!(m.name.ends_with("_total"), "{}", m.name),
            MetricKind::Histogram => assert!(m.name.ends_with("_seconds"), "{}", m.name),
            _ => assert!(!m.name.ends_with("_total"), "{}", m.name),
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let output = cmd.output().expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_rules_dashboard_queries_and_exposition() {
    let promtool = promtool::path();
    let dir = dashboards_dir();
    run(Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(dir.join("alerts.yml")));
    // Unit tests: every alert fires just past its threshold and not below it.
    run(Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg(dir.join("alerts.test.yml")));

    // The dashboard's queries through Prometheus' own parser, as recording rules.
    let scratch =
        std::env::temp_dir().join(format!("perf-metrics-dashboard-{}.yml", std::process::id()));
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in dashboard_exprs(&dashboard()).iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$service", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    std::fs::write(&scratch, rules).unwrap();
    let checked = run(Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(&scratch));
    std::fs::remove_file(&scratch).unwrap();
    assert!(checked.contains("SUCCESS"), "{checked}");

    // A real exposition (route templates with braces included) through promtool's parser.
    let metrics = perf_metrics::Metrics::builder()
        .service("scanner")
        .instance("a")
        .build()
        .unwrap();
    metrics::with_local_recorder(&metrics.recorder(), || {
        let labels = [
            ("endpoint", "/api/scans/{id}"),
            ("method", "GET"),
            ("status", "200"),
        ];
        metrics::histogram!("request_duration_seconds", &labels).record(0.02);
        metrics::counter!("requests_total", &labels).increment(1);
        metrics::gauge!("requests_in_flight", "endpoint" => "/api/scans/{id}", "method" => "GET")
            .set(0.0);
    });
    let (status, lint) = promtool::check_metrics(&metrics.render());
    assert!(status.success(), "promtool check metrics:\n{lint}");
    println!(
        "promtool: ran check rules, test rules, {} dashboard queries, check metrics",
        dashboard_exprs(&dashboard()).len()
    );
}

#[test]
#[should_panic(expected = "is not in the naming table")]
fn the_check_rejects_unknown_metrics() {
    check_expr("test", "sum(rate(cache_hits_total[5m]))");
}

#[test]
#[should_panic(expected = "is not carried by")]
fn the_check_rejects_unknown_labels() {
    check_expr("test", "sum by (route) (rate(requests_total[5m]))");
}

/// Records every metric of the naming table through a real recorder: counters +3 (cache misses
/// +12), gauges 1,
/// histograms 0.5 ×3 and 2.0 ×1 per series (so every alert's condition holds), over every value
/// the table lists for a label with a closed set (`outcome`, `reason`, …, the values the
/// emitters record) and a sample value for the others.
fn record_every_metric(recorder: &perf_metrics::PerfRecorder) {
    fn sample(label: &str) -> &'static [&'static str] {
        match label {
            "endpoint" => &["/api/scans/{id}"],
            "method" => &["GET"],
            "status" => &["2xx", "5xx"],
            "function" => &["scan"],
            "module" => &["scanner::jobs"],
            "namespace" => &["users"],
            "tier" => &["l1", "l2"],
            "pool" => &["main"],
            "metric" => &["request_duration_seconds"],
            other => panic!("no closed values in the table and no sample for label `{other}`"),
        }
    }
    metrics::with_local_recorder(recorder, || {
        for row in names::ALL {
            let mut combos: Vec<Vec<(&'static str, &'static str)>> = vec![Vec::new()];
            for label in row.labels {
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        let values = row.values_of(label).unwrap_or_else(|| sample(label));
                        values.iter().map(move |v| {
                            let mut c = c.clone();
                            c.push((*label, *v));
                            c
                        })
                    })
                    .collect();
            }
            for labels in combos {
                match row.kind {
                    // misses 4× hits: the cache hit rate (9 hits over 15 L1 lookups) is under
                    // the LowCacheHitRate threshold
                    MetricKind::Counter if labels.contains(&("outcome", "miss")) => {
                        metrics::counter!(row.name, &labels).increment(12);
                    }
                    MetricKind::Counter => metrics::counter!(row.name, &labels).increment(3),
                    MetricKind::Gauge => metrics::gauge!(row.name, &labels).set(1.0),
                    MetricKind::Histogram => {
                        let h = metrics::histogram!(row.name, &labels);
                        for v in [0.5, 0.5, 0.5, 2.0] {
                            h.record(v);
                        }
                    }
                    _ => unreachable!(),
                }
            }
        }
    });
}

/// A promtool test file: `samples` as input series (counters and histograms growing by their
/// rendered value every minute, gauges constant), and one expression test per query asserting
/// the query returns at least one sample at 10 m (`absent(q)` returns nothing).
fn promtool_query_tests(samples: &[ingest::Sample], queries: &[(String, String)]) -> String {
    let alerts = dashboards_dir().join("alerts.yml");
    let mut out = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
        serde_json::to_string(alerts.to_str().unwrap()).unwrap()
    );
    for sample in samples {
        let values = if sample.kind == "gauge" {
            format!("{}+0x15", sample.value)
        } else {
            format!("0+{}x15", sample.value)
        };
        out.push_str(&format!(
            "      - series: {}\n        values: {}\n",
            serde_json::to_string(&sample.series()).unwrap(),
            serde_json::to_string(&values).unwrap()
        ));
    }
    out.push_str("    promql_expr_test:\n");
    for (_, query) in queries {
        out.push_str(&format!(
            "      - expr: {}\n        eval_time: 10m\n        exp_samples: []\n",
            serde_json::to_string(&format!("absent({query})")).unwrap()
        ));
    }
    out
}

/// Runs `promtool test rules` on `file`; on failure, names the queries that returned nothing.
fn run_promtool_tests(context: &str, file: &str, queries: &[(String, String)]) {
    let path = std::env::temp_dir().join(format!(
        "perf-metrics-{context}-{}.test.yml",
        std::process::id()
    ));
    std::fs::write(&path, file).unwrap();
    let output = Command::new(promtool::path())
        .args(["test", "rules"])
        .arg(&path)
        .output()
        .expect("promtool runs");
    std::fs::remove_file(&path).unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        let empty: Vec<&(String, String)> = queries
            .iter()
            .filter(|(_, q)| {
                text.contains(&serde_json::to_string(&format!("absent({q})")).unwrap())
            })
            .collect();
        panic!(
            "{context}: these queries select nothing in what Prometheus stores: {empty:#?}\n{text}"
        );
    }
}

/// Every alert expression and dashboard query (with `$service` set to the configured service)
/// returns data when fed the series the recorder actually renders, stored as Prometheus 2 (text
/// format) and Prometheus 3 (which normalizes `le="1"` to `le="1.0"`) store them, with the
/// target labels `job` and `instance` attached.
#[test]
fn alerts_and_dashboard_queries_select_the_rendered_series() {
    let metrics = perf_metrics::Metrics::builder()
        .service("scanner")
        .build()
        .unwrap();
    record_every_metric(&metrics.recorder());
    let rendered = ingest::parse(&metrics.render());
    for row in names::ALL {
        assert!(
            rendered.iter().any(|s| resolve(&s.name) == Some(row)),
            "{} is not rendered",
            row.name
        );
    }

    let mut queries: Vec<(String, String)> = rules()
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| (format!("alert {}", r.alert), r.expr.trim().to_owned()))
        .collect();
    queries.extend(
        dashboard_exprs(&dashboard())
            .into_iter()
            .map(|(title, expr)| {
                let expr = expr
                    .replace("$__rate_interval", "5m")
                    .replace("$service", "scanner");
                (format!("panel {title}"), expr)
            }),
    );

    let targets = &TARGET_LABELS[..2];
    for (context, prometheus) in [
        ("prometheus-2", ingest::Prometheus::V2Text),
        ("prometheus-3", ingest::Prometheus::V3),
    ] {
        let stored = ingest::ingest(&rendered, prometheus, targets);
        run_promtool_tests(context, &promtool_query_tests(&stored, &queries), &queries);
    }
    println!(
        "promtool: {} alert and dashboard queries return data on rendered series (Prometheus 2 and 3)",
        queries.len()
    );
}

/// No default global label is one Prometheus (or its Kubernetes discovery) attaches to targets,
/// so none is renamed `exported_*` on ingestion, and every dashboard variable
/// (`label_values(metric, label)`) lists the configured value from what Prometheus stores.
#[test]
fn global_labels_survive_target_labels_and_feed_the_dashboard_variables() {
    let metrics = perf_metrics::Metrics::builder()
        .service("scanner")
        .instance("scanner-1")
        .build()
        .unwrap();
    record_every_metric(&metrics.recorder());
    let rendered = ingest::parse(&metrics.render());
    // `async_slow_polls_total` has no labels of its own: what it carries is global.
    let global: BTreeSet<&str> = rendered
        .iter()
        .find(|s| s.name == "async_slow_polls_total")
        .expect("async_slow_polls_total rendered")
        .labels
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(global, GLOBAL_LABELS.iter().copied().collect());
    for (target, _) in TARGET_LABELS {
        assert!(
            !global.contains(target),
            "global label `{target}` collides with a Prometheus target label"
        );
    }

    let stored = ingest::ingest(&rendered, ingest::Prometheus::V3, TARGET_LABELS);
    let configured = BTreeMap::from([
        (names::SERVICE_LABEL, "scanner"),
        (names::INSTANCE_LABEL, "scanner-1"),
    ]);
    let d = dashboard();
    let variables = d["templating"]["list"].as_array().unwrap();
    let mut checked = 0;
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        let definition = variable["definition"].as_str().unwrap();
        let (metric, label) = definition
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .and_then(|s| s.split_once(','))
            .unwrap();
        let (metric, label) = (metric.trim(), label.trim());
        let values: BTreeSet<&str> = stored
            .iter()
            .filter(|s| s.name == metric)
            .filter_map(|s| s.labels.get(label).map(String::as_str))
            .collect();
        let expected = configured.get(label).copied();
        assert!(
            !values.is_empty(),
            "{definition}: no stored `{metric}` series has `{label}`"
        );
        if let Some(expected) = expected {
            assert_eq!(values, BTreeSet::from([expected]), "{definition}");
        }
        checked += 1;
    }
    assert!(checked > 0, "the dashboard has no query variables");
    // The snapshot reports the same values.
    let snapshot = metrics.snapshot();
    assert_eq!(
        (snapshot.service.as_str(), snapshot.instance.as_str()),
        ("scanner", "scanner-1")
    );
}
