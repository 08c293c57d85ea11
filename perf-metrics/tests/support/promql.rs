//! Just enough PromQL lexing to list the metric and label names an expression uses.

use std::collections::BTreeSet;

/// Functions, aggregations and keywords: identifiers that are not metric names.
const KEYWORDS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "topk",
    "bottomk",
    "quantile",
    "stddev",
    "stdvar",
    "group",
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "histogram_quantile",
    "clamp_min",
    "clamp_max",
    "clamp",
    "abs",
    "absent",
    "vector",
    "scalar",
    "time",
    "label_values",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "sum_over_time",
    "count_over_time",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
];
/// Modifiers followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Metric names and label names used by `expr`.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub(crate) metrics: BTreeSet<String>,
    pub(crate) labels: BTreeSet<String>,
}

pub(crate) fn names(expr: &str) -> Names {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Names::default();
    let mut i = 0;
    let mut pending_label_list = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '[' {
            // range selector or subquery: [5m], [$__rate_interval]
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            i = matchers(&chars, i + 1, &mut names.labels);
        } else if c == '$' {
            // a dashboard variable such as $service
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if LABEL_LISTS.contains(&word.as_str()) {
                pending_label_list = true;
            } else if !KEYWORDS.contains(&word.as_str()) && next != Some(&'(') {
                names.metrics.insert(word);
            }
        } else if c == '(' && pending_label_list {
            pending_label_list = false;
            let end = chars[i..]
                .iter()
                .position(|&c| c == ')')
                .map_or(chars.len(), |p| i + p);
            let list: String = chars[i + 1..end].iter().collect();
            names.labels.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
            i = end + 1;
        } else {
            i += 1;
        }
    }
    names
}

fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Reads `label op "value", ...}` and returns the index after `}`.
fn matchers(chars: &[char], mut i: usize, labels: &mut BTreeSet<String>) -> usize {
    while i < chars.len() && chars[i] != '}' {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(chars, i);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            labels.insert(chars[start..i].iter().collect());
        } else {
            i += 1;
        }
    }
    i + 1
}

#[test]
fn lexes_metric_and_label_names() {
    let n = names(
        r#"histogram_quantile(0.95, sum by (service, le) (rate(request_duration_seconds_bucket{status=~"5..|error",endpoint!="{id}"}[$__rate_interval]))) > 0.1 and on(service) up"#,
    );
    assert_eq!(
        n.metrics.into_iter().collect::<Vec<_>>(),
        ["request_duration_seconds_bucket", "up"]
    );
    assert_eq!(
        n.labels.into_iter().collect::<Vec<_>>(),
        ["endpoint", "le", "service", "status"]
    );
}
