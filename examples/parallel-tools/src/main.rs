//! What it shows: a scan's four tools run as real child processes, first one after another (the
//! seeds' "before": nmap 60 s → nuclei 120 s → whatweb 30 s → sslscan 20 s = 230 s), then with
//! perf-async's bounded fan-out (their "after": at most `MAX_CONCURRENT_TOOL_EXECUTIONS = 3` at
//! once, ~120 s), and the speedup between the two.
//!
//! - **Real process fan-out**: each tool is this binary re-run in a hidden `--tool-child` mode
//!   that sleeps for the tool's (scaled) duration, prints its findings and exits, so the parallel
//!   run pays for real `fork`/`exec`/`wait`, not just timers.
//! - **[`perf_async::Parallel`]** with a limit (`--limit`, default 3), a per-tool timeout
//!   (`--timeout`; a tool that exceeds it is killed and reported `timed out`), collect-all (a
//!   tool that fails is reported in its place and never stops the others) and a progress
//!   callback. The next tool starts the moment *any* running one finishes: sslscan takes
//!   whatweb's place at 30 s instead of waiting for the whole first batch.
//! - **The ideal** for comparison: the critical path with the same limit and no process cost.
//! - **Then, in process**, over the findings the tools printed: [`perf_async::run_parallel`]
//!   (at most 10 look-ups at once, results in input order) and [`perf_async::batch_process`]
//!   (a sliding window of 8, where a slow item never holds back the others).
//!
//! Run with:
//!
//! ```sh
//! cargo run -p parallel-tools                          # scale 1/100: 2.3 s vs ~1.2 s
//! cargo run -p parallel-tools -- --fail whatweb        # whatweb exits 1; the others finish
//! cargo run -p parallel-tools -- --slow nuclei         # nuclei runs 10x longer and times out
//! cargo run -p parallel-tools -- --scale 0.1 --limit 2 # 23 s sequential; see the ideal
//! cargo run -p parallel-tools -- --json --trace t.log  # a JSON summary; children log start/end
//! ```
//!
//! `--scale` multiplies the seeds' durations (default 0.01: 0.6 s, 1.2 s, 0.3 s, 0.2 s); the
//! default timeout is 1.5 times the longest scaled tool, so only a `--slow` tool exceeds it.

mod findings;
mod report;
mod runs;
mod schedule;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::report::Summary;
use crate::tools::{Tool, ToolPlan, Trace};

/// A `--slow` tool takes this many times its duration.
const SLOW_FACTOR: u32 = 10;
/// The default timeout is this many times the longest scaled tool duration.
const DEFAULT_TIMEOUT_FACTOR: f64 = 1.5;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "parallel-tools",
    about = "Run a scan's four simulated tools sequentially, then at most --limit at once, and print the speedup"
)]
struct Args {
    /// Multiply the seeds' tool durations (nmap 60 s, nuclei 120 s, whatweb 30 s, sslscan 20 s)
    /// by this, from 0.0001 to 1.
    #[arg(long, default_value_t = 0.01, value_parser = parse_scale)]
    scale: f64,

    /// Most tools running at once in the parallel run (the seeds' MAX_CONCURRENT_TOOL_EXECUTIONS).
    #[arg(long, default_value_t = 3, value_parser = parse_limit)]
    limit: usize,

    /// Per-tool timeout in both runs, e.g. `2s` or `1500ms` [default: 1.5 x the longest scaled
    /// tool]. A tool that exceeds it is killed and reported as timed out.
    #[arg(long, value_parser = parse_timeout)]
    timeout: Option<Duration>,

    /// Make this tool take 10 times its duration, so that it exceeds the default timeout.
    /// Repeatable.
    #[arg(long, value_enum, value_name = "TOOL")]
    slow: Vec<Tool>,

    /// Make this tool's process exit with status 1 after its duration. Repeatable.
    #[arg(long, value_enum, value_name = "TOOL")]
    fail: Vec<Tool>,

    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,

