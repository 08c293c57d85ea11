//! The scan endpoints end to end in embedded mode: the real binary on a SQLite file in a temp
//! dir, in-process cache (no Redis unless a test says so), driven over HTTP; every count the
//! tests compare against comes from their own query on the same file.

mod common;
mod scans_support;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use common::{Service, start_sqlite};
use scans_support::{assert_error, sqlite_pool, sqlite_url, token};

#[tokio::test]
async fn a_cached_read_is_served_from_the_cache_and_a_put_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(dir.path(), 50, &["--warm-scans", "0"]).await;
    let first = svc.get("/api/scans/7").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let scan = first.json();
    assert_eq!(scan["id"], 7);
    for field in ["target", "scan_type", "status", "timestamp", "created_by"] {
        assert!(scan[field].is_string(), "{field} missing: {scan}");
    }
    assert_eq!(scan["created_by"], "seed");
    let second = svc.get("/api/scans/7").await;
    assert_eq!(second.json(), scan);

    // Change the row behind the service's back: a cached read still shows the old row.
    let db = sqlite_pool(dir.path()).await;
    sqlx::query("UPDATE scans SET status = 'failed', target = 'behind.example.com' WHERE id = 7")
        .execute(&db)
        .await
        .unwrap();
    let third = svc.get("/api/scans/7").await;
    assert_eq!(third.json(), scan, "the second read was not a cache hit");
    // An id never read is a miss: it shows the database.
    sqlx::query("UPDATE scans SET status = 'failed' WHERE id = 8")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(svc.get("/api/scans/8").await.json()["status"], "failed");

    // A PUT through the service invalidates: the next read has the new values.
    let t = token(&svc).await;
    let put = svc
        .put_json(
            "/api/scans/7",
            &json!({"status": "running", "scan_type": "ssl"}),
            Some(&t),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    let updated = put.json();
    assert_eq!(updated["status"], "running");
    assert_eq!(updated["scan_type"], "ssl");
    // The PUT wrote on top of the row as the database holds it.
    assert_eq!(updated["target"], "behind.example.com");
    assert_eq!(svc.get("/api/scans/7").await.json(), updated);
}

