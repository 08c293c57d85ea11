//! Per-statement statistics in the spirit of `pg_stat_statements`.
//!
//! Each distinct SQL text is hashed on every query (no parsing) and compared with the cached text
//! of that hash; the first time a text is seen it is normalized once and mapped to the
//! statistics of its normalized form. A hash is never trusted alone: texts and normalized
//! statements that share a hash are told apart by their text, so a collision cannot merge two
//! statements' numbers.
//!
//! Memory is bounded by count and by bytes, with the registry's own accounting
//! ([`StatementRegistry::memory_bytes`]): at most `statement_capacity` statements, and at most
//! `statement_memory_bytes` for statements and cached texts together. A statement keeps its
//! normalized text up to [`STATEMENT_TEXT_BYTES`] (longer ones are told apart by that prefix, their
//! full length and their hash). When room is needed the text cache is cleared first (it is only
//! a cache), then the 5% of statements with the least total time are evicted. A text longer than
//! 1/64 of the budget is not cached at all: it is normalized on each run, a cost in proportion to
//! sending it.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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

/// Normalized text kept per statement, in bytes (PostgreSQL's `track_activity_query_size`
/// keeps 1 KiB by default).
pub(crate) const STATEMENT_TEXT_BYTES: usize = 4096;

/// Live counters of one normalized statement.
#[derive(Debug)]
pub(crate) struct StatementEntry {
    /// Unique within the registry (a sequence number, not a hash).
    pub(crate) id: u64,
    /// Hash of the full normalized text.
    hash: u64,
    /// The normalized text, cut at [`STATEMENT_TEXT_BYTES`].
    pub(crate) normalized: Box<str>,
    /// Length of the full normalized text, in bytes.
    normalized_len: usize,
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
    /// What this entry costs, as counted against the registry's budget (its plan included, once
    /// attached). Changed only under the registry's `statements` lock.
    bytes: AtomicUsize,
}

