//! L3: a local file in [redb](https://docs.rs/redb), a pure-Rust, ACID, single-file embedded
//! key-value store. Every call runs on tokio's blocking pool so the async threads never wait on
//! the disk.
//!
//! Two tables: the rows (`key → (expiry, envelope bytes)`) and an expiry index
//! (`(expiry, key) → ()`, sorted by expiry). The index makes both kinds of housekeeping cheap
//! and bounded:
//!
//! - **Expired rows** are purged incrementally: every write also removes up to
//!   [`WRITE_PURGE_BATCH`] expired rows in its own transaction, and `purge_expired` removes them
//!   in transactions of at most [`PURGE_BATCH`] rows, so no single write transaction walks the
//!   whole table (readers never wait: redb is MVCC; a writer waits for one batch at most).
//! - **Size bound**: the file holds at most `max_entries` rows; a write that goes over it evicts
//!   the rows that expire soonest (for rows written with one TTL: the oldest).
//!
//! Expiry is the tier's own field (Unix ms), set from the TTL each write is given, so the tier
//! never parses the envelope.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable as _;
use futures::FutureExt;
use futures::future::BoxFuture;
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
    TableError,
};

use crate::glob::Glob;
use crate::tiers::{Tier, TierError, TierResult};

/// `key → (expiry in Unix ms, envelope bytes)`.
const ROWS: TableDefinition<'_, &[u8], (u64, &[u8])> = TableDefinition::new("perf_cache_rows");
/// `(expiry in Unix ms, key) → ()`: the rows in expiry order.
const BY_EXPIRY: TableDefinition<'_, (u64, &[u8]), ()> =
    TableDefinition::new("perf_cache_by_expiry");
/// The table of earlier versions (no expiry index); dropped on open, it is only a cache.
const LEGACY: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("perf_cache");

/// Expired rows removed by each write, in the write's own transaction.
pub(crate) const WRITE_PURGE_BATCH: usize = 32;
/// Expired rows removed per transaction by `purge_expired`.
pub(crate) const PURGE_BATCH: usize = 1_024;
/// Rows examined per write transaction by pattern invalidation (`delete_matching`).
pub(crate) const MATCH_BATCH: usize = 1_024;
/// Default bound on the number of rows in the file.
pub(crate) const DEFAULT_MAX_ENTRIES: u64 = 100_000;

pub(crate) struct DiskTier {
    db: Arc<Database>,
    path: PathBuf,
    max_entries: u64,
}

impl std::fmt::Debug for DiskTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskTier")
            .field("path", &self.path)
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

fn failed(e: impl std::fmt::Display) -> TierError {
    TierError::Failed(e.to_string())
}

type Rows<'t> = Table<'t, &'static [u8], (u64, &'static [u8])>;
type ByExpiry<'t> = Table<'t, (u64, &'static [u8]), ()>;

/// Removes `key`'s row and its index entry; whether there was one.
fn remove_row(rows: &mut Rows<'_>, by_expiry: &mut ByExpiry<'_>, key: &[u8]) -> redb::Result<bool> {
    let old = rows.remove(key)?.map(|g| g.value().0);
    if let Some(expiry) = old {
        by_expiry.remove((expiry, key))?;
    }
    Ok(old.is_some())
}

/// Removes up to `limit` rows that expired at or before `now_ms`; how many.
fn purge_batch(
    rows: &mut Rows<'_>,
    by_expiry: &mut ByExpiry<'_>,
    now_ms: u64,
    limit: usize,
) -> redb::Result<usize> {
    let end = (now_ms.saturating_add(1), &[][..]);
    let expired = oldest(by_expiry, ..end, limit, None)?;
    for (expiry, key) in &expired {
        rows.remove(key.as_slice())?;
        by_expiry.remove((*expiry, key.as_slice()))?;
    }
    Ok(expired.len())
}

/// Up to `limit` index entries in `range`, soonest expiry first, skipping `except`.
fn oldest<'a>(
    by_expiry: &ByExpiry<'_>,
    range: impl std::ops::RangeBounds<(u64, &'a [u8])> + 'a,
    limit: usize,
    except: Option<&[u8]>,
) -> redb::Result<Vec<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in by_expiry.range(range)? {
        if out.len() >= limit {
            break;
        }
        let (k, _) = entry?;
        let (expiry, key) = k.value();
        if except != Some(key) {
            out.push((expiry, key.to_vec()));
        }
    }
    Ok(out)
}

