//! L3: a local file in [redb](https://docs.rs/redb), a pure-Rust, ACID, single-file embedded
//! key-value store. Every call runs on tokio's blocking pool so the async threads never wait on
//! the disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use redb::{Database, ReadableDatabase, TableDefinition, TableError};

use crate::tiers::{Tier, TierError, TierResult};

const TABLE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("perf_cache");

pub(crate) struct DiskTier {
    db: Arc<Database>,
    path: PathBuf,
}

impl std::fmt::Debug for DiskTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskTier")
            .field("path", &self.path)
            .finish()
    }
}

fn failed(e: impl std::fmt::Display) -> TierError {
    TierError::Failed(e.to_string())
}

impl DiskTier {
    pub(crate) async fn open(path: &Path) -> crate::Result<Self> {
        let owned = path.to_path_buf();
        let db = tokio::task::spawn_blocking(move || Database::create(owned))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|message| crate::Error::Disk {
                path: path.display().to_string(),
                message,
            })?;
        Ok(Self {
            db: Arc::new(db),
            path: path.to_path_buf(),
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

    /// The stored bytes under `key`, if any.
    pub(crate) async fn get(&self, key: &[u8]) -> TierResult<Option<Vec<u8>>> {
        let key = key.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(failed)?;
            let table = match txn.open_table(TABLE) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(failed(e)),
            };
            Ok(table
                .get(key.as_slice())
                .map_err(failed)?
                .map(|v| v.value().to_vec()))
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

impl Tier for DiskTier {
    fn name(&self) -> &'static str {
        "l3"
    }

    fn set<'a>(
        &'a self,
        key: &'a [u8],
        value: Vec<u8>,
        _ttl: Duration,
    ) -> BoxFuture<'a, TierResult<()>> {
        // The expiry travels in the envelope; reads and `purge_expired` honour it.
        let key = key.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(failed)?;
            {
                let mut table = txn.open_table(TABLE).map_err(failed)?;
                table
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(failed)?;
            }
            txn.commit().map_err(failed)
        })
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, TierResult<()>> {
        let key = key.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(failed)?;
            {
                let mut table = txn.open_table(TABLE).map_err(failed)?;
                table.remove(key.as_slice()).map_err(failed)?;
            }
            txn.commit().map_err(failed)
        })
        .boxed()
    }

    fn clear<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, TierResult<()>> {
        let (start, end) = namespace_range(namespace);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(failed)?;
            {
                let mut table = txn.open_table(TABLE).map_err(failed)?;
                table
                    .retain_in(start.as_slice()..end.as_slice(), |_, _| false)
                    .map_err(failed)?;
            }
            txn.commit().map_err(failed)
        })
        .boxed()
    }

    fn purge_expired(&self) -> BoxFuture<'_, TierResult<()>> {
        self.blocking(move |db| {
            let now = crate::clock::now_unix_ms();
            let txn = db.begin_write().map_err(failed)?;
            {
                let mut table = txn.open_table(TABLE).map_err(failed)?;
                table
                    .retain(|_, v| !crate::envelope::envelope_expired(v, now))
                    .map_err(failed)?;
            }
            txn.commit().map_err(failed)
        })
        .boxed()
    }
}
