//! Human-readable durations for serde and environment variables: `"500ms"`, `"30s"`, `"10m"`,
//! `"1h"`, or a bare integer meaning seconds. Optional durations also accept `"off"`.

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serializer};

/// Parses `"250ms"`, `"30s"`, `"10m"`, `"1h"` or a bare number of seconds.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (expected e.g. 500ms, 30s, 10m, 1h)"))?;
    let per_unit_ms: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        other => {
            return Err(format!(
                "`{text}` has unknown unit `{other}` (expected ms, s, m or h)"
            ));
        }
    };
    value
        .checked_mul(per_unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses an optional duration: `"off"`, `"none"` or `"disabled"` mean `None`.
pub(crate) fn parse_optional(text: &str) -> Result<Option<Duration>, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" | "none" | "disabled" => Ok(None),
        _ => parse(text).map(Some),
    }
}

/// Formats with the largest unit that represents the value exactly.
pub(crate) fn format(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms == 0 && !duration.is_zero() {
        return format!("{}us", duration.as_micros());
    }
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// serde helpers for `Duration` fields.
pub(crate) mod required {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = Raw::deserialize(d)?;
        match text.into_duration().map_err(de::Error::custom)? {
            Some(value) => Ok(value),
            None => Err(de::Error::custom("this duration cannot be turned off")),
        }
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
        let raw = Option::<Raw>::deserialize(d)?;
        match raw {
            Some(raw) => raw.into_duration().map_err(de::Error::custom),
            None => Ok(None),
        }
    }
}

/// Either form a duration may take in a configuration file.
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Seconds(u64),
    Text(String),
}

impl Raw {
    fn into_duration(self) -> Result<Option<Duration>, String> {
        match self {
            Raw::Seconds(s) => Ok(Some(Duration::from_secs(s))),
            Raw::Text(t) => parse_optional(&t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse("abc").is_err());
        assert!(parse("3d").is_err());
        assert_eq!(parse_optional("off"), Ok(None));
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_secs(3600)), "1h");
        assert_eq!(format(Duration::from_secs(90)), "90s");
    }
}
