//! What Prometheus stores when it scrapes a rendered exposition: the text parsed into samples,
//! `le`/`quantile` normalized the way Prometheus 3 does on ingestion, and target labels attached
//! (a series label with a target label's name becomes `exported_<name>`, as with the default
//! `honor_labels: false`).

use std::collections::BTreeMap;

/// One sample line of the text format.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
    /// `counter`, `gauge`, `histogram` or `untyped` (from the family's `# TYPE` line).
    pub(crate) kind: String,
}

impl Sample {
    /// `name{a="1",b="2"}` in PromQL / promtool series notation.
    pub(crate) fn series(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How the scraping Prometheus treats `le` and `quantile` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prometheus {
    /// Prometheus 2 with the text format: label values stored as written.
    V2Text,
    /// Prometheus 3: `le` and `quantile` normalized to a float representation (`1` → `1.0`).
    V3,
}

/// Parses the text exposition (a strict subset: what this crate renders) into samples.
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            kinds.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let (labels, end) = parse_labels(&line[open + 1..]);
                (&line[..open], labels, &line[open + 1 + end..])
            }
            None => {
                let (name, rest) = line.split_once(' ').expect("name value");
                (name, BTreeMap::new(), rest)
            }
        };
        let value = rest.trim().split(' ').next().expect("a value");
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in `{line}`")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|base| kinds.get(*base).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
            kind: kinds
                .get(family)
                .cloned()
                .unwrap_or_else(|| "untyped".into()),
        });
    }
    samples
}

/// Parses `k="v",...}` and returns the labels and the index just past `}`.
fn parse_labels(s: &str) -> (BTreeMap<String, String>, usize) {
    let mut labels = BTreeMap::new();
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut i = 0;
    loop {
        while chars[i].1 == ',' || chars[i].1 == ' ' {
            i += 1;
        }
        if chars[i].1 == '}' {
            return (labels, chars[i].0 + 1);
        }
        let start = chars[i].0;
        while chars[i].1 != '=' {
            i += 1;
        }
        let key = s[start..chars[i].0].to_owned();
        i += 1;
        assert_eq!(chars[i].1, '"', "label value must be quoted in `{s}`");
        i += 1;
        let mut value = String::new();
        while chars[i].1 != '"' {
            if chars[i].1 == '\\' {
                i += 1;
                value.push(match chars[i].1 {
                    'n' => '\n',
                    c => c,
                });
            } else {
                value.push(chars[i].1);
            }
            i += 1;
        }
        i += 1;
        assert!(
            labels.insert(key.clone(), value).is_none(),
            "label `{key}` appears twice in `{s}`"
        );
    }
}

/// Prometheus 3's float normalization of `le`/`quantile` (Go's `FormatFloat(f, 'g', -1, 64)`,
/// with `.0` appended to integers).
pub(crate) fn normalize_float(text: &str) -> String {
    let value: f64 = match text {
        "+Inf" => return "+Inf".into(),
        "-Inf" => return "-Inf".into(),
        t => t.parse().unwrap_or_else(|_| panic!("`{t}` is not a float")),
    };
    if value == 0.0 {
        return "0.0".into();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap();
    let exponent: i32 = exponent.parse().unwrap();
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    let plain = format!("{value}");
    if plain.contains('.') {
        plain
    } else {
        format!("{plain}.0")
    }
}

/// The samples as stored by `prometheus` scraping a target with `target_labels`.
pub(crate) fn ingest(
    samples: &[Sample],
    prometheus: Prometheus,
    target_labels: &[(&str, &str)],
) -> Vec<Sample> {
    samples
        .iter()
        .map(|sample| {
            let mut sample = sample.clone();
            if prometheus == Prometheus::V3 {
                for key in ["le", "quantile"] {
                    if let Some(v) = sample.labels.get_mut(key) {
                        *v = normalize_float(v);
                    }
                }
            }
            for (key, value) in target_labels {
                if let Some(own) = sample.labels.remove(*key) {
                    sample.labels.insert(format!("exported_{key}"), own);
                }
                sample.labels.insert((*key).to_owned(), (*value).to_owned());
            }
            sample
        })
        .collect()
}

#[test]
fn normalizes_like_prometheus_3() {
    for (raw, normalized) in [
        ("1", "1.0"),
        ("1.0", "1.0"),
        ("0.25", "0.25"),
        ("10", "10.0"),
        ("100000", "100000.0"),
        ("1000000", "1e+06"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("+Inf", "+Inf"),
        ("0", "0.0"),
    ] {
        assert_eq!(normalize_float(raw), normalized, "{raw}");
    }
}
