//! The run's figures: built from what was recorded, printed as a table, written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::args::{Args, Task};
use crate::cache::CacheDelta;
use crate::stats::{Collected, ErrorCounts};

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest answer.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// The summary of a histogram of microseconds; `None` when it is empty.
    pub fn of<T: hdrhistogram::Counter>(h: &Histogram<T>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        // Microseconds below 2^53: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let ms = |us: u64| us as f64 / 1_000.0;
        Some(Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: h.mean() / 1_000.0,
        })
    }
}

/// One task's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// Requests sent.
    pub requests: u64,
    /// Of those, failed.
    pub errors: u64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// Requests per second over the run.
    pub rps: f64,
    /// Latency of the answered requests; `null` when none was answered.
    pub latency_ms: Option<Latency>,
    /// Failed requests by kind.
    pub errors_by_kind: ErrorCounts,
}

/// One second of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondReport {
    /// Whole seconds since the start.
    pub second: u64,
    /// How much of this second the run covered (below 1 only for the last one).
    pub span_seconds: f64,
    /// Requests that ended in this second.
    pub requests: u64,
    /// Of those, failed.
    pub errors: u64,
    /// `requests / span_seconds`.
    pub rps: f64,
    /// Median latency of the answers in this second (`null` without answers).
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

impl SecondReport {
    /// Failed requests per second in this second.
    pub fn errors_per_second(&self) -> f64 {
        if self.span_seconds <= 0.0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let r = self.errors as f64 / self.span_seconds;
        r
    }
}

/// The options the run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Service URL (password redacted).
    pub url: String,
    /// Virtual users.
    pub users: u32,
    /// Planned duration in seconds.
    pub duration_seconds: f64,
    /// Users started per second (0: all at once).
    pub ramp_up_users_per_second: f64,
    /// Task weights, `view_list=3,view_one=2,create=1`.
    pub mix: String,
    /// Ids range `1..=ids`.
    pub ids: u64,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Pages range of the list view.
    pub pages: u64,
    /// Page size of the list view.
    pub page_size: u32,
    /// Think time (`0s`, `2s`, `1s..3s`).
    pub think_time: String,
    /// Per-request timeout in milliseconds.
    pub request_timeout_ms: u64,
    /// Tasks per user at most.
    pub iterations: Option<u64>,
    /// `Accept-Encoding` of the scenario's requests.
    pub accept_encoding: Option<String>,
    /// Seed of the random choices (rerun with `--seed` to repeat them).
    pub seed: u64,
}

/// Users of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCounts {
    /// `--users`.
    pub requested: u32,
    /// Started before the deadline.
    pub started: u32,
    /// Never logged in.
    pub failed_login: u32,
    /// Still busy at the hard limit and stopped.
    pub stopped_at_hard_limit: u32,
    /// Tasks run by all users (logins not counted).
    pub tasks: u64,
}

/// Everything a run measured (the JSON written to `loadtest.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The options used.
    pub config: RunConfig,
    /// When the first user started (RFC 3339, UTC).
    pub started_at: String,
    /// From the first user's start until the last one stopped.
    pub elapsed_seconds: f64,
    /// Users of the run.
    pub users: UserCounts,
    /// Requests sent, logins included.
    pub requests: u64,
    /// Failed requests (not 2xx, or no answer).
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// `requests / elapsed_seconds`.
    pub rps: f64,
    /// Latency of every answered request.
    pub latency_ms: Option<Latency>,
    /// Per task: `view_list`, `view_one`, `create`, `login`.
    pub tasks: BTreeMap<String, TaskReport>,
    /// Failed requests by kind.
    pub errors_by_kind: ErrorCounts,
    /// Failed answered requests by status code.
    pub errors_by_status: BTreeMap<String, u64>,
    /// The service's cache during the run; `null` when its stats could not be read.
    pub cache: Option<CacheDelta>,
    /// Per second of the run.
    pub timeline: Vec<SecondReport>,
    /// What went wrong around the run (stats unavailable, users that never logged in).
    pub warnings: Vec<String>,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    // Counts below 2^53.
    #[allow(clippy::cast_precision_loss)]
    let r = part as f64 / whole as f64;
    r
}

fn per_second(count: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let r = count as f64 / secs;
    r
}

fn ms<T: hdrhistogram::Counter>(h: &Histogram<T>, q: f64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    let v = (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1_000.0);
    v
}

