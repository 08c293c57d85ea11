//! Recording: per-task HdrHistograms, errors by kind and status, and one small histogram per
//! second of the run for the timeline. One mutex around it all: recording is a few counter
//! increments, far cheaper than the request it records, and keeps memory independent of the
//! number of users.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::args::Task;
use crate::client::{Exchange, Outcome};

/// Highest latency the histograms hold, in microseconds (1 hour); longer ones saturate.
const MAX_MICROS: u64 = 3_600_000_000;

/// Why a request counts as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No complete answer within `--request-timeout`.
    Timeout,
    /// The connection could not be opened.
    Connect,
    /// Reset connection, malformed answer, broken body.
    Transport,
    /// 429 Too Many Requests (the service's rate limit).
    Status429,
    /// Any other 4xx.
    Status4xx,
    /// Any 5xx.
    Status5xx,
    /// 1xx or 3xx: nothing in the scenario expects them.
    OtherStatus,
}

impl ErrorKind {
    /// The kind of a failed exchange; `None` for a 2xx answer.
    pub fn of(exchange: &Exchange) -> Option<ErrorKind> {
        match &exchange.outcome {
            Outcome::Response { status, .. } => match *status {
                200..=299 => None,
                429 => Some(ErrorKind::Status429),
                400..=499 => Some(ErrorKind::Status4xx),
                500..=599 => Some(ErrorKind::Status5xx),
                _ => Some(ErrorKind::OtherStatus),
            },
            Outcome::Timeout => Some(ErrorKind::Timeout),
            Outcome::Connect(_) => Some(ErrorKind::Connect),
            Outcome::Transport(_) => Some(ErrorKind::Transport),
        }
    }
}

/// Failed requests by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// No complete answer within the request timeout.
    pub timeout: u64,
    /// The connection could not be opened.
    pub connect: u64,
    /// Other transport failures.
    pub transport: u64,
    /// 429 answers.
    pub status_429: u64,
    /// 4xx answers other than 429.
    pub status_4xx: u64,
    /// 5xx answers.
    pub status_5xx: u64,
    /// 1xx and 3xx answers.
    pub other_status: u64,
}

impl ErrorCounts {
    /// Counts one failure.
    pub fn add(&mut self, kind: ErrorKind) {
        let slot = match kind {
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::Connect => &mut self.connect,
            ErrorKind::Transport => &mut self.transport,
            ErrorKind::Status429 => &mut self.status_429,
            ErrorKind::Status4xx => &mut self.status_4xx,
            ErrorKind::Status5xx => &mut self.status_5xx,
            ErrorKind::OtherStatus => &mut self.other_status,
        };
        *slot += 1;
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &ErrorCounts) {
        self.timeout += other.timeout;
        self.connect += other.connect;
        self.transport += other.transport;
        self.status_429 += other.status_429;
        self.status_4xx += other.status_4xx;
        self.status_5xx += other.status_5xx;
        self.other_status += other.other_status;
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.timeout
            + self.connect
            + self.transport
            + self.status_429
            + self.status_4xx
            + self.status_5xx
            + self.other_status
    }
}

/// What was recorded for one task.
#[derive(Debug, Clone)]
pub struct TaskStats {
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Failed requests by kind.
    pub errors: ErrorCounts,
    /// Latency in microseconds of every answered request.
    pub latency_us: Histogram<u64>,
}

impl TaskStats {
    fn new() -> Self {
        TaskStats {
            requests: 0,
            errors: ErrorCounts::default(),
            latency_us: new_histogram(3),
        }
    }
}

/// What was recorded for one second of the run (by completion time).
#[derive(Debug, Clone)]
pub struct SecondStats {
    /// Requests that ended in this second.
    pub requests: u64,
    /// Of those, failed ones.
    pub errors: u64,
    /// Latency in microseconds of the answered ones (2 significant digits: enough for a chart).
    pub latency_us: Histogram<u32>,
}

impl SecondStats {
    fn new() -> Self {
        SecondStats {
            requests: 0,
            errors: 0,
            latency_us: new_histogram(2),
        }
    }
}

fn new_histogram<T: hdrhistogram::Counter>(sigfig: u8) -> Histogram<T> {
    // Constant bounds (1 µs ..= 1 h, 2 or 3 significant digits) that hdrhistogram always
    // accepts: nothing a user or the network sends reaches this.
    Histogram::new_with_bounds(1, MAX_MICROS, sigfig).expect("constant histogram bounds are valid")
}

/// Everything recorded in a run.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Indexed by [`Task::index`].
    pub tasks: Vec<TaskStats>,
    /// Failed requests by status code (answered requests only).
    pub by_status: BTreeMap<u16, u64>,
    /// Indexed by whole seconds since the start.
    pub seconds: Vec<SecondStats>,
}

