//! Command-line options, the task mix and the think time.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

/// The load test's options (see `loadtest --help`).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadtest",
    version,
    about = "The seeds' Locust scenario against a running scan-service: view list x3, view one x2, \
             create x1, with Zipf-distributed ids"
)]
pub struct Args {
    /// Base URL of the scan-service (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub url: String,

    /// Number of concurrent virtual users.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub users: u32,

    /// How long the run lasts, counted from the first user's start (`30s`, `1m30s`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Users started per second, like Locust's `--spawn-rate`; 0 starts every user at once.
    #[arg(long = "ramp-up", visible_alias = "spawn-rate", default_value_t = 0.0, value_parser = parse_rate)]
    pub ramp_up: f64,

    /// Task weights, `name=weight` separated by commas; tasks left out get weight 0.
    /// Tasks: view_list, view_one, create.
    #[arg(long, default_value = "view_list=3,view_one=2,create=1")]
    pub mix: Mix,

    /// `GET /api/scans/{id}` picks ids in `1..=IDS`, Zipf-distributed (id 1 the most requested).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub ids: u64,

    /// Exponent of the Zipf distributions of ids and pages (larger = more skewed).
    #[arg(long = "zipf-s", default_value_t = 1.1, value_parser = parse_exponent)]
    pub zipf_s: f64,

    /// The list view picks pages in `1..=PAGES`, Zipf-distributed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub pages: u64,

    /// `page_size` of the list view.
    #[arg(long = "page-size", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,

    /// Share of list views that add a `target` or `status` filter (0..=1).
    #[arg(long = "filter-share", default_value_t = 0.2, value_parser = parse_share)]
    pub filter_share: f64,

    /// Pause after each task: a fixed `2s` or a uniform range `1s..3s` (Locust's
    /// `between(1, 3)`); `0` runs a closed loop at full speed.
    #[arg(long = "think-time", default_value = "0")]
    pub think_time: ThinkTime,

    /// Bound on one request, from sending it to the end of its body.
    #[arg(long = "request-timeout", default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Stop each user after this many tasks (the run still ends at `--duration` at the latest).
    #[arg(long)]
    pub iterations: Option<u64>,

    /// Write `loadtest.json` and `loadtest.svg` into this directory (created if missing).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Exit with status 1 when the share of failed requests exceeds this (e.g. `0.01`).
    #[arg(long = "max-error-rate", value_parser = parse_share)]
    pub max_error_rate: Option<f64>,

    /// Seed of the random choices (user `i` uses `seed + i`); random when left out.
    #[arg(long)]
    pub seed: Option<u64>,

    /// `Accept-Encoding` sent with the scenario's requests (e.g. `gzip`, as Locust's client
    /// sends), so the service's compression is part of the load; none by default. Bodies are
    /// read, not decompressed.
    #[arg(long = "accept-encoding")]
    pub accept_encoding: Option<String>,

    /// Before the run, wait up to this long for `GET /health` to answer 200 (the service
    /// reports 503 while it warms its cache); `0` skips the check.
    #[arg(long = "wait-ready", default_value = "0", value_parser = parse_duration)]
    pub wait_ready: Duration,

    /// Login e-mail.
    #[arg(long, env = "SCAN_SERVICE_USER", default_value = "test@example.com")]
    pub email: String,

    /// Login password (never printed).
    #[arg(
        long,
        env = "SCAN_SERVICE_PASSWORD",
        default_value = "password123",
        hide_env_values = true
    )]
    pub password: String,
}

/// Longest duration any option takes (a year): instants a year ahead never overflow.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration like `30s`: {e}"))?;
    if d > MAX_DURATION {
        return Err(format!("`{s}` is longer than a year"));
    }
    Ok(d)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a rate of users per second (a number >= 0)"
        )),
    }
}

fn parse_exponent(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a Zipf exponent (a number > 0)")),
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a share between 0 and 1")),
    }
}

/// A request kind of the scenario. `Login` happens once per user and is not in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Task {
    /// `GET /api/scans?page=P&page_size=50[&target=..|&status=..]`
    ViewList,
    /// `GET /api/scans/{id}`
    ViewOne,
    /// `POST /api/scans`
    Create,
    /// `POST /api/auth/login`
    Login,
}

impl Task {
    /// Every task, in report order.
    pub const ALL: [Task; 4] = [Task::ViewList, Task::ViewOne, Task::Create, Task::Login];

    /// The tasks a user picks from by weight.
    pub const MIXED: [Task; 3] = [Task::ViewList, Task::ViewOne, Task::Create];

