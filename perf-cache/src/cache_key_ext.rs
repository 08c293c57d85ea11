//! [`CacheKey`] for ids and timestamps of other crates, each behind its feature: `uuid`
//! (`Uuid`), `chrono` (`DateTime<Utc>`, `NaiveDate`) and `time` (`OffsetDateTime`, `Date`).
//!
//! Each is written in one canonical text form, the same for every value that is equal, and
//! escaped like any segment (`:` becomes `%3A`):
//!
//! | type | form | example |
//! |---|---|---|
//! | `uuid::Uuid` | hyphenated, lower case | `67e55044-10b1-426f-9247-bb680e5fe0c8` |
//! | `chrono::DateTime<Utc>`, `time::OffsetDateTime` | RFC 3339 in UTC, always 9 fraction digits, `Z` | `2024-05-06T07:08:09.000000000Z` |
//! | `chrono::NaiveDate`, `time::Date` | `YYYY-MM-DD` | `2024-05-06` |
//!
//! Years outside 0000–9999 (which RFC 3339 cannot write) get a sign and at least 4 digits
//! (`+10000`, `-0001`), so the form stays injective. An `OffsetDateTime` is converted to UTC
//! first, so the same instant gives the same key whatever its offset; one whose UTC date
//! would leave `time`'s year range keeps its own offset (`+HH:MM:SS` instead of `Z`). Within
//! the years 0000–9999 the keys of timestamps sort as the timestamps do.

#[cfg(any(feature = "chrono", feature = "time"))]
use std::fmt::{self, Write as _};

use crate::{CacheKey, KeyWriter};

/// Formats into a stack buffer (no allocation), then writes the text escaped.
#[cfg(any(feature = "chrono", feature = "time"))]
struct Stack {
    buf: [u8; 64],
    len: usize,
}

#[cfg(any(feature = "chrono", feature = "time"))]
impl fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes `args` as one text value (escaped). The forms here are at most ~45 bytes; a longer
/// one (impossible for these types) would be written through a `String`.
#[cfg(any(feature = "chrono", feature = "time"))]
fn write_formatted(out: &mut KeyWriter<'_>, args: fmt::Arguments<'_>) {
    let mut stack = Stack {
        buf: [0; 64],
        len: 0,
    };
    if stack.write_fmt(args).is_ok()
        && let Ok(text) = std::str::from_utf8(&stack.buf[..stack.len])
    {
        out.text(text);
    } else {
        out.text(&args.to_string());
    }
}

/// The year as RFC 3339 writes it (`0000`–`9999`), or signed with at least 4 digits.
#[cfg(any(feature = "chrono", feature = "time"))]
struct Year(i32);

#[cfg(any(feature = "chrono", feature = "time"))]
impl fmt::Display for Year {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if (0..=9999).contains(&self.0) {
            write!(f, "{:04}", self.0)
        } else {
            write!(f, "{:+05}", self.0)
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.fffffffff` (the caller adds the zone); a leap second (`nanos` of
/// 1,000,000,000 or more, as chrono represents it) is second 60.
#[cfg(any(feature = "chrono", feature = "time"))]
struct DateTimeParts {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
}

#[cfg(any(feature = "chrono", feature = "time"))]
impl fmt::Display for DateTimeParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (second, nanos) = if self.nanos >= 1_000_000_000 {
            (self.second + 1, self.nanos - 1_000_000_000)
        } else {
            (self.second, self.nanos)
        };
        write!(
            f,
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}",
            Year(self.year),
            self.month,
            self.day,
            self.hour,
            self.minute,
            second,
            nanos
        )
    }
}

/// `uuid::Uuid`: hyphenated, lower case (feature `uuid`).
///
/// ```
/// use perf_cache::Key;
/// let id = uuid::Uuid::from_u128(0x67E5_5044_10B1_426F_9247_BB68_0E5F_E0C8);
/// assert_eq!(Key::new("scan").arg(id).as_str(), "scan:67e55044-10b1-426f-9247-bb680e5fe0c8");
/// ```
#[cfg(feature = "uuid")]
impl CacheKey for uuid::Uuid {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        let mut buf = [0_u8; uuid::fmt::Hyphenated::LENGTH];
        out.text(self.hyphenated().encode_lower(&mut buf));
    }
}

/// `chrono::DateTime<Utc>`: RFC 3339 with 9 fraction digits and `Z` (feature `chrono`).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use perf_cache::Key;
/// let at = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
/// assert_eq!(Key::new("at").arg(at).as_str(), "at:2024-05-06T07%3A08%3A09.000000000Z");
/// ```
#[cfg(feature = "chrono")]
impl CacheKey for chrono::DateTime<chrono::Utc> {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        use chrono::{Datelike, Timelike};
        let t = self.naive_utc();
        let parts = DateTimeParts {
            year: t.year(),
            month: t.month(),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            nanos: t.nanosecond(),
        };
        write_formatted(out, format_args!("{parts}Z"));
    }
}

/// `chrono::NaiveDate`: `YYYY-MM-DD` (feature `chrono`).
///
/// ```
/// use perf_cache::Key;
/// let day = chrono::NaiveDate::from_ymd_opt(2024, 5, 6).unwrap();
/// assert_eq!(Key::new("day").arg(day).as_str(), "day:2024-05-06");
/// ```
#[cfg(feature = "chrono")]
impl CacheKey for chrono::NaiveDate {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        use chrono::Datelike;
        write_formatted(
            out,
            format_args!(
                "{}-{:02}-{:02}",
                Year(self.year()),
                self.month(),
                self.day()
            ),
        );
    }
}

