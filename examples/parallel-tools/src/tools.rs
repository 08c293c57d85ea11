//! The four simulated scan tools, the child process that stands in for each, and how the parent
//! runs one.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A tool of the seeds' scan, with its measured duration there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Tool {
    /// Port scan, 60 s in the seeds.
    Nmap,
    /// Template-based vulnerability scan, 120 s: the critical path.
    Nuclei,
    /// Web fingerprinting, 30 s.
    Whatweb,
    /// TLS configuration scan, 20 s.
    Sslscan,
}

impl Tool {
    /// Every tool, in the seeds' (and the runs') order.
    pub(crate) const ALL: [Self; 4] = [Self::Nmap, Self::Nuclei, Self::Whatweb, Self::Sslscan];

    /// The tool's name as typed on the command line and printed in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Nmap => "nmap",
            Self::Nuclei => "nuclei",
            Self::Whatweb => "whatweb",
            Self::Sslscan => "sslscan",
        }
    }

    /// The tool's duration in the seeds' measurement (230 s in sequence, ~120 s in parallel).
    pub(crate) fn seed_duration(self) -> Duration {
        Duration::from_secs(match self {
            Self::Nmap => 60,
            Self::Nuclei => 120,
            Self::Whatweb => 30,
            Self::Sslscan => 20,
        })
    }

    /// How many findings the simulated tool prints on success (40 in all).
    fn findings(self) -> usize {
        match self {
            Self::Nmap => 12,
            Self::Nuclei => 20,
            Self::Whatweb => 5,
            Self::Sslscan => 3,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.name() == name)
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one run of a tool will do: how long its child sleeps and whether it then fails.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ToolPlan {
    /// Which tool.
    pub(crate) tool: Tool,
    /// How long the child works before it reports.
    pub(crate) duration: Duration,
    /// The child exits with status 1 instead of printing findings.
    pub(crate) fail: bool,
}

/// Where and under which label the children record their start and end instants.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    /// File the children append `PHASE TOOL start|end UNIX_NANOS PID` lines to.
    pub(crate) file: PathBuf,
}

/// A tool that ran to completion and succeeded.
#[derive(Debug)]
pub(crate) struct ToolSuccess {
    /// The findings it printed, one per line of its standard output.
    pub(crate) findings: Vec<String>,
    /// From spawning the child to reaping it.
    pub(crate) elapsed: Duration,
}

/// A tool that could not be started, or exited unsuccessfully.
#[derive(Debug)]
pub(crate) struct ToolFailure {
    /// Why, e.g. `exit 1`.
    pub(crate) reason: String,
    /// From spawning the child to reaping it.
    pub(crate) elapsed: Duration,
}

impl fmt::Display for ToolFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ToolFailure {}

/// Runs one tool as a child process (this binary in `--tool-child` mode) and waits for it.
///
/// The child is killed when the returned future is dropped, so a per-tool timeout that drops
/// it leaves no process behind.
pub(crate) async fn run_tool(
    exe: &Path,
    plan: ToolPlan,
    phase: &str,
    trace: Option<&Trace>,
) -> Result<ToolSuccess, ToolFailure> {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("--tool-child")
        .arg(plan.tool.name())
        .arg(plan.duration.as_secs_f64().to_string())
        .arg("--phase")
        .arg(phase)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if plan.fail {
        command.arg("--exit-code").arg("1");
    }
    if let Some(trace) = trace {
        command.arg("--trace").arg(&trace.file);
    }
    let output = match command.spawn() {
        Ok(child) => child.wait_with_output().await,
        Err(error) => Err(error),
    };
    let elapsed = started.elapsed();
    let output = output.map_err(|error| ToolFailure {
        reason: format!("could not run: {error}"),
        elapsed,
    })?;
    if !output.status.success() {
        return Err(ToolFailure {
            reason: describe_exit(output.status),
            elapsed,
        });
    }
    let findings = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    Ok(ToolSuccess { findings, elapsed })
}

fn describe_exit(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit {code}"),
        None => "exit status unknown".to_owned(),
    }
}

/// The hidden `--tool-child NAME SECONDS` mode: what the simulated tool does in its own process.
///
/// Records its start, works (sleeps) for `SECONDS`, then either prints its findings and exits 0
/// or prints an error and exits with `exit_code`. Returns the process exit code.
pub(crate) fn child_main(
    args: &[String],
    phase: &str,
    exit_code: u8,
    trace: Option<&Path>,
) -> Result<u8, String> {
    let [name, seconds] = args else {
        return Err("--tool-child takes NAME SECONDS".to_owned());
    };
    let tool = Tool::parse(name).ok_or_else(|| format!("unknown tool {name:?}"))?;
    let duration = seconds
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("invalid SECONDS {seconds:?}: a non-negative number"))?;

    record(trace, phase, tool, "start")?;
    std::thread::sleep(duration);
    record(trace, phase, tool, "end")?;
    if exit_code != 0 {
        eprintln!("{tool}: simulated failure");
        return Ok(exit_code);
    }
    let mut out = std::io::stdout().lock();
    for n in 1..=tool.findings() {
        writeln!(out, "{tool} finding {n}").map_err(|e| format!("writing findings: {e}"))?;
    }
    Ok(0)
}

/// Appends one line to the trace file in a single `write`, which `O_APPEND` keeps whole when
/// several children write at once.
fn record(trace: Option<&Path>, phase: &str, tool: Tool, event: &str) -> Result<(), String> {
    let Some(path) = trace else { return Ok(()) };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("clock before 1970: {e}"))?
        .as_nanos();
    let line = format!("{phase} {tool} {event} {nanos} {}\n", std::process::id());
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(|e| format!("writing trace {}: {e}", path.display()))
}
