//! Reading [`PoolConfig`] from environment variables.

use std::time::Duration;

use super::{PoolConfig, duration};
use crate::{Error, Result};

/// The environment variables [`PoolConfig::from_env`] reads, with the field each sets.
pub(crate) const VARIABLES: &[(&str, &str)] = &[
    ("DATABASE_URL", "url"),
    ("DATABASE_POOL_NAME", "name"),
    ("DATABASE_POOL_MAX", "max_connections"),
    ("DATABASE_POOL_MIN", "min_connections"),
    ("DATABASE_POOL_ACQUIRE_TIMEOUT", "acquire_timeout"),
    ("DATABASE_POOL_IDLE_TIMEOUT", "idle_timeout"),
    ("DATABASE_POOL_MAX_LIFETIME", "max_lifetime"),
    ("DATABASE_POOL_PRE_PING", "test_before_acquire"),
    ("DATABASE_POOL_PRE_PING_WINDOW", "pre_ping_window"),
    ("DATABASE_POOL_LEAK_THRESHOLD", "leak_detection_threshold"),
    ("DATABASE_STATEMENT_TIMEOUT", "statement_timeout"),
    ("DATABASE_STATEMENT_TIMEOUT_MODE", "statement_timeout_mode"),
    (
        "DATABASE_SQLITE_STATEMENT_TIMEOUT",
        "sqlite_statement_timeout",
    ),
    ("DATABASE_SQLITE_BUSY_TIMEOUT", "sqlite_busy_timeout"),
    ("DATABASE_APPLICATION_NAME", "application_name"),
    ("DATABASE_SLOW_QUERY_WARN", "slow_query_warn"),
    ("DATABASE_SLOW_QUERY_ERROR", "slow_query_error"),
    ("DATABASE_QUERY_SPANS", "query_spans"),
    ("DATABASE_LOG_BIND_VALUES", "log_bind_values"),
    ("DATABASE_AUTO_EXPLAIN", "auto_explain"),
    ("DATABASE_N_PLUS_ONE_THRESHOLD", "n_plus_one_threshold"),
];

fn env_error(var: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidEnv {
        var,
        message: message.into(),
    }
}

fn number<T: std::str::FromStr>(var: &'static str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| env_error(var, format!("`{value}` is not a non-negative integer")))
}

fn flag(var: &'static str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(env_error(
            var,
            format!("`{value}` is not a boolean (true/false, 1/0, on/off)"),
        )),
    }
}

fn required_duration(var: &'static str, value: &str) -> Result<Duration> {
    duration::parse(value).map_err(|message| env_error(var, message))
}

fn optional_duration(var: &'static str, value: &str) -> Result<Option<Duration>> {
    duration::parse_optional(value).map_err(|message| env_error(var, message))
}

