//! The cached reads (`#[cached]` on views of the service's one backend) and the invalidation
//! that writes run.
//!
//! | function | key (`<namespace>:…`) | TTL | tags |
//! |---|---|---|---|
//! | [`get_scan`] | `scan:<id>` | 10 min (a miss: 30 s) | `scan:<id>`, `target:<target>` |
//! | [`scan_summary`] | `summary:<id>:by_severity` | 10 min (a miss: 30 s) | `scan:<id>` |
//! | [`list_scans`] | `scans:<target>:<status>:<page>:<page_size>` | 30 s | `scans:list`, `target:<target>` |
//! | [`count_scans`] | `count:<target>:<status>` | 5 min | `scans:list`, `target:<target>` |
//!
//! A scan's target tag is known only once its row is loaded: the body adds it with
//! [`perf_cache::set_result_tags`]. An unknown id is cached as "none" for 30 s
//! ([`perf_cache::set_result_ttl`]); creating a scan invalidates its id's entries, so the new
//! row is never hidden behind a cached miss.

use std::time::Duration;

use perf_cache::{Backend, Pattern, cached, set_result_tags, set_result_ttl};

use crate::db::{Db, DbError, ListFilter, Scan, Summary};
use crate::json_body::JsonBody;

/// How long "no such scan" is remembered.
pub const MISS_TTL: Duration = Duration::from_secs(30);

/// The tag of every list page and count.
pub const LIST_TAG: &str = "scans:list";

/// The tag of every entry about scan `id`.
#[must_use]
pub fn scan_tag(id: i64) -> String {
    format!("scan:{id}")
}

/// The tag of every entry about `target` (lists filtered by it, its scans). A tag holds at
/// most 128 bytes: a longer target (up to 253 characters) is tagged by a hash of it.
#[must_use]
pub fn target_tag(target: &str) -> String {
    let tag = format!("target:{target}");
    if tag.len() <= perf_cache::MAX_TAG_LEN {
        tag
    } else {
        // FNV-1a, 64 bits: stable across processes and versions (every instance must agree).
        let hash = target.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("target:#{hash:016x}")
    }
}

/// Scan `id` as its finished JSON body, cached (see the module docs). The body, not the row,
/// is what is cached: a hit is then a reference-count increment with nothing to serialize
/// (see [`JsonBody`]).
///
/// # Errors
/// [`DbError`] (never cached).
#[cached(cache = crate::cache_setup::views().scan.clone(), skip(db), tags = ["scan:{id}"])]
pub async fn get_scan(db: &Db, id: i64) -> Result<Option<JsonBody>, DbError> {
    let Some(scan) = db.get_scan(id).await? else {
        set_result_ttl(MISS_TTL);
        return Ok(None);
    };
    set_result_tags([target_tag(&scan.target)]);
    JsonBody::to_json(&scan)
        .map(Some)
        .map_err(|e| DbError::Internal(format!("cannot serialize scan {id}: {e}")))
}

/// Vulnerability counts of scan `id`, cached.
///
/// # Errors
/// [`DbError`] (never cached).
#[cached(
    cache = crate::cache_setup::views().summary.clone(),
    key = "{id}:by_severity",
    tags = ["scan:{id}"]
)]
pub async fn scan_summary(db: &Db, id: i64) -> Result<Option<Summary>, DbError> {
    let summary = db.summary(id).await?;
    if summary.is_none() {
        set_result_ttl(MISS_TTL);
    }
    Ok(summary)
}

/// One page of the list, cached briefly.
///
/// # Errors
/// [`DbError`] (never cached).
#[cached(cache = crate::cache_setup::views().list.clone(), skip(db), tags = ["scans:list"])]
pub async fn list_scans(
    db: &Db,
    target: Option<&str>,
    status: Option<&str>,
    page: u64,
    page_size: u64,
) -> Result<Vec<Scan>, DbError> {
    if let Some(t) = target {
        set_result_tags([target_tag(t)]);
    }
    let (limit, offset) = limit_offset(page, page_size);
    db.list_scans(ListFilter { target, status }, limit, offset)
        .await
}

/// The number of scans matching the filters, cached apart from the pages (seed 001).
///
/// # Errors
/// [`DbError`] (never cached).
#[cached(cache = crate::cache_setup::views().count.clone(), skip(db), tags = ["scans:list"])]
pub async fn count_scans(
    db: &Db,
    target: Option<&str>,
    status: Option<&str>,
) -> Result<i64, DbError> {
    if let Some(t) = target {
        set_result_tags([target_tag(t)]);
    }
    db.count_scans(ListFilter { target, status }).await
}

/// `LIMIT` and `OFFSET` of a page (1-based), saturating: a page far past the end is an empty
/// page, never an overflow.
#[must_use]
pub fn limit_offset(page: u64, page_size: u64) -> (i64, i64) {
    let offset = page.saturating_sub(1).saturating_mul(page_size);
    (
        i64::try_from(page_size).unwrap_or(i64::MAX),
        i64::try_from(offset).unwrap_or(i64::MAX),
    )
}

/// After a new scan: every list page and count (they may now hold it; `scans:list` covers the
/// target-filtered ones too) and any cached "no such scan" for its id, in every tier and
/// (through the bus) every instance. Not the target's tag: that would also drop every cached
/// scan of the same target, which a new scan does not change (under the seeds' scenario, one
/// request in six is a create, and popular targets lost their cached scans each time).
pub async fn after_insert(backend: &Backend, scan: &Scan) {
    let id = scan.id;
    let (list, miss, summary_miss) = tokio::join!(
        backend.invalidate_tag(LIST_TAG),
        invalidate_get_scan(&id),
        invalidate_scan_summary(&id),
    );
    report("insert", [list.ok(), Some(miss), Some(summary_miss)]);
}

/// After an update of scan `old` into `new`: by tag, the scan's entries (`scan:<id>`), both
/// targets' entries and every list; by pattern (the seeds' `invalidate_scan` idiom), every
/// summary entry of the scan (`summary:<id>:*`).
pub async fn after_update(backend: &Backend, old: &Scan, new: &Scan) {
    let summaries = Pattern::new().lit("summary").lit(new.id).any();
    let tags = [
        scan_tag(new.id),
        target_tag(&old.target),
        target_tag(&new.target),
    ];
    let (scan, old_target, new_target, list, pattern) = tokio::join!(
        backend.invalidate_tag(&tags[0]),
        backend.invalidate_tag(&tags[1]),
        backend.invalidate_tag(&tags[2]),
        backend.invalidate_tag(LIST_TAG),
        backend.invalidate_pattern(&summaries),
    );
    report(
        "update",
        [
            scan.ok(),
            old_target.ok(),
            new_target.ok(),
            list.ok(),
            Some(pattern),
        ],
    );
}

/// Logs an invalidation that did not reach every tier (perf-cache keeps and replays it; until
/// then the instance reads around Redis).
fn report<const N: usize>(what: &str, results: [Option<perf_cache::Invalidation>; N]) {
    let incomplete = results
        .iter()
        .filter(|r| {
            !r.as_ref()
                .is_some_and(perf_cache::Invalidation::is_complete)
        })
        .count();
    if incomplete > 0 {
        tracing::warn!(
            what,
            incomplete,
            "cache invalidation incomplete (Redis unreachable?); it is replayed when Redis is back"
        );
    }
}