/// The pause between two attempts of [`DiskTier::open`] on a file this process still holds
/// open, and how many it makes after the first: about 2 s in all.
const REOPEN_STEP: Duration = Duration::from_millis(10);
const REOPEN_ATTEMPTS: usize = 200;

/// Opens or creates the file and its tables; the error's text, and whether the file is still
/// open in this process.
fn open_file(path: PathBuf) -> Result<Database, (String, bool)> {
    let fail = |e: &dyn std::fmt::Display| (e.to_string(), false);
    let db = Database::create(path).map_err(|e| {
        let already_open = matches!(e, redb::DatabaseError::DatabaseAlreadyOpen);
        (e.to_string(), already_open)
    })?;
    let txn = db.begin_write().map_err(|e| fail(&e))?;
    txn.delete_table(LEGACY).map_err(|e| fail(&e))?;
    txn.open_table(ROWS).map_err(|e| fail(&e))?;
    txn.open_table(BY_EXPIRY).map_err(|e| fail(&e))?;
    txn.commit().map_err(|e| fail(&e))?;
    Ok(db)
}

impl DiskTier {
    /// Opens (or creates) the file; a file of an earlier version loses its rows (it is a cache).
    ///
    /// A file this process still holds open is waited for, up to about 2 s: the last
    /// handle of a dropped cache may still be with a background task (a metrics tick, a
    /// refresh, a disk write in flight) for a moment, and reopening the same path right after
    /// the drop must not fail for that. A file held longer is a second live cache on the same
    /// path: an error.
    pub(crate) async fn open(path: &Path, max_entries: u64) -> crate::Result<Self> {
        let attempt = || {
            let owned = path.to_path_buf();
            async move {
                tokio::task::spawn_blocking(move || open_file(owned))
                    .await
                    .map_err(|e| (e.to_string(), false))
                    .and_then(|r| r)
            }
        };
        let waits = backon::ConstantBuilder::default()
            .with_delay(REOPEN_STEP)
            .with_max_times(REOPEN_ATTEMPTS);
        let db = attempt
            .retry(waits)
            .when(|(_, already_open)| *already_open)
            .await
            .map_err(|(message, _)| crate::Error::Disk {
                path: path.display().to_string(),
                message,
            })?;
        Ok(Self {
            db: Arc::new(db),
            path: path.to_path_buf(),
            max_entries,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, TierError> + Send + 'static,
    ) -> TierResult<T> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(failed)?
    }

    /// Runs `f` on both tables in one write transaction and commits it.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Rows<'_>, &mut ByExpiry<'_>) -> redb::Result<T> + Send + 'static,
    ) -> TierResult<T> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(failed)?;
            let out = {
                let mut rows = txn.open_table(ROWS).map_err(failed)?;
                let mut by_expiry = txn.open_table(BY_EXPIRY).map_err(failed)?;
                f(&mut rows, &mut by_expiry).map_err(failed)?
            };
            txn.commit().map_err(failed)?;
            Ok(out)
        })
        .await
    }

    /// The stored bytes under `key`, if any and not expired.
    pub(crate) async fn get(&self, key: &[u8]) -> TierResult<Option<Vec<u8>>> {
        let key = key.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(failed)?;
            let table = match txn.open_table(ROWS) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(failed(e)),
            };
            let now = crate::clock::now_unix_ms();
            Ok(table.get(key.as_slice()).map_err(failed)?.and_then(|g| {
                let (expiry, bytes) = g.value();
                (expiry > now).then(|| bytes.to_vec())
            }))
        })
        .await
    }
}

/// Keys of `namespace` are `namespace:` followed by anything; `;` is the byte after `:`.
fn namespace_range(namespace: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = namespace.as_bytes().to_vec();
    let mut end = start.clone();
    start.push(b':');
    end.push(b':' + 1);
    (start, end)
}

/// The smallest key greater than every key starting with `prefix` (`None`: no bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Examines up to [`MATCH_BATCH`] rows of `range` and removes those `glob` matches: how many it
/// removed, and the last key examined when the batch was full (where the next batch starts).
fn delete_matching_batch(
    rows: &mut Rows<'_>,
    by_expiry: &mut ByExpiry<'_>,
    glob: &Glob,
    range: (Bound<&[u8]>, Bound<&[u8]>),
) -> redb::Result<(u64, Option<Vec<u8>>)> {
    let mut doomed = Vec::new();
    let mut examined = 0;
    let mut last = None;
    for entry in rows.range::<&[u8]>(range)? {
        let (k, v) = entry?;
        let key = k.value();
        if glob.is_match(key) {
            doomed.push((v.value().0, key.to_vec()));
        }
        examined += 1;
        if examined == MATCH_BATCH {
            last = Some(key.to_vec());
            break;
        }
    }
    for (expiry, key) in &doomed {
        rows.remove(key.as_slice())?;
        by_expiry.remove((*expiry, key.as_slice()))?;
    }
    Ok((doomed.len() as u64, last))
}

