//! What it shows: ingesting security events at 100k+ events/s (seed 001's phase-3 target) by
//! streaming a JSON-lines file through perf-async chunking into bulk statements, several chunks
//! in flight, through perf-db's instrumented pool.
//!
//! Run with:
//!
//! ```sh
//! # embedded: a SQLite file (event-ingest.db), 100,000 generated events
//! cargo run --release -p event-ingest -- --generate 100000
//! # PostgreSQL, from a file, with the one-INSERT-per-event comparison
//! cargo run --release -p event-ingest -- --generate 1000000 --write-file events.jsonl
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p event-ingest -- --file events.jsonl --compare
//! ```
//!
//! # Input
//! `--file PATH` (JSON lines, `-` for standard input), one event per line with seven fields:
//! `ts` (RFC 3339), `organization_id` (integer ≥ 1), `source_type`, `src_ip`, `dst_ip` (IPv4 or
//! IPv6), `severity` (`critical|high|medium|low|info`), `message`. Or `--generate N`, a
//! deterministic generator (`--bad-every K` makes every K-th line bad); with `--write-file PATH`
//! (JSON lines) and/or `--write-csv PATH` (the good rows as CSV, for `psql \copy`) it writes the
//! lines and exits. The file is streamed on a thread of its own through a bounded channel:
//! memory is bounded by `chunk_size × (concurrency + 2)` lines whatever the file's size.
//!
//! # Output
//! `DATABASE_URL` (or `--database-url`): `postgres://…` or `sqlite://…`; the default is the
//! embedded SQLite file `event-ingest.db`. The table `events` is created if absent with seed
//! 001's three indexes (`ix_events_org_ts_severity`, `ix_events_org_src_ip`, the partial
//! `ix_events_source_type_ts … WHERE deleted_at IS NULL`) and a primary key, **before** loading,
//! as a running service has them: every figure includes index maintenance.
//!
//! # How a chunk is written
//! perf-async's `chunks_timeout` cuts the line stream into chunks of `--chunk-size` lines (or
//! fewer after 200 ms of quiet input); up to `--concurrency` chunks are parsed, encoded and
//! written at once on the runtime's worker threads. PostgreSQL: one `COPY events (…) FROM STDIN`
//! per chunk (sqlx's `copy_in_raw` on a connection of perf-db's pool: the pool's acquires are
//! measured, the `COPY` itself runs on the raw connection and is not in perf-db's per-statement
//! statistics), in its own transaction. `--method` chooses `copy-binary` (the default),
//! `copy-text` or `unnest` (`INSERT … SELECT * FROM UNNEST($1::timestamptz[], …)`, one array per
//! column, an instrumented statement). Measured on this project's 2-core machine (shared, load
//! average 2-4), 300,000 generated events from a file into the indexed table, chunks of 5,000,
//! two runs each: copy-binary 101k and 98k events/s, copy-text 79k and 88k, unnest 77k and 82k
//! (`psql \copy` of the same rows as CSV in the same runs: 73k and 64k rows/s). Binary spares
//! the server parsing timestamps and addresses, hence the default. With copy-binary, 2 chunks in
//! flight gave 77k and 78k events/s, 4 (the default) 101k and 98k, 8 102k and 107k. The client
//! is not the bottleneck: 0.37 s of CPU for 300,000 events.
//!
//! 1,000,000 events, `benches/ingest/run` (3 rounds, both loaders in the same run, load average
//! 2.7 from other work when it started): event-ingest median 77.6k events/s (82.0k, 77.4k,
//! 77.6k), `psql \copy` 78.2k rows/s (76.4k, 78.2k, 84.5k): 0.99×; one INSERT per event 4.6k/s,
//! 17× slower. Both loaders are bound by the server's CPU (index maintenance: the table and its
//! indexes reach 345 MB, shared_buffers is 128 MB); the 100k goal was not met in that run. A
//! lone run minutes later on the idle machine (no peer in the run) reached 120k events/s with
//! both cores ~85 % busy, the client using 1.4 s of CPU out of 8.3 s.
//!
//! SQLite: multi-row `INSERT`s of 500 rows, one transaction per chunk; a chunk waits for its
//! turn before `BEGIN` (SQLite has one writer), while parsing still runs in parallel.
//!
//! Commits happen in input order (a chunk's `COMMIT` waits until every earlier chunk has
//! committed), so the database always holds a prefix of the input and a resume point is exact.
//!
//! # Bad lines, interruption, resumption
//! A bad line (invalid JSON, a missing field, a wrong type, a bad timestamp, an invalid IP, an
//! unknown severity, not UTF-8, over 1 MiB) is not ingested; it is counted and the first 20 are
//! listed with their line numbers (never their contents). `--strict` makes the first bad line
//! an error: the chunks before it are committed, nothing after. Ctrl-C stops reading, commits
//! every chunk already sent (no partial chunk), and prints the `--skip-lines K` that resumes
//! the run without losing or duplicating a row; a second Ctrl-C exits at once. `--max-lines N`
//! stops after N lines the same way.
//!
//! `--compare` also inserts the first `--compare-sample` (5,000) good events one `INSERT` per
//! event into a scratch copy of the table (dropped afterwards) and prints both rates and the
//! ratio.
//!
//! Exit status: 0 done, 1 error, 2 bad arguments, 3 `--strict` found a bad line, 130
//! interrupted.

