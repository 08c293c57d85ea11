//! N+1 detection: the same normalized statement run more than K times within one request.
//!
//! The request is the nearest span, from the current one outwards, whose metadata has a field
//! named [`REQUEST_SCOPE_FIELD`] (`perf.request_scope`; its value does not matter). perf-metrics'
//! HTTP layer opens its per-request span with that field; job workers, consumers and other
//! entry points mark their own unit of work the same way:
//!
//! ```text
//! tracing::info_span!("job", perf.request_scope = true, job.id = %id)
//! ```
//!
//! Without such a span the root span of the current context is the request, so a server that
//! opens one span per request and nothing around it needs no marker. Under a long-lived outer
//! span (an instrumented `main`, a worker loop) the marker is what keeps requests apart.
//!
//! Counts live in the scope span's extensions, which tracing-subscriber's `Registry` frees when
//! the span closes: nothing to clean up, nothing carried over to a later span that reuses the
//! id. Without a `Registry`-based subscriber (or outside any span) detection is inactive.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use tracing_subscriber::Registry;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::shared::Shared;
use crate::statements::TextEntry;

/// The span field that marks a request (or job) scope.
pub(crate) const REQUEST_SCOPE_FIELD: &str = "perf.request_scope";

#[derive(Debug, Default)]
struct SpanCounts {
    by_statement: HashMap<u64, u32>,
}

/// One N+1 finding, returned once per scope and statement.
#[derive(Debug)]
struct Finding {
    span: &'static str,
    count: u32,
}

/// Counts one run of `text`'s statement in the current request scope and logs and counts a
/// warning the first time the count exceeds `threshold`.
pub(crate) fn check(shared: &Shared, text: &TextEntry, threshold: u32) {
    let Some(finding) = observe(text.statement.id, threshold) else {
        return;
    };
    shared.counters.n_plus_one.fetch_add(1, Ordering::Relaxed);
    shared.metrics.n_plus_one.increment(1);
    tracing::warn!(
        target: "perf_db::n_plus_one",
        pool = %shared.name,
        span = finding.span,
        count = finding.count,
        statement = %text.statement.normalized_short,
        "N+1 queries: the same statement ran {} times in span `{}`",
        finding.count,
        finding.span,
    );
}

/// The request scope of `span`: the nearest marked span (itself included), else the root.
fn request_scope<'a>(span: &SpanRef<'a, Registry>) -> Option<SpanRef<'a, Registry>> {
    span.scope()
        .find(|s| s.metadata().fields().field(REQUEST_SCOPE_FIELD).is_some())
        .or_else(|| span.scope().from_root().next())
}

fn observe(statement_id: u64, threshold: u32) -> Option<Finding> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let current = dispatch.current_span();
        let id = current.id()?;
        let span = registry.span(id)?;
        let scope = request_scope(&span)?;
        let mut extensions = scope.extensions_mut();
        if extensions.get_mut::<SpanCounts>().is_none() {
            extensions.insert(SpanCounts::default());
        }
        let counts = extensions.get_mut::<SpanCounts>()?;
        let count = counts.by_statement.entry(statement_id).or_insert(0);
        *count = count.saturating_add(1);
        (*count == threshold.saturating_add(1)).then(|| Finding {
            span: scope.name(),
            count: *count,
        })
    })
}
