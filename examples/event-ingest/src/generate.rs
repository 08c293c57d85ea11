//! The deterministic event generator (`--generate N`): line `n` is always the same text, so a
//! run, its resumption and a benchmark's `psql \copy` see the same rows.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::event::{Event, write_ts_micros};

/// 2026-11-01T00:00:00Z in microseconds since the Unix epoch; line `n` is `n` ms later.
const BASE_MICROS: i64 = 1_793_491_200_000_000;

const SOURCE_TYPES: [&str; 7] = ["firewall", "ids", "edr", "waf", "dns", "proxy", "vpn"];
const ACTIONS: [&str; 5] = [
    "blocked connection",
    "allowed connection",
    "login failure",
    "port scan",
    "malware signature",
];

#[derive(Serialize)]
struct JsonEvent<'a> {
    ts: &'a str,
    organization_id: i64,
    source_type: &'a str,
    src_ip: &'a str,
    dst_ip: &'a str,
    severity: &'a str,
    message: &'a str,
}

/// splitmix64: a fixed, well-mixed hash of the line number.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether line `n` (1-based) is bad when every `bad_every`-th line is (0: none is).
pub(crate) fn is_bad(n: u64, bad_every: u64) -> bool {
    bad_every != 0 && n.is_multiple_of(bad_every)
}

/// Line `n` (1-based, without its newline). Every `bad_every`-th line is bad, by `(n / bad_every) % 4`:
/// 0 invalid JSON, 1 missing `src_ip`, 2 bad timestamp, 3 invalid `src_ip`.
pub(crate) fn line(n: u64, bad_every: u64) -> String {
    let h = mix(n);
    let micros = BASE_MICROS + i64::try_from(n).unwrap_or(i64::MAX / 2_000) * 1_000;
    let mut ts = String::with_capacity(32);
    if n.is_multiple_of(5) {
        // The same instant written with an offset: the reader must normalise it.
        write_ts_micros(micros + 2 * 3_600_000_000, &mut ts);
        ts.truncate(ts.len() - 1);
        ts.push_str("+02:00");
    } else {
        write_ts_micros(micros, &mut ts);
    }
    let src_ip = if n % 10 == 3 {
        format!("2001:db8::{:x}", h & 0xffff)
    } else {
        format!(
            "10.{}.{}.{}",
            (h >> 8) & 0xff,
            (h >> 16) & 0xff,
            (h >> 24) & 0xff
        )
    };
    let dst_ip = format!("192.168.{}.{}", (h >> 32) & 0xff, (h >> 40) & 0xff);
    let severity = match h % 100 {
        0..2 => "critical",
        2..10 => "high",
        10..40 => "medium",
        40..75 => "low",
        _ => "info",
    };
    let index = |bits: u64, len: usize| usize::try_from(bits % len as u64).unwrap_or(0);
    let source_type = SOURCE_TYPES[index(h >> 48, SOURCE_TYPES.len())];
    let action = ACTIONS[index(h >> 52, ACTIONS.len())];
    let mut message = format!(
        "event {n}: {action} from {src_ip} to {dst_ip} port {}",
        (h >> 56) * 257 % 65_536
    );
    if n.is_multiple_of(7) {
        // Characters every encoder must escape: tab, newline, backslash, quotes, comma, UTF-8.
        message.push_str(" \"quoted\", tab\there, back\\slash, new\nline, café ✓");
    }
    let mut event = JsonEvent {
        ts: &ts,
        organization_id: i64::try_from(h % 50 + 1).unwrap_or(1),
        source_type,
        src_ip: &src_ip,
        dst_ip: &dst_ip,
        severity,
        message: &message,
    };
    if !is_bad(n, bad_every) {
        return to_json(&event);
    }
    match (n / bad_every) % 4 {
        0 => {
            let mut json = to_json(&event);
            json.truncate(json.len() / 2);
            json
        }
        1 => to_json(&event).replace(&format!("\"src_ip\":\"{src_ip}\","), ""),
        2 => {
            event.ts = "2026-13-45T99:00:00Z";
            to_json(&event)
        }
        _ => {
            event.src_ip = "300.1.2.3";
            to_json(&event)
        }
    }
}

fn to_json(event: &JsonEvent<'_>) -> String {
    // Serialising a struct of strings and integers cannot fail.
    serde_json::to_string(event).unwrap_or_default()
}

/// Writes lines `1..=count` as JSON lines to `jsonl` and/or the good ones as CSV to `csv`.
pub(crate) fn write_files(
    count: u64,
    bad_every: u64,
    jsonl: Option<&Path>,
    csv: Option<&Path>,
) -> io::Result<()> {
    let open = |path: Option<&Path>| -> io::Result<Option<BufWriter<File>>> {
        path.map(|p| File::create(p).map(|f| BufWriter::with_capacity(1 << 20, f)))
            .transpose()
    };
    let mut jsonl = open(jsonl)?;
    let mut csv = open(csv)?;
    let mut record = String::with_capacity(512);
    for n in 1..=count {
        let text = line(n, bad_every);
        if let Some(out) = jsonl.as_mut() {
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
        }
        if let Some(out) = csv.as_mut()
            && let Ok(event) = Event::parse(&text)
        {
            record.clear();
            event.write_csv(&mut record);
            out.write_all(record.as_bytes())?;
        }
    }
    for out in [jsonl, csv].into_iter().flatten() {
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::BadLine;

    #[test]
    fn lines_are_deterministic_and_good_unless_chosen_bad() {
        assert_eq!(line(42, 0), line(42, 0));
        for n in 1..=2_000 {
            assert!(
                Event::parse(&line(n, 0)).is_ok(),
                "line {n}: {}",
                line(n, 0)
            );
        }
    }

    #[test]
    fn bad_lines_take_turns_through_the_four_kinds() {
        let kinds: Vec<_> = (1..=4)
            .map(|k| Event::parse(&line(10 * k, 10)).unwrap_err())
            .collect();
        assert_eq!(kinds[0], BadLine::MissingField("src_ip".to_owned()));
        assert_eq!(kinds[1], BadLine::BadTimestamp);
        assert_eq!(kinds[2], BadLine::InvalidIp("src_ip"));
        assert!(matches!(kinds[3], BadLine::InvalidJson(_)));
        assert!(Event::parse(&line(11, 10)).is_ok());
    }

    #[test]
    fn offsets_are_normalised_to_the_same_instant() {
        let text = line(5, 0);
        assert_eq!(Event::parse(&text).unwrap().ts_micros, BASE_MICROS + 5_000);
    }
}