mod event;
mod generate;
mod ingest;
mod source;
mod store;
mod turn;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::event::Event;
use crate::ingest::{Ending, Options, Summary};
use crate::source::Input;
use crate::store::{Method, Store};

/// The comparison's scratch table.
const COMPARE_TABLE: &str = "events_one_by_one";

/// Ingests security events (JSON lines) into PostgreSQL or SQLite with bulk statements.
#[derive(Debug, Parser)]
#[command(name = "event-ingest", version)]
struct Args {
    /// JSON-lines file to ingest (`-` reads standard input).
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "generate",
        required_unless_present = "generate"
    )]
    file: Option<PathBuf>,
    /// Generate N deterministic events instead of reading a file.
    #[arg(long, value_name = "N")]
    generate: Option<u64>,
    /// With --generate: make every K-th line bad (invalid JSON, missing field, bad timestamp,
    /// invalid IP in turn); 0 for none.
    #[arg(long, value_name = "K", default_value_t = 0, requires = "generate")]
    bad_every: u64,
    /// With --generate: write the lines to PATH as JSON lines and exit.
    #[arg(long, value_name = "PATH", requires = "generate")]
    write_file: Option<PathBuf>,
    /// With --generate: write the good rows to PATH as CSV (for `psql \copy`) and exit.
    #[arg(long, value_name = "PATH", requires = "generate")]
    write_csv: Option<PathBuf>,
    /// postgres://… or sqlite://…
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://event-ingest.db?mode=rwc"
    )]
    database_url: String,
    /// Lines per chunk (one COPY or one transaction each).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    chunk_size: u32,
    /// Chunks in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,
    /// How chunks reach PostgreSQL (ignored for SQLite).
    #[arg(long, value_enum, default_value_t = Method::CopyBinary)]
    method: Method,
    /// Also insert a sample one INSERT per event and print both rates and the ratio.
    #[arg(long)]
    compare: bool,
    /// Events in the --compare sample.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    compare_sample: u32,
    /// Any bad line is an error (exit status 3); the chunks before it stay committed.
    #[arg(long)]
    strict: bool,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    quiet: bool,
    /// Skip the first K lines of the input (to resume an interrupted run).
    #[arg(long, value_name = "K", default_value_t = 0)]
    skip_lines: u64,
    /// Stop after reading N lines (after the skipped ones), as if interrupted.
    #[arg(long, value_name = "N")]
    max_lines: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let input = match (&args.file, args.generate) {
        (Some(path), _) => Input::File(path.clone()),
        (None, Some(count)) => Input::Generate {
            count,
            bad_every: args.bad_every,
        },
        // clap requires one of the two.
        (None, None) => return ExitCode::from(2),
    };
    if args.write_file.is_some() || args.write_csv.is_some() {
        let count = args.generate.unwrap_or(0);
        return match generate::write_files(
            count,
            args.bad_every,
            args.write_file.as_deref(),
            args.write_csv.as_deref(),
        ) {
            Ok(()) => {
                if let Some(path) = &args.write_file {
                    println!("wrote {count} generated lines to {}", path.display());
                }
                if let Some(path) = &args.write_csv {
                    println!(
                        "wrote the good rows of {count} generated lines to {}",
                        path.display()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write the generated lines: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Input::File(path) = &input
        && path.as_os_str() != "-"
        && let Err(e) = std::fs::File::open(path)
    {
        eprintln!("error: cannot open {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    if args.compare && matches!(&input, Input::File(path) if path.as_os_str() == "-") {
        eprintln!(
            "error: --compare re-reads the input for its sample: use --file PATH or --generate"
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, input))
}

async fn run(args: Args, input: Input) -> ExitCode {
    let options = Options {
        chunk_size: usize::try_from(args.chunk_size).unwrap_or(5000),
        concurrency: usize::try_from(args.concurrency).unwrap_or(4),
        skip_lines: args.skip_lines,
        max_lines: args.max_lines,
        strict: args.strict,
    };
    let store = match Store::connect(&args.database_url, args.concurrency + 1, args.method).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = store.create_table("events").await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "event-ingest: {} → {} ({}), table events with its primary key and seed 001's 3 indexes \
         (created before loading), chunks of {} lines, {} in flight",
        describe(&input),
        perf_db::redact_url(&args.database_url),
        store.describe(),
        options.chunk_size,
        options.concurrency,
    );

    let stop = CancellationToken::new();
    let ctrl_c = tokio::spawn({
        let stop = stop.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "interrupted: reading stopped, committing the chunks already sent (Ctrl-C again to exit now)"
                );
                stop.cancel();
            }
        }
    });
    let progress = progress_bar(&input, args.quiet);
    let summary = ingest::run(&store, &input, &options, &progress, &stop).await;
    ctrl_c.abort();
    progress.finish_and_clear();
    let summary = match summary {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("error: {e}");
            store.close().await;
            return ExitCode::FAILURE;
        }
    };
    let status = report(&summary, args.skip_lines);
    if args.compare && matches!(summary.ending, Ending::Complete | Ending::MaxLines { .. }) {
        let bulk_rate = rate(summary.rows, summary.elapsed.as_secs_f64());
        if let Err(e) = compare(
            &store,
            &input,
            args.skip_lines,
            args.compare_sample,
            bulk_rate,
        )
        .await
        {
            eprintln!("error: --compare: {e}");
            store.close().await;
            return ExitCode::FAILURE;
        }
    }
    store.close().await;
    status
}

