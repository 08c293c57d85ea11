//! Realistic generated data (`--seed N`; 10,000 scans on a first start).
//!
//! - **Targets**: 300 — 200 host names (`api.acme-corp.com`, `vpn3.globex.io`, …) and 100
//!   private IPv4 addresses — drawn with a skew (a few targets get most scans, as in real
//!   estates).
//! - **Scans**: statuses mostly `completed` (80 %, then running 8 %, failed 7 %, pending 5 %),
//!   the five scan types, timestamps spread over the 90 days before the seeding, `created_by`
//!   `seed`.
//! - **Vulnerabilities**: 0 to 8 per scan (most scans have a few), CVE ids `CVE-20xx-nnnnn`
//!   (one in ten without a CVE), severities skewed to medium and low.
//! - **Results**: 1 to 4 per scan, one per tool (nmap, nikto, sslyze, ZAP, nuclei, masscan).
//!
//! Rows go in as multi-row `INSERT`s of 500 scans (with their vulnerabilities and results) per
//! transaction, cut and run by [`perf_async::process_chunks`] (one chunk at a time on SQLite,
//! which has one writer; two on PostgreSQL): 10,000 scans take a few seconds on either back
//! end. The generator is a fixed-seed SplitMix64 written here, not `rand`: the same seed gives
//! the same data on every platform and every version of this crate's dependencies (rand does
//! not promise a stable stream across versions). Only the timestamps move, anchored to the
//! time of seeding.
//!
//! Seeding happens only when the `scans` table is empty (`--seed N` or the default 10,000),
//! so restarting a service, or starting a second instance on the same database, never adds
//! rows. On PostgreSQL concurrent starts are serialised by an advisory lock per schema.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use crate::config::Config;
use crate::db::{Db, DbError, now_seconds};
use crate::on_pool;
use crate::scans::validate::{SCAN_TYPES, SEVERITIES};
use crate::serve::StartError;

/// Scans inserted on a first start when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 10_000;
/// Scans per multi-row `INSERT` transaction.
pub const CHUNK: usize = 500;
/// The generator's seed.
pub const RNG_SEED: u64 = 0x5ca1_ab1e_2026_0013;

/// Seeds the database as `config.seed` asks: `N` scans (default [`DEFAULT_SEED`]) when the
/// `scans` table is empty, nothing otherwise.
///
/// # Errors
/// [`StartError::Database`].
pub async fn seed_at_start(db: &Db, config: &Config) -> Result<(), StartError> {
    let n = config.seed.unwrap_or(DEFAULT_SEED);
    let started = std::time::Instant::now();
    match seed(db, n).await {
        Ok(0) => Ok(()),
        Ok(inserted) => {
            tracing::info!(
                scans = inserted,
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "seeded"
            );
            Ok(())
        }
        Err(e) => Err(StartError::Database(format!("seeding: {e:?}"))),
    }
}

/// Inserts `n` generated scans (ids `1..=n`) if the `scans` table is empty; returns how many
/// were inserted (0 when the table already held rows).
///
/// # Errors
/// [`DbError`].
pub async fn seed(db: &Db, n: u64) -> Result<u64, DbError> {
    if n == 0 {
        return Ok(0);
    }
    match db {
        Db::Postgres(pool) => {
            // Instances starting together on one schema: one seeds, the others then find rows.
            let mut lock = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock(hashtext(current_schema() || '.scan_seed'))")
                .execute(&mut *lock)
                .await?;
            let result = seed_if_empty(db, n).await;
            let unlock = sqlx::query(
                "SELECT pg_advisory_unlock(hashtext(current_schema() || '.scan_seed'))",
            )
            .execute(&mut *lock)
            .await;
            let inserted = result?;
            unlock?;
            Ok(inserted)
        }
        Db::Sqlite(_) => seed_if_empty(db, n).await,
    }
}

