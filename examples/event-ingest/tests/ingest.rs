//! End-to-end tests of the `event-ingest` binary against a real PostgreSQL (a private schema per
//! test, dropped at the end) and SQLite temp files: exact row counts from the database, bad lines
//! with their line numbers, resumption after `--max-lines` and after SIGINT, `--strict`,
//! `--compare`. No timing is asserted.
//!
//! PostgreSQL: `DATABASE_URL` when it is a `postgres://` URL, else
//! `postgres://postgres@127.0.0.1:5432/test`. A missing server fails the tests with its name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_event-ingest");

fn pg_base_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Good lines among `first..=last` of the generator when every `bad_every`-th line is bad.
fn good_lines(first: u64, last: u64, bad_every: u64) -> u64 {
    (first..=last).filter(|n| n % bad_every != 0).count() as u64
}

/// A private PostgreSQL schema, dropped on drop.
struct Schema {
    name: String,
}

impl Schema {
    async fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "test_ingest_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(&pg_base_url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {}: {e} (start it or set DATABASE_URL)",
                    pg_base_url()
                )
            });
        for statement in [
            format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
            format!("CREATE SCHEMA {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        Self { name }
    }

    /// The URL whose connections use this schema.
    fn url(&self) -> String {
        let base = pg_base_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options=-c%20search_path%3D{}", self.name)
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = sqlx::PgConnection::connect(&self.url()).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    async fn count(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM events").await
    }

    async fn distinct_messages(&self) -> i64 {
        self.scalar("SELECT COUNT(DISTINCT message) FROM events")
            .await
    }

    async fn fingerprint(&self) -> String {
        let mut conn = sqlx::PgConnection::connect(&self.url()).await.unwrap();
        sqlx::query_scalar(
            "SELECT md5(string_agg(ts::text || organization_id || source_type || host(src_ip) \
             || host(dst_ip) || severity || message, '|' ORDER BY ts)) FROM events",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_base_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {name} CASCADE"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

async fn sqlite_count(path: &Path, table: &str) -> Option<i64> {
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&mut conn)
        .await
        .ok()
}

/// Runs the binary with `args` against `url`.
fn run(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--quiet")
        .env("DATABASE_URL", url)
        .output()
        .expect("the event-ingest binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes `count` generated lines to a JSON-lines file in `dir`.
fn generated_file(dir: &Path, count: u64, bad_every: u64) -> PathBuf {
    let path = dir.join("events.jsonl");
    let output = Command::new(BIN)
        .args([
            "--generate",
            &count.to_string(),
            "--bad-every",
            &bad_every.to_string(),
        ])
        .arg("--write-file")
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    path
}

/// The `K` of "--skip-lines K" in the output.
fn resume_point(text: &str) -> u64 {
    let at = text
        .find("--skip-lines ")
        .unwrap_or_else(|| panic!("no resume hint in:\n{text}"));
    text[at + "--skip-lines ".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no line number after --skip-lines in:\n{text}"))
}

/// Checks the bad-line report: the total and the first 20 line numbers and kinds.
fn assert_bad_lines_reported(text: &str, total: u64, bad_every: u64) {
    assert!(text.contains(&format!("bad lines: {total} ")), "{text}");
    let listed: Vec<&str> = text.lines().filter(|l| l.starts_with("  line ")).collect();
    assert_eq!(listed.len(), 20, "{text}");
    for (i, line) in listed.iter().enumerate() {
        let n = (i as u64 + 1) * bad_every;
        let kind = match (n / bad_every) % 4 {
            0 => "invalid JSON",
            1 => "missing field `src_ip`",
            2 => "bad timestamp",
            _ => "invalid IP: `src_ip`",
        };
        assert!(line.starts_with(&format!("  line {n}: {kind}")), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_gets_every_good_line_and_the_bad_ones_are_reported_by_number() {
    let schema = Schema::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = generated_file(dir.path(), 12_000, 97);
    let output = run(
        &schema.url(),
        &[
            "--file",
            file.to_str().unwrap(),
            "--chunk-size",
            "700",
            "--concurrency",
            "3",
        ],
    );
    let text = stdout(&output);
    assert!(output.status.success(), "{output:?}");
    let good = good_lines(1, 12_000, 97);
    assert_eq!(schema.count().await, good as i64);
    assert_bad_lines_reported(&text, 12_000 - good, 97);
    assert!(
        text.contains(&format!("ingested {good} rows in ")),
        "{text}"
    );
    assert!(text.contains(" events/s "), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_gets_every_good_line_and_the_bad_ones_are_reported_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated_file(dir.path(), 12_000, 97);
    let db = dir.path().join("events.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let output = run(
        &url,
        &["--file", file.to_str().unwrap(), "--chunk-size", "700"],
    );
    assert!(output.status.success(), "{output:?}");
    let good = good_lines(1, 12_000, 97);
    assert_eq!(sqlite_count(&db, "events").await, Some(good as i64));
    assert_bad_lines_reported(&stdout(&output), 12_000 - good, 97);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_three_postgres_methods_store_the_same_rows() {
    let mut fingerprints = Vec::new();
    for method in ["copy-binary", "copy-text", "unnest"] {
        let schema = Schema::new().await;
        let output = run(
            &schema.url(),
            &[
                "--generate",
                "3000",
                "--bad-every",
                "50",
                "--method",
                method,
            ],
        );
        assert!(output.status.success(), "{method}: {output:?}");
        assert_eq!(
            schema.count().await,
            good_lines(1, 3000, 50) as i64,
            "{method}"
        );
        fingerprints.push(schema.fingerprint().await);
    }
    assert_eq!(
        fingerprints[0], fingerprints[1],
        "copy-text differs from copy-binary"
    );
    assert_eq!(
        fingerprints[0], fingerprints[2],
        "unnest differs from copy-binary"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resuming_after_max_lines_loses_and_duplicates_nothing() {
    let schema = Schema::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = generated_file(dir.path(), 10_000, 33);
    let file = file.to_str().unwrap();
    let first = run(
        &schema.url(),
        &["--file", file, "--chunk-size", "500", "--max-lines", "4321"],
    );
    assert!(first.status.success(), "{first:?}");
    assert_eq!(resume_point(&stdout(&first)), 4321);
    assert_eq!(schema.count().await, good_lines(1, 4321, 33) as i64);

    let second = run(
        &schema.url(),
        &[
            "--file",
            file,
            "--chunk-size",
            "500",
            "--skip-lines",
            "4321",
        ],
    );
    assert!(second.status.success(), "{second:?}");
    assert!(!stdout(&second).contains("--skip-lines"), "{second:?}");
    let good = good_lines(1, 10_000, 33) as i64;
    assert_eq!(schema.count().await, good);
    assert_eq!(
        schema.distinct_messages().await,
        good,
        "a row was inserted twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_commits_the_chunks_sent_and_the_resume_point_is_exact() {
    const TOTAL: u64 = 40_000;
    const FED: usize = 25_000;
    let schema = Schema::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = generated_file(dir.path(), TOTAL, 41);
    let text = std::fs::read_to_string(&file).unwrap();

    // Standard input, fed only in part and kept open: the run cannot end before the signal.
    let mut child = Command::new(BIN)
        .args([
            "--file",
            "-",
            "--chunk-size",
            "1000",
            "--concurrency",
            "3",
            "--quiet",
        ])
        .env("DATABASE_URL", schema.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let fed: String = text.lines().take(FED).flat_map(|l| [l, "\n"]).collect();
    let feeder = std::thread::spawn(move || {
        // The child may exit (after the signal) before reading all of it: a broken pipe then.
        let _ = stdin.write_all(fed.as_bytes());
        stdin // kept open until the test ends
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while schema.scalar("SELECT COUNT(*) FROM pg_tables WHERE tablename = 'events' AND schemaname = current_schema()").await == 0
        || schema.count().await == 0
    {
        assert!(Instant::now() < deadline, "no row was committed within 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -INT failed");
    let output = child.wait_with_output().unwrap();
    let _stdin = feeder.join().unwrap();
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    assert!(out.contains("interrupted: "), "{out}");
    let resume = resume_point(&out);
    assert!((1..=FED as u64).contains(&resume), "resume point {resume}");
    assert_eq!(
        schema.count().await,
        good_lines(1, resume, 41) as i64,
        "{out}"
    );

    let second = run(
        &schema.url(),
        &[
            "--file",
            file.to_str().unwrap(),
            "--skip-lines",
            &resume.to_string(),
        ],
    );
    assert!(second.status.success(), "{second:?}");
    let good = good_lines(1, TOTAL, 41) as i64;
    assert_eq!(schema.count().await, good);
    assert_eq!(
        schema.distinct_messages().await,
        good,
        "a row was inserted twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_stops_at_the_first_bad_line_with_only_earlier_rows_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let output = run(
        &url,
        &[
            "--generate",
            "3000",
            "--bad-every",
            "1000",
            "--chunk-size",
            "200",
            "--strict",
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--strict: line 1000: missing field `src_ip`"),
        "{stderr}"
    );
    let resume = resume_point(&stdout(&output));
    assert!(resume < 1000, "resume point {resume} is past the bad line");
    assert_eq!(sqlite_count(&db, "events").await, Some(resume as i64));
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_prints_both_rates_and_their_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let output = run(
        &url,
        &["--generate", "3000", "--compare", "--compare-sample", "300"],
    );
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains("compare: one INSERT per event: 300 rows in "),
        "{text}"
    );
    let ratio: f64 = text
        .split("ratio ")
        .nth(1)
        .and_then(|rest| rest.split('x').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no ratio in:\n{text}"));
    assert!(ratio > 0.0, "{text}");
    assert_eq!(sqlite_count(&db, "events").await, Some(3000));
    assert_eq!(
        sqlite_count(&db, "events_one_by_one").await,
        None,
        "the scratch table was left"
    );
}

#[test]
fn bad_arguments_and_unknown_databases_are_refused_with_a_message() {
    let zero = run(
        "sqlite::memory:",
        &["--generate", "10", "--chunk-size", "0"],
    );
    assert_eq!(zero.status.code(), Some(2), "{zero:?}");
    let mysql = run("mysql://root:hunter2@127.0.0.1/test", &["--generate", "10"]);
    assert_eq!(mysql.status.code(), Some(1), "{mysql:?}");
    let stderr = String::from_utf8_lossy(&mysql.stderr);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password reached the output: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn odd_lines_are_counted_by_number_and_never_stop_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"ts":"2026-11-01T00:00:00Z","organization_id":1,"source_type":"ids","src_ip":"10.0.0.1","dst_ip":"10.0.0.2","severity":"low","message":"m"}"#;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(good.as_bytes()); // line 1: good
    bytes.extend_from_slice(b"\n\n"); // line 2: blank
    bytes.extend_from_slice(good.replace("\"m\"", "\"crlf\"").as_bytes()); // line 3: good, CRLF
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(b"{\"ts\": \"\xff\xfe\"}\n"); // line 4: not UTF-8
    bytes.extend_from_slice(
        good.replace("\"m\"", &format!("\"{}\"", "x".repeat(1 << 20)))
            .as_bytes(),
    ); // line 5: over 1 MiB
    bytes.push(b'\n');
    bytes.extend_from_slice(
        good.replace("\"low\"", "\"low\",\"extra\":[1,2]")
            .as_bytes(),
    ); // line 6: unknown field, good
    bytes.push(b'\n');
    bytes.extend_from_slice(good.replace("\"low\"", "\"urgent\"").as_bytes()); // line 7: bad severity
    // line 8: good, no final newline
    bytes.push(b'\n');
    bytes.extend_from_slice(good.replace("\"m\"", "\"last\"").as_bytes());
    let file = dir.path().join("odd.jsonl");
    std::fs::write(&file, bytes).unwrap();
    let db = dir.path().join("events.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let output = run(
        &url,
        &["--file", file.to_str().unwrap(), "--chunk-size", "3"],
    );
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("bad lines: 3 "), "{text}");
    assert!(text.contains("  line 4: not UTF-8"), "{text}");
    assert!(
        text.contains("  line 5: line longer than 1048576 bytes"),
        "{text}"
    );
    assert!(text.contains("  line 7: bad value: severity"), "{text}");
    assert!(text.contains("blank lines ignored: 1"), "{text}");
    assert!(text.contains("(lines 1..=8, 3 bad)"), "{text}");
    assert_eq!(sqlite_count(&db, "events").await, Some(4));
}
