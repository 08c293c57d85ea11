//! Runs the `parallel-tools` binary at small scales and checks what it reports and what its
//! child processes recorded: outcomes, how many tools ran at once, and that a failure or a
//! timeout did not stop the others. Orderings and counts only; no wall-clock speed assertions.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_parallel-tools");
const TOOLS: [&str; 4] = ["nmap", "nuclei", "whatweb", "sslscan"];

/// One line of the children's trace file.
#[derive(Debug, Clone)]
struct Event {
    phase: String,
    tool: String,
    kind: String,
    nanos: u128,
    pid: u32,
}

fn parallel_tools(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("parallel-tools runs")
}

/// Runs with `--json --trace` plus `args`; returns the summary and the trace.
fn run_json(args: &[&str]) -> (Value, Vec<Event>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("trace.log");
    let trace_arg = trace.to_str().expect("utf-8 temp path");
    let mut all = vec!["--json", "--trace", trace_arg];
    all.extend_from_slice(args);
    let output = parallel_tools(&all);
    assert!(
        output.status.success(),
        "parallel-tools {all:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    (summary, read_trace(&trace))
}

fn read_trace(path: &Path) -> Vec<Event> {
    std::fs::read_to_string(path)
        .expect("trace file written")
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 5, "trace line {line:?}");
            Event {
                phase: fields[0].to_owned(),
                tool: fields[1].to_owned(),
                kind: fields[2].to_owned(),
                nanos: fields[3].parse().expect("nanos"),
                pid: fields[4].parse().expect("pid"),
            }
        })
        .collect()
}

/// `(tool, outcome)` of a run, in the order reported.
fn outcomes(summary: &Value, phase: &str) -> Vec<(String, String)> {
    summary[phase]["tools"]
        .as_array()
        .expect("tools array")
        .iter()
        .map(|tool| {
            (
                tool["tool"].as_str().expect("tool").to_owned(),
                tool["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect()
}

fn expected(outcomes: [&str; 4]) -> Vec<(String, String)> {
    TOOLS
        .iter()
        .zip(outcomes)
        .map(|(tool, outcome)| ((*tool).to_owned(), outcome.to_owned()))
        .collect()
}

fn tool_field<'a>(summary: &'a Value, phase: &str, tool: &str, field: &str) -> &'a Value {
    summary[phase]["tools"]
        .as_array()
        .expect("tools array")
        .iter()
        .find(|t| t["tool"] == tool)
        .map(|t| &t[field])
        .expect("tool reported")
}

fn event<'a>(trace: &'a [Event], phase: &str, tool: &str, kind: &str) -> Option<&'a Event> {
    let mut found = trace
        .iter()
        .filter(|e| e.phase == phase && e.tool == tool && e.kind == kind);
    let first = found.next();
    assert!(
        found.next().is_none(),
        "{phase} {tool} {kind} recorded twice"
    );
    first
}

fn instant(trace: &[Event], phase: &str, tool: &str, kind: &str) -> u128 {
    event(trace, phase, tool, kind)
        .unwrap_or_else(|| panic!("no {kind} of {tool} in the {phase} run: {trace:#?}"))
        .nanos
}

/// Most child processes of `phase` alive at once, from their start and end records. A process
/// with no end (killed) counts as running until the end of the trace.
fn max_overlap(trace: &[Event], phase: &str) -> usize {
    let mut events: Vec<(u128, bool)> = trace
        .iter()
        .filter(|e| e.phase == phase)
        .map(|e| (e.nanos, e.kind == "start"))
        .collect();
    // At equal instants count the end first, so touching intervals do not overlap.
    events.sort_unstable();
    let (mut running, mut most) = (0usize, 0usize);
    for (_, is_start) in events {
        if is_start {
            running += 1;
            most = most.max(running);
        } else {
            running -= 1;
        }
    }
    most
}

