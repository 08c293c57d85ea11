//! One security event: parsed from a JSON line, validated, and encoded for each back end
//! (PostgreSQL `COPY` text and binary, CSV for `psql \copy`, RFC 3339 text for SQLite).

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Deserialize;

/// The columns every back end stores, in this order (the `id` and `deleted_at` columns are
/// filled by the database).
pub(crate) const COLUMNS: &str =
    "ts, organization_id, source_type, src_ip, dst_ip, severity, message";

/// Longest accepted `source_type`, in bytes.
const MAX_SOURCE_TYPE: usize = 64;

/// Microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01T00:00:00Z.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The accepted severities (the seeds' values).
pub(crate) const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// A validated event, borrowing its strings from the line where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event<'a> {
    /// Microseconds since the Unix epoch, UTC.
    pub(crate) ts_micros: i64,
    pub(crate) organization_id: i64,
    pub(crate) source_type: Cow<'a, str>,
    pub(crate) src_ip: IpAddr,
    pub(crate) dst_ip: IpAddr,
    pub(crate) severity: &'static str,
    pub(crate) message: Cow<'a, str>,
}

/// The line as JSON: the seven fields, other fields ignored.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
    organization_id: i64,
    #[serde(borrow)]
    source_type: Cow<'a, str>,
    #[serde(borrow)]
    src_ip: Cow<'a, str>,
    #[serde(borrow)]
    dst_ip: Cow<'a, str>,
    #[serde(borrow)]
    severity: Cow<'a, str>,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

/// Why a line was not ingested. The text never repeats the line's values (they may be
/// personal data); it names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadLine {
    /// Not valid JSON (or not an object).
    InvalidJson(String),
    /// A required field is absent.
    MissingField(String),
    /// A field has the wrong JSON type.
    WrongType(String),
    /// `ts` is not an RFC 3339 timestamp between years 1 and 9999.
    BadTimestamp,
    /// `src_ip` or `dst_ip` is not an IPv4 or IPv6 address.
    InvalidIp(&'static str),
    /// A field's value breaks a rule (severity, source_type, organization_id, NUL bytes).
    BadValue(String),
    /// The line is not UTF-8.
    NotUtf8,
    /// The line is longer than the reader accepts.
    TooLong(usize),
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson(detail) => write!(f, "invalid JSON ({detail})"),
            Self::MissingField(field) => write!(f, "missing field `{field}`"),
            Self::WrongType(detail) => write!(f, "wrong type ({detail})"),
            Self::BadTimestamp => f.write_str("bad timestamp: `ts` is not RFC 3339 (years 1-9999)"),
            Self::InvalidIp(field) => {
                write!(f, "invalid IP: `{field}` is not an IPv4/IPv6 address")
            }
            Self::BadValue(detail) => write!(f, "bad value: {detail}"),
            Self::NotUtf8 => f.write_str("not UTF-8"),
            Self::TooLong(limit) => write!(f, "line longer than {limit} bytes"),
        }
    }
}

/// serde_json's message without its " at line 1 column N" suffix.
fn without_position(message: &str) -> &str {
    message
        .find(" at line ")
        .map_or(message, |at| &message[..at])
}