async fn seed_if_empty(db: &Db, n: u64) -> Result<u64, DbError> {
    let existing: i64 = on_pool!(db, |pool, _DB| sqlx::query_scalar(
        "SELECT COUNT(*) FROM scans"
    )
    .fetch_one(pool)
    .await?);
    if existing > 0 {
        tracing::info!(existing, "scans table not empty: not seeding");
        return Ok(0);
    }
    let anchor = now_seconds();
    let n_i64 = i64::try_from(n).unwrap_or(i64::MAX);
    let scans = (1..=n_i64).map(move |id| generate(id, anchor));
    let concurrency = match db {
        Db::Sqlite(_) => 1,
        Db::Postgres(_) => 2,
    };
    let results =
        perf_async::process_chunks(scans, CHUNK, concurrency, |chunk| insert_chunk(db, chunk))
            .await
            .map_err(|e| DbError::Internal(e.to_string()))?;
    let mut inserted = 0_u64;
    for r in results {
        inserted += r?;
    }
    if let Db::Postgres(pool) = db {
        // Explicit ids do not advance the BIGSERIAL sequence: move it past them.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('scans', 'id'), (SELECT MAX(id) FROM scans))",
        )
        .execute(pool)
        .await?;
    }
    Ok(inserted)
}

/// One generated scan with its children.
#[derive(Debug)]
struct SeedScan {
    id: i64,
    target: String,
    scan_type: &'static str,
    status: &'static str,
    timestamp: DateTime<Utc>,
    vulns: Vec<SeedVuln>,
    results: Vec<SeedResult>,
}

#[derive(Debug)]
struct SeedVuln {
    cve_id: Option<String>,
    severity: &'static str,
    title: &'static str,
}

#[derive(Debug)]
struct SeedResult {
    tool: &'static str,
    severity: &'static str,
    output: String,
}

/// Inserts one chunk in one transaction: its scans, then their vulnerabilities and results.
async fn insert_chunk(db: &Db, chunk: Vec<SeedScan>) -> Result<u64, DbError> {
    let vulns: Vec<(i64, &SeedVuln)> = chunk
        .iter()
        .flat_map(|s| s.vulns.iter().map(move |v| (s.id, v)))
        .collect();
    let results: Vec<(i64, &SeedResult)> = chunk
        .iter()
        .flat_map(|s| s.results.iter().map(move |r| (s.id, r)))
        .collect();
    on_pool!(db, |pool, DB| {
        let mut tx = pool.begin().await?;
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO scans (id, target, scan_type, status, timestamp, created_by) ",
        );
        q.push_values(&chunk, |mut row, s| {
            row.push_bind(s.id)
                .push_bind(s.target.as_str())
                .push_bind(s.scan_type)
                .push_bind(s.status)
                .push_bind(s.timestamp)
                .push_bind("seed");
        });
        q.build().execute(&mut *tx).await?;
        if !vulns.is_empty() {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO vulnerabilities (scan_id, cve_id, severity, title) ",
            );
            q.push_values(&vulns, |mut row, (scan_id, v)| {
                row.push_bind(*scan_id)
                    .push_bind(v.cve_id.as_deref())
                    .push_bind(v.severity)
                    .push_bind(v.title);
            });
            q.build().execute(&mut *tx).await?;
        }
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO scan_results (scan_id, tool, severity, output) ",
        );
        q.push_values(&results, |mut row, (scan_id, r)| {
            row.push_bind(*scan_id)
                .push_bind(r.tool)
                .push_bind(r.severity)
                .push_bind(r.output.as_str());
        });
        q.build().execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(chunk.len() as u64)
}

/// SplitMix64: tiny, fast, and a stable stream for a given seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is far below anything seeding can show).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `0..len`, as an index.
    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    /// An index into `weights`, drawn in proportion to them.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len().saturating_sub(1)
    }
}

const HOSTS: [&str; 20] = [
    "www", "api", "mail", "vpn", "portal", "shop", "auth", "cdn", "git", "ci", "db", "admin",
    "intranet", "staging", "dev", "status", "docs", "files", "sso", "monitor",
];
const DOMAINS: [&str; 10] = [
    "acme-corp.com",
    "globex.io",
    "initech.net",
    "umbrella.org",
    "hooli.com",
    "stark-industries.com",
    "wayne-enterprises.com",
    "cyberdyne.io",
    "soylent.co",
    "example.org",
];
const TOOLS: [&str; 6] = ["nmap", "nikto", "sslyze", "zap", "nuclei", "masscan"];
const TITLES: [&str; 16] = [
    "SQL injection in login form",
    "Reflected cross-site scripting",
    "Outdated OpenSSL version",
    "TLS 1.0 enabled",
    "Weak cipher suites offered",
    "Self-signed certificate",
    "Directory listing enabled",
    "Missing security headers",
    "Open SSH port with password authentication",
    "Default credentials on admin panel",
    "Server version disclosure",
    "Remote code execution in outdated CMS plugin",
    "Open redirect",
    "Cookie without Secure flag",
    "Exposed .git directory",
    "SMB signing not required",
];