    /// Each tool's process appends `PHASE TOOL start|end UNIX_NANOS PID` lines to this file
    /// (truncated first).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,

    /// Internal: run as the simulated tool NAME for SECONDS.
    #[arg(long, num_args = 2, value_names = ["NAME", "SECONDS"], hide = true)]
    tool_child: Option<Vec<String>>,

    /// Internal: the run a `--tool-child` belongs to, written to the trace.
    #[arg(long, hide = true, default_value = "run")]
    phase: String,

    /// Internal: the status a `--tool-child` exits with after its duration.
    #[arg(long, hide = true, default_value_t = 0)]
    exit_code: u8,
}

fn parse_scale(value: &str) -> Result<f64, String> {
    let scale: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number"))?;
    if (0.0001..=1.0).contains(&scale) {
        Ok(scale)
    } else {
        Err(format!("{value} is outside 0.0001..=1"))
    }
}

fn parse_limit(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("0 would run nothing; at least 1".to_owned()),
        Ok(limit) => Ok(limit),
        Err(_) => Err(format!("{value:?} is not a whole number of tools")),
    }
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(value).map_err(|e| format!("{value:?}: {e}"))?;
    if timeout.is_zero() {
        Err("0 would time every tool out; above zero".to_owned())
    } else {
        Ok(timeout)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(child) = &args.tool_child {
        return match tools::child_main(child, &args.phase, args.exit_code, args.trace.as_deref()) {
            Ok(code) => ExitCode::from(code),
            Err(message) => {
                eprintln!("parallel-tools --tool-child: {message}");
                ExitCode::from(2)
            }
        };
    }
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))
        .and_then(|runtime| runtime.block_on(run(args)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("parallel-tools: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The tools with their scaled durations and the `--slow` / `--fail` changes applied.
fn plans(args: &Args) -> Vec<ToolPlan> {
    Tool::ALL
        .into_iter()
        .map(|tool| {
            let mut duration = tool.seed_duration().mul_f64(args.scale);
            if args.slow.contains(&tool) {
                duration *= SLOW_FACTOR;
            }
            ToolPlan {
                tool,
                duration,
                fail: args.fail.contains(&tool),
            }
        })
        .collect()
}

async fn run(args: Args) -> Result<(), String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find this program's own path to run the tools: {e}"))?;
    let plans = plans(&args);
    let longest = Tool::ALL
        .into_iter()
        .map(|tool| tool.seed_duration().mul_f64(args.scale))
        .max()
        .unwrap_or_default();
    let timeout = args
        .timeout
        .unwrap_or_else(|| longest.mul_f64(DEFAULT_TIMEOUT_FACTOR));
    let trace = match &args.trace {
        Some(file) => {
            std::fs::File::create(file)
                .map_err(|e| format!("cannot create the trace file {}: {e}", file.display()))?;
            Some(Trace { file: file.clone() })
        }
        None => None,
    };

    eprintln!("sequential run: {} tools, one after another", plans.len());
    let sequential = runs::sequential(&exe, &plans, timeout, trace.as_ref()).await;
    eprintln!(
        "parallel run: {} tools, at most {} at once",
        plans.len(),
        args.limit
    );
    let parallel = runs::parallel(&exe, &plans, args.limit, timeout, trace.as_ref())
        .await
        .map_err(|e| e.to_string())?;

    let planned: Vec<Duration> = plans.iter().map(|p| p.duration.min(timeout)).collect();
    let findings = findings::process(&parallel.findings())
        .await
        .map_err(|e| e.to_string())?;
    let summary = Summary {
        scale: args.scale,
        limit: args.limit,
        timeout,
        sequential,
        parallel,
        ideal_sequential: planned.iter().sum(),
        ideal_parallel: schedule::sliding_window_total(&planned, args.limit),
        findings,
    };
    if args.json {
        println!("{:#}", report::to_json(&summary));
    } else {
        report::print_table(&summary);
    }
    Ok(())
}
