//! Auto-EXPLAIN: the first slow run of each normalized `SELECT` has its plan captured in the
//! background (`EXPLAIN (FORMAT JSON)` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite,
//! `EXPLAIN FORMAT=JSON` on MySQL/MariaDB) and attached to the statement's statistics.
//!
//! Only statements the normalizer classifies as plain reads are explained (no `;`, `INTO`,
//! `FOR UPDATE`, data-modifying `WITH`), and never with `ANALYZE`, so the plan capture never
//! executes anything. It runs on the uninstrumented sqlx pool, so it does not count as a query.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use crate::Backend;
use crate::shared::Explainer;
use crate::statements::TextEntry;
use crate::stats::Counters;

pub(crate) fn explainer<DB: Backend>(
    pool: sqlx::Pool<DB>,
    name: &str,
    counters: Arc<Counters>,
) -> Explainer {
    let name: Arc<str> = name.into();
    Box::new(move |text: Arc<TextEntry>| {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = pool.clone();
        let name = Arc::clone(&name);
        let counters = Arc::clone(&counters);
        runtime.spawn(async move {
            let statement = &text.statement;
            match DB::explain(pool, text.raw.to_string(), text.has_params).await {
                Ok(Some(plan)) => {
                    *statement
                        .plan
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(plan);
                    counters.explains.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        target: "perf_db::explain",
                        pool = %name,
                        statement = %statement.normalized_short,
                        "captured the plan of a slow statement"
                    );
                }
                Ok(None) => tracing::debug!(
                    target: "perf_db::explain",
                    pool = %name,
                    statement = %statement.normalized_short,
                    "plan not captured: the server cannot plan it without its bind values"
                ),
                Err(error) => tracing::debug!(
                    target: "perf_db::explain",
                    pool = %name,
                    %error,
                    "plan capture failed"
                ),
            }
        });
    })
}