impl Collected {
    fn new() -> Self {
        Collected {
            tasks: Task::ALL.iter().map(|_| TaskStats::new()).collect(),
            by_status: BTreeMap::new(),
            seconds: Vec::new(),
        }
    }

    /// The stats of one task.
    pub fn task(&self, task: Task) -> &TaskStats {
        &self.tasks[task.index()]
    }
}

/// Thread-safe recorder shared by every user.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    inner: Mutex<Collected>,
}

impl Recorder {
    /// A recorder whose timeline starts at `start`.
    pub fn new(start: Instant) -> Self {
        Recorder {
            start,
            inner: Mutex::new(Collected::new()),
        }
    }

    /// Records one exchange of `task`.
    pub fn record(&self, task: Task, exchange: &Exchange) {
        let kind = ErrorKind::of(exchange);
        let answered = exchange.status().is_some();
        let micros = u64::try_from(exchange.latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let second = usize::try_from(
            exchange
                .finished
                .saturating_duration_since(self.start)
                .as_secs(),
        )
        .unwrap_or(usize::MAX);
        let mut c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let t = &mut c.tasks[task.index()];
        t.requests += 1;
        if let Some(kind) = kind {
            t.errors.add(kind);
        }
        if answered {
            t.latency_us.saturating_record(micros);
        }
        if let (Some(_), Some(status)) = (kind, exchange.status()) {
            *c.by_status.entry(status).or_insert(0) += 1;
        }
        // A request ending an hour late would not grow the timeline past its last second.
        if second < 86_400 {
            if c.seconds.len() <= second {
                c.seconds.resize_with(second + 1, SecondStats::new);
            }
            let s = &mut c.seconds[second];
            s.requests += 1;
            if kind.is_some() {
                s.errors += 1;
            }
            if answered {
                s.latency_us.saturating_record(micros);
            }
        }
    }

    /// Everything recorded so far.
    pub fn snapshot(&self) -> Collected {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::body::Bytes;

    use super::*;

    fn exchange(start: Instant, at_ms: u64, latency_ms: u64, outcome: Outcome) -> Exchange {
        Exchange {
            outcome,
            latency: Duration::from_millis(latency_ms),
            finished: start + Duration::from_millis(at_ms),
        }
    }

    fn status(s: u16) -> Outcome {
        Outcome::Response {
            status: s,
            retry_after: None,
            body: Bytes::new(),
        }
    }

    #[test]
    fn counts_by_task_kind_status_and_second() {
        let start = Instant::now();
        let r = Recorder::new(start);
        r.record(Task::ViewOne, &exchange(start, 100, 5, status(200)));
        r.record(Task::ViewOne, &exchange(start, 200, 7, status(500)));
        r.record(Task::ViewOne, &exchange(start, 1_100, 9, status(429)));
        r.record(Task::Create, &exchange(start, 1_200, 3, status(422)));
        r.record(Task::Create, &exchange(start, 2_500, 300, Outcome::Timeout));
        r.record(
            Task::ViewList,
            &exchange(start, 2_600, 1, Outcome::Connect("refused".into())),
        );
        r.record(
            Task::ViewList,
            &exchange(start, 2_700, 1, Outcome::Transport("reset".into())),
        );
        r.record(Task::Login, &exchange(start, 10, 2, status(201)));
        let c = r.snapshot();
        assert_eq!(c.task(Task::ViewOne).requests, 3);
        assert_eq!(c.task(Task::ViewOne).errors.status_5xx, 1);
        assert_eq!(c.task(Task::ViewOne).errors.status_429, 1);
        assert_eq!(c.task(Task::ViewOne).latency_us.len(), 3);
        assert_eq!(c.task(Task::Create).errors.status_4xx, 1);
        assert_eq!(c.task(Task::Create).errors.timeout, 1);
        assert_eq!(
            c.task(Task::Create).latency_us.len(),
            1,
            "a timeout carries no latency"
        );
        assert_eq!(c.task(Task::ViewList).errors.connect, 1);
        assert_eq!(c.task(Task::ViewList).errors.transport, 1);
        assert_eq!(c.task(Task::Login).errors.total(), 0);
        assert_eq!(c.by_status.get(&500), Some(&1));
        assert_eq!(c.by_status.get(&429), Some(&1));
        assert_eq!(c.by_status.get(&422), Some(&1));
        assert_eq!(
            c.by_status.get(&200),
            None,
            "successes are not in the error statuses"
        );
        assert_eq!(c.seconds.len(), 3);
        assert_eq!(
            c.seconds.iter().map(|s| s.requests).collect::<Vec<_>>(),
            [3, 2, 3]
        );
        assert_eq!(
            c.seconds.iter().map(|s| s.errors).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }
}
