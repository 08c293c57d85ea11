//! `loadtest`: the seeds' Locust scenario against a running scan-service (see the library docs
//! of the `loadtest` crate for what it measures and why it uses a lean hyper client).
//!
//! Run: `cargo run -p loadtest --release -- --users 100 --duration 30s --out target/loadtest`
//! (`--help` lists every option). Exit codes: 0 the run completed, 1 `--max-error-rate`
//! exceeded, 2 service unreachable, first login failed, or invalid options.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use loadtest::args::Args;
use loadtest::chart::render_svg;
use loadtest::report::Report;
use loadtest::run::run;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let report = match run(&args).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.to_text());
    if let Some(dir) = &args.out {
        match write_outputs(dir, &report) {
            Ok(()) => println!(
                "wrote {0}/loadtest.json and {0}/loadtest.svg",
                dir.display()
            ),
            Err(e) => {
                eprintln!("loadtest: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(max) = args.max_error_rate
        && report.error_rate > max
    {
        eprintln!(
            "loadtest: error rate {:.2}% is above --max-error-rate {:.2}%",
            report.error_rate * 100.0,
            max * 100.0
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn write_outputs(dir: &Path, report: &Report) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = dir.join("loadtest.json");
    std::fs::write(&json, report.to_json())
        .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let svg = dir.join("loadtest.svg");
    std::fs::write(&svg, render_svg(report)?)
        .map_err(|e| format!("cannot write {}: {e}", svg.display()))?;
    Ok(())
}