impl<'a> Event<'a> {
    /// Parses and validates one JSON line.
    pub(crate) fn parse(line: &'a str) -> Result<Self, BadLine> {
        let raw: RawEvent<'a> = serde_json::from_str(line).map_err(|error| {
            let message = error.to_string();
            let message = without_position(&message);
            match error.classify() {
                serde_json::error::Category::Data => {
                    if let Some(field) = message
                        .strip_prefix("missing field `")
                        .and_then(|rest| rest.strip_suffix('`'))
                    {
                        BadLine::MissingField(field.to_owned())
                    } else {
                        // "invalid type: string \"…\", expected i64": keep only what was expected,
                        // never the value.
                        let expected = message
                            .rfind("expected ")
                            .map_or("a different type", |at| &message[at..]);
                        BadLine::WrongType(expected.to_owned())
                    }
                }
                _ => BadLine::InvalidJson(message.to_owned()),
            }
        })?;
        let ts = DateTime::parse_from_rfc3339(&raw.ts).map_err(|_| BadLine::BadTimestamp)?;
        if !(1..=9999).contains(&ts.with_timezone(&Utc).year()) {
            return Err(BadLine::BadTimestamp);
        }
        let src_ip = raw
            .src_ip
            .parse()
            .map_err(|_| BadLine::InvalidIp("src_ip"))?;
        let dst_ip = raw
            .dst_ip
            .parse()
            .map_err(|_| BadLine::InvalidIp("dst_ip"))?;
        let severity = SEVERITIES
            .iter()
            .find(|s| **s == raw.severity)
            .ok_or_else(|| {
                BadLine::BadValue(format!("severity must be one of {}", SEVERITIES.join("|")))
            })?;
        if raw.organization_id < 1 {
            return Err(BadLine::BadValue("organization_id must be ≥ 1".to_owned()));
        }
        if raw.source_type.is_empty() || raw.source_type.len() > MAX_SOURCE_TYPE {
            return Err(BadLine::BadValue(format!(
                "source_type must be 1..={MAX_SOURCE_TYPE} bytes"
            )));
        }
        // PostgreSQL text cannot hold NUL.
        if raw.source_type.contains('\0') || raw.message.contains('\0') {
            return Err(BadLine::BadValue(
                "a NUL character in a text field".to_owned(),
            ));
        }
        Ok(Self {
            ts_micros: ts.timestamp_micros(),
            organization_id: raw.organization_id,
            source_type: raw.source_type,
            src_ip,
            dst_ip,
            severity,
            message: raw.message,
        })
    }

    /// The timestamp as fixed-width RFC 3339 UTC text with microseconds
    /// (`2026-11-01T00:00:01.234000Z`), which sorts as text (SQLite) and PostgreSQL reads.
    pub(crate) fn write_ts(&self, out: &mut String) {
        write_ts_micros(self.ts_micros, out);
    }

    /// Appends this event as one row of PostgreSQL's `COPY … (FORMAT text)`.
    pub(crate) fn write_copy_text(&self, out: &mut String) {
        self.write_ts(out);
        // Writing to a String cannot fail.
        let _ = write!(out, "\t{}\t", self.organization_id);
        copy_escape(&self.source_type, out);
        let _ = write!(
            out,
            "\t{}\t{}\t{}\t",
            self.src_ip, self.dst_ip, self.severity
        );
        copy_escape(&self.message, out);
        out.push('\n');
    }

    /// Appends this event as one tuple of PostgreSQL's `COPY … (FORMAT binary)`.
    pub(crate) fn write_copy_binary(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&7i16.to_be_bytes());
        field(out, &(self.ts_micros - PG_EPOCH_MICROS).to_be_bytes());
        field(out, &self.organization_id.to_be_bytes());
        field(out, self.source_type.as_bytes());
        inet(out, self.src_ip);
        inet(out, self.dst_ip);
        field(out, self.severity.as_bytes());
        field(out, self.message.as_bytes());
    }

    /// Appends this event as one CSV record (what `psql \copy … (FORMAT csv)` reads).
    pub(crate) fn write_csv(&self, out: &mut String) {
        self.write_ts(out);
        let _ = write!(out, ",{},", self.organization_id);
        csv_quote(&self.source_type, out);
        let _ = write!(out, ",{},{},{},", self.src_ip, self.dst_ip, self.severity);
        csv_quote(&self.message, out);
        out.push('\n');
    }
}

/// Fixed-width RFC 3339 UTC text of a timestamp in microseconds since the Unix epoch.
pub(crate) fn write_ts_micros(micros: i64, out: &mut String) {
    // Events were validated to years 1..=9999, which chrono represents.
    let Some(ts) = DateTime::<Utc>::from_timestamp_micros(micros) else {
        return;
    };
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        ts.year(),
        ts.month(),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second(),
        ts.timestamp_subsec_micros() % 1_000_000,
    );
}

/// The header of a binary `COPY` stream: signature, flags, header-extension length.
pub(crate) const COPY_BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The trailer of a binary `COPY` stream: a field count of -1.
pub(crate) const COPY_BINARY_TRAILER: &[u8] = &[0xff, 0xff];

