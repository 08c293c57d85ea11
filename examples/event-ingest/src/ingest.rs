//! The pipeline: reader thread → bounded channel → perf-async's `chunks_timeout` (chunks of
//! `chunk_size` lines, or fewer after 200 ms of quiet input) → up to `concurrency` chunks in
//! flight, each parsed, encoded and written on the runtime's worker threads → commits in input
//! order ([`Turnstile`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::ProgressBar;
use perf_async::ChunksTimeoutExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::event::{BadLine, Event};
use crate::source::{Input, Line, ReadEnd, ReadPlan, spawn_reader};
use crate::store::{Store, Written};
use crate::turn::Turnstile;

/// How many bad lines are listed by number (all are counted).
pub(crate) const LISTED_BAD_LINES: usize = 20;

/// How long a partial chunk waits for more lines before it is written anyway (slow input,
/// e.g. a pipe).
const CHUNK_MAX_WAIT: Duration = Duration::from_millis(200);

/// The knobs of one run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) chunk_size: usize,
    pub(crate) concurrency: usize,
    pub(crate) skip_lines: u64,
    pub(crate) max_lines: Option<u64>,
    pub(crate) strict: bool,
}

/// How a run ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// All the input was read and committed.
    Complete,
    /// `--max-lines` was reached; `more_input` says whether lines remain.
    MaxLines { more_input: bool },
    /// Ctrl-C: reading stopped and the chunks already sent were committed.
    Interrupted,
    /// `--strict` and a bad line.
    Strict(String),
    /// A chunk failed (database or input error).
    Failed(String),
}

/// What a run did.
#[derive(Debug)]
pub(crate) struct Summary {
    pub(crate) ending: Ending,
    /// Every input line up to this one was handled (committed, or bad and reported).
    pub(crate) committed_through_line: u64,
    pub(crate) rows: u64,
    pub(crate) blank_lines: u64,
    pub(crate) bad_count: u64,
    /// The first [`LISTED_BAD_LINES`] bad lines, by line number.
    pub(crate) bad_lines: Vec<(u64, BadLine)>,
    pub(crate) elapsed: Duration,
}

/// One chunk's result.
#[derive(Debug, Default)]
struct ChunkReport {
    blank: u64,
    bad_count: u64,
    bad_lines: Vec<(u64, BadLine)>,
    committed: bool,
    error: Option<Ending>,
}

