//! The seeds' Locust scenario: which request a user sends next, and the user's loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use hyper::body::Bytes;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::Distribution;
use serde::Deserialize;

use crate::args::{Args, Task, ThinkTime};
use crate::client::{Exchange, HttpClient};
use crate::ids::{ZipfRanks, random_target};
use crate::stats::Recorder;

/// Statuses the list view filters on.
pub const STATUSES: [&str; 4] = ["pending", "running", "completed", "failed"];
/// Scan types a created scan gets.
pub const SCAN_TYPES: [&str; 5] = ["full", "quick", "web", "network", "ssl"];
/// Targets a user remembers from its own creations, to filter the list on.
const REMEMBERED_TARGETS: usize = 16;
/// Longest pause between two login attempts.
const MAX_LOGIN_BACKOFF: Duration = Duration::from_secs(5);
/// Shortest pause between two login attempts (a `Retry-After: 0` is no reason to spin).
const MIN_LOGIN_BACKOFF: Duration = Duration::from_millis(50);

/// One request a user is about to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRequest {
    /// The scenario task.
    pub task: Task,
    /// HTTP method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// JSON body, for `create`.
    pub body: Option<String>,
    /// The target of a created scan (remembered for later list filters).
    pub target: Option<String>,
}

/// What every user shares: the task weights and the distributions of ids and pages.
#[derive(Debug, Clone)]
pub struct Scenario {
    tasks: WeightedIndex<u32>,
    ids: ZipfRanks,
    pages: ZipfRanks,
    page_size: u32,
    filter_share: f64,
    think: ThinkTime,
}

impl Scenario {
    /// The scenario the options describe.
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let tasks =
            WeightedIndex::new(args.mix.weights).map_err(|e| format!("mix `{}`: {e}", args.mix))?;
        Ok(Scenario {
            tasks,
            ids: ZipfRanks::new(args.ids, args.zipf_s)?,
            pages: ZipfRanks::new(args.pages, args.zipf_s)?,
            page_size: args.page_size,
            filter_share: args.filter_share,
            think: args.think_time,
        })
    }

    /// The next request of a user who created `created` targets so far.
    pub fn next_request(&self, rng: &mut SmallRng, created: &[String]) -> PlannedRequest {
        let task = Task::MIXED[self.tasks.sample(rng)];
        match task {
            Task::ViewOne => PlannedRequest {
                task,
                method: Method::GET,
                path: format!("/api/scans/{}", self.ids.sample(rng)),
                body: None,
                target: None,
            },
            Task::Create => {
                let target = random_target(rng);
                let scan_type = SCAN_TYPES[rng.random_range(0..SCAN_TYPES.len())];
                let body = serde_json::json!({ "target": target, "scan_type": scan_type });
                PlannedRequest {
                    task,
                    method: Method::POST,
                    path: "/api/scans".to_owned(),
                    body: Some(body.to_string()),
                    target: Some(target),
                }
            }
            // `Login` is never in the mix; treat it as the list view rather than panic.
            Task::ViewList | Task::Login => {
                let mut path = format!(
                    "/api/scans?page={}&page_size={}",
                    self.pages.sample(rng),
                    self.page_size
                );
                if self.filter_share > 0.0 && rng.random_bool(self.filter_share) {
                    if rng.random_bool(0.5) {
                        // Targets are `[A-Za-z0-9.-]`: nothing to percent-encode.
                        let target = match created.len() {
                            0 => random_target(rng),
                            n => created[rng.random_range(0..n)].clone(),
                        };
                        path.push_str("&target=");
                        path.push_str(&target);
                    } else {
                        path.push_str("&status=");
                        path.push_str(STATUSES[rng.random_range(0..STATUSES.len())]);
                    }
                }
                PlannedRequest {
                    task: Task::ViewList,
                    method: Method::GET,
                    path,
                    body: None,
                    target: None,
                }
            }
        }
    }

    /// A pause after a task, uniform in the think-time range.
    pub fn think(&self, rng: &mut SmallRng) -> Duration {
        if self.think.is_zero() {
            Duration::ZERO
        } else if self.think.min == self.think.max {
            self.think.min
        } else {
            let secs =
                rng.random_range(self.think.min.as_secs_f64()..=self.think.max.as_secs_f64());
            Duration::try_from_secs_f64(secs).unwrap_or(self.think.max)
        }
    }
}