/// One binary field: its length (i32, big-endian), then its bytes.
fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    // Lines are at most `MAX_LINE_BYTES` (1 MiB), so every field fits an i32.
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// PostgreSQL's binary `inet`: family, bits, is_cidr, address length, address.
fn inet(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&[2, 32, 0, 4]);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.extend_from_slice(&20i32.to_be_bytes());
            out.extend_from_slice(&[3, 128, 0, 16]);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// `COPY` text escaping: backslash, tab, newline and carriage return.
fn copy_escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// A quoted CSV field (quoted always, so an empty string is not read as NULL).
fn csv_quote(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"ts":"2026-11-01T02:00:00.5+02:00","organization_id":7,"source_type":"ids","src_ip":"10.0.0.1","dst_ip":"2001:db8::1","severity":"high","message":"a\tb\\c\nd \"q\", é"}"#;

    #[test]
    fn a_good_line_is_parsed_and_normalised_to_utc() {
        let event = Event::parse(GOOD).unwrap();
        let mut ts = String::new();
        event.write_ts(&mut ts);
        assert_eq!(ts, "2026-11-01T00:00:00.500000Z");
        assert_eq!(event.organization_id, 7);
        assert_eq!(event.dst_ip, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(event.message, "a\tb\\c\nd \"q\", é");
    }

    #[test]
    fn each_kind_of_bad_line_is_named() {
        let bad = |line: &str| Event::parse(line).unwrap_err();
        assert!(matches!(bad("{\"ts\": "), BadLine::InvalidJson(_)));
        assert!(matches!(bad("[1, 2]"), BadLine::WrongType(_)));
        assert_eq!(
            bad(&GOOD.replace(r#""src_ip":"10.0.0.1","#, "")),
            BadLine::MissingField("src_ip".to_owned())
        );
        assert_eq!(
            bad(&GOOD.replace("2026-11-01T02", "2026-13-01T02")),
            BadLine::BadTimestamp
        );
        assert_eq!(
            bad(&GOOD.replace("10.0.0.1", "300.0.0.1")),
            BadLine::InvalidIp("src_ip")
        );
        assert_eq!(
            bad(&GOOD.replace("2001:db8::1", "nope")),
            BadLine::InvalidIp("dst_ip")
        );
        assert!(matches!(
            bad(&GOOD.replace("high", "urgent")),
            BadLine::BadValue(_)
        ));
        assert!(matches!(
            bad(&GOOD.replace(":7,", ":0,")),
            BadLine::BadValue(_)
        ));
        assert!(matches!(
            bad(&GOOD.replace("é", "\\u0000")),
            BadLine::BadValue(_)
        ));
        let wrong = bad(&GOOD.replace(":7,", ":\"secret-value\","));
        assert!(matches!(wrong, BadLine::WrongType(_)));
        assert!(!wrong.to_string().contains("secret-value"), "{wrong}");
    }

    #[test]
    fn copy_text_escapes_the_delimiters() {
        let mut out = String::new();
        Event::parse(GOOD).unwrap().write_copy_text(&mut out);
        assert_eq!(
            out,
            "2026-11-01T00:00:00.500000Z\t7\tids\t10.0.0.1\t2001:db8::1\thigh\ta\\tb\\\\c\\nd \"q\", é\n"
        );
    }

    #[test]
    fn csv_quotes_text_fields() {
        let mut out = String::new();
        Event::parse(GOOD).unwrap().write_csv(&mut out);
        assert_eq!(
            out,
            "2026-11-01T00:00:00.500000Z,7,\"ids\",10.0.0.1,2001:db8::1,high,\"a\tb\\c\nd \"\"q\"\", é\"\n"
        );
    }

    #[test]
    fn copy_binary_encodes_timestamps_and_inets_as_postgres_does() {
        let mut out = Vec::new();
        Event::parse(GOOD).unwrap().write_copy_binary(&mut out);
        assert_eq!(&out[..2], &7i16.to_be_bytes());
        // 2026-11-01T00:00:00.5Z in microseconds since 2000-01-01.
        let micros = 1_793_491_200_500_000i64 - PG_EPOCH_MICROS;
        assert_eq!(&out[2..6], &8i32.to_be_bytes());
        assert_eq!(&out[6..14], &micros.to_be_bytes());
        let v4 = [0, 0, 0, 8, 2, 32, 0, 4, 10, 0, 0, 1];
        assert!(out.windows(v4.len()).any(|w| w == v4));
    }
}