impl Tier for DiskTier {
    fn name(&self) -> &'static str {
        "l3"
    }

    fn set<'a>(
        &'a self,
        key: &'a [u8],
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, TierResult<()>> {
        let key = key.to_vec();
        let max_entries = self.max_entries;
        self.write(move |rows, by_expiry| {
            let now = crate::clock::now_unix_ms();
            let expiry = now.saturating_add(crate::clock::duration_ms(ttl));
            let old = rows
                .insert(key.as_slice(), (expiry, value.as_slice()))?
                .map(|g| g.value().0);
            if let Some(old) = old {
                by_expiry.remove((old, key.as_slice()))?;
            }
            by_expiry.insert((expiry, key.as_slice()), ())?;
            purge_batch(rows, by_expiry, now, WRITE_PURGE_BATCH)?;
            let over = rows.len()?.saturating_sub(max_entries);
            if over > 0 {
                let limit = usize::try_from(over).unwrap_or(usize::MAX);
                for (expiry, victim) in oldest(by_expiry, .., limit, Some(&key))? {
                    rows.remove(victim.as_slice())?;
                    by_expiry.remove((expiry, victim.as_slice()))?;
                }
            }
            Ok(())
        })
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, TierResult<()>> {
        let key = key.to_vec();
        self.write(move |rows, by_expiry| remove_row(rows, by_expiry, &key).map(drop))
            .boxed()
    }

    fn clear<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, TierResult<()>> {
        let (start, end) = namespace_range(namespace);
        self.write(move |rows, by_expiry| {
            let mut gone = Vec::new();
            for entry in rows.extract_from_if(start.as_slice()..end.as_slice(), |_, _| true)? {
                let (k, v) = entry?;
                gone.push((v.value().0, k.value().to_vec()));
            }
            for (expiry, key) in gone {
                by_expiry.remove((expiry, key.as_slice()))?;
            }
            Ok(())
        })
        .boxed()
    }

    fn delete_matching<'a>(&'a self, pattern: &'a [u8]) -> BoxFuture<'a, TierResult<u64>> {
        async move {
            let glob = Arc::new(Glob::new(pattern));
            // Only keys starting with the pattern's literal head can match: scan that range,
            // one bounded write transaction per batch, so no transaction walks the whole file.
            let start = glob.literal_prefix();
            let end = prefix_end(&start);
            let mut after: Option<Vec<u8>> = None;
            let mut removed = 0;
            loop {
                let (glob, start, end, from) =
                    (Arc::clone(&glob), start.clone(), end.clone(), after.take());
                let (n, last) = self
                    .write(move |rows, by_expiry| {
                        let low = match &from {
                            Some(last) => Bound::Excluded(last.as_slice()),
                            None => Bound::Included(start.as_slice()),
                        };
                        let high = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                        delete_matching_batch(rows, by_expiry, &glob, (low, high))
                    })
                    .await?;
                removed += n;
                match last {
                    Some(last) => after = Some(last),
                    None => return Ok(removed),
                }
            }
        }
        .boxed()
    }

    fn delete_keys<'a>(&'a self, keys: &'a [Vec<u8>]) -> BoxFuture<'a, TierResult<u64>> {
        let keys = keys.to_vec();
        self.write(move |rows, by_expiry| {
            let mut removed = 0;
            for key in &keys {
                removed += u64::from(remove_row(rows, by_expiry, key)?);
            }
            Ok(removed)
        })
        .boxed()
    }

    fn purge_expired(&self) -> BoxFuture<'_, TierResult<()>> {
        async move {
            let now = crate::clock::now_unix_ms();
            // One bounded transaction per batch, until a batch comes back short.
            while self
                .write(move |rows, by_expiry| purge_batch(rows, by_expiry, now, PURGE_BATCH))
                .await?
                == PURGE_BATCH
            {}
            Ok(())
        }
        .boxed()
    }
}