#[tokio::test]
async fn create_then_read_list_and_count_see_the_new_scan() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(dir.path(), 30, &[]).await;
    // Cache a miss for the next id, the list of the new target, and the total.
    assert_error(
        &svc.get("/api/scans/31").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let before = svc.get("/api/scans?target=fresh.example.com").await.json();
    assert_eq!(before["total"], 0);
    assert_eq!(svc.get("/api/scans").await.json()["total"], 30);

    let t = token(&svc).await;
    let created = svc
        .post_json(
            "/api/scans",
            &json!({"target": "fresh.example.com", "scan_type": "web"}),
            Some(&t),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let scan = created.json();
    assert_eq!(scan["id"], 31);
    assert_eq!(scan["status"], "pending");
    assert_eq!(scan["target"], "fresh.example.com");
    assert_eq!(scan["scan_type"], "web");

    assert_eq!(svc.get("/api/scans/31").await.json(), scan);
    let after = svc.get("/api/scans?target=fresh.example.com").await.json();
    assert_eq!(after["total"], 1);
    assert_eq!(after["scans"][0], scan);
    let all = svc.get("/api/scans").await.json();
    assert_eq!(all["total"], 31);
    assert_eq!(all["scans"][0], scan, "the newest scan comes first");
}

#[tokio::test]
async fn pagination_bounds_totals_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(dir.path(), 400, &[]).await;
    let db = sqlite_pool(dir.path()).await;

    for bad in [
        "page_size=0",
        "page_size=1001",
        "page_size=1000000000",
        "page_size=-5",
        "page_size=ten",
        "page=0",
        "page=-1",
        "page=x",
        "status=done",
        "target=%22%3B%20DROP%20TABLE%20scans",
    ] {
        let a = svc.get(&format!("/api/scans?{bad}")).await;
        assert_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let max = svc.get("/api/scans?page_size=1000").await.json();
    assert_eq!(max["page_size"], 1000);
    assert_eq!(max["scans"].as_array().unwrap().len(), 400);

    // Totals against our own COUNT, with each filter combination.
    let (target,): (String,) = sqlx::query_as(
        "SELECT target FROM scans GROUP BY target ORDER BY COUNT(*) DESC, target LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scans")
        .fetch_one(&db)
        .await
        .unwrap();
    let by_target: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scans WHERE target = ?")
        .bind(&target)
        .fetch_one(&db)
        .await
        .unwrap();
    let by_both: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM scans WHERE target = ? AND status = 'completed'")
            .bind(&target)
            .fetch_one(&db)
            .await
            .unwrap();
    let by_status: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM scans WHERE status = 'completed'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(all, 400);
    assert!(
        by_target > 1,
        "the seed's skew gives its top target several scans"
    );
    for (query, expected) in [
        (String::new(), all),
        (format!("target={target}"), by_target),
        ("status=completed".to_owned(), by_status),
        (format!("target={target}&status=completed"), by_both),
        ("target=&status=".to_owned(), all),
    ] {
        let page = svc
            .get(&format!("/api/scans?{query}&page_size=7"))
            .await
            .json();
        assert_eq!(page["total"], expected, "{query}");
        assert_eq!(page["pages"], (expected + 6) / 7, "{query}");
        assert_eq!(page["page"], 1);
        assert_eq!(page["page_size"], 7);
    }

    // Pages partition the list, newest first (timestamp DESC, id DESC).
    let mut seen = Vec::new();
    for page in 1..=3 {
        let p = svc
            .get(&format!("/api/scans?page={page}&page_size=150"))
            .await
            .json();
        seen.extend(p["scans"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(seen.len(), 400);
    let ids: std::collections::HashSet<i64> =
        seen.iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 400, "pages overlap");
    for w in seen.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let ka = (a["timestamp"].as_str().unwrap(), a["id"].as_i64().unwrap());
        let kb = (b["timestamp"].as_str().unwrap(), b["id"].as_i64().unwrap());
        assert!(ka > kb, "out of order: {a} before {b}");
    }

    // Past the end: an empty page with the true total.
    for page in ["9", "18446744073709551615"] {
        let p = svc
            .get(&format!("/api/scans?page={page}&page_size=50"))
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.text());
        let p = p.json();
        assert_eq!(p["scans"], json!([]));
        assert_eq!(p["total"], 400);
        assert_eq!(p["pages"], 8);
    }
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_json_body() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(dir.path(), 20, &[]).await;
    let t = token(&svc).await;

    // Ids.
    assert_error(
        &svc.get("/api/scans/999999").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    for id in [
        "abc",
        "-3",
        "0",
        "1.5",
        "99999999999999999999",
        "%F0%9F%92%A5",
    ] {
        for path in [
            format!("/api/scans/{id}"),
            format!("/api/scans/{id}/summary"),
        ] {
            assert_error(&svc.get(&path).await, StatusCode::BAD_REQUEST, "invalid_id");
        }
        let put = svc
            .put_json(
                &format!("/api/scans/{id}"),
                &json!({"status": "failed"}),
                Some(&t),
            )
            .await;
        assert_error(&put, StatusCode::BAD_REQUEST, "invalid_id");
    }
    assert_error(
        &svc.get("/api/scans/999999/summary").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let put = svc
        .put_json("/api/scans/999999", &json!({"status": "failed"}), Some(&t))
        .await;
    assert_error(&put, StatusCode::NOT_FOUND, "not_found");

    // Bodies that are not JSON, or not the expected JSON.
    let raw = |body: &'static str| body.as_bytes().to_vec();
    for (method, path) in [(Method::POST, "/api/scans"), (Method::PUT, "/api/scans/1")] {
        for body in ["{\"target\": ", "not json", "{\"target\": \"a\",}"] {
            let a = svc
                .request(method.clone(), path, Some(raw(body)), Some(&t))
                .await;
            assert_error(&a, StatusCode::BAD_REQUEST, "invalid_json");
        }
        let wrong_type = svc
            .request(
                method.clone(),
                path,
                Some(raw(
                    "{\"target\": 5, \"scan_type\": [\"web\"], \"status\": 1}",
                )),
                Some(&t),
            )
            .await;
        assert_error(
            &wrong_type,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let no_content_type = svc
            .try_request(
                method.clone(),
                path,
                None,
                Some(&t),
                &[("content-type", "text/plain")],
            )
            .await
            .unwrap();
        assert!(
            no_content_type.status.is_client_error(),
            "{}",
            no_content_type.text()
        );
        assert!(no_content_type.json()["error"].is_string());
    }
    let missing = svc
        .post_json("/api/scans", &json!({"target": "example.com"}), Some(&t))
        .await;
    assert_error(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let nothing = svc.put_json("/api/scans/1", &json!({}), Some(&t)).await;
    assert_error(
        &nothing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // Values out of their sets.
    let long = "a".repeat(300);
    for target in [
        "\"; DROP TABLE scans; --",
        long.as_str(),
        "exämple.com",
        "δοκιμή.gr",
        "",
        "a b",
        "host/path",
    ] {
        let post = svc
            .post_json(
                "/api/scans",
                &json!({"target": target, "scan_type": "full"}),
                Some(&t),
            )
            .await;
        assert_error(&post, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let put = svc
            .put_json("/api/scans/1", &json!({"target": target}), Some(&t))
            .await;
        assert_error(&put, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let bad_type = svc
        .post_json(
            "/api/scans",
            &json!({"target": "example.com", "scan_type": "deep"}),
            Some(&t),
        )
        .await;
    assert_error(
        &bad_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let bad_status = svc
        .put_json("/api/scans/1", &json!({"status": "done"}), Some(&t))
        .await;
    assert_error(
        &bad_status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // No session, or one the service never issued.
    let body = json!({"target": "example.com", "scan_type": "full"});
    assert_error(
        &svc.post_json("/api/scans", &body, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &svc.put_json("/api/scans/1", &json!({"status": "failed"}), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // Nothing above changed the data: still 20 scans, scan 1 as seeded.
    let db = sqlite_pool(dir.path()).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scans")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 20);
    assert_eq!(svc.get("/api/scans/1").await.json()["created_by"], "seed");
}

#[tokio::test]
async fn summaries_match_a_group_by_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(dir.path(), 60, &[]).await;
    let db = sqlite_pool(dir.path()).await;
    let mut scans_with_none = 0;
    for id in 1..=60_i64 {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT severity, COUNT(*) FROM vulnerabilities WHERE scan_id = ? GROUP BY severity",
        )
        .bind(id)
        .fetch_all(&db)
        .await
        .unwrap();
        let mut expected = json!({"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0});
        let mut total = 0;
        for (severity, n) in rows {
            expected[severity.as_str()] = json!(n);
            total += n;
        }
        if total == 0 {
            scans_with_none += 1;
        }
        let a = svc.get(&format!("/api/scans/{id}/summary")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(
            a.json(),
            json!({"scan_id": id, "total": total, "by_severity": expected}),
            "scan {id}"
        );
    }
    assert!(
        scans_with_none < 60,
        "the seed gave no scan a vulnerability"
    );
}

#[tokio::test]
async fn seeding_inserts_exactly_n_once_and_the_default_is_ten_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(dir.path(), 123, &[]).await;
    svc.kill().await;
    let db = sqlite_pool(dir.path()).await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM scans").await, 123);
    assert_eq!(count("SELECT MIN(id) FROM scans").await, 1);
    assert_eq!(count("SELECT MAX(id) FROM scans").await, 123);
    // 0..=8 vulnerabilities and 1..=4 results per scan, every scan with results.
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM (SELECT s.id, COUNT(v.id) AS n FROM scans s \
             LEFT JOIN vulnerabilities v ON v.scan_id = s.id GROUP BY s.id) WHERE n > 8"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM (SELECT s.id, COUNT(r.id) AS n FROM scans s \
             LEFT JOIN scan_results r ON r.scan_id = s.id GROUP BY s.id) WHERE n < 1 OR n > 4"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM vulnerabilities WHERE cve_id IS NOT NULL \
             AND cve_id NOT LIKE 'CVE-20__-_____'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM scans WHERE status NOT IN ('pending','running','completed','failed') \
             OR scan_type NOT IN ('full','quick','web','network','ssl')"
        )
        .await,
        0
    );
    let vulns = count("SELECT COUNT(*) FROM vulnerabilities").await;
    let medium_low =
        count("SELECT COUNT(*) FROM vulnerabilities WHERE severity IN ('medium','low')").await;
    assert!(vulns > 123, "too few vulnerabilities: {vulns}");
    assert!(
        medium_low * 2 > vulns,
        "severities not skewed to medium/low"
    );

    // A restart (with --seed or without) does not seed a table that has rows.
    let url = sqlite_url(dir.path());
    let again = Service::start(&["--database-url", &url, "--seed", "50"], &[]).await;
    again.wait_ready().await;
    again.kill().await;
    let again = Service::start(&["--database-url", &url], &[]).await;
    again.wait_ready().await;
    again.kill().await;
    assert_eq!(count("SELECT COUNT(*) FROM scans").await, 123);

    // No --seed on an empty database: 10,000 scans.
    let fresh = tempfile::tempdir().unwrap();
    let svc = Service::start(&["--database-url", &sqlite_url(fresh.path())], &[]).await;
    svc.wait_ready().await;
    let listed = svc.get("/api/scans?page_size=1").await.json();
    assert_eq!(listed["total"], 10_000);
    svc.kill().await;
    let fresh_db = sqlite_pool(fresh.path()).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scans")
        .fetch_one(&fresh_db)
        .await
        .unwrap();
    assert_eq!(n, 10_000);
}

#[tokio::test]
async fn with_the_tables_gone_cached_reads_answer_and_the_rest_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(dir.path(), 40, &["--warm-scans", "5"]).await;
    let db = sqlite_pool(dir.path()).await;
    // Warmed at start: the 5 most recent scans.
    let warmed: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM scans ORDER BY timestamp DESC, id DESC LIMIT 5")
            .fetch_all(&db)
            .await
            .unwrap();
    let cold: i64 = sqlx::query_scalar(
        "SELECT id FROM scans ORDER BY timestamp DESC, id DESC LIMIT 1 OFFSET 20",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let read_before = svc.get("/api/scans/1/summary").await.json();

    for table in ["vulnerabilities", "scan_results", "scans"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
            .execute(&db)
            .await
            .unwrap();
    }

    for id in &warmed {
        let a = svc.get(&format!("/api/scans/{id}")).await;
        assert_eq!(a.status, StatusCode::OK, "warmed scan {id}: {}", a.text());
        assert_eq!(a.json()["id"], *id);
    }
    assert_eq!(svc.get("/api/scans/1/summary").await.json(), read_before);
    assert_error(
        &svc.get(&format!("/api/scans/{cold}")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    assert_error(
        &svc.get("/api/scans?status=failed&page_size=3").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    let t = token(&svc).await;
    let post = svc
        .post_json(
            "/api/scans",
            &json!({"target": "example.com", "scan_type": "full"}),
            Some(&t),
        )
        .await;
    assert_error(
        &post,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    // 503 bodies do not leak SQL or file names.
    let body = svc.get(&format!("/api/scans/{cold}")).await.text();
    assert!(!body.contains("scans.db") && !body.contains("SELECT") && !body.contains("table"));
}

#[tokio::test]
async fn redis_down_at_start_the_service_still_starts_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let url = sqlite_url(dir.path());
    let svc = Service::start(
        &["--database-url", &url, "--seed", "30", "--warm-scans", "10"],
        &[("REDIS_URL", "redis://127.0.0.1:1")],
    )
    .await;
    svc.wait_ready().await;
    for _ in 0..2 {
        for path in [
            "/api/scans/3",
            "/api/scans/29/summary",
            "/api/scans?page_size=5",
        ] {
            let a = svc.get(path).await;
            assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        }
    }
    let page: Value = svc.get("/api/scans?page_size=5").await.json();
    assert_eq!(page["total"], 30);
}

#[tokio::test]
async fn cache_disabled_reads_go_to_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(dir.path(), 10, &["--cache-disabled"]).await;
    assert_eq!(svc.get("/api/scans/4").await.status, StatusCode::OK);
    let db = sqlite_pool(dir.path()).await;
    sqlx::query("UPDATE scans SET status = 'failed' WHERE id = 4")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(svc.get("/api/scans/4").await.json()["status"], "failed");
}

#[tokio::test]
async fn more_scans_than_perf_caches_default_tag_table_all_stay_cached() {
    // Each cached scan has its own tag: with perf-cache's default table of 10,000 tags, a
    // pass over 10,000+ ids evicted every tag before it was read again (0 hits).
    const N: i64 = 10_500;
    let dir = tempfile::tempdir().unwrap();
    let svc = start_sqlite(
        dir.path(),
        N.unsigned_abs(),
        &["--warm-scans", "0", "--rate-limit-per-second", "0"],
    )
    .await;
    for id in 1..=N {
        let a = svc.get(&format!("/api/scans/{id}")).await;
        assert_eq!(a.status, StatusCode::OK, "scan {id}: {}", a.text());
    }
    let db = sqlite_pool(dir.path()).await;
    sqlx::query("UPDATE scans SET created_by = 'changed'")
        .execute(&db)
        .await
        .unwrap();
    let mut from_cache = 0;
    for id in 1..=N {
        if svc.get(&format!("/api/scans/{id}")).await.json()["created_by"] == "seed" {
            from_cache += 1;
        }
    }
    assert_eq!(
        from_cache, N,
        "reads of cached scans that went to the database"
    );
}
