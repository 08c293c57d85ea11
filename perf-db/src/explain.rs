//! Auto-EXPLAIN: the first slow run of each normalized `SELECT` has its plan captured in the
//! background (`EXPLAIN (FORMAT JSON)` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite,
//! `EXPLAIN FORMAT=JSON` on MySQL/MariaDB) and attached to the statement's statistics.
//!
//! Nothing is ever executed: `ANALYZE` is never used, only statements the normalizer (with the
//! back end's token rules) classifies as one plain read are explained (no `;`, `INTO`,
//! `FOR UPDATE`, data-modifying `WITH`), and the `EXPLAIN` goes out as one prepared statement,
//! which PostgreSQL and MySQL/MariaDB refuse to parse when it holds a second command. sqlx runs
//! every statement of an SQLite text even when prepared, so there the text is refused before it
//! is sent if SQLite's token rules find anything after a `;`. It runs on the uninstrumented sqlx
//! pool, so it does not count as a query.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::Backend;
use crate::shared::{Explainer, Shared};
use crate::statements::{StatementRegistry, TextEntry};
use crate::stats::Counters;

/// The trigger: called for each slow query that completed without error; starts the capture
/// for the first such run of a statement classified as one plain read.
pub(crate) fn on_slow_read(shared: &Shared, text: &Arc<TextEntry>) {
    if let Some(explainer) = &shared.explainer
        && text.statement.is_select
        && !text.statement.explain_started.swap(true, Ordering::Relaxed)
    {
        explainer(Arc::clone(text));
    }
}

/// The capture: `EXPLAIN` on the uninstrumented pool, in a background task.
pub(crate) fn explainer<DB: Backend>(
    pool: sqlx::Pool<DB>,
    name: &str,
    counters: Arc<Counters>,
    statements: Arc<StatementRegistry>,
) -> Explainer {
    let name: Arc<str> = name.into();
    Box::new(move |text: Arc<TextEntry>| {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = pool.clone();
        let name = Arc::clone(&name);
        let statements = Arc::clone(&statements);
        let in_flight = InFlight::start(Arc::clone(&counters));
        runtime.spawn(async move {
            let counters = &in_flight.0;
            let statement = &text.statement;
            match DB::explain(pool, text.raw.to_string(), text.has_params).await {
                Ok(Some(plan)) => {
                    // Counted in `statement_memory_bytes` like the statement's text.
                    let kept = statements.attach_plan(statement, plan);
                    counters.explains.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        target: "perf_db::explain",
                        pool = %name,
                        statement = %statement.normalized_short,
                        kept,
                        "captured the plan of a slow statement"
                    );
                }
                Ok(None) => tracing::debug!(
                    target: "perf_db::explain",
                    pool = %name,
                    statement = %statement.normalized_short,
                    "plan not captured: the server cannot plan it without its bind values"
                ),
                Err(error) => {
                    counters.explains_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        target: "perf_db::explain",
                        pool = %name,
                        %error,
                        "plan capture failed"
                    );
                }
            }
            drop(in_flight);
        });
    })
}

/// Counts one plan capture in flight from the moment it is decided (before the task is spawned,
/// so a caller that sees its query finish also sees the capture) until the task ends or is
/// dropped with its runtime.
struct InFlight(Arc<Counters>);

impl InFlight {
    fn start(counters: Arc<Counters>) -> Self {
        counters.explains_in_flight.fetch_add(1, Ordering::Relaxed);
        Self(counters)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.explains_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