#[test]
fn every_tool_succeeds_and_at_most_three_run_at_once() {
    let (summary, trace) = run_json(&[]);
    let all_ok = expected(["ok", "ok", "ok", "ok"]);
    assert_eq!(outcomes(&summary, "sequential"), all_ok);
    assert_eq!(outcomes(&summary, "parallel"), all_ok);
    for (tool, findings) in TOOLS.iter().zip([12, 20, 5, 3]) {
        assert_eq!(tool_field(&summary, "parallel", tool, "findings"), findings);
    }
    assert_eq!(summary["limit"], 3);
    assert_eq!(summary["findings"]["looked_up"], 40);
    assert_eq!(summary["findings"]["reported"], 40);

    // Every child started and ended once per run.
    for phase in ["sequential", "parallel"] {
        for tool in TOOLS {
            assert!(instant(&trace, phase, tool, "start") < instant(&trace, phase, tool, "end"));
        }
    }
    assert_eq!(max_overlap(&trace, "sequential"), 1);
    assert_eq!(max_overlap(&trace, "parallel"), 3);

    // Sequential: each tool starts after the previous one ended, in input order.
    for pair in TOOLS.windows(2) {
        assert!(
            instant(&trace, "sequential", pair[0], "end")
                < instant(&trace, "sequential", pair[1], "start")
        );
    }
    // The whole sequential run ended before the parallel one began.
    let last_sequential = trace
        .iter()
        .filter(|e| e.phase == "sequential")
        .map(|e| e.nanos)
        .max();
    let first_parallel = trace
        .iter()
        .filter(|e| e.phase == "parallel")
        .map(|e| e.nanos)
        .min();
    assert!(last_sequential < first_parallel);

    // Parallel, sliding window: sslscan (4th) waits for a free slot, takes the first one (whatweb
    // ends first) and does not wait for nmap and nuclei, the rest of the first "batch".
    let sslscan_start = instant(&trace, "parallel", "sslscan", "start");
    for tool in ["nmap", "nuclei", "whatweb"] {
        assert!(instant(&trace, "parallel", tool, "start") < sslscan_start);
    }
    assert!(instant(&trace, "parallel", "whatweb", "end") < sslscan_start);
    assert!(sslscan_start < instant(&trace, "parallel", "nmap", "end"));
}

#[test]
fn a_failing_tool_is_reported_and_the_others_finish() {
    let (summary, trace) = run_json(&["--fail", "whatweb"]);
    let one_failed = expected(["ok", "ok", "failed", "ok"]);
    assert_eq!(outcomes(&summary, "sequential"), one_failed);
    assert_eq!(outcomes(&summary, "parallel"), one_failed);
    for phase in ["sequential", "parallel"] {
        assert_eq!(
            tool_field(&summary, phase, "whatweb", "detail"),
            "failed: exit 1"
        );
        assert_eq!(
            tool_field(&summary, phase, "whatweb", "findings"),
            &Value::Null
        );
    }
    // Only the three tools that succeeded feed the in-process half.
    assert_eq!(summary["findings"]["looked_up"], 12 + 20 + 3);

    // The failure cancelled nothing: nmap and nuclei were running when whatweb failed and ran
    // to their end; sslscan was started after it, in its place, and ran to its end.
    let failed_at = instant(&trace, "parallel", "whatweb", "end");
    for tool in ["nmap", "nuclei"] {
        assert!(instant(&trace, "parallel", tool, "start") < failed_at);
        assert!(instant(&trace, "parallel", tool, "end") > failed_at);
    }
    assert!(instant(&trace, "parallel", "sslscan", "start") > failed_at);
    assert!(event(&trace, "parallel", "sslscan", "end").is_some());
    assert_eq!(max_overlap(&trace, "parallel"), 3);
}

