//! The printed table and the `--json` summary.

use std::time::Duration;

use serde_json::{Value, json};

use crate::findings::FindingsReport;
use crate::runs::{Outcome, RunReport, ToolRun};

/// Everything one invocation measured, with the settings it ran under.
#[derive(Debug)]
pub(crate) struct Summary {
    /// The seeds' durations were multiplied by this.
    pub(crate) scale: f64,
    /// Most tools at once in the parallel run.
    pub(crate) limit: usize,
    /// Per-tool timeout in both runs.
    pub(crate) timeout: Duration,
    /// One tool after another.
    pub(crate) sequential: RunReport,
    /// perf-async's bounded fan-out.
    pub(crate) parallel: RunReport,
    /// Sum of the planned durations (each capped at the timeout).
    pub(crate) ideal_sequential: Duration,
    /// Critical path of the planned durations with `limit` at once.
    pub(crate) ideal_parallel: Duration,
    /// The in-process half, run on the parallel run's findings.
    pub(crate) findings: FindingsReport,
}

fn ratio(numerator: Duration, denominator: Duration) -> f64 {
    if denominator.is_zero() {
        return f64::NAN;
    }
    numerator.as_secs_f64() / denominator.as_secs_f64()
}

/// The outcome column: `ok`, `failed: exit 1`, `timed out after 1.8s`.
fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok { .. } => "ok".to_owned(),
        Outcome::Failed { reason } => format!("failed: {reason}"),
        Outcome::TimedOut { after } => format!("timed out after {}", secs(*after)),
    }
}

fn secs(duration: Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}

fn print_run(title: &str, run: &RunReport) {
    println!("{title}");
    println!(
        "  {:<9} {:<26} {:>8} {:>8} {:>8}",
        "tool", "outcome", "findings", "started", "duration"
    );
    for tool in &run.tools {
        let findings = match &tool.outcome {
            Outcome::Ok { findings } => findings.len().to_string(),
            _ => "-".to_owned(),
        };
        println!(
            "  {:<9} {:<26} {:>8} {:>8} {:>8}",
            tool.tool.name(),
            outcome_text(&tool.outcome),
            findings,
            secs(tool.started),
            secs(tool.elapsed),
        );
    }
    println!("  {:<9} {:>53}", "total", secs(run.total));
    println!();
}

/// Prints both runs' tables, the totals, the speedup and the ideal for comparison.
pub(crate) fn print_table(summary: &Summary) {
    let timeout = secs(summary.timeout);
    print_run(
        &format!("sequential: one tool after another, timeout {timeout} per tool"),
        &summary.sequential,
    );
    print_run(
        &format!(
            "parallel: perf-async, at most {} at once, timeout {timeout} per tool, collect-all",
            summary.limit
        ),
        &summary.parallel,
    );
    println!("sequential total  {}", secs(summary.sequential.total));
    println!("parallel total    {}", secs(summary.parallel.total));
    println!(
        "speedup           {:.2}x",
        ratio(summary.sequential.total, summary.parallel.total)
    );
    println!(
        "ideal             {} sequential, {} with at most {} at once (critical path): {:.2}x; \
         no process start-up or scheduling cost",
        secs(summary.ideal_sequential),
        secs(summary.ideal_parallel),
        summary.limit,
        ratio(summary.ideal_sequential, summary.ideal_parallel),
    );
    crate::findings::print(&summary.findings);
}

fn tool_json(run: &ToolRun) -> Value {
    let (outcome, findings, timeout) = match &run.outcome {
        Outcome::Ok { findings } => ("ok", Some(findings.len()), None),
        Outcome::Failed { .. } => ("failed", None, None),
        Outcome::TimedOut { after } => ("timed_out", None, Some(after.as_secs_f64())),
    };
    json!({
        "tool": run.tool.name(),
        "outcome": outcome,
        "detail": outcome_text(&run.outcome),
        "findings": findings,
        "timed_out_after_s": timeout,
        "started_s": run.started.as_secs_f64(),
        "duration_s": run.elapsed.as_secs_f64(),
    })
}

fn run_json(run: &RunReport) -> Value {
    json!({
        "total_s": run.total.as_secs_f64(),
        "tools": run.tools.iter().map(tool_json).collect::<Vec<_>>(),
    })
}

/// The summary as one JSON object (`--json`), for scripts and the tests.
pub(crate) fn to_json(summary: &Summary) -> Value {
    json!({
        "scale": summary.scale,
        "limit": summary.limit,
        "timeout_s": summary.timeout.as_secs_f64(),
        "sequential": run_json(&summary.sequential),
        "parallel": run_json(&summary.parallel),
        "speedup": ratio(summary.sequential.total, summary.parallel.total),
        "ideal": {
            "sequential_s": summary.ideal_sequential.as_secs_f64(),
            "parallel_s": summary.ideal_parallel.as_secs_f64(),
            "speedup": ratio(summary.ideal_sequential, summary.ideal_parallel),
        },
        "findings": {
            "looked_up": summary.findings.severities.len(),
            "reported": summary.findings.reports.len(),
        },
    })
}