/// What a user needs to run.
#[derive(Debug)]
pub struct UserContext {
    /// The shared HTTP client.
    pub client: HttpClient,
    /// The shared recorder.
    pub recorder: Recorder,
    /// The shared scenario.
    pub scenario: Scenario,
    /// No request starts at or after this instant.
    pub deadline: Instant,
    /// Most tasks per user.
    pub iterations: Option<u64>,
    /// Login body (`{"email":..,"password":..}`), serialized once.
    pub login_body: Bytes,
    /// `Accept-Encoding` of the scenario's requests.
    pub accept_encoding: Option<String>,
}

/// How a user's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEnd {
    /// The deadline or the iteration count ended it.
    Done {
        /// Tasks run (login not counted).
        tasks: u64,
    },
    /// It never logged in: the last attempt's description.
    LoginFailed(String),
}

#[derive(Deserialize)]
struct LoginAnswer {
    access_token: String,
}

/// The outcome of one login attempt.
#[derive(Debug)]
pub enum LoginAttempt {
    /// The bearer token.
    Token(String),
    /// Worth retrying after the given pause (429, 5xx, timeouts, transport errors).
    Retry(Duration, String),
    /// Not worth retrying (wrong credentials, not a login endpoint).
    Fatal(String),
}

/// One login attempt, recorded as the task `login`.
pub async fn login_once(ctx: &UserContext) -> LoginAttempt {
    let exchange = ctx
        .client
        .send(
            Method::POST,
            "/api/auth/login",
            None,
            Some(ctx.login_body.clone()),
            None,
        )
        .await;
    ctx.recorder.record(Task::Login, &exchange);
    classify_login(&exchange)
}

fn classify_login(exchange: &Exchange) -> LoginAttempt {
    match (exchange.status(), exchange.body()) {
        (Some(200..=299), Some(body)) => match serde_json::from_slice::<LoginAnswer>(body) {
            Ok(answer) => LoginAttempt::Token(answer.access_token),
            Err(e) => LoginAttempt::Fatal(format!("the login answer has no access_token: {e}")),
        },
        (Some(429), _) => {
            let wait = match &exchange.outcome {
                crate::client::Outcome::Response {
                    retry_after: Some(s),
                    ..
                } => Duration::from_secs(*s),
                _ => Duration::from_secs(1),
            };
            LoginAttempt::Retry(
                wait.clamp(MIN_LOGIN_BACKOFF, MAX_LOGIN_BACKOFF),
                exchange.describe(),
            )
        }
        (Some(500..=599), _) | (None, _) => {
            LoginAttempt::Retry(Duration::from_secs(1), exchange.describe())
        }
        (Some(_), _) => LoginAttempt::Fatal(exchange.describe()),
    }
}