/// `time::OffsetDateTime`: converted to UTC, RFC 3339 with 9 fraction digits and `Z`
/// (feature `time`).
///
/// ```
/// use perf_cache::Key;
/// use time::{Date, Month, Time, UtcOffset};
/// let day = Date::from_calendar_date(2024, Month::May, 6).unwrap();
/// let at = day.with_time(Time::from_hms(9, 8, 9).unwrap()).assume_offset(UtcOffset::from_hms(2, 0, 0).unwrap());
/// assert_eq!(Key::new("at").arg(at).as_str(), "at:2024-05-06T07%3A08%3A09.000000000Z");
/// ```
#[cfg(feature = "time")]
impl CacheKey for time::OffsetDateTime {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        let (t, zone) = match self.checked_to_offset(time::UtcOffset::UTC) {
            Some(utc) => (utc, None),
            None => (*self, Some(self.offset())),
        };
        let parts = DateTimeParts {
            year: t.year(),
            month: u32::from(u8::from(t.month())),
            day: u32::from(t.day()),
            hour: u32::from(t.hour()),
            minute: u32::from(t.minute()),
            second: u32::from(t.second()),
            nanos: t.nanosecond(),
        };
        match zone {
            None => write_formatted(out, format_args!("{parts}Z")),
            Some(o) => {
                let (h, m, s) = o.as_hms();
                let sign = if o.is_negative() { '-' } else { '+' };
                write_formatted(
                    out,
                    format_args!(
                        "{parts}{sign}{:02}:{:02}:{:02}",
                        h.unsigned_abs(),
                        m.unsigned_abs(),
                        s.unsigned_abs()
                    ),
                );
            }
        }
    }
}

/// `time::Date`: `YYYY-MM-DD` (feature `time`).
///
/// ```
/// use perf_cache::Key;
/// let day = time::Date::from_calendar_date(2024, time::Month::May, 6).unwrap();
/// assert_eq!(Key::new("day").arg(day).as_str(), "day:2024-05-06");
/// ```
#[cfg(feature = "time")]
impl CacheKey for time::Date {
    fn write_key(&self, out: &mut KeyWriter<'_>) {
        write_formatted(
            out,
            format_args!(
                "{}-{:02}-{:02}",
                Year(self.year()),
                u8::from(self.month()),
                self.day()
            ),
        );
    }
}

#[cfg(all(test, feature = "uuid", feature = "chrono", feature = "time"))]
mod tests {
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use crate::Key;

    fn enc<T: crate::CacheKey>(v: T) -> String {
        Key::from_key(&v).as_str().to_owned()
    }

    #[test]
    fn exact_forms() {
        assert_eq!(
            enc(uuid::Uuid::nil()),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            enc(uuid::Uuid::max()),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
        let ms = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        assert_eq!(enc(ms), "2023-11-14T22%3A13%3A20.123000000Z");
        // Far years: signed, never confused with 4-digit ones.
        let far = chrono::NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap();
        assert_eq!(enc(far), "+10000-01-01");
        let bc = chrono::NaiveDate::from_ymd_opt(-1, 12, 31).unwrap();
        assert_eq!(enc(bc), "-0001-12-31");
        // A leap second (chrono: nanos past one billion) is second 60.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        assert_eq!(enc(leap), "2016-12-31T23%3A59%3A60.500000000Z");
        // time: the same instant in two offsets is one key; chrono and time agree.
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_000_000).unwrap();
        let shifted = t.to_offset(time::UtcOffset::from_hms(-5, -30, 0).unwrap());
        assert_eq!(enc(t), enc(ms));
        assert_eq!(enc(shifted), enc(ms));
        assert_eq!(enc(t.date()), "2023-11-14");
        // Inside a group, like any text.
        assert_eq!(
            enc((uuid::Uuid::nil(), t.date())),
            "(00000000-0000-0000-0000-000000000000,2023-11-14,)"
        );
        // time's limits: an instant whose UTC date leaves the year range keeps its offset.
        let edge = time::Date::MAX
            .with_time(time::Time::from_hms(23, 0, 0).unwrap())
            .assume_offset(time::UtcOffset::from_hms(-2, 0, 0).unwrap());
        assert_eq!(enc(edge), "9999-12-31T23%3A00%3A00.000000000-02%3A00%3A00");
    }

    proptest! {
        #[test]
        fn timestamps_give_injective_ordered_keys(a in 0_i64..253_402_300_799, b in 0_i64..253_402_300_799, na in 0_u32..1_000_000_000, nb in 0_u32..1_000_000_000) {
            let x = Utc.timestamp_opt(a, na).unwrap();
            let y = Utc.timestamp_opt(b, nb).unwrap();
            let (kx, ky) = (enc(x), enc(y));
            prop_assert_eq!(x == y, kx == ky);
            prop_assert_eq!(x.cmp(&y), kx.cmp(&ky));
            let tx = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(a) * 1_000_000_000 + i128::from(na)).unwrap();
            prop_assert_eq!(enc(tx), kx);
        }

        #[test]
        fn uuids_are_lower_hyphenated(n in any::<u128>()) {
            let id = uuid::Uuid::from_u128(n);
            prop_assert_eq!(enc(id), id.hyphenated().to_string());
        }
    }
}