/// Runs the pipeline until the input ends, `stop` is cancelled (Ctrl-C) or a chunk fails.
pub(crate) async fn run(
    store: &Store,
    input: &Input,
    options: &Options,
    progress: &ProgressBar,
    stop: &CancellationToken,
) -> Result<Summary, String> {
    let opened = input
        .open()
        .map_err(|e| format!("cannot open the input: {e}"))?;
    let stop_reading = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Line>(options.chunk_size.clamp(1024, 65_536));
    let reader = spawn_reader(
        opened,
        ReadPlan {
            skip_lines: options.skip_lines,
            max_lines: options.max_lines,
            progress: progress.clone(),
            stop: Arc::clone(&stop_reading),
        },
        tx,
    );
    let committed_rows = Arc::new(AtomicU64::new(0));
    let turnstile = Turnstile::new(options.skip_lines, {
        let progress = progress.clone();
        move |rows| {
            let total = committed_rows.fetch_add(rows, Ordering::Relaxed) + rows;
            progress.set_message(format!("{total} rows committed"));
        }
    });
    // A second Ctrl-C does not wait for the chunks in flight.
    let forced = tokio::spawn({
        let stop = stop.clone();
        let turnstile = turnstile.clone();
        let stop_reading = Arc::clone(&stop_reading);
        async move {
            stop.cancelled().await;
            stop_reading.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                let (through, rows, _) = turnstile.committed();
                println!(
                    "forced exit: committed lines 1..={through} ({rows} rows), and perhaps the \
                     chunk that was committing; resume with: --skip-lines {through}"
                );
                std::process::exit(130);
            }
        }
    });

    let lines = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (line, rx))
    });
    let chunks = lines
        .chunks_timeout(options.chunk_size, CHUNK_MAX_WAIT)
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut index = 0u64;
    let mut in_flight = std::pin::pin!(
        chunks
            .take_until(stop.clone().cancelled_owned())
            .map(|chunk| {
                let last_line = chunk.last().map_or(0, |line| line.number);
                let ticket = turnstile.ticket(index, last_line);
                index += 1;
                let store = store.clone();
                let strict = options.strict;
                tokio::spawn(async move { process_chunk(&store, chunk, ticket, strict).await })
            })
            .buffer_unordered(options.concurrency)
    );

    let mut summary = Summary {
        ending: Ending::Complete,
        committed_through_line: options.skip_lines,
        rows: 0,
        blank_lines: 0,
        bad_count: 0,
        bad_lines: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut failure: Option<Ending> = None;
    while let Some(joined) = in_flight.next().await {
        let report = joined.unwrap_or_else(|e| ChunkReport {
            error: Some(Ending::Failed(format!("a chunk's task failed: {e}"))),
            ..ChunkReport::default()
        });
        if report.committed {
            summary.blank_lines += report.blank;
            summary.bad_count += report.bad_count;
            summary.bad_lines.extend(report.bad_lines);
            summary.bad_lines.sort_by_key(|(number, _)| *number);
            summary.bad_lines.truncate(LISTED_BAD_LINES);
        }
        if let Some(error) = report.error {
            // Stop reading and sending; the chunks in flight end (in order) on their own.
            stop_reading.store(true, Ordering::Relaxed);
            // The first failure reported is the one that stopped the run.
            failure.get_or_insert(error);
            stop.cancel();
        }
    }
    summary.elapsed = started.elapsed();
    let (through, rows, _) = turnstile.committed();
    summary.committed_through_line = through;
    summary.rows = rows;
    let interrupted = stop.is_cancelled() && failure.is_none();
    summary.ending = if let Some(failure) = failure {
        failure
    } else if interrupted {
        Ending::Interrupted
    } else {
        // The stream ended because the reader thread ended: join it for its error or end.
        match reader.join() {
            Ok(Ok(ReadEnd { more_input, .. })) if options.max_lines.is_some() => {
                Ending::MaxLines { more_input }
            }
            Ok(Ok(_)) => Ending::Complete,
            Ok(Err(e)) => Ending::Failed(format!(
                "reading the input failed after line {through}: {e}"
            )),
            Err(_) => Ending::Failed("the reader thread panicked".to_owned()),
        }
    };
    forced.abort();
    Ok(summary)
}

/// Parses, validates and writes one chunk.
async fn process_chunk(
    store: &Store,
    chunk: Vec<Line>,
    ticket: crate::turn::Ticket,
    strict: bool,
) -> ChunkReport {
    let mut report = ChunkReport::default();
    let mut events = Vec::with_capacity(chunk.len());
    for line in &chunk {
        let parsed = match &line.text {
            Ok(text) if text.trim().is_empty() => {
                report.blank += 1;
                continue;
            }
            Ok(text) => Event::parse(text),
            Err(bad) => Err(bad.clone()),
        };
        match parsed {
            Ok(event) => events.push(event),
            Err(bad) => {
                report.bad_count += 1;
                if report.bad_lines.len() < LISTED_BAD_LINES {
                    report.bad_lines.push((line.number, bad));
                }
            }
        }
    }
    if strict && let Some((number, bad)) = report.bad_lines.first() {
        // Dropping the ticket fails this chunk: the ones before it commit, the later ones roll back.
        report.error = Some(Ending::Strict(format!("line {number}: {bad}")));
        drop(ticket);
        return report;
    }
    match store.write_chunk(&events, ticket).await {
        Ok(Written::Committed(_)) => report.committed = true,
        Ok(Written::RolledBack) => {}
        Err(e) => {
            let first = chunk.first().map_or(0, |line| line.number);
            let last = chunk.last().map_or(0, |line| line.number);
            report.error = Some(Ending::Failed(format!("lines {first}..={last}: {e}")));
        }
    }
    report
}
