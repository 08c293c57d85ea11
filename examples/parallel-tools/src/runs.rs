//! The two ways to run a scan's tools: one after another (the seeds' "before"), and perf-async's
//! bounded fan-out with a per-tool timeout and collect-all (their "after").

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use perf_async::{Error, Parallel};

use crate::tools::{Tool, ToolFailure, ToolPlan, Trace, run_tool};

/// How one tool's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exited 0; carries its findings.
    Ok {
        /// One line of the tool's output per finding.
        findings: Vec<String>,
    },
    /// Could not start, exited non-zero or was killed; the others kept running.
    Failed {
        /// e.g. `exit 1`.
        reason: String,
    },
    /// Ran longer than the per-tool timeout and was killed.
    TimedOut {
        /// The timeout it exceeded.
        after: Duration,
    },
}

/// One tool's line in a run's report.
#[derive(Debug, Clone)]
pub(crate) struct ToolRun {
    /// Which tool.
    pub(crate) tool: Tool,
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// When it was started, from the start of its run.
    pub(crate) started: Duration,
    /// How long it ran (the timeout itself when it timed out).
    pub(crate) elapsed: Duration,
}

/// A whole run: every tool, in input order, and the wall time.
#[derive(Debug, Clone)]
pub(crate) struct RunReport {
    /// Per tool, in the order given.
    pub(crate) tools: Vec<ToolRun>,
    /// From the first spawn to the last tool's end.
    pub(crate) total: Duration,
}

impl RunReport {
    /// Findings of every tool that succeeded, in tool order.
    pub(crate) fn findings(&self) -> Vec<String> {
        self.tools
            .iter()
            .filter_map(|run| match &run.outcome {
                Outcome::Ok { findings } => Some(findings.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// Runs the tools one after another, each with the same timeout as in the parallel run.
pub(crate) async fn sequential(
    exe: &Path,
    plans: &[ToolPlan],
    timeout: Duration,
    trace: Option<&Trace>,
) -> RunReport {
    let run_started = Instant::now();
    let mut tools = Vec::with_capacity(plans.len());
    for &plan in plans {
        let started = run_started.elapsed();
        let result = tokio::time::timeout(timeout, run_tool(exe, plan, "sequential", trace)).await;
        let (outcome, elapsed) = match result {
            Ok(Ok(success)) => (
                Outcome::Ok {
                    findings: success.findings,
                },
                success.elapsed,
            ),
            Ok(Err(failure)) => failed(failure),
            Err(_elapsed) => (Outcome::TimedOut { after: timeout }, timeout),
        };
        tools.push(ToolRun {
            tool: plan.tool,
            outcome,
            started,
            elapsed,
        });
    }
    RunReport {
        tools,
        total: run_started.elapsed(),
    }
}

/// Runs the tools with at most `limit` at once (the seeds' `MAX_CONCURRENT_TOOL_EXECUTIONS`),
/// a per-tool timeout, and collect-all: a failed or timed-out tool is reported in its place and
/// never stops the others.
///
/// # Errors
/// [`Error::InvalidConfig`] when `limit` is 0 or `timeout` is zero.
pub(crate) async fn parallel(
    exe: &Path,
    plans: &[ToolPlan],
    limit: usize,
    timeout: Duration,
    trace: Option<&Trace>,
) -> perf_async::Result<RunReport> {
    let total = plans.len();
    let parallel = Parallel::builder()
        .max_concurrent(limit)
        .timeout(timeout)
        .on_progress(move |done, _| eprintln!("  parallel: {done}/{total} tools finished"))
        .build()?;

    // Local mode polls the futures in this task, so they can note their admission instant in
    // a plain `Cell` borrowed from here.
    let starts: Vec<Cell<Option<Instant>>> = plans.iter().map(|_| Cell::new(None)).collect();
    let run_started = Instant::now();
    let results = parallel
        .local()
        .collect(plans.iter().zip(&starts).map(|(&plan, start)| async move {
            start.set(Some(Instant::now()));
            run_tool(exe, plan, "parallel", trace).await
        }))
        .await;
    let run_total = run_started.elapsed();

    let tools = plans
        .iter()
        .zip(starts)
        .zip(results)
        .map(|((plan, start), result)| {
            let started = start.get().map_or(Duration::ZERO, |at| {
                at.saturating_duration_since(run_started)
            });
            let (outcome, elapsed) = match result {
                Ok(success) => (
                    Outcome::Ok {
                        findings: success.findings,
                    },
                    success.elapsed,
                ),
                Err(Error::Task { source, .. }) => failed(source),
                Err(Error::Timeout { timeout, .. }) => {
                    (Outcome::TimedOut { after: timeout }, timeout)
                }
                Err(other) => (
                    Outcome::Failed {
                        reason: other.to_string(),
                    },
                    Duration::ZERO,
                ),
            };
            ToolRun {
                tool: plan.tool,
                outcome,
                started,
                elapsed,
            }
        })
        .collect();
    Ok(RunReport {
        tools,
        total: run_total,
    })
}

fn failed(failure: ToolFailure) -> (Outcome, Duration) {
    (
        Outcome::Failed {
            reason: failure.reason,
        },
        failure.elapsed,
    )
}
