//! Durations in configuration files and environment variables: humantime's forms (`"500ms"`,
//! `"1.5s"`, `"1m30s"`, `"10m"`, `"1h"`, `"2h 15m"`), a bare number of seconds (`30`, `"30"`,
//! `1.5`), and for optional durations `"off"`.
//!
//! Parsing and formatting are humantime's. humantime-serde is not used because its
//! deserializer takes strings only: numbers of seconds (the form `PoolConfig` documented first)
//! and `"off"` would stop working.

use std::fmt;
use std::time::Duration;

use serde::Serializer;
use serde::de::{self, Deserializer, Visitor};

const EXPECTED: &str = "a duration such as 500ms, 1.5s, 1m30s, 10m or 1h, or a number of seconds";

/// Parses a humantime duration or a bare number of seconds.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("`{text}` is too large"));
    }
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not {EXPECTED} ({e})"))
}

/// Parses an optional duration: `"off"`, `"none"` or `"disabled"` mean `None`.
pub(crate) fn parse_optional(text: &str) -> Result<Option<Duration>, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" | "none" | "disabled" => Ok(None),
        _ => parse(text).map(Some),
    }
}

/// Formats in humantime's form (`"1s 500ms"`, `"1h"`), which [`parse`] reads back.
pub(crate) fn format(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

fn from_seconds<E: de::Error>(seconds: f64) -> Result<Duration, E> {
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| E::custom(format!("{seconds} is not {EXPECTED}")))
}

/// Reads every accepted form; `None` stands for "off".
struct DurationVisitor {
    optional: bool,
}

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Option<Duration>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)?;
        if self.optional {
            f.write_str(", or \"off\"")?;
        }
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
        Ok(Some(Duration::from_secs(seconds)))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
        u64::try_from(seconds)
            .map(|s| Some(Duration::from_secs(s)))
            .map_err(|_| E::custom(format!("{seconds} is negative; expected {EXPECTED}")))
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Self::Value, E> {
        from_seconds(seconds).map(Some)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        // `off` on a required duration is refused by the caller with a message saying so.
        parse_optional(text).map_err(E::custom)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// serde helpers for `Duration` fields.
pub(crate) mod required {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor { optional: false })?
            .ok_or_else(|| de::Error::custom("this duration cannot be turned off"))
    }
}

/// serde helpers for `Option<Duration>` fields.
pub(crate) mod optional {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => s.serialize_str(&format(*value)),
            None => s.serialize_str("off"),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(DurationVisitor { optional: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let ms = Duration::from_millis;
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("1.5s"), Ok(ms(1500)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("2h 15m"), Ok(ms(8_100_000)));
        assert_eq!(parse(" 30 "), Ok(ms(30_000)));
        assert_eq!(parse("10m"), Ok(ms(600_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert!(parse("abc").unwrap_err().contains("`abc`"));
        assert!(parse("").is_err());
        assert!(parse("-1s").is_err());
        assert_eq!(parse_optional("off"), Ok(None));
        assert_eq!(parse_optional("1.5s"), Ok(Some(ms(1500))));
        for d in [
            ms(1500),
            ms(90_000),
            ms(3_600_000),
            ms(1),
            Duration::from_nanos(1),
        ] {
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
        assert_eq!(format(ms(1500)), "1s 500ms");
        assert_eq!(format(ms(3_600_000)), "1h");
    }
}