impl PoolConfig {
    /// Reads the configuration from the process environment, starting from the defaults.
    ///
    /// | variable | field | example |
    /// |---|---|---|
    /// | `DATABASE_URL` (required) | `url` | `postgres://app:pw@db/app` |
    /// | `DATABASE_POOL_NAME` | `name` | `primary` |
    /// | `DATABASE_POOL_MAX` | `max_connections` | `30` |
    /// | `DATABASE_POOL_MIN` | `min_connections` | `20` |
    /// | `DATABASE_POOL_ACQUIRE_TIMEOUT` | `acquire_timeout` | `30s` |
    /// | `DATABASE_POOL_IDLE_TIMEOUT` | `idle_timeout` | `10m` or `off` |
    /// | `DATABASE_POOL_MAX_LIFETIME` | `max_lifetime` | `1h` or `off` |
    /// | `DATABASE_POOL_PRE_PING` | `test_before_acquire` | `true` |
    /// | `DATABASE_POOL_PRE_PING_WINDOW` | `pre_ping_window` | `500ms` |
    /// | `DATABASE_POOL_LEAK_THRESHOLD` | `leak_detection_threshold` | `60s` or `off` |
    /// | `DATABASE_STATEMENT_TIMEOUT` | `statement_timeout` | `30s` or `off` |
    /// | `DATABASE_STATEMENT_TIMEOUT_MODE` | `statement_timeout_mode` | `startup_parameter` or `set_after_connect` |
    /// | `DATABASE_SQLITE_STATEMENT_TIMEOUT` | `sqlite_statement_timeout` | `5s` or `off` |
    /// | `DATABASE_SQLITE_BUSY_TIMEOUT` | `sqlite_busy_timeout` | `5s` |
    /// | `DATABASE_APPLICATION_NAME` | `application_name` | `billing` |
    /// | `DATABASE_SLOW_QUERY_WARN` | `slow_query_warn` | `100ms` or `off` |
    /// | `DATABASE_SLOW_QUERY_ERROR` | `slow_query_error` | `1s` or `off` |
    /// | `DATABASE_QUERY_SPANS` | `query_spans` | `false` |
    /// | `DATABASE_LOG_BIND_VALUES` | `log_bind_values` (may log personal data) | `false` |
    /// | `DATABASE_AUTO_EXPLAIN` | `auto_explain` | `false` |
    /// | `DATABASE_N_PLUS_ONE_THRESHOLD` | `n_plus_one_threshold` | `10` or `off` |
    ///
    /// Durations take humantime's forms (`500ms`, `1.5s`, `1m30s`, `10m`, `1h`, `2h 15m`) or a
    /// bare number of seconds; optional ones also accept `off`.
    ///
    /// # Errors
    /// [`Error::InvalidEnv`] naming a variable that is missing (`DATABASE_URL`) or unparsable,
    /// [`Error::InvalidConfig`] when a value is out of range.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), but reads variables through `lookup` (tests, prefixed
    /// or layered configuration).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let vars = HashMap::from([
    ///     ("DATABASE_URL", "sqlite::memory:"),
    ///     ("DATABASE_POOL_MAX", "30"),
    ///     ("DATABASE_POOL_MAX_LIFETIME", "1h"),
    /// ]);
    /// let config = perf_db::PoolConfig::from_lookup(|k| vars.get(k).map(|v| v.to_string()))?;
    /// assert_eq!(config.max_connections(), 30);
    /// # Ok::<(), perf_db::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut c = PoolConfig::default();
        match lookup("DATABASE_URL") {
            Some(url) if !url.trim().is_empty() => c.url = url,
            _ => {
                return Err(env_error(
                    "DATABASE_URL",
                    "is not set; expected a database URL",
                ));
            }
        }
        for &(var, _) in &VARIABLES[1..] {
            let Some(value) = lookup(var) else { continue };
            match var {
                "DATABASE_POOL_NAME" => c.name = value,
                "DATABASE_POOL_MAX" => c.max_connections = number(var, &value)?,
                "DATABASE_POOL_MIN" => c.min_connections = number(var, &value)?,
                "DATABASE_POOL_ACQUIRE_TIMEOUT" => {
                    c.acquire_timeout = required_duration(var, &value)?;
                }
                "DATABASE_POOL_IDLE_TIMEOUT" => c.idle_timeout = optional_duration(var, &value)?,
                "DATABASE_POOL_MAX_LIFETIME" => c.max_lifetime = optional_duration(var, &value)?,
                "DATABASE_POOL_PRE_PING" => c.test_before_acquire = flag(var, &value)?,
                "DATABASE_POOL_PRE_PING_WINDOW" => {
                    c.pre_ping_window = required_duration(var, &value)?;
                }
                "DATABASE_POOL_LEAK_THRESHOLD" => {
                    c.leak_detection_threshold = optional_duration(var, &value)?;
                }
                "DATABASE_STATEMENT_TIMEOUT" => {
                    c.statement_timeout = optional_duration(var, &value)?;
                }
                "DATABASE_SQLITE_STATEMENT_TIMEOUT" => {
                    c.sqlite_statement_timeout = optional_duration(var, &value)?;
                }
                "DATABASE_STATEMENT_TIMEOUT_MODE" => {
                    c.statement_timeout_mode =
                        value.parse().map_err(|message| env_error(var, message))?;
                }
                "DATABASE_SQLITE_BUSY_TIMEOUT" => {
                    c.sqlite_busy_timeout = required_duration(var, &value)?;
                }
                "DATABASE_APPLICATION_NAME" => c.application_name = Some(value),
                "DATABASE_SLOW_QUERY_WARN" => c.slow_query_warn = optional_duration(var, &value)?,
                "DATABASE_SLOW_QUERY_ERROR" => {
                    c.slow_query_error = optional_duration(var, &value)?;
                }
                "DATABASE_QUERY_SPANS" => c.query_spans = flag(var, &value)?,
                "DATABASE_LOG_BIND_VALUES" => c.log_bind_values = flag(var, &value)?,
                "DATABASE_AUTO_EXPLAIN" => c.auto_explain = flag(var, &value)?,
                "DATABASE_N_PLUS_ONE_THRESHOLD" => {
                    c.n_plus_one_threshold = if value.trim().eq_ignore_ascii_case("off") {
                        None
                    } else {
                        Some(number(var, &value)?)
                    };
                }
                _ => {}
            }
        }
        c.validate()?;
        Ok(c)
    }
}