fn describe(input: &Input) -> String {
    match input {
        Input::File(path) if path.as_os_str() == "-" => "standard input".to_owned(),
        Input::File(path) => path.display().to_string(),
        Input::Generate {
            count,
            bad_every: 0,
        } => format!("{count} generated events"),
        Input::Generate { count, bad_every } => {
            format!("{count} generated lines (every {bad_every}th bad)")
        }
    }
}

fn progress_bar(input: &Input, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match input.progress_len() {
        Some(len) if input.progress_in_bytes() => (
            ProgressBar::new(len),
            "[{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
        ),
        Some(len) => (
            ProgressBar::new(len),
            "[{elapsed_precise}] {wide_bar} {human_pos}/{human_len} lines ({per_sec}) {msg}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "[{elapsed_precise}] {spinner} {bytes} read {msg}",
        ),
    };
    match ProgressStyle::with_template(template) {
        Ok(style) => bar.with_style(style),
        Err(_) => bar,
    }
}

fn rate(rows: u64, seconds: f64) -> f64 {
    // Row counts stay far below 2^52, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let rows = rows as f64;
    if seconds > 0.0 { rows / seconds } else { 0.0 }
}

/// Prints the run's outcome; the exit status it deserves.
fn report(summary: &Summary, skip_lines: u64) -> ExitCode {
    let through = summary.committed_through_line;
    if summary.bad_count > 0 {
        println!(
            "bad lines: {} (not ingested; the first {} listed)",
            summary.bad_count,
            summary.bad_lines.len()
        );
        for (number, bad) in &summary.bad_lines {
            println!("  line {number}: {bad}");
        }
    }
    if summary.blank_lines > 0 {
        println!("blank lines ignored: {}", summary.blank_lines);
    }
    let seconds = summary.elapsed.as_secs_f64();
    println!(
        "ingested {} rows in {seconds:.3} s: {:.0} events/s (lines {}..={through}, {} bad)",
        summary.rows,
        rate(summary.rows, seconds),
        skip_lines + 1,
        summary.bad_count,
    );
    let resume = format!(
        "lines 1..={through} are done ({} rows this run); resume with: --skip-lines {through}",
        summary.rows
    );
    match &summary.ending {
        Ending::Complete | Ending::MaxLines { more_input: false } => ExitCode::SUCCESS,
        Ending::MaxLines { more_input: true } => {
            println!("stopped at --max-lines: {resume}");
            ExitCode::SUCCESS
        }
        Ending::Interrupted => {
            println!("interrupted: {resume}");
            ExitCode::from(130)
        }
        Ending::Strict(bad) => {
            eprintln!("error: --strict: {bad}");
            println!("stopped at the first bad line: {resume} (after fixing it)");
            ExitCode::from(3)
        }
        Ending::Failed(error) => {
            eprintln!("error: {error}");
            println!("failed: {resume}");
            ExitCode::FAILURE
        }
    }
}