impl StatementEntry {
    /// Whether this entry is the statement normalized to `text` (hashing to `hash`): equal text,
    /// or for a text longer than what is kept, equal prefix, length and hash.
    fn is(&self, text: &str, hash: u64) -> bool {
        if self.normalized_len != text.len() || self.hash != hash {
            return false;
        }
        match text.get(..self.normalized.len()) {
            Some(prefix) => *prefix == *self.normalized,
            None => false,
        }
    }

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
        let mut statement = self.normalized.to_string();
        if self.normalized_len > self.normalized.len() {
            statement.push('…');
        }
        StatementStats {
            statement,
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

/// Hashes a text; a field so tests can force collisions.
type HashFn = fn(&foldhash::fast::FixedState, &str) -> u64;

fn hash_text(state: &foldhash::fast::FixedState, text: &str) -> u64 {
    state.hash_one(text)
}

/// Cached texts, by hash; a bucket holds every text of that hash.
#[derive(Debug, Default)]
struct TextCache {
    by_hash: ById<Vec<Arc<TextEntry>>>,
    len: usize,
    bytes: usize,
}

impl TextCache {
    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Tracked statements, by hash of their normalized text.
#[derive(Debug, Default)]
struct Statements {
    by_hash: ById<Vec<Arc<StatementEntry>>>,
    len: usize,
    bytes: usize,
}

impl Statements {
    fn entries(&self) -> impl Iterator<Item = &Arc<StatementEntry>> {
        self.by_hash.values().flatten()
    }

    fn find(&self, text: &str, hash: u64) -> Option<&Arc<StatementEntry>> {
        self.by_hash.get(&hash)?.iter().find(|e| e.is(text, hash))
    }
}

/// Appended to a plan cut at 1/16 of the statement budget.
const PLAN_CUT_MARK: &str = "\n… (plan cut: longer than 1/16 of statement_memory_bytes)";

/// Map and allocation overhead counted per entry on top of its own size and text.
const ENTRY_OVERHEAD: usize = 64;

#[derive(Debug)]
pub(crate) struct StatementRegistry {
    texts: RwLock<TextCache>,
    statements: Mutex<Statements>,
    /// `statements.bytes`, readable without the lock (the text cache checks the budget).
    statement_bytes: AtomicUsize,
    hasher: foldhash::fast::FixedState,
    hash: HashFn,
    next_id: AtomicU64,
    capacity: usize,
    max_bytes: usize,
    log_chars: usize,
    dialect: Dialect,
}

impl StatementRegistry {
    pub(crate) fn new(
        capacity: usize,
        max_bytes: usize,
        log_chars: usize,
        dialect: Dialect,
    ) -> Self {
        Self {
            texts: RwLock::new(TextCache::default()),
            statements: Mutex::new(Statements::default()),
            statement_bytes: AtomicUsize::new(0),
            hasher: foldhash::fast::FixedState::with_seed(0x0070_6572_662d_6462),
            hash: hash_text,
            next_id: AtomicU64::new(0),
            capacity,
            max_bytes,
            log_chars,
            dialect,
        }
    }

    /// The per-query path: one hash of the text, a read-locked map lookup and a comparison
    /// with the cached text.
    pub(crate) fn lookup(&self, sql: &str) -> Arc<TextEntry> {
        let hash = (self.hash)(&self.hasher, sql);
        if let Some(bucket) = self
            .texts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_hash
            .get(&hash)
            && let Some(entry) = bucket.iter().find(|e| *e.raw == *sql)
        {
            return Arc::clone(entry);
        }
        self.insert(hash, sql)
    }

    /// First sight of a text: normalize it once and link it to its statement.
    #[cold]
    fn insert(&self, hash: u64, sql: &str) -> Arc<TextEntry> {
        let normalized = normalize(sql, self.dialect);
        let statement = self.statement(normalized.text, normalized.is_select, normalized.writes);
        let text = Arc::new(TextEntry {
            statement,
            raw: sql.into(),
            raw_short: truncate(sql, self.log_chars),
            has_params: normalized.has_params,
        });
        let bytes = size_of::<TextEntry>() + ENTRY_OVERHEAD + text.raw.len() + text.raw_short.len();
        if bytes > self.max_bytes / 64 {
            return text;
        }
        let mut texts = self.texts.write().unwrap_or_else(PoisonError::into_inner);
        let statement_bytes = self.statement_bytes.load(Ordering::Relaxed);
        if texts.len >= self.capacity.saturating_mul(4)
            || statement_bytes + texts.bytes + bytes > self.max_bytes
        {
            texts.clear();
        }
        let bucket = texts.by_hash.entry(hash).or_default();
        if let Some(raced) = bucket.iter().find(|e| *e.raw == *sql) {
            return Arc::clone(raced);
        }
        bucket.push(Arc::clone(&text));
        texts.len += 1;
        texts.bytes += bytes;
        text
    }

    /// The statement `text` (a normalized text) belongs to, created if new.
    fn statement(&self, text: String, is_select: bool, writes: u64) -> Arc<StatementEntry> {
        let hash = (self.hash)(&self.hasher, &text);
        let mut statements = self
            .statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = statements.find(&text, hash) {
            return Arc::clone(existing);
        }
        let entry = self.new_entry(text, hash, is_select, writes);
        while statements.len > 0
            && (statements.len >= self.capacity
                || statements.bytes + self.text_bytes() + entry.bytes.load(Ordering::Relaxed)
                    > self.max_bytes)
        {
            self.make_room(&mut statements);
        }
        statements.bytes += entry.bytes.load(Ordering::Relaxed);
        statements.len += 1;
        self.statement_bytes
            .store(statements.bytes, Ordering::Relaxed);
        statements
            .by_hash
            .entry(hash)
            .or_default()
            .push(Arc::clone(&entry));
        entry
    }

    fn new_entry(
        &self,
        text: String,
        hash: u64,
        is_select: bool,
        writes: u64,
    ) -> Arc<StatementEntry> {
        let normalized_len = text.len();
        let mut kept = text;
        if kept.len() > STATEMENT_TEXT_BYTES {
            let mut cut = STATEMENT_TEXT_BYTES;
            while !kept.is_char_boundary(cut) {
                cut -= 1;
            }
            kept.truncate(cut);
        }
        let normalized_short = truncate(&kept, self.log_chars);
        let histogram = LatencyHistogram::new(1);
        let bytes = size_of::<StatementEntry>()
            + ENTRY_OVERHEAD
            + kept.len()
            + normalized_short.len()
            + histogram.heap_bytes();
        Arc::new(StatementEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            hash,
            normalized: kept.into_boxed_str(),
            normalized_len,
            normalized_short,
            is_select,
            writes,
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            histogram,
            explain_started: AtomicBool::new(false),
            plan: Mutex::new(None),
            bytes: AtomicUsize::new(bytes),
        })
    }

    /// Attaches the plan auto-EXPLAIN captured for `statement`, counting it against the byte
    /// budget like the rest of the statement: room is made first (the text cache, then the
    /// cheapest statements), a plan longer than 1/16 of the budget is cut to that length, and a
    /// statement evicted meanwhile (or that would evict itself) gets no plan. Returns whether
    /// the plan was kept.
    pub(crate) fn attach_plan(&self, statement: &Arc<StatementEntry>, mut plan: String) -> bool {
        let limit = self.max_bytes / 16;
        if plan.len() > limit {
            let mut cut = limit.saturating_sub(PLAN_CUT_MARK.len());
            while !plan.is_char_boundary(cut) {
                cut -= 1;
            }
            plan.truncate(cut);
            plan.push_str(PLAN_CUT_MARK);
        }
        // What is held is the allocation, not the length.
        plan.shrink_to_fit();
        let plan_bytes = plan.capacity();
        let mut statements = self
            .statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let registered = |statements: &Statements| {
            statements
                .by_hash
                .get(&statement.hash)
                .is_some_and(|bucket| bucket.iter().any(|e| Arc::ptr_eq(e, statement)))
        };
        while registered(&statements)
            && statements.bytes + self.text_bytes() + plan_bytes > self.max_bytes
            && statements.len > 1
        {
            self.make_room(&mut statements);
        }
        if !registered(&statements)
            || statements.bytes + self.text_bytes() + plan_bytes > self.max_bytes
        {
            return false;
        }
        let mut slot = statement
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            return false; // one plan per statement: the first capture's
        }
        *slot = Some(plan);
        statement.bytes.fetch_add(plan_bytes, Ordering::Relaxed);
        statements.bytes += plan_bytes;
        self.statement_bytes
            .store(statements.bytes, Ordering::Relaxed);
        true
    }

    fn text_bytes(&self) -> usize {
        self.texts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }

    /// Frees room for one more statement: evicts statements when the count is the limit;
    /// when bytes are, clears the text cache first (it is only a cache), then evicts.
    fn make_room(&self, statements: &mut Statements) {
        if statements.len < self.capacity {
            let mut texts = self.texts.write().unwrap_or_else(PoisonError::into_inner);
            if texts.len > 0 {
                texts.clear();
                return;
            }
        }
        self.evict(statements);
    }

    /// Drops the 5% (at least one) statements with the least total time, and the cached texts
    /// that point to them.
    fn evict(&self, statements: &mut Statements) {
        let mut by_total: Vec<(u64, u64)> =
            statements.entries().map(|s| (s.total_ns(), s.id)).collect();
        by_total.sort_unstable();
        let n = (statements.len / 20).max(1);
        let evicted: Vec<u64> = by_total.iter().take(n).map(|&(_, id)| id).collect();
        for bucket in statements.by_hash.values_mut() {
            bucket.retain(|e| {
                let keep = !evicted.contains(&e.id);
                if !keep {
                    statements.bytes -= e.bytes.load(Ordering::Relaxed);
                    statements.len -= 1;
                }
                keep
            });
        }
        statements.by_hash.retain(|_, bucket| !bucket.is_empty());
        self.statement_bytes
            .store(statements.bytes, Ordering::Relaxed);
        let mut texts = self.texts.write().unwrap_or_else(PoisonError::into_inner);
        // Rebuilt rather than patched: eviction is rare, and the byte count stays exact.
        let kept: Vec<(u64, Arc<TextEntry>)> = texts
            .by_hash
            .iter()
            .flat_map(|(hash, bucket)| bucket.iter().map(|e| (*hash, Arc::clone(e))))
            .filter(|(_, e)| !evicted.contains(&e.statement.id))
            .collect();
        texts.clear();
        for (hash, entry) in kept {
            texts.bytes +=
                size_of::<TextEntry>() + ENTRY_OVERHEAD + entry.raw.len() + entry.raw_short.len();
            texts.len += 1;
            texts.by_hash.entry(hash).or_default().push(entry);
        }
    }

    /// Statements by total time, largest first.
    pub(crate) fn top(&self, n: usize) -> Vec<StatementStats> {
        let entries: Vec<Arc<StatementEntry>> = self
            .statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries()
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
        let text = normalize(sql, self.dialect).text;
        let hash = (self.hash)(&self.hasher, &text);
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .find(&text, hash)
            .map(|e| e.snapshot())
    }

    pub(crate) fn len(&self) -> usize {
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len
    }

    /// Bytes held by tracked statements and cached texts, as counted against
    /// `statement_memory_bytes` (entry sizes, texts, histograms, a fixed per-entry overhead).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.statement_bytes.load(Ordering::Relaxed) + self.text_bytes()
    }

