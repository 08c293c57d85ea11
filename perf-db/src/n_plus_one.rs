//! N+1 detection: the same normalized statement run more than K times within one request span.
//!
//! The request is the outermost (root) span of the current tracing context, so queries issued
//! from nested `#[instrument]` functions still count towards the request that runs them. Counts
//! live in that span's extensions, which tracing-subscriber's `Registry` frees when the span
//! closes: nothing to clean up, nothing carried over to a later span that reuses the id. Without
//! a `Registry`-based subscriber (or outside any span) detection is inactive.

use std::collections::HashMap;

use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Default)]
struct SpanCounts {
    by_statement: HashMap<u64, u32>,
}

/// One N+1 finding, returned once per span and statement.
#[derive(Debug)]
pub(crate) struct Finding {
    pub(crate) span: &'static str,
    pub(crate) count: u32,
}

/// Counts one run of `statement_id` in the current request span; returns a finding the first
/// time the count exceeds `threshold`.
pub(crate) fn observe(statement_id: u64, threshold: u32) -> Option<Finding> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let current = dispatch.current_span();
        let id = current.id()?;
        let span = registry.span(id)?;
        let root = span.scope().from_root().next()?;
        let mut extensions = root.extensions_mut();
        if extensions.get_mut::<SpanCounts>().is_none() {
            extensions.insert(SpanCounts::default());
        }
        let counts = extensions.get_mut::<SpanCounts>()?;
        let count = counts.by_statement.entry(statement_id).or_insert(0);
        *count = count.saturating_add(1);
        (*count == threshold.saturating_add(1)).then(|| Finding {
            span: root.name(),
            count: *count,
        })
    })
}