/// The 300 targets: 200 host names, then 100 private IPv4 addresses.
fn target_name(index: usize) -> String {
    if index < 200 {
        let host = HOSTS[index % HOSTS.len()];
        let domain = DOMAINS[(index / HOSTS.len()) % DOMAINS.len()];
        format!("{host}.{domain}")
    } else {
        let k = index - 200;
        format!("10.0.{}.{}", k / 50, 1 + (k % 50) * 5)
    }
}

/// Scan `id`, generated from the fixed seed mixed with the id (so a chunk can be generated
/// alone, in any order).
fn generate(id: i64, anchor: DateTime<Utc>) -> SeedScan {
    let mut rng = Rng::new(RNG_SEED ^ id.unsigned_abs().wrapping_mul(0x9e37_79b9_7f4a_7c15));
    // Skew: the square of a uniform variable favours low indices (the first ~30 targets get
    // about a third of the scans).
    let u = rng.below(1 << 20);
    let target = target_name(usize::try_from((u * u * 300) >> 40).unwrap_or(0).min(299));
    let scan_type = SCAN_TYPES[rng.weighted(&[25, 30, 25, 12, 8])];
    let status = ["pending", "running", "completed", "failed"][rng.weighted(&[5, 8, 80, 7])];
    let age = i64::try_from(rng.below(90 * 24 * 3600)).unwrap_or(0);
    let timestamp = anchor - ChronoDuration::seconds(age);
    let n_vulns = rng.weighted(&[12, 16, 18, 16, 12, 10, 7, 5, 4]);
    let vulns = (0..n_vulns)
        .map(|_| {
            let year = 2015 + rng.below(11);
            let number = 1_000 + rng.below(99_000);
            SeedVuln {
                cve_id: (rng.below(10) != 0).then(|| format!("CVE-{year}-{number:05}")),
                severity: SEVERITIES[rng.weighted(&[5, 15, 40, 30, 10])],
                title: TITLES[rng.index(TITLES.len())],
            }
        })
        .collect();
    let n_results = 1 + rng.index(4);
    let first_tool = rng.index(TOOLS.len());
    let results = (0..n_results)
        .map(|k| {
            let tool = TOOLS[(first_tool + k) % TOOLS.len()];
            SeedResult {
                tool,
                severity: SEVERITIES[rng.weighted(&[3, 10, 30, 32, 25])],
                output: format!(
                    "{tool} finished against {target}: {} findings",
                    rng.below(20)
                ),
            }
        })
        .collect();
    SeedScan {
        id,
        target,
        scan_type,
        status,
        timestamp,
        vulns,
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_in_range() {
        let anchor = now_seconds();
        let a = generate(42, anchor);
        let b = generate(42, anchor);
        assert_eq!(a.target, b.target);
        assert_eq!(a.vulns.len(), b.vulns.len());
        let mut targets = std::collections::HashMap::new();
        for id in 1..=10_000 {
            let s = generate(id, anchor);
            assert!(s.vulns.len() <= 8);
            assert!((1..=4).contains(&s.results.len()));
            assert!(
                crate::scans::validate::target(&s.target).is_ok(),
                "{}",
                s.target
            );
            assert!(s.timestamp <= anchor && s.timestamp > anchor - ChronoDuration::days(90));
            for v in &s.vulns {
                if let Some(cve) = &v.cve_id {
                    assert!(cve.starts_with("CVE-20") && cve.len() == 14, "{cve}");
                }
            }
            *targets.entry(s.target).or_insert(0_u32) += 1;
        }
        assert!(targets.len() > 200, "only {} targets", targets.len());
        let top = targets.values().copied().max().unwrap_or(0);
        assert!(top > 100, "no skew: the busiest target has {top} scans");
    }
}