impl Report {
    /// Builds the report of a finished run.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        args: &Args,
        seed: u64,
        started_at: SystemTime,
        elapsed: Duration,
        users: UserCounts,
        collected: &Collected,
        cache: Option<CacheDelta>,
        warnings: Vec<String>,
    ) -> Self {
        let secs = elapsed.as_secs_f64();
        let mut tasks = BTreeMap::new();
        let mut all = Histogram::<u64>::new_from(&collected.task(Task::ViewOne).latency_us);
        let mut errors_by_kind = ErrorCounts::default();
        let mut requests = 0;
        for task in Task::ALL {
            let t = collected.task(task);
            // Same bounds for every task histogram: adding cannot fail.
            let _ = all.add(&t.latency_us);
            errors_by_kind.merge(&t.errors);
            requests += t.requests;
            tasks.insert(
                task.name().to_owned(),
                TaskReport {
                    requests: t.requests,
                    errors: t.errors.total(),
                    error_rate: ratio(t.errors.total(), t.requests),
                    rps: per_second(t.requests, secs),
                    latency_ms: Latency::of(&t.latency_us),
                    errors_by_kind: t.errors,
                },
            );
        }
        let errors = errors_by_kind.total();
        let timeline = collected
            .seconds
            .iter()
            .zip(0u64..)
            .map(|(s, second)| {
                #[allow(clippy::cast_precision_loss)]
                let span = (secs - second as f64).clamp(0.001, 1.0);
                SecondReport {
                    second,
                    span_seconds: span,
                    requests: s.requests,
                    errors: s.errors,
                    rps: per_second(s.requests, span),
                    p50_ms: ms(&s.latency_us, 0.50),
                    p95_ms: ms(&s.latency_us, 0.95),
                    p99_ms: ms(&s.latency_us, 0.99),
                }
            })
            .collect();
        Report {
            config: RunConfig {
                url: perf_redact::redact_url(&args.url),
                users: args.users,
                duration_seconds: args.duration.as_secs_f64(),
                ramp_up_users_per_second: args.ramp_up,
                mix: args.mix.to_string(),
                ids: args.ids,
                zipf_s: args.zipf_s,
                pages: args.pages,
                page_size: args.page_size,
                think_time: args.think_time.to_string(),
                request_timeout_ms: u64::try_from(args.request_timeout.as_millis())
                    .unwrap_or(u64::MAX),
                iterations: args.iterations,
                accept_encoding: args.accept_encoding.clone(),
                seed,
            },
            started_at: humantime::format_rfc3339_millis(started_at).to_string(),
            elapsed_seconds: secs,
            users,
            requests,
            errors,
            error_rate: ratio(errors, requests),
            rps: per_second(requests, secs),
            latency_ms: Latency::of(&all),
            tasks,
            errors_by_kind,
            errors_by_status: collected
                .by_status
                .iter()
                .map(|(status, n)| (status.to_string(), *n))
                .collect(),
            cache,
            timeline,
            warnings,
        }
    }

    /// The report as the table printed on stdout.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let c = &self.config;
        let _ = writeln!(
            out,
            "loadtest {}: {} users ({} started), {:.1} s, mix {}, think time {}, ids 1..={} (zipf s={})",
            c.url,
            c.users,
            self.users.started,
            self.elapsed_seconds,
            c.mix,
            c.think_time,
            c.ids,
            c.zipf_s
        );
        let _ = writeln!(
            out,
            "{} requests, {:.1} req/s, {} errors ({:.2}%)",
            self.requests,
            self.rps,
            self.errors,
            self.error_rate * 100.0
        );
        let _ = writeln!(
            out,
            "\n{:<10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "task", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
        );
        let row = |out: &mut String,
                   name: &str,
                   requests: u64,
                   rps: f64,
                   l: Option<Latency>,
                   errors: u64| {
            let f = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
            let _ = writeln!(
                out,
                "{:<10} {:>9} {:>10.1} {:>9} {:>9} {:>9} {:>9} {:>8}",
                name,
                requests,
                rps,
                f(l.map(|l| l.p50)),
                f(l.map(|l| l.p95)),
                f(l.map(|l| l.p99)),
                f(l.map(|l| l.max)),
                errors
            );
        };
        for task in Task::ALL {
            if let Some(t) = self.tasks.get(task.name()).filter(|t| t.requests > 0) {
                row(
                    &mut out,
                    task.name(),
                    t.requests,
                    t.rps,
                    t.latency_ms,
                    t.errors,
                );
            }
        }
        row(
            &mut out,
            "all",
            self.requests,
            self.rps,
            self.latency_ms,
            self.errors,
        );
        let e = &self.errors_by_kind;
        let _ = writeln!(
            out,
            "\nerrors by kind: timeout {}, connect {}, transport {}, 429 {}, other 4xx {}, 5xx {}, other {}",
            e.timeout,
            e.connect,
            e.transport,
            e.status_429,
            e.status_4xx,
            e.status_5xx,
            e.other_status
        );
        if !self.errors_by_status.is_empty() {
            let statuses: Vec<String> = self
                .errors_by_status
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            let _ = writeln!(out, "errors by status: {}", statuses.join(", "));
        }
        match &self.cache {
            Some(cache) => {
                let _ = writeln!(
                    out,
                    "cache hit rate during the run: {} ({} hits, {} misses){}",
                    cache.hit_rate.as_deref().unwrap_or("- (no lookups)"),
                    cache.hits,
                    cache.misses,
                    if cache.counters_reset {
                        "; the counters were reset during the run"
                    } else {
                        ""
                    }
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "cache hit rate during the run: unknown (no cache stats)"
                );
            }
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        out
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
