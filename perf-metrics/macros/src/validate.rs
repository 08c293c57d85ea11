//! Stage 2: reject what would produce a broken or high-cardinality metric.

use std::collections::HashSet;

use crate::args::Timed;

/// Labels the macro sets itself or the exporter adds.
const RESERVED_LABELS: &[&str] = &[
    "function",
    "module",
    "outcome",
    "service_name",
    "service_instance_id",
    "le",
];

pub(crate) fn validate(timed: Timed) -> darling::Result<Timed> {
    let mut errors = darling::Error::accumulator();

    if let Some(constness) = &timed.item.sig.constness {
        errors.push(
            darling::Error::custom("`#[timed]` cannot time a `const fn`").with_span(constness),
        );
    }

    if let Some(name) = &timed.args.name {
        let value = name.value();
        if !is_metric_name(&value) {
            errors.push(
                darling::Error::custom(format!(
                    "`{value}` is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
                ))
                .with_span(name),
            );
        } else if !value.ends_with("_seconds") {
            errors.push(
                darling::Error::custom(format!(
                    "`{value}` records seconds: the metric name must end in `_seconds`"
                ))
                .with_span(name),
            );
        }
    }

    let mut seen = HashSet::new();
    for (key, value) in &timed.args.labels.0 {
        let name = key.to_string();
        let name = name.trim_start_matches("r#");
        if RESERVED_LABELS.contains(&name) {
            errors.push(
                darling::Error::custom(format!(
                    "label `{name}` is reserved (set by #[timed] or the exporter); reserved: {}",
                    RESERVED_LABELS.join(", ")
                ))
                .with_span(key),
            );
        } else if name.starts_with("__") {
            errors.push(
                darling::Error::custom("label names starting with `__` are reserved by Prometheus")
                    .with_span(key),
            );
        } else if !seen.insert(name.to_owned()) {
            errors.push(darling::Error::custom(format!("duplicate label `{name}`")).with_span(key));
        }
        if value.value().is_empty() {
            errors.push(darling::Error::custom("label values must not be empty").with_span(value));
        }
    }

    errors.finish_with(timed)
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
