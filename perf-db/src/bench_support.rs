//! Access to the per-statement lookup for the benchmarks (hidden; not a stable API).

use crate::statements::StatementRegistry;

/// The statement registry as the per-query path uses it.
#[derive(Debug)]
pub struct StatementLookup(StatementRegistry);

impl StatementLookup {
    /// A registry holding up to `capacity` statements.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self(StatementRegistry::new(capacity, 200))
    }

    /// The per-query work for `sql`: hash and map lookup; normalizes only on first sight.
    /// Returns the length of the cached text, to keep the work observable.
    pub fn lookup(&self, sql: &str) -> usize {
        self.0.lookup(sql).raw.len()
    }
}
