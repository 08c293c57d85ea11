//! After the tools: in-process fan-out over their findings with the two helpers a service
//! reaches for first, `run_parallel` and `batch_process` (what the old `quickstart` example
//! showed).

use std::time::{Duration, Instant};

use perf_async::{batch_process, run_parallel};

/// How many severity look-ups run at once (the seed's `run_parallel(tasks, max_concurrent=10)`).
const LOOKUPS_AT_ONCE: usize = 10;
/// How many reports are written at once (the seed's `batch_process(items, processor, 100)`,
/// smaller here so the window shows with 40 findings).
const REPORTS_AT_ONCE: usize = 8;

/// What the in-process half did.
#[derive(Debug)]
pub(crate) struct FindingsReport {
    /// Severity of each finding, in the findings' order.
    pub(crate) severities: Vec<u8>,
    /// Wall time of the look-ups.
    pub(crate) lookups_elapsed: Duration,
    /// One report line per finding, in the findings' order.
    pub(crate) reports: Vec<String>,
    /// Wall time of writing the reports.
    pub(crate) reports_elapsed: Duration,
}

/// Stands in for a CVE database look-up: waits, then answers a severity from 1 to 10.
async fn severity(finding: &str) -> u8 {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let sum = finding
        .bytes()
        .fold(0u8, |acc, byte| acc.wrapping_add(byte));
    sum % 10 + 1
}

/// Stands in for writing a report row: every 10th takes 10 times as long, and the others keep
/// flowing around it (a sliding window, not a barrier per batch).
async fn write_report(position: usize, finding: &str, severity: u8) -> String {
    let wait = if position % 10 == 9 { 100 } else { 10 };
    tokio::time::sleep(Duration::from_millis(wait)).await;
    format!("{finding}: severity {severity}")
}

/// Looks up every finding's severity with `run_parallel`, then writes one report per finding
/// with `batch_process`; both keep the results in input order.
///
/// # Errors
/// Only if a limit constant were 0.
pub(crate) async fn process(findings: &[String]) -> perf_async::Result<FindingsReport> {
    let started = Instant::now();
    // The futures borrow `findings`: local mode needs neither `Send` nor `'static`.
    let severities = run_parallel(
        findings.iter().map(|finding| severity(finding)),
        LOOKUPS_AT_ONCE,
    )
    .await?;
    let lookups_elapsed = started.elapsed();

    let started = Instant::now();
    let reports = batch_process(
        findings.iter().zip(&severities).enumerate(),
        REPORTS_AT_ONCE,
        |(position, (finding, &severity))| write_report(position, finding, severity),
    )
    .await?;
    Ok(FindingsReport {
        severities,
        lookups_elapsed,
        reports,
        reports_elapsed: started.elapsed(),
    })
}

/// Prints the in-process half's summary.
pub(crate) fn print(report: &FindingsReport) {
    println!();
    println!(
        "findings: run_parallel looked up {} severities, at most {LOOKUPS_AT_ONCE} at once, in {:.2}s",
        report.severities.len(),
        report.lookups_elapsed.as_secs_f64(),
    );
    println!(
        "findings: batch_process wrote {} reports, at most {REPORTS_AT_ONCE} at once, in {:.2}s; \
         in input order, first: {}",
        report.reports.len(),
        report.reports_elapsed.as_secs_f64(),
        report.reports.first().map_or("(none)", String::as_str),
    );
}
