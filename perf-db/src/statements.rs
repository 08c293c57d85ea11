//! Per-statement statistics in the spirit of `pg_stat_statements`.
//!
//! Each distinct SQL text is hashed on every query (no parsing); the first time a text is seen it
//! is normalized once and mapped to the statistics of its normalized form. Memory is bounded: at
//! most `statement_capacity` normalized statements are kept (the 5% with the least total time are
//! evicted when a new one needs room), and the text-to-statement cache holds at most four times
//! that many texts (cleared when full: texts that inline literals would otherwise grow it without
//! bound).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::histogram::LatencyHistogram;
use crate::normalize::{Dialect, normalize};

/// Statistics of one normalized statement, as returned by
/// [`Pool::top_statements`](crate::Pool::top_statements).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatementStats {
    /// The normalized statement (literals replaced by `$n`).
    pub statement: String,
    /// Executions, successful or not.
    pub calls: u64,
    /// Executions that returned an error.
    pub errors: u64,
    /// Rows returned by row-returning statements plus rows affected by writes (a row that a
    /// write returns, with `RETURNING`, counts once).
    pub rows: u64,
    /// Total execution time in milliseconds.
    pub total_ms: f64,
    /// Mean execution time in milliseconds.
    pub mean_ms: f64,
    /// Fastest execution in milliseconds.
    pub min_ms: f64,
    /// Slowest execution in milliseconds.
    pub max_ms: f64,
    /// 95th percentile execution time in milliseconds (about 6% resolution).
    pub p95_ms: f64,
    /// The plan captured by auto-EXPLAIN for the first slow run, if any.
    pub plan: Option<String>,
}

/// Live counters of one normalized statement.
#[derive(Debug)]
pub(crate) struct StatementEntry {
    pub(crate) id: u64,
    pub(crate) normalized: Box<str>,
    /// Normalized text truncated for logs.
    pub(crate) normalized_short: Box<str>,
    pub(crate) is_select: bool,
    /// Which of its statements are writes (bit `k` for the `k`-th), whose rows-affected counts
    /// mean something (see `Backend::rows_affected`).
    pub(crate) writes: u64,
    calls: AtomicU64,
    errors: AtomicU64,
    rows: AtomicU64,
    total_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    histogram: LatencyHistogram,
    pub(crate) explain_started: AtomicBool,
    pub(crate) plan: Mutex<Option<String>>,
}

impl StatementEntry {
    pub(crate) fn record(&self, elapsed: Duration, rows: u64, failed: bool) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if rows > 0 {
            self.rows.fetch_add(rows, Ordering::Relaxed);
        }
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        // Plain loads first: in steady state neither extreme moves, and a load is far cheaper
        // than a read-modify-write on a shared cache line.
        if ns < self.min_ns.load(Ordering::Relaxed) {
            self.min_ns.fetch_min(ns, Ordering::Relaxed);
        }
        if ns > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.fetch_max(ns, Ordering::Relaxed);
        }
        self.histogram.record(elapsed);
    }

    fn total_ns(&self) -> u64 {
        self.total_ns.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> StatementStats {
        let calls = self.calls.load(Ordering::Relaxed);
        let total = ns_to_ms(self.total_ns());
        let min = self.min_ns.load(Ordering::Relaxed);
        StatementStats {
            statement: self.normalized.to_string(),
            calls,
            errors: self.errors.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            total_ms: total,
            #[allow(clippy::cast_precision_loss)]
            mean_ms: if calls == 0 {
                0.0
            } else {
                total / calls as f64
            },
            min_ms: if min == u64::MAX { 0.0 } else { ns_to_ms(min) },
            max_ms: ns_to_ms(self.max_ns.load(Ordering::Relaxed)),
            p95_ms: self.histogram.p95_ms(),
            plan: self
                .plan
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1_000_000.0
}

/// What one distinct SQL text maps to.
#[derive(Debug)]
pub(crate) struct TextEntry {
    pub(crate) statement: Arc<StatementEntry>,
    /// The text as written (for auto-EXPLAIN; never logged unless `log_literals`).
    pub(crate) raw: Box<str>,
    /// The text as written, truncated for logs.
    pub(crate) raw_short: Box<str>,
    pub(crate) has_params: bool,
}

/// Truncates to `max` characters, marking the cut with `…`.
pub(crate) fn truncate(text: &str, max: usize) -> Box<str> {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]).into_boxed_str(),
        None => text.into(),
    }
}

/// Keys are already hashes: hashing them again would only cost time.
#[derive(Debug, Default, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ById<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

#[derive(Debug)]
pub(crate) struct StatementRegistry {
    texts: RwLock<ById<Arc<TextEntry>>>,
    statements: Mutex<ById<Arc<StatementEntry>>>,
    hasher: foldhash::fast::FixedState,
    capacity: usize,
    log_chars: usize,
    dialect: Dialect,
}

