//! The input: a JSON-lines file (or standard input) or the generator, read line by line on a
//! thread of its own and handed to the ingest pipeline through a bounded channel, so memory
//! stays bounded whatever the input's size and a blocking read never stalls the runtime.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::ProgressBar;
use tokio::sync::mpsc;

use crate::event::BadLine;
use crate::generate;

/// Longest line accepted; a longer one is reported as bad and skipped without being buffered.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// Where the events come from.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    /// A JSON-lines file; `-` is standard input.
    File(PathBuf),
    /// Lines `1..=count` of the generator, every `bad_every`-th one bad (0: none).
    Generate {
        /// How many lines.
        count: u64,
        /// Every how many lines one is bad.
        bad_every: u64,
    },
}

/// One input line with its 1-based line number.
#[derive(Debug)]
pub(crate) struct Line {
    pub(crate) number: u64,
    pub(crate) text: Result<String, BadLine>,
}

/// How the reader ended.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadEnd {
    /// The last line number read (skipped lines included).
    pub(crate) last_line: u64,
    /// Whether input remains after `last_line` (the reader stopped at `--max-lines`).
    pub(crate) more_input: bool,
}

impl Input {
    /// The progress bar's length: bytes for a file, lines for the generator, none for stdin.
    pub(crate) fn progress_len(&self) -> Option<u64> {
        match self {
            Self::File(path) if path.as_os_str() == "-" => None,
            Self::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Self::Generate { count, .. } => Some(*count),
        }
    }

    /// Whether the progress bar counts bytes (files) rather than lines (the generator).
    pub(crate) fn progress_in_bytes(&self) -> bool {
        matches!(self, Self::File(_))
    }

    /// Opens the input now (so a missing file is reported before anything else happens).
    pub(crate) fn open(&self) -> io::Result<Opened> {
        Ok(match self {
            Self::File(path) if path.as_os_str() == "-" => {
                Opened::Reader(Box::new(BufReader::with_capacity(1 << 16, io::stdin())))
            }
            Self::File(path) => Opened::Reader(Box::new(BufReader::with_capacity(
                1 << 16,
                File::open(path)?,
            ))),
            Self::Generate { count, bad_every } => Opened::Generate {
                count: *count,
                bad_every: *bad_every,
            },
        })
    }
}

/// An opened input.
pub(crate) enum Opened {
    /// A buffered byte stream of JSON lines.
    Reader(Box<dyn BufRead + Send>),
    /// The generator.
    Generate { count: u64, bad_every: u64 },
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reader(_) => f.write_str("Opened::Reader"),
            Self::Generate { count, bad_every } => f
                .debug_struct("Opened::Generate")
                .field("count", count)
                .field("bad_every", bad_every)
                .finish(),
        }
    }
}

/// What the reader thread needs.
#[derive(Debug)]
pub(crate) struct ReadPlan {
    pub(crate) skip_lines: u64,
    pub(crate) max_lines: Option<u64>,
    pub(crate) progress: ProgressBar,
    /// Set when the run stops (Ctrl-C, a failed chunk): the reader stops at its next line.
    pub(crate) stop: Arc<AtomicBool>,
}

/// Reads `opened` on a new thread, sending each line after the first `skip_lines` (at most
/// `max_lines` of them) to `tx`; ends at the end of input, at `max_lines`, when `stop` is set or
/// when the receiver is gone.
pub(crate) fn spawn_reader(
    opened: Opened,
    plan: ReadPlan,
    tx: mpsc::Sender<Line>,
) -> std::thread::JoinHandle<io::Result<ReadEnd>> {
    std::thread::spawn(move || match opened {
        Opened::Reader(reader) => read_lines(reader, &plan, &tx),
        Opened::Generate { count, bad_every } => Ok(generate_lines(count, bad_every, &plan, &tx)),
    })
}

/// How often (in lines) the reader moves the progress bar.
const PROGRESS_EVERY: u64 = 1024;

fn generate_lines(count: u64, bad_every: u64, plan: &ReadPlan, tx: &mpsc::Sender<Line>) -> ReadEnd {
    let first = plan.skip_lines.saturating_add(1);
    let last = plan
        .max_lines
        .map_or(count, |max| count.min(plan.skip_lines.saturating_add(max)));
    plan.progress.set_position(plan.skip_lines.min(count));
    let mut end = ReadEnd {
        last_line: plan.skip_lines.min(count),
        more_input: last < count,
    };
    for number in first..=last {
        if plan.stop.load(Ordering::Relaxed) {
            end.more_input = true;
            break;
        }
        let text = Ok(generate::line(number, bad_every));
        if tx.blocking_send(Line { number, text }).is_err() {
            end.more_input = true;
            break;
        }
        end.last_line = number;
        if number.is_multiple_of(PROGRESS_EVERY) {
            plan.progress.set_position(number);
        }
    }
    plan.progress.set_position(end.last_line);
    end
}

fn read_lines(
    mut reader: Box<dyn BufRead + Send>,
    plan: &ReadPlan,
    tx: &mpsc::Sender<Line>,
) -> io::Result<ReadEnd> {
    let mut end = ReadEnd::default();
    let mut bytes_since_progress = 0u64;
    for _ in 0..plan.skip_lines {
        let skipped = reader.skip_until(b'\n')?;
        if skipped == 0 {
            return Ok(end);
        }
        end.last_line += 1;
        bytes_since_progress += skipped as u64;
    }
    plan.progress.inc(bytes_since_progress);
    bytes_since_progress = 0;
    let mut buf = Vec::with_capacity(512);
    let mut sent = 0u64;
    loop {
        if plan.max_lines.is_some_and(|max| sent >= max) {
            end.more_input = !reader.fill_buf()?.is_empty();
            break;
        }
        if plan.stop.load(Ordering::Relaxed) {
            end.more_input = true;
            break;
        }
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        let mut consumed = read as u64;
        let text = if buf.last() != Some(&b'\n') && read > MAX_LINE_BYTES {
            // Too long: drop what was read and skip the rest of the line unbuffered.
            consumed += reader.skip_until(b'\n')? as u64;
            Err(BadLine::TooLong(MAX_LINE_BYTES))
        } else {
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            String::from_utf8(std::mem::take(&mut buf)).map_err(|_| BadLine::NotUtf8)
        };
        end.last_line += 1;
        sent += 1;
        if tx
            .blocking_send(Line {
                number: end.last_line,
                text,
            })
            .is_err()
        {
            end.more_input = true;
            break;
        }
        bytes_since_progress += consumed;
        if end.last_line.is_multiple_of(PROGRESS_EVERY) {
            plan.progress.inc(bytes_since_progress);
            bytes_since_progress = 0;
        }
    }
    plan.progress.inc(bytes_since_progress);
    Ok(end)
}
