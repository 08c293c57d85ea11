//! Prometheus histograms kept in fixed, per-core-sharded cumulative buckets, and their text
//! exposition.
//!
//! The exporter's own histogram stores every sample (value and timestamp) in a shared lock-free
//! buffer until upkeep or a scrape drains it: about 60–100 ns per record on one core and 150–240 ns
//! with two cores recording into one series (BENCHMARKS.md), and memory that grows with the record
//! rate between drains. Here a record is one add to a counter only its own core's shard writes,
//! plus an add to that shard's sum; nothing is buffered, so memory per series is fixed.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::Key;

use crate::shard::shard_seed;

/// Cells per shard are padded to a multiple of one cache line (8 × u64).
const LINE: usize = 8;

/// One series' `le` buckets, sum and count.
#[derive(Debug)]
pub(crate) struct ExportBuckets {
    bounds: Arc<[f64]>,
    /// Per shard: one count per bound, then the `+Inf` overflow count, then the sum's bits.
    cells: Box<[AtomicU64]>,
    stride: usize,
    shard_mask: usize,
}

/// Totals of one series at render time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExportTotals {
    /// Non-cumulative counts, one per bound plus the overflow.
    pub(crate) counts: Vec<u64>,
    pub(crate) sum: f64,
}

impl ExportBuckets {
    pub(crate) fn new(bounds: Arc<[f64]>, shards: usize) -> Self {
        let stride = (bounds.len() + 2).div_ceil(LINE) * LINE;
        let shards = shards.next_power_of_two();
        Self {
            cells: (0..stride * shards).map(|_| AtomicU64::new(0)).collect(),
            bounds,
            stride,
            shard_mask: shards - 1,
        }
    }

    #[inline]
    pub(crate) fn record(&self, value: f64) {
        let base = (shard_seed() & self.shard_mask) * self.stride;
        // First bound >= value: Prometheus buckets are `le` (less than or equal).
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        if let Some(cell) = self.cells.get(base + bucket) {
            cell.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(sum) = self.cells.get(base + self.bounds.len() + 1) {
            // Only this core's threads write this shard, so the loop rarely retries.
            let mut current = sum.load(Ordering::Relaxed);
            loop {
                let next = (f64::from_bits(current) + value).to_bits();
                match sum.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(actual) => current = actual,
                }
            }
        }
    }

    pub(crate) fn totals(&self) -> ExportTotals {
        let n = self.bounds.len() + 1;
        let mut counts = vec![0u64; n];
        let mut sum = 0.0;
        for shard in self.cells.chunks_exact(self.stride) {
            for (total, cell) in counts.iter_mut().zip(&shard[..n]) {
                *total += cell.load(Ordering::Relaxed);
            }
            sum += f64::from_bits(shard[n].load(Ordering::Relaxed));
        }
        ExportTotals { counts, sum }
    }

    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.cells.len() * size_of::<AtomicU64>()
    }
}

/// One histogram series to render.
pub(crate) struct RenderedSeries<'a> {
    pub(crate) key: &'a Key,
    pub(crate) bounds: &'a [f64],
    pub(crate) totals: ExportTotals,
}