impl StatementRegistry {
    pub(crate) fn new(capacity: usize, log_chars: usize, dialect: Dialect) -> Self {
        Self {
            texts: RwLock::new(ById::default()),
            statements: Mutex::new(ById::default()),
            hasher: foldhash::fast::FixedState::with_seed(0x0070_6572_662d_6462),
            capacity,
            log_chars,
            dialect,
        }
    }

    /// The per-query path: one hash of the text and a read-locked map lookup.
    pub(crate) fn lookup(&self, sql: &str) -> Arc<TextEntry> {
        let hash = self.hasher.hash_one(sql);
        if let Some(entry) = self
            .texts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hash)
            && entry.raw.len() == sql.len()
        {
            return Arc::clone(entry);
        }
        self.insert(hash, sql)
    }

    /// First sight of a text: normalize it once and link it to its statement.
    #[cold]
    fn insert(&self, hash: u64, sql: &str) -> Arc<TextEntry> {
        let normalized = normalize(sql, self.dialect);
        let id = self.hasher.hash_one(normalized.text.as_str());
        let statement = {
            let mut statements = self
                .statements
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(existing) = statements.get(&id) {
                Arc::clone(existing)
            } else {
                if statements.len() >= self.capacity {
                    self.evict(&mut statements);
                }
                let entry = Arc::new(StatementEntry {
                    id,
                    normalized_short: truncate(&normalized.text, self.log_chars),
                    normalized: normalized.text.into_boxed_str(),
                    is_select: normalized.is_select,
                    writes: normalized.writes,
                    calls: AtomicU64::new(0),
                    errors: AtomicU64::new(0),
                    rows: AtomicU64::new(0),
                    total_ns: AtomicU64::new(0),
                    min_ns: AtomicU64::new(u64::MAX),
                    max_ns: AtomicU64::new(0),
                    histogram: LatencyHistogram::new(1),
                    explain_started: AtomicBool::new(false),
                    plan: Mutex::new(None),
                });
                statements.insert(id, Arc::clone(&entry));
                entry
            }
        };
        let text = Arc::new(TextEntry {
            statement,
            raw: sql.into(),
            raw_short: truncate(sql, self.log_chars),
            has_params: normalized.has_params,
        });
        let mut texts = self.texts.write().unwrap_or_else(PoisonError::into_inner);
        if texts.len() >= self.capacity.saturating_mul(4) {
            texts.clear();
        }
        texts.insert(hash, Arc::clone(&text));
        text
    }

    /// Drops the 5% (at least one) statements with the least total time, and the cached texts
    /// that point to them.
    fn evict(&self, statements: &mut ById<Arc<StatementEntry>>) {
        let mut by_total: Vec<(u64, u64)> =
            statements.values().map(|s| (s.total_ns(), s.id)).collect();
        by_total.sort_unstable();
        let n = (statements.len() / 20).max(1);
        let evicted: Vec<u64> = by_total.iter().take(n).map(|&(_, id)| id).collect();
        for id in &evicted {
            statements.remove(id);
        }
        self.texts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, text| !evicted.contains(&text.statement.id));
    }

    /// Statements by total time, largest first.
    pub(crate) fn top(&self, n: usize) -> Vec<StatementStats> {
        let entries: Vec<Arc<StatementEntry>> = self
            .statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut ranked: Vec<(u64, Arc<StatementEntry>)> =
            entries.into_iter().map(|e| (e.total_ns(), e)).collect();
        ranked.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| a.1.normalized.cmp(&b.1.normalized))
        });
        ranked
            .into_iter()
            .take(n)
            .map(|(_, e)| e.snapshot())
            .collect()
    }

    /// Statistics of the statement `sql` normalizes to, if it is tracked.
    pub(crate) fn get(&self, sql: &str) -> Option<StatementStats> {
        let id = self
            .hasher
            .hash_one(normalize(sql, self.dialect).text.as_str());
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .map(|e| e.snapshot())
    }

    pub(crate) fn len(&self) -> usize {
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub(crate) fn reset(&self) {
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.texts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_keeps_memory_bounded_and_drops_the_cheapest() {
        let registry = StatementRegistry::new(3, 200, Dialect::Postgres);
        for (i, ms) in [(1, 50), (2, 1), (3, 30)] {
            let e = registry.lookup(&format!("SELECT * FROM t{i}"));
            e.statement.record(Duration::from_millis(ms), 1, false);
        }
        registry.lookup("SELECT * FROM t4");
        assert_eq!(registry.len(), 3);
        let names: Vec<String> = registry.top(10).into_iter().map(|s| s.statement).collect();
        assert!(
            !names.contains(&"SELECT * FROM t2".to_string()),
            "{names:?}"
        );
    }

    #[test]
    fn texts_with_different_literals_share_a_statement() {
        let registry = StatementRegistry::new(10, 200, Dialect::Postgres);
        let a = registry.lookup("SELECT * FROM t WHERE id = 1");
        let b = registry.lookup("SELECT * FROM t WHERE id = 2");
        assert!(Arc::ptr_eq(&a.statement, &b.statement));
        assert_eq!(truncate("abcdef", 3).as_ref(), "abc…");
    }
}