/// Logs in, retrying 429s, 5xx and transport failures until the deadline.
pub async fn login(ctx: &UserContext) -> Result<String, String> {
    loop {
        match login_once(ctx).await {
            LoginAttempt::Token(token) => return Ok(token),
            LoginAttempt::Fatal(why) => return Err(why),
            LoginAttempt::Retry(wait, why) => {
                let now = Instant::now();
                if now + wait >= ctx.deadline {
                    return Err(why);
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One virtual user: logs in (unless given a token), then runs tasks until the deadline or the
/// iteration count.
pub async fn run_user(ctx: Arc<UserContext>, seed: u64, token: Option<String>) -> UserEnd {
    let token = match token {
        Some(token) => token,
        None => match login(&ctx).await {
            Ok(token) => token,
            Err(why) => return UserEnd::LoginFailed(why),
        },
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut created: Vec<String> = Vec::new();
    let mut tasks = 0u64;
    while Instant::now() < ctx.deadline && ctx.iterations.is_none_or(|n| tasks < n) {
        let planned = ctx.scenario.next_request(&mut rng, &created);
        let body = planned.body.map(Bytes::from);
        let exchange = ctx
            .client
            .send(
                planned.method,
                &planned.path,
                Some(&token),
                body,
                ctx.accept_encoding.as_deref(),
            )
            .await;
        ctx.recorder.record(planned.task, &exchange);
        tasks += 1;
        if let (Some(target), true) = (planned.target, exchange.is_success()) {
            if created.len() == REMEMBERED_TARGETS {
                created.swap_remove(rng.random_range(0..REMEMBERED_TARGETS));
            }
            created.push(target);
        }
        if ctx.iterations.is_some_and(|n| tasks >= n) {
            break;
        }
        let pause = ctx.scenario.think(&mut rng);
        if !pause.is_zero() {
            let left = ctx.deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(pause.min(left)).await;
        }
    }
    UserEnd::Done { tasks }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn scenario(extra: &[&str]) -> Scenario {
        let mut argv = vec!["loadtest"];
        argv.extend_from_slice(extra);
        Scenario::from_args(&Args::try_parse_from(argv).unwrap()).unwrap()
    }

    #[test]
    fn requests_follow_the_contract() {
        let s = scenario(&["--ids", "50", "--pages", "3", "--filter-share", "0.5"]);
        let mut rng = SmallRng::seed_from_u64(11);
        let created = vec!["10.0.0.1".to_owned()];
        let mut seen = [0u32; 3];
        for _ in 0..3_000 {
            let r = s.next_request(&mut rng, &created);
            seen[r.task.index()] += 1;
            match r.task {
                Task::ViewOne => {
                    assert_eq!(r.method, Method::GET);
                    let id: u64 = r.path.strip_prefix("/api/scans/").unwrap().parse().unwrap();
                    assert!((1..=50).contains(&id));
                }
                Task::ViewList => {
                    assert_eq!(r.method, Method::GET);
                    let query = r.path.strip_prefix("/api/scans?").unwrap();
                    let page: u64 = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("page="))
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!((1..=3).contains(&page));
                    assert!(query.contains("page_size=50"));
                    if let Some(status) = query.split('&').find_map(|kv| kv.strip_prefix("status="))
                    {
                        assert!(STATUSES.contains(&status));
                    }
                    if let Some(target) = query.split('&').find_map(|kv| kv.strip_prefix("target="))
                    {
                        assert_eq!(target, "10.0.0.1", "filters on a target it created");
                    }
                }
                Task::Create => {
                    assert_eq!(
                        (r.method.clone(), r.path.as_str()),
                        (Method::POST, "/api/scans")
                    );
                    let body: serde_json::Value =
                        serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
                    assert_eq!(body["target"].as_str(), r.target.as_deref());
                    assert!(SCAN_TYPES.contains(&body["scan_type"].as_str().unwrap()));
                }
                Task::Login => panic!("login is not in the mix"),
            }
        }
        // 3:2:1 over 3,000 draws: 1,500 / 1,000 / 500, each within ±6 binomial sd.
        for (count, p) in seen.iter().zip([0.5f64, 1.0 / 3.0, 1.0 / 6.0]) {
            let (mean, sd) = (3_000.0 * p, (3_000.0 * p * (1.0 - p)).sqrt());
            assert!((f64::from(*count) - mean).abs() <= 6.0 * sd, "{seen:?}");
        }
    }

    #[test]
    fn a_mix_of_one_task_only_sends_that_task() {
        let s = scenario(&["--mix", "view_one=1"]);
        let mut rng = SmallRng::seed_from_u64(5);
        assert!((0..500).all(|_| s.next_request(&mut rng, &[]).task == Task::ViewOne));
    }

    #[test]
    fn think_time_stays_in_range() {
        let s = scenario(&["--think-time", "1s..3s"]);
        let mut rng = SmallRng::seed_from_u64(9);
        for _ in 0..1_000 {
            let t = s.think(&mut rng);
            assert!(
                t >= Duration::from_secs(1) && t <= Duration::from_secs(3),
                "{t:?}"
            );
        }
        assert_eq!(scenario(&[]).think(&mut rng), Duration::ZERO);
    }
}
