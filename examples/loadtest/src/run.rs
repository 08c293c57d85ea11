//! A whole run: check the service answers, log the first user in, start the users at the ramp-up
//! rate, wait for them (bounded), read the cache counters before and after, build the report.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::Method;
use hyper::body::Bytes;
use tokio::task::JoinSet;

use crate::args::Args;
use crate::cache::{CacheCounters, CacheDelta};
use crate::client::{HttpClient, Outcome};
use crate::report::Report;
use crate::scenario::{Scenario, UserContext, UserEnd, login, run_user};
use crate::stats::Recorder;

/// Past the deadline, users get the request timeout plus this to finish before they are
/// stopped, so the program always ends by itself.
const GRACE: Duration = Duration::from_secs(2);
/// The service's readiness endpoint (503 while it warms up).
const HEALTH_PATH: &str = "/health";
/// Pause between two readiness checks.
const READY_POLL: Duration = Duration::from_millis(200);

/// Why a run could not take place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// An option made no sense (bad URL, bad distribution parameters).
    Config(String),
    /// Nothing answered at the URL.
    Unreachable {
        /// The service URL, password redacted.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// `GET /health` did not answer 200 within `--wait-ready`.
    NotReady {
        /// The service URL, password redacted.
        url: String,
        /// How long it waited.
        waited: Duration,
        /// The last answer or failure.
        reason: String,
    },
    /// The first user could not log in.
    LoginFailed {
        /// The e-mail used.
        email: String,
        /// The answer or failure.
        reason: String,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Config(why) => write!(f, "invalid options: {why}"),
            RunError::Unreachable { url, reason } => write!(
                f,
                "the service at {url} is not reachable ({reason}); start it first, e.g. \
                 `cargo run -p scan-service --release -- --seed 10000`"
            ),
            RunError::NotReady {
                url,
                waited,
                reason,
            } => write!(
                f,
                "the service at {url} did not report ready within {} (last answer: {reason})",
                humantime::format_duration(*waited)
            ),
            RunError::LoginFailed { email, reason } => write!(
                f,
                "login failed as {email} ({reason}); pass --email/--password (or \
                 SCAN_SERVICE_USER/SCAN_SERVICE_PASSWORD) matching the service"
            ),
        }
    }
}

impl std::error::Error for RunError {}

/// Runs the load test the options describe and returns its report.
pub async fn run(args: &Args) -> Result<Report, RunError> {
    let url = perf_redact::redact_url(&args.url);
    let pool = usize::try_from(args.users).unwrap_or(usize::MAX);
    let client =
        HttpClient::new(&args.url, args.request_timeout, pool).map_err(RunError::Config)?;
    let scenario = Scenario::from_args(args).map_err(RunError::Config)?;
    let seed = args.seed.unwrap_or_else(rand::random);

    if !args.wait_ready.is_zero() {
        wait_ready(&client, args.wait_ready)
            .await
            .map_err(|reason| RunError::NotReady {
                url: url.clone(),
                waited: args.wait_ready,
                reason,
            })?;
    }

    // Reachability, and the cache counters before the run.
    let (probe, before) = CacheCounters::fetch(&client).await;
    if let Outcome::Timeout | Outcome::Connect(_) | Outcome::Transport(_) = probe.outcome {
        return Err(RunError::Unreachable {
            url,
            reason: probe.describe(),
        });
    }
    let mut warnings = Vec::new();
    let before = before
        .map_err(|why| warnings.push(format!("cache stats unavailable before the run: {why}")))
        .ok();

    let login_body = serde_json::json!({ "email": args.email, "password": args.password });
    let started_at = SystemTime::now();
    let start = Instant::now();
    let deadline = start + args.duration;
    let ctx = Arc::new(UserContext {
        client: client.clone(),
        recorder: Recorder::new(start),
        scenario,
        deadline,
        iterations: args.iterations,
        login_body: Bytes::from(login_body.to_string()),
        accept_encoding: args.accept_encoding.clone(),
    });

    // The first user logs in before any other starts: a wrong password stops the run here.
    let first_token = login(&ctx).await.map_err(|reason| RunError::LoginFailed {
        email: args.email.clone(),
        reason,
    })?;

    let mut users = JoinSet::new();
    users.spawn(run_user(Arc::clone(&ctx), seed, Some(first_token)));
    let mut started = 1u32;
    for i in 1..args.users {
        if args.ramp_up > 0.0 {
            // A rate so low that the user would start after the deadline (or never): stop.
            let Some(at) = Duration::try_from_secs_f64(f64::from(i) / args.ramp_up)
                .ok()
                .and_then(|offset| start.checked_add(offset))
                .filter(|at| *at < deadline)
            else {
                break;
            };
            tokio::time::sleep_until(at.into()).await;
        }
        if Instant::now() >= deadline {
            break;
        }
        users.spawn(run_user(
            Arc::clone(&ctx),
            seed.wrapping_add(u64::from(i)),
            None,
        ));
        started += 1;
    }

    let mut login_failures = Vec::new();
    let mut tasks = 0u64;
    let hard_stop = deadline + args.request_timeout + GRACE;
    let mut stopped = 0u32;
    loop {
        match tokio::time::timeout_at(hard_stop.into(), users.join_next()).await {
            Ok(Some(Ok(UserEnd::Done { tasks: n }))) => tasks += n,
            Ok(Some(Ok(UserEnd::LoginFailed(why)))) => login_failures.push(why),
            Ok(Some(Err(join_error))) => {
                warnings.push(format!("a user stopped unexpectedly: {join_error}"));
            }
            Ok(None) => break,
            Err(_elapsed) => {
                stopped = u32::try_from(users.len()).unwrap_or(u32::MAX);
                users.abort_all();
                warnings.push(format!(
                    "{stopped} users were still busy {} s after the deadline and were stopped",
                    (args.request_timeout + GRACE).as_secs()
                ));
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    let collected = ctx.recorder.snapshot();

    let (_, after) = CacheCounters::fetch(&client).await;
    let cache = match (before, after) {
        (Some(before), Ok(after)) => Some(CacheDelta::between(before, after)),
        (Some(_), Err(why)) => {
            warnings.push(format!("cache stats unavailable after the run: {why}"));
            None
        }
        (None, _) => None,
    };
    if let Some(first) = login_failures.first() {
        warnings.push(format!(
            "{} users could not log in and did not run (first: {first})",
            login_failures.len()
        ));
    }

    Ok(Report::build(
        args,
        seed,
        started_at,
        elapsed,
        crate::report::UserCounts {
            requested: args.users,
            started,
            failed_login: u32::try_from(login_failures.len()).unwrap_or(u32::MAX),
            stopped_at_hard_limit: stopped,
            tasks,
        },
        &collected,
        cache,
        warnings,
    ))
}

/// Polls `GET /health` until it answers 2xx or `patience` has passed; the last answer otherwise.
async fn wait_ready(client: &HttpClient, patience: Duration) -> Result<(), String> {
    let until = Instant::now() + patience;
    loop {
        let exchange = client
            .send(Method::GET, HEALTH_PATH, None, None, None)
            .await;
        if exchange.is_success() {
            return Ok(());
        }
        if Instant::now() + READY_POLL >= until {
            return Err(exchange.describe());
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
