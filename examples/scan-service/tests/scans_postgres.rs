//! The scan endpoints end to end in the full stack: the real binary on a private PostgreSQL
//! schema and a private Redis namespace (both removed afterwards), two instances sharing them
//! where the test is about coherence.

mod common;
mod scans_support;

use hyper::StatusCode;
use serde_json::json;

use common::{PgSchema, Service};
use scans_support::{RedisNamespace, assert_error, token};

/// An instance on `schema` and `ns` (Redis at `REDIS_URL`), `args` added; waits until ready.
async fn start(schema: &PgSchema, ns: &RedisNamespace, args: &[&str]) -> Service {
    let redis = common::redis_url();
    let svc = Service::start(
        args,
        &[
            ("DATABASE_URL", schema.url.as_str()),
            ("REDIS_URL", redis.as_str()),
            ("CACHE_NAMESPACE", ns.name.as_str()),
        ],
    )
    .await;
    svc.wait_ready().await;
    svc
}

async fn pg(schema: &PgSchema) -> sqlx::PgPool {
    sqlx::PgPool::connect(&schema.url)
        .await
        .expect("PostgreSQL at DATABASE_URL must answer")
}

#[tokio::test]
async fn a_put_on_one_instance_is_seen_by_the_other_on_its_first_read() {
    let schema = PgSchema::create().await;
    let ns = RedisNamespace::new();
    let a = start(&schema, &ns, &["--seed", "200"]).await;
    // B starts on the seeded schema: it must not seed again.
    let b = start(&schema, &ns, &["--seed", "200"]).await;
    let db = pg(&schema).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scans")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 200);

    // Warm scan 9, its summary and its target's list on B (twice: the second read is a hit).
    let before = b.get("/api/scans/9").await.json();
    assert_eq!(b.get("/api/scans/9").await.json(), before);
    let old_target = before["target"].as_str().unwrap().to_owned();
    let old_list = b
        .get(&format!("/api/scans?target={old_target}&page_size=1000"))
        .await
        .json();
    let old_total = old_list["total"].as_i64().unwrap();
    let new_list_before = b.get("/api/scans?target=moved.example.com").await.json();
    assert_eq!(new_list_before["total"], 0);

    let t = token(&a).await;
    let put = a
        .put_json(
            "/api/scans/9",
            &json!({"status": "failed", "target": "moved.example.com"}),
            Some(&t),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    let updated = put.json();
    assert_eq!(updated["status"], "failed");
    assert_eq!(updated["target"], "moved.example.com");
    assert_eq!(updated["timestamp"], before["timestamp"]);

    // B's first reads after the PUT answered: the new values, lists and totals.
    assert_eq!(b.get("/api/scans/9").await.json(), updated);
    let new_list = b.get("/api/scans?target=moved.example.com").await.json();
    assert_eq!(new_list["total"], 1);
    assert_eq!(new_list["scans"][0], updated);
    let old_list = b
        .get(&format!("/api/scans?target={old_target}&page_size=1000"))
        .await
        .json();
    assert_eq!(old_list["total"], old_total - 1);
    assert!(
        old_list["scans"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != 9)
    );
    // And A agrees.
    assert_eq!(a.get("/api/scans/9").await.json(), updated);
}

#[tokio::test]
async fn a_scan_created_on_one_instance_replaces_a_cached_miss_on_the_other() {
    let schema = PgSchema::create().await;
    let ns = RedisNamespace::new();
    let a = start(&schema, &ns, &["--seed", "25"]).await;
    let b = start(&schema, &ns, &["--seed", "0"]).await;
    assert_error(
        &b.get("/api/scans/26").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &b.get("/api/scans/26/summary").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(b.get("/api/scans").await.json()["total"], 25);

    let t = token(&a).await;
    let created = a
        .post_json(
            "/api/scans",
            &json!({"target": "192.168.1.20", "scan_type": "network"}),
            Some(&t),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let scan = created.json();
    assert_eq!(
        scan["id"], 26,
        "the sequence continues after the seeded ids"
    );

    assert_eq!(b.get("/api/scans/26").await.json(), scan);
    assert_eq!(
        b.get("/api/scans/26/summary").await.json(),
        json!({"scan_id": 26, "total": 0, "by_severity":
            {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}})
    );
    let all = b.get("/api/scans").await.json();
    assert_eq!(all["total"], 26);
    assert_eq!(all["scans"][0], scan);
}

#[tokio::test]
async fn reads_are_cached_and_counts_and_summaries_match_the_database() {
    let schema = PgSchema::create().await;
    let ns = RedisNamespace::new();
    let svc = start(&schema, &ns, &["--seed", "300", "--warm-scans", "0"]).await;
    let db = pg(&schema).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scans")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 300);

    // Cached read: a change behind the service's back is not seen.
    let first = svc.get("/api/scans/12").await.json();
    sqlx::query("UPDATE scans SET status = 'failed', target = 'behind.example.com' WHERE id = 12")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(svc.get("/api/scans/12").await.json(), first);

    // Totals per filter against our own COUNT.
    let (target,): (String,) = sqlx::query_as(
        "SELECT target FROM scans GROUP BY target ORDER BY COUNT(*) DESC, target LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    for (query, sql) in [
        (
            "".to_owned(),
            "SELECT COUNT(*) FROM scans WHERE $1::text IS NOT NULL",
        ),
        (
            format!("target={target}"),
            "SELECT COUNT(*) FROM scans WHERE target = $1",
        ),
        (
            "status=running".to_owned(),
            "SELECT COUNT(*) FROM scans WHERE status = 'running' AND $1::text IS NOT NULL",
        ),
        (
            format!("target={target}&status=completed"),
            "SELECT COUNT(*) FROM scans WHERE target = $1 AND status = 'completed'",
        ),
    ] {
        let expected: i64 = sqlx::query_scalar(sql)
            .bind(&target)
            .fetch_one(&db)
            .await
            .unwrap();
        let page = svc
            .get(&format!("/api/scans?{query}&page_size=9"))
            .await
            .json();
        assert_eq!(page["total"], expected, "{query}");
        assert_eq!(page["pages"], (expected + 8) / 9, "{query}");
        let rows = page["scans"].as_array().unwrap();
        assert_eq!(
            i64::try_from(rows.len()).unwrap(),
            expected.min(9),
            "{query}"
        );
    }
    let beyond = svc.get("/api/scans?page=1000&page_size=1000").await.json();
    assert_eq!(beyond["scans"], json!([]));
    assert_eq!(beyond["total"], 300);
    assert_error(
        &svc.get("/api/scans?page_size=1000000000").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_error(
        &svc.get("/api/scans?page_size=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // Summaries against our own GROUP BY.
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT scan_id, severity, COUNT(*) FROM vulnerabilities WHERE scan_id <= 40 \
         GROUP BY scan_id, severity",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    for id in 1..=40_i64 {
        let mut expected = json!({"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0});
        let mut total = 0;
        for (_, severity, n) in rows.iter().filter(|r| r.0 == id) {
            expected[severity.as_str()] = json!(n);
            total += n;
        }
        assert_eq!(
            svc.get(&format!("/api/scans/{id}/summary")).await.json(),
            json!({"scan_id": id, "total": total, "by_severity": expected}),
            "scan {id}"
        );
    }
}

#[tokio::test]
async fn with_the_schema_dropped_warmed_reads_answer_and_the_rest_is_503() {
    let schema = PgSchema::create().await;
    let ns = RedisNamespace::new();
    let svc = start(&schema, &ns, &["--seed", "60", "--warm-scans", "10"]).await;
    let db = pg(&schema).await;
    let warmed: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM scans ORDER BY timestamp DESC, id DESC LIMIT 10")
            .fetch_all(&db)
            .await
            .unwrap();
    let cold: i64 = sqlx::query_scalar(
        "SELECT id FROM scans ORDER BY timestamp DESC, id DESC LIMIT 1 OFFSET 30",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    db.close().await;
    let admin = sqlx::PgPool::connect(&common::database_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA {} CASCADE",
        schema.name
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;

    for id in &warmed {
        let a = svc.get(&format!("/api/scans/{id}")).await;
        assert_eq!(a.status, StatusCode::OK, "warmed scan {id}: {}", a.text());
    }
    assert_error(
        &svc.get(&format!("/api/scans/{cold}")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    assert_error(
        &svc.get("/api/scans?status=pending").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
}

#[tokio::test]
async fn redis_killed_under_a_running_service_reads_keep_answering() {
    let schema = PgSchema::create().await;
    let mut redis = scans_support::PrivateRedis::start();
    let svc = Service::start(
        &["--seed", "80", "--warm-scans", "10"],
        &[
            ("DATABASE_URL", schema.url.as_str()),
            ("REDIS_URL", redis.url.as_str()),
        ],
    )
    .await;
    svc.wait_ready().await;
    let db = pg(&schema).await;
    let warmed: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM scans ORDER BY timestamp DESC, id DESC LIMIT 10")
            .fetch_all(&db)
            .await
            .unwrap();
    let cold: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM scans ORDER BY timestamp DESC, id DESC LIMIT 10 OFFSET 40",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let before = svc.get(&format!("/api/scans/{}", warmed[0])).await.json();

    redis.kill();

    // Cached reads from L1, uncached ones from the database: all 200, twice over (the second
    // round with the circuit breaker open).
    for _ in 0..2 {
        for id in warmed.iter().chain(&cold) {
            let a = svc.get(&format!("/api/scans/{id}")).await;
            assert_eq!(a.status, StatusCode::OK, "scan {id}: {}", a.text());
            assert_eq!(a.json()["id"], *id);
        }
        for path in ["/api/scans?page_size=5", "/api/scans/33/summary"] {
            let a = svc.get(path).await;
            assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        }
    }
    assert_eq!(
        svc.get(&format!("/api/scans/{}", warmed[0])).await.json(),
        before
    );
    assert_eq!(svc.get("/api/scans?page_size=5").await.json()["total"], 80);
}