/// Inserts the first `sample` good events one INSERT per event into a scratch table and prints
/// both rates and their ratio.
async fn compare(
    store: &Store,
    input: &Input,
    skip_lines: u64,
    sample: u32,
    bulk_rate: f64,
) -> Result<(), String> {
    let lines = sample_lines(input, skip_lines, usize::try_from(sample).unwrap_or(5000))?;
    let events: Vec<Event<'_>> = lines
        .iter()
        .filter_map(|line| Event::parse(line).ok())
        .collect();
    store
        .drop_table(COMPARE_TABLE)
        .await
        .map_err(|e| e.to_string())?;
    store
        .create_table(COMPARE_TABLE)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let inserted = store.insert_one_by_one(COMPARE_TABLE, &events).await;
    let seconds = started.elapsed().as_secs_f64();
    store
        .drop_table(COMPARE_TABLE)
        .await
        .map_err(|e| e.to_string())?;
    inserted.map_err(|e| e.to_string())?;
    let single_rate = rate(events.len() as u64, seconds);
    println!(
        "compare: one INSERT per event: {} rows in {seconds:.3} s: {single_rate:.0} events/s",
        events.len()
    );
    let ratio = if single_rate > 0.0 {
        bulk_rate / single_rate
    } else {
        0.0
    };
    println!(
        "compare: bulk {bulk_rate:.0} events/s vs one INSERT per event {single_rate:.0} events/s: ratio {ratio:.1}x"
    );
    Ok(())
}

/// The first `sample` good lines of the input after `skip_lines`.
fn sample_lines(input: &Input, skip_lines: u64, sample: usize) -> Result<Vec<String>, String> {
    let mut lines = Vec::with_capacity(sample);
    match input {
        Input::Generate { count, bad_every } => {
            for number in skip_lines + 1..=*count {
                if lines.len() == sample {
                    break;
                }
                let line = generate::line(number, *bad_every);
                if Event::parse(&line).is_ok() {
                    lines.push(line);
                }
            }
        }
        Input::File(path) => {
            use std::io::BufRead;
            let file =
                std::fs::File::open(path).map_err(|e| format!("cannot open the input: {e}"))?;
            for line in std::io::BufReader::new(file)
                .lines()
                .skip(usize::try_from(skip_lines).unwrap_or(usize::MAX))
            {
                if lines.len() == sample {
                    break;
                }
                let Ok(line) = line else { continue };
                if Event::parse(&line).is_ok() {
                    lines.push(line);
                }
            }
        }
    }
    Ok(lines)
}