    /// The name used in `--mix`, the report and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Task::ViewList => "view_list",
            Task::ViewOne => "view_one",
            Task::Create => "create",
            Task::Login => "login",
        }
    }

    /// Position in [`Task::ALL`].
    pub fn index(self) -> usize {
        match self {
            Task::ViewList => 0,
            Task::ViewOne => 1,
            Task::Create => 2,
            Task::Login => 3,
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Weights of the mixed tasks, in the order of [`Task::MIXED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Weights of view_list, view_one, create.
    pub weights: [u32; 3],
}

impl Mix {
    /// Weight of one mixed task (0 for `Login`).
    pub fn weight(&self, task: Task) -> u32 {
        match task {
            Task::Login => 0,
            other => self.weights[other.index()],
        }
    }

    /// Sum of the weights (never 0 for a parsed mix).
    pub fn total(&self) -> u64 {
        self.weights.iter().map(|&w| u64::from(w)).sum()
    }
}

impl Default for Mix {
    fn default() -> Self {
        Mix { weights: [3, 2, 1] }
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights = [0u32; 3];
        let mut seen = [false; 3];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not `task=weight`"))?;
            let task = Task::MIXED
                .into_iter()
                .find(|t| t.name() == name.trim())
                .ok_or_else(|| {
                    format!(
                        "unknown task `{}` (tasks: view_list, view_one, create)",
                        name.trim()
                    )
                })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight of `{}` is not a whole number: `{weight}`", task))?;
            if seen[task.index()] {
                return Err(format!("task `{task}` is given twice"));
            }
            seen[task.index()] = true;
            weights[task.index()] = weight;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err("the mix needs at least one task with a weight above 0".to_owned());
        }
        Ok(Mix { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for task in Task::MIXED {
            let w = self.weight(task);
            if w == 0 {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{task}={w}")?;
        }
        Ok(())
    }
}

/// Pause after each task: uniform in `min..=max` (both zero: no pause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThinkTime {
    /// Shortest pause.
    pub min: Duration,
    /// Longest pause.
    pub max: Duration,
}

impl ThinkTime {
    /// True when users never pause.
    pub fn is_zero(&self) -> bool {
        self.max.is_zero()
    }
}

impl FromStr for ThinkTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
            None => {
                let d = parse_duration(s)?;
                (d, d)
            }
        };
        if min > max {
            return Err(format!(
                "think time `{s}`: the lower bound is above the upper one"
            ));
        }
        Ok(ThinkTime { min, max })
    }
}

impl fmt::Display for ThinkTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", humantime::format_duration(self.min))
        } else {
            write!(
                f,
                "{}..{}",
                humantime::format_duration(self.min),
                humantime::format_duration(self.max)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_weights_and_leaves_missing_tasks_at_zero() {
        let mix: Mix = "view_list=3,view_one=2,create=1".parse().unwrap();
        assert_eq!(mix.weights, [3, 2, 1]);
        assert_eq!(mix.total(), 6);
        let only: Mix = "view_one=1".parse().unwrap();
        assert_eq!(only.weights, [0, 1, 0]);
        assert_eq!(only.to_string(), "view_one=1");
        assert_eq!(
            Mix::default().to_string(),
            "view_list=3,view_one=2,create=1"
        );
    }

    #[test]
    fn mix_rejects_bad_input() {
        assert!(
            "view_all=1"
                .parse::<Mix>()
                .unwrap_err()
                .contains("unknown task")
        );
        assert!(
            "view_one"
                .parse::<Mix>()
                .unwrap_err()
                .contains("task=weight")
        );
        assert!("view_one=-1".parse::<Mix>().is_err());
        assert!(
            "view_one=0"
                .parse::<Mix>()
                .unwrap_err()
                .contains("at least one")
        );
        assert!(
            "view_one=1,view_one=2"
                .parse::<Mix>()
                .unwrap_err()
                .contains("twice")
        );
        assert!("".parse::<Mix>().is_err());
    }

    #[test]
    fn think_time_parses_fixed_and_ranges() {
        assert!("0".parse::<ThinkTime>().unwrap().is_zero());
        let fixed: ThinkTime = "2s".parse().unwrap();
        assert_eq!(
            (fixed.min, fixed.max),
            (Duration::from_secs(2), Duration::from_secs(2))
        );
        let range: ThinkTime = "1s..3s".parse().unwrap();
        assert_eq!(
            (range.min, range.max),
            (Duration::from_secs(1), Duration::from_secs(3))
        );
        assert_eq!(range.to_string(), "1s..3s");
        assert!("3s..1s".parse::<ThinkTime>().is_err());
        assert!("soon".parse::<ThinkTime>().is_err());
    }

    #[test]
    fn options_parse_and_validate() {
        let args = Args::try_parse_from(["loadtest"]).unwrap();
        assert_eq!(args.users, 100);
        assert_eq!(args.duration, Duration::from_secs(30));
        assert_eq!(args.ids, 10_000);
        assert_eq!(args.request_timeout, Duration::from_secs(10));
        assert_eq!(args.mix, Mix::default());
        assert!(Args::try_parse_from(["loadtest", "--users", "0"]).is_err());
        assert!(Args::try_parse_from(["loadtest", "--zipf-s", "0"]).is_err());
        assert!(Args::try_parse_from(["loadtest", "--max-error-rate", "2"]).is_err());
        assert!(Args::try_parse_from(["loadtest", "--page-size", "1001"]).is_err());
        assert!(Args::try_parse_from(["loadtest", "--duration", "2years"]).is_err());
        assert!(Args::try_parse_from(["loadtest", "--think-time", "1s..400days"]).is_err());
        let args =
            Args::try_parse_from(["loadtest", "--spawn-rate", "10", "--duration", "1m"]).unwrap();
        assert_eq!(args.ramp_up, 10.0);
        assert_eq!(args.duration, Duration::from_secs(60));
    }
}
