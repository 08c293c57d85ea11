//! `benches/service/run`, the benchmark harness that measures scan-service against this crate:
//! it parses as bash, and its option handling answers before it starts or builds anything.

use std::path::PathBuf;
use std::process::{Command, Output};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/service/run")
}

fn run(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("these tests need bash: {err}"))
}

#[test]
fn the_script_parses_as_bash() {
    let output = Command::new("bash")
        .arg("-n")
        .arg(script())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn help_lists_the_options() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--rounds",
        "--quick",
        "--duration",
        "--services",
        "--no-mix",
        "--no-build",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[test]
fn bad_options_fail_before_anything_starts() {
    for (args, message) in [
        (&["--rounds", "0"][..], "--rounds needs a positive integer"),
        (&["--duration", "1m"][..], "--duration needs whole seconds"),
        (
            &["--services", "nginx"][..],
            "--services takes baseline and/or scan-service",
        ),
        (&["--frobnicate"][..], "unknown option --frobnicate"),
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn shellcheck_finds_nothing() {
    let output = Command::new("shellcheck")
        .arg(script())
        .output()
        .unwrap_or_else(|err| {
            panic!("shellcheck is not installed (apt-get install shellcheck): {err}")
        });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Runs `jq` with one of the harness's programs; `input` is the program's input text.
fn jq(args: &[&str], program: &str, input: &str) -> String {
    use std::io::Write;
    let program = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../benches/service")
        .join(program);
    let mut child = Command::new("jq")
        .args(args)
        .arg("-f")
        .arg(program)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("jq is not installed (apt-get install jq): {err}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_report_takes_medians_sums_errors_and_divides_scan_service_by_baseline() {
    let rows = [
        r#"{"round":1,"service":"baseline","mode":"cached","workload":"wrk-c256","rps":70000,"p50_ms":3,"p99_ms":8,"errors":0,"hit_rate":null,"peak_rss_mb":20}"#,
        r#"{"round":1,"service":"scan-service","mode":"cached","workload":"wrk-c256","rps":65000,"p50_ms":3.5,"p99_ms":9,"errors":0,"hit_rate":0.99,"peak_rss_mb":40}"#,
        r#"{"round":2,"service":"baseline","mode":"cached","workload":"wrk-c256","rps":72000,"p50_ms":3,"p99_ms":10,"errors":2,"hit_rate":null,"peak_rss_mb":22}"#,
        r#"{"round":2,"service":"scan-service","mode":"cached","workload":"wrk-c256","rps":67000,"p50_ms":3.5,"p99_ms":11,"errors":1,"hit_rate":0.97,"peak_rss_mb":41}"#,
        r#"{"round":3,"service":"scan-service","mode":"cached","workload":"wrk-c256","rps":1000,"p50_ms":3.5,"p99_ms":99,"errors":0,"hit_rate":0.5,"peak_rss_mb":39}"#,
        r#"{"round":1,"service":"scan-service","mode":"cached","workload":"mix-full","rps":5000,"p50_ms":30,"p99_ms":90,"errors":0,"hit_rate":0.85,"peak_rss_mb":45}"#,
    ]
    .join("\n");
    let args = [
        "-s",
        "--arg",
        "seeded",
        "test",
        "--arg",
        "duration",
        "20s",
        "--argjson",
        "rounds",
        "3",
        "--argjson",
        "users",
        "256",
        "--argjson",
        "mix",
        "1",
        "--argjson",
        "pool",
        "10",
        "--argjson",
        "same",
        "true",
        "--arg",
        "host",
        "test",
        "--argjson",
        "cores",
        "2",
        "--arg",
        "date",
        "today",
    ];
    let results: serde_json::Value =
        serde_json::from_str(&jq(&args, "aggregate.jq", &rows)).unwrap();

    let cell = |service: &str, workload: &str| {
        results["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["service"] == service && c["workload"] == workload)
            .unwrap_or_else(|| panic!("no cell {service} {workload}"))
            .clone()
    };
    let baseline = cell("baseline", "wrk-c256");
    assert_eq!(baseline["rounds"], 2);
    assert_eq!(baseline["rps"], 71000.0); // the median of two is their mean
    assert_eq!(baseline["errors"], 2); // summed
    assert_eq!(baseline["hit_rate"], serde_json::Value::Null);
    let service = cell("scan-service", "wrk-c256");
    assert_eq!(service["rounds"], 3);
    assert_eq!(service["rps"], 65000); // the middle of three: the outlier round does not count
    assert_eq!(service["p99_ms"], 11);
    assert_eq!(service["hit_rate"], 0.97);
    assert_eq!(service["peak_rss_mb"], 41); // the largest
    assert_eq!(service["errors"], 1);

    // One ratio: the mix has no baseline peer.
    let ratios = results["ratios"].as_array().unwrap();
    assert_eq!(ratios.len(), 1, "{ratios:?}");
    let rps = ratios[0]["rps"].as_f64().unwrap();
    assert!((rps - 65000.0 / 71000.0).abs() < 1e-9, "{rps}");
    let p99 = ratios[0]["p99"].as_f64().unwrap();
    assert!((p99 - 11.0 / 9.0).abs() < 1e-9, "{p99}");

    let table = jq(
        &["-r", "--arg", "out", "target/bench-service"],
        "table.jq",
        &results.to_string(),
    );
    let row = table
        .lines()
        .find(|line| line.starts_with("| cached | wrk-c256 | scan-service |"))
        .unwrap_or_else(|| panic!("no scan-service row in:\n{table}"));
    assert_eq!(
        row,
        "| cached | wrk-c256 | scan-service | 65000 | 3.5 | 11 | 1 | 97 % | 41 | 0.915× | 1.222× |"
    );
    assert!(
        table.contains("| cached | mix-full | scan-service | 5000 |"),
        "{table}"
    );
}