/// Appends histogram families in the Prometheus text format (0.0.4), sorted by name then labels,
/// with the global labels first on every series (as the exporter renders counters and gauges).
///
/// Names are compared after sanitizing, so metrics whose names sanitize alike (`a.b`, `a_b`)
/// share one `# TYPE` line, and series identical after sanitizing are merged (counts and sums
/// added; with different bucket bounds the first is kept). A family whose name, or one of whose
/// series names (`_bucket`, `_sum`, `_count`), is in `taken` (the exporter's counter and gauge
/// families) is left out and its name returned, so the text never has two `# TYPE` lines for one
/// name. A series label named `le` is renamed `exported_le` (the bucket label is `le`), and a
/// label appearing twice after sanitizing keeps its first value.
pub(crate) fn render_histograms(
    out: &mut String,
    series: Vec<RenderedSeries<'_>>,
    global_labels: &[(String, String)],
    help: impl Fn(&str) -> Option<String>,
    taken: &HashSet<String>,
) -> Vec<String> {
    // Sanitized name and label text of every series, merged when equal.
    let mut families: BTreeMap<String, (String, BTreeMap<String, Merged<'_>>)> = BTreeMap::new();
    let mut skipped = Vec::new();
    for s in series {
        let name = sanitize_name(s.key.name());
        if ["", "_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| taken.contains(&format!("{name}{suffix}")))
        {
            if !skipped.contains(&name) {
                skipped.push(name);
            }
            continue;
        }
        let labels = label_text(s.key, global_labels);
        let family = families
            .entry(name)
            .or_insert_with(|| (s.key.name().to_owned(), BTreeMap::new()));
        match family.1.get_mut(&labels) {
            Some(merged) if merged.bounds == s.bounds => {
                for (total, count) in merged.totals.counts.iter_mut().zip(&s.totals.counts) {
                    *total += count;
                }
                merged.totals.sum += s.totals.sum;
            }
            Some(_) => {} // same series, other bounds: cannot be merged, the first is kept
            None => {
                family.1.insert(
                    labels,
                    Merged {
                        bounds: s.bounds,
                        totals: s.totals,
                    },
                );
            }
        }
    }
    for (name, (raw_name, series)) in &families {
        if let Some(text) = help(raw_name) {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&text));
        }
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (labels, s) in series {
            let mut cumulative = 0u64;
            for (bound, count) in s.bounds.iter().zip(&s.totals.counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{labels}{}le=\"{}\"}} {cumulative}",
                    comma(labels),
                    format_float(*bound)
                );
            }
            let total: u64 = s.totals.counts.iter().sum();
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{}le=\"+Inf\"}} {total}",
                comma(labels)
            );
            let braces = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            };
            let _ = writeln!(out, "{name}_sum{braces} {}", format_float(s.totals.sum));
            let _ = writeln!(out, "{name}_count{braces} {total}");
        }
        out.push('\n');
    }
    skipped
}

/// One series after merging.
struct Merged<'a> {
    bounds: &'a [f64],
    totals: ExportTotals,
}

/// `k="v",...` for a series: global labels the series does not override, then its own, keys
/// sanitized, `le` renamed `exported_le`, each key once.
fn label_text(key: &Key, global_labels: &[(String, String)]) -> String {
    let mut seen: Vec<String> = vec!["le".to_owned()];
    let mut labels = String::new();
    let mut push = |k: &str, v: &str, out: &mut String| {
        let mut k = sanitize_label(k);
        if k == "le" {
            k = "exported_le".to_owned();
        }
        if seen.contains(&k) {
            return;
        }
        push_label(out, &k, v);
        seen.push(k);
    };
    for (k, v) in global_labels {
        if key.labels().any(|l| l.key() == k) {
            continue; // the series' own label wins, as in the exporter
        }
        push(k, v, &mut labels);
    }
    for label in key.labels() {
        push(label.key(), label.value(), &mut labels);
    }
    labels
}

/// A float as Prometheus writes one: the shortest round-trip digits, an exponent below 1e-4 and
/// from 1e6 on (`1e-05`, `1e+06`), `.0` on integers (`1.0`, `10.0`), `+Inf`/`-Inf`/`NaN`.
///
/// Prometheus 3 normalizes `le` values to exactly this form when it ingests a scrape, whatever
/// the exposition says (`le="1"` is stored as `le="1.0"`); Prometheus 2 stores the text as
/// written. Rendering the normalized form makes both store the same `le` values, so one
/// selector (`le="1.0"`) works for both.
pub(crate) fn format_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if value == 0.0 {
        return "0.0".to_owned();
    }
    // Rust's `{:e}` and `{}` both print the shortest digits that round-trip.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .and_then(|(m, e)| Some((m, e.parse::<i32>().ok()?)))
        .unwrap_or((scientific.as_str(), 0));
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    let plain = format!("{value}");
    if plain.contains('.') {
        plain
    } else {
        plain + ".0"
    }
}

