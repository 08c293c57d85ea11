//! Validation of [`PoolConfig`], modelled on HikariCP's.

use std::fmt::Debug;
use std::time::Duration;

use super::PoolConfig;
use crate::{Error, Result};

fn invalid(field: &'static str, value: impl Debug, allowed: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        value: format!("{value:?}"),
        allowed: allowed.into(),
    }
}

fn in_range(field: &'static str, value: Duration, min: Duration, max: Duration) -> Result<()> {
    if value < min || value > max {
        return Err(invalid(field, value, format!("{min:?}..={max:?}")));
    }
    Ok(())
}

impl PoolConfig {
    /// Checks every field against its allowed range.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first offending field, the rejected value and what
    /// the field accepts.
    ///
    /// ```
    /// let err = perf_db::PoolConfig::builder()
    ///     .max_connections(2)
    ///     .min_connections(5)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid `min_connections`: got 5, allowed: 0..=2 (at most max_connections)"
    /// );
    /// ```
    pub fn validate(&self) -> Result<()> {
        const HOUR: Duration = Duration::from_secs(3600);
        if self.url.trim().is_empty() {
            return Err(invalid(
                "url",
                &self.url,
                "a postgres://, mysql:// or sqlite: URL",
            ));
        }
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(invalid("name", &self.name, "1..=64 bytes"));
        }
        if !(1..=10_000).contains(&self.max_connections) {
            return Err(invalid(
                "max_connections",
                self.max_connections,
                "1..=10000",
            ));
        }
        if self.min_connections > self.max_connections {
            return Err(invalid(
                "min_connections",
                self.min_connections,
                format!("0..={} (at most max_connections)", self.max_connections),
            ));
        }
        in_range(
            "acquire_timeout",
            self.acquire_timeout,
            Duration::from_millis(250),
            HOUR,
        )?;
        if let Some(lifetime) = self.max_lifetime {
            in_range(
                "max_lifetime",
                lifetime,
                Duration::from_secs(30),
                7 * 24 * HOUR,
            )?;
        }
        if let Some(idle) = self.idle_timeout {
            in_range("idle_timeout", idle, Duration::from_secs(10), 24 * HOUR)?;
            if let Some(lifetime) = self.max_lifetime
                && idle >= lifetime
            {
                return Err(invalid(
                    "idle_timeout",
                    idle,
                    format!("10s..{lifetime:?} (below max_lifetime), or off"),
                ));
            }
        }
        in_range(
            "pre_ping_window",
            self.pre_ping_window,
            Duration::ZERO,
            Duration::from_secs(60),
        )?;
        if let Some(timeout) = self.statement_timeout {
            in_range(
                "statement_timeout",
                timeout,
                Duration::from_millis(1),
                24 * HOUR,
            )?;
        }
        if let Some(timeout) = self.sqlite_statement_timeout {
            in_range(
                "sqlite_statement_timeout",
                timeout,
                Duration::from_millis(1),
                24 * HOUR,
            )?;
        }
        in_range(
            "sqlite_busy_timeout",
            self.sqlite_busy_timeout,
            Duration::ZERO,
            HOUR,
        )?;
        if let Some(name) = &self.application_name
            && (name.is_empty() || name.len() > 63)
        {
            return Err(invalid("application_name", name, "1..=63 bytes"));
        }
        if let Some(threshold) = self.leak_detection_threshold {
            in_range(
                "leak_detection_threshold",
                threshold,
                Duration::from_secs(2),
                24 * HOUR,
            )?;
        }
        if let Some(warn) = self.slow_query_warn {
            in_range("slow_query_warn", warn, Duration::from_millis(1), HOUR)?;
        }
        if let Some(error) = self.slow_query_error {
            let min = self.slow_query_warn.unwrap_or(Duration::from_millis(1));
            in_range("slow_query_error", error, min, HOUR)?;
        }
        if !(16..=100_000).contains(&self.statement_log_chars) {
            return Err(invalid(
                "statement_log_chars",
                self.statement_log_chars,
                "16..=100000",
            ));
        }
        if !(1..=100_000).contains(&self.statement_capacity) {
            return Err(invalid(
                "statement_capacity",
                self.statement_capacity,
                "1..=100000",
            ));
        }
        if !(65_536..=17_179_869_184).contains(&self.statement_memory_bytes) {
            return Err(invalid(
                "statement_memory_bytes",
                self.statement_memory_bytes,
                "65536..=17179869184",
            ));
        }
        if self.n_plus_one_threshold == Some(0) {
            return Err(invalid("n_plus_one_threshold", 0, "1..=4294967295, or off"));
        }
        if !(64..=16_777_216).contains(&self.sqlite_cache_kib) {
            return Err(invalid(
                "sqlite_cache_kib",
                self.sqlite_cache_kib,
                "64..=16777216",
            ));
        }
        Ok(())
    }
}