    pub(crate) fn reset(&self) {
        let mut statements = self
            .statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *statements = Statements::default();
        self.statement_bytes.store(0, Ordering::Relaxed);
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
        let registry = StatementRegistry::new(3, 1 << 20, 200, Dialect::Postgres);
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
        let registry = StatementRegistry::new(10, 1 << 20, 200, Dialect::Postgres);
        let a = registry.lookup("SELECT * FROM t WHERE id = 1");
        let b = registry.lookup("SELECT * FROM t WHERE id = 2");
        assert!(Arc::ptr_eq(&a.statement, &b.statement));
        assert_eq!(truncate("abcdef", 3).as_ref(), "abc…");
    }

    #[test]
    fn a_plan_counts_in_the_byte_budget() {
        const BUDGET: usize = 1 << 20;
        let registry = StatementRegistry::new(1000, BUDGET, 200, Dialect::Postgres);
        let text = registry.lookup("SELECT * FROM t WHERE id = 1");
        let before = registry.memory_bytes();
        let plan = "Seq Scan on t\n".repeat(100);
        let plan_bytes = plan.capacity();
        assert!(registry.attach_plan(&text.statement, plan.clone()));
        assert_eq!(registry.memory_bytes(), before + plan_bytes);
        assert_eq!(
            registry.get("SELECT * FROM t WHERE id = 2").unwrap().plan,
            Some(plan)
        );
        // one plan per statement: a second capture is neither kept nor counted
        assert!(!registry.attach_plan(&text.statement, "other".to_owned()));
        assert_eq!(registry.memory_bytes(), before + plan_bytes);
    }