fn comma(labels: &str) -> &'static str {
    if labels.is_empty() { "" } else { "," }
}

fn push_label(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Metric names allow `[a-zA-Z_:][a-zA-Z0-9_:]*`; anything else becomes `_`.
fn sanitize_name(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Label names allow `[a-zA-Z_][a-zA-Z0-9_]*`.
fn sanitize_label(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_')
}

fn sanitize(name: &str, allowed: impl Fn(char) -> bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_le_buckets_and_sum_is_exact() {
        let b = ExportBuckets::new(Arc::from([0.1, 1.0]), 2);
        for v in [0.05, 0.1, 0.5, 1.0, 2.0] {
            b.record(v);
        }
        let t = b.totals();
        assert_eq!(t.counts, [2, 2, 1]);
        assert!((t.sum - 3.65).abs() < 1e-12);
    }

    #[test]
    fn two_threads_lose_nothing() {
        let b = ExportBuckets::new(Arc::from([0.1]), 2);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..50_000 {
                        b.record(0.25);
                    }
                });
            }
        });
        let t = b.totals();
        assert_eq!(t.counts, [0, 100_000]);
        assert!((t.sum - 25_000.0).abs() < 1e-6);
    }

    #[test]
    fn renders_escaped_sanitized_text() {
        let b = ExportBuckets::new(Arc::from([0.5]), 1);
        b.record(0.25);
        let key = Key::from_parts("my.metric", vec![metrics::Label::new("path", "a\"b\\c\nd")]);
        let mut out = String::new();
        let series = vec![RenderedSeries {
            key: &key,
            bounds: b.bounds(),
            totals: b.totals(),
        }];
        render_histograms(
            &mut out,
            series,
            &[("service_name".into(), "s".into())],
            |_| Some("line1\nline2".into()),
            &HashSet::new(),
        );
        assert_eq!(
            out,
            "# HELP my_metric line1\\nline2\n# TYPE my_metric histogram\n\
             my_metric_bucket{service_name=\"s\",path=\"a\\\"b\\\\c\\nd\",le=\"0.5\"} 1\n\
             my_metric_bucket{service_name=\"s\",path=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 1\n\
             my_metric_sum{service_name=\"s\",path=\"a\\\"b\\\\c\\nd\"} 0.25\n\
             my_metric_count{service_name=\"s\",path=\"a\\\"b\\\\c\\nd\"} 1\n\n"
        );
    }

    #[test]
    fn floats_render_as_prometheus_3_normalizes_them() {
        for (value, text) in [
            (1.0, "1.0"),
            (10.0, "10.0"),
            (0.25, "0.25"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (100_000.0, "100000.0"),
            (1_000_000.0, "1e+06"),
            (1_500_000.0, "1.5e+06"),
            (1.5e-7, "1.5e-07"),
            (1e300, "1e+300"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(format_float(value), text, "{value}");
        }
    }

    #[test]
    fn series_without_labels_have_no_braces_on_sum_and_count() {
        let b = ExportBuckets::new(Arc::from([1.0]), 1);
        let key = Key::from_name("plain_seconds");
        let mut out = String::new();
        let series = vec![RenderedSeries {
            key: &key,
            bounds: b.bounds(),
            totals: b.totals(),
        }];
        render_histograms(&mut out, series, &[], |_| None, &HashSet::new());
        assert!(out.contains("plain_seconds_bucket{le=\"1.0\"} 0\n"));
        assert!(out.contains("plain_seconds_sum 0.0\n"));
        assert!(out.contains("plain_seconds_count 0\n"));
    }
}