#[test]
fn a_slow_tool_times_out_is_killed_and_the_others_finish() {
    // Scale 1/500: nuclei would take 2.4 s with --slow; the default timeout is 1.5 x 0.24 s.
    let (summary, trace) = run_json(&["--scale", "0.002", "--slow", "nuclei"]);
    let one_timed_out = expected(["ok", "timed_out", "ok", "ok"]);
    assert_eq!(outcomes(&summary, "sequential"), one_timed_out);
    assert_eq!(outcomes(&summary, "parallel"), one_timed_out);
    let timeout = summary["timeout_s"].as_f64().expect("timeout_s");
    assert!((timeout - 0.36).abs() < 1e-9, "default timeout {timeout}");
    for phase in ["sequential", "parallel"] {
        assert_eq!(
            tool_field(&summary, phase, "nuclei", "detail"),
            "timed out after 0.36s"
        );
        assert_eq!(
            tool_field(&summary, phase, "nuclei", "timed_out_after_s"),
            timeout
        );
        // Killed mid-sleep: it started, never reached its end, and its process is gone.
        let started = event(&trace, phase, "nuclei", "start").expect("nuclei started");
        assert!(event(&trace, phase, "nuclei", "end").is_none());
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", started.pid));
        if let Ok(stat) = stat {
            let state = stat
                .rsplit(") ")
                .next()
                .and_then(|rest| rest.chars().next());
            assert_eq!(state, Some('Z'), "nuclei's process still alive: {stat}");
        }
    }
    assert_eq!(summary["findings"]["looked_up"], 12 + 5 + 3);
}

#[test]
fn the_limit_bounds_the_processes_alive_at_once() {
    for (limit, overlap) in [("1", 1), ("2", 2)] {
        let (summary, trace) = run_json(&["--scale", "0.005", "--limit", limit]);
        assert_eq!(outcomes(&summary, "parallel"), expected(["ok"; 4]));
        assert_eq!(max_overlap(&trace, "parallel"), overlap, "--limit {limit}");
        assert_eq!(
            trace.iter().filter(|e| e.phase == "parallel").count(),
            8,
            "a start and an end per tool"
        );
    }
}

#[test]
fn the_table_names_each_outcome_and_prints_the_speedup() {
    let output = parallel_tools(&["--scale", "0.002", "--fail", "whatweb", "--slow", "nuclei"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let rows = |tool: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|line| line.trim_start().starts_with(&format!("{tool} ")))
            .map(str::to_owned)
            .collect()
    };
    // One row per run.
    for row in rows("nmap").iter().chain(&rows("sslscan")) {
        assert!(row.contains(" ok "), "{row}");
    }
    let whatweb = rows("whatweb");
    assert_eq!(whatweb.len(), 2, "{stdout}");
    assert!(
        whatweb.iter().all(|row| row.contains("failed: exit 1")),
        "{stdout}"
    );
    let nuclei = rows("nuclei");
    assert_eq!(nuclei.len(), 2, "{stdout}");
    assert!(
        nuclei
            .iter()
            .all(|row| row.contains("timed out after 0.36s")),
        "{stdout}"
    );
    for label in ["sequential total", "parallel total", "speedup", "ideal"] {
        assert!(
            stdout.lines().any(|line| line.starts_with(label)),
            "no {label:?} line in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("run_parallel looked up 15 severities"),
        "{stdout}"
    );
    assert!(
        stdout.contains("batch_process wrote 15 reports"),
        "{stdout}"
    );
}

#[test]
fn bad_arguments_are_rejected_with_the_option_named() {
    for (args, named) in [
        (&["--limit", "0"][..], "--limit"),
        (&["--limit", "three"][..], "--limit"),
        (&["--scale", "0"][..], "--scale"),
        (&["--scale", "2"][..], "--scale"),
        (&["--scale", "NaN"][..], "--scale"),
        (&["--timeout", "0s"][..], "--timeout"),
        (&["--timeout", "soon"][..], "--timeout"),
        (&["--slow", "masscan"][..], "--slow"),
        (&["--fail", ""][..], "--fail"),
    ] {
        let output = parallel_tools(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?} ran anyway");
    }
}

#[test]
fn the_hidden_child_mode_checks_its_arguments() {
    let output = parallel_tools(&["--tool-child", "masscan", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown tool \"masscan\""));
    for seconds in ["NaN", "soon", "1e300"] {
        let output = parallel_tools(&["--tool-child", "nmap", seconds]);
        assert_eq!(output.status.code(), Some(2), "{seconds}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("invalid SECONDS"));
    }

    let output = parallel_tools(&["--tool-child", "sslscan", "0"]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 3);
    let output = parallel_tools(&["--tool-child", "sslscan", "0", "--exit-code", "3"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(output.stdout.is_empty());
}