    #[test]
    fn plans_filling_the_budget_keep_memory_bounded() {
        const BUDGET: usize = 256 * 1024;
        let registry = StatementRegistry::new(10_000, BUDGET, 200, Dialect::Postgres);
        let mut kept = 0;
        for i in 0..500 {
            let text = registry.lookup(&format!("SELECT c{i} FROM t"));
            text.statement
                .record(Duration::from_micros(100 + i), 1, false);
            // 12 KiB plans: 500 of them would be 6 MB, 24 times the budget
            let plan = format!("plan {i} ").repeat(12 * 1024 / 8);
            if registry.attach_plan(&text.statement, plan) {
                kept += 1;
            }
            assert!(
                registry.memory_bytes() <= BUDGET,
                "after {i}: {} bytes",
                registry.memory_bytes()
            );
        }
        assert_eq!(
            kept, 500,
            "each plan fits once older statements are evicted"
        );
        let plans: usize = registry
            .top(usize::MAX)
            .iter()
            .filter_map(|s| s.plan.as_ref().map(String::len))
            .sum();
        assert!(
            plans > BUDGET / 2,
            "plans are what fills the budget: {plans}"
        );
        assert!(plans <= registry.memory_bytes());
    }

    #[test]
    fn a_plan_longer_than_a_sixteenth_of_the_budget_is_cut() {
        const BUDGET: usize = 256 * 1024;
        let registry = StatementRegistry::new(100, BUDGET, 200, Dialect::Postgres);
        let text = registry.lookup("SELECT * FROM t");
        assert!(registry.attach_plan(&text.statement, "é".repeat(BUDGET)));
        let plan = registry.get("SELECT * FROM t").unwrap().plan.unwrap();
        assert!(plan.len() <= BUDGET / 16, "{}", plan.len());
        assert!(plan.ends_with(PLAN_CUT_MARK));
        assert!(registry.memory_bytes() <= BUDGET);
    }

    /// A multi-row INSERT of `rows` rows, each with a long text literal.
    fn batch_insert(rows: usize, seed: usize) -> String {
        let values: Vec<String> = (0..rows)
            .map(|r| format!("({}, '{}')", seed * 10_000 + r, "x".repeat(200)))
            .collect();
        format!(
            "INSERT INTO events (id, payload) VALUES {}",
            values.join(", ")
        )
    }

    #[test]
    fn generated_batch_inserts_are_one_statement_within_the_byte_budget() {
        const BUDGET: usize = 1 << 20;
        let registry = StatementRegistry::new(1000, BUDGET, 200, Dialect::Postgres);
        let mut largest_text = 0;
        for i in 0..1000 {
            let sql = batch_insert(1 + i % 97, i);
            largest_text = largest_text.max(sql.len());
            registry
                .lookup(&sql)
                .statement
                .record(Duration::from_micros(50), 1, false);
            assert!(
                registry.memory_bytes() <= BUDGET,
                "after {i}: {} bytes",
                registry.memory_bytes()
            );
        }
        // about 20 KB per text at 97 rows: 1000 distinct texts would hold ~10 MB
        assert!(largest_text > 19_000, "{largest_text}");
        assert_eq!(registry.len(), 1);
        let top = registry.top(10);
        assert_eq!(top.len(), 1);
        assert_eq!(
            top[0].statement,
            "INSERT INTO events (id, payload) VALUES (...)"
        );
        assert_eq!(top[0].calls, 1000);
    }

    #[test]
    fn the_byte_budget_holds_with_many_distinct_statements() {
        const BUDGET: usize = 256 << 10;
        let registry = StatementRegistry::new(100_000, BUDGET, 200, Dialect::Postgres);
        for i in 0..2000 {
            // distinct tables: distinct statements
            let sql = format!("SELECT * FROM t{i} WHERE payload = '{}'", "y".repeat(300));
            registry
                .lookup(&sql)
                .statement
                .record(Duration::from_micros(i), 1, false);
            assert!(registry.memory_bytes() <= BUDGET, "after {i}");
        }
        let kept = registry.len();
        assert!(kept > 10 && kept < 2000, "{kept}");
        // the most expensive statements are the ones kept
        let top = registry.top(1);
        assert_eq!(top[0].statement, "SELECT * FROM t1999 WHERE payload = $1");
    }

    #[test]
    fn long_statements_keep_a_truncated_text() {
        let registry = StatementRegistry::new(10, 1 << 20, 200, Dialect::Postgres);
        let columns: Vec<String> = (0..2000).map(|c| format!("column_{c}")).collect();
        let sql = format!("SELECT {} FROM t", columns.join(", "));
        registry.lookup(&sql);
        let stats = registry.top(1).remove(0);
        assert!(stats.statement.len() <= STATEMENT_TEXT_BYTES + '…'.len_utf8());
        assert!(
            stats.statement.ends_with('…'),
            "{}",
            &stats.statement[4000..]
        );
        assert!(registry.memory_bytes() < sql.len() + 16 * 1024);
        // and the same text still finds its statement
        registry.lookup(&format!("{sql} "));
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn a_hash_collision_keeps_two_statements_apart() {
        let mut registry = StatementRegistry::new(10, 1 << 20, 200, Dialect::Postgres);
        registry.hash = |_, _| 42; // every text and every statement collides
        let a = registry.lookup("SELECT * FROM accounts WHERE id = 1");
        let b = registry.lookup("SELECT * FROM invoices WHERE id = 1");
        let a_again = registry.lookup("SELECT * FROM accounts WHERE id = 2");
        assert!(!Arc::ptr_eq(&a.statement, &b.statement));
        assert!(Arc::ptr_eq(&a.statement, &a_again.statement));
        assert_ne!(a.statement.id, b.statement.id);
        // the text cache compares texts too: each text gets its own entry back
        assert_eq!(
            &*registry.lookup("SELECT * FROM invoices WHERE id = 1").raw,
            &*b.raw
        );
        assert_eq!(
            &*registry.lookup("SELECT * FROM accounts WHERE id = 1").raw,
            &*a.raw
        );
        a.statement.record(Duration::from_millis(1), 1, false);
        b.statement.record(Duration::from_millis(1), 5, false);
        let accounts = registry.get("SELECT * FROM accounts WHERE id = 7").unwrap();
        let invoices = registry.get("SELECT * FROM invoices WHERE id = 7").unwrap();
        assert_eq!((accounts.calls, accounts.rows), (1, 1));
        assert_eq!((invoices.calls, invoices.rows), (1, 5));
        assert_eq!(registry.len(), 2);
    }
}
