//! scan-baseline: the peer that `benches/service/run` measures scan-service against.
//!
//! What it shows: what a competent Rust user hand-wires *without* the perf crates to serve
//! scan-service's `GET /api/scans/{id}` (same path, same JSON, same `scans` table): axum, a moka
//! L1 (future cache with a TTL, single-flight per id), a redis-rs L2 (`ConnectionManager`, the
//! JSON body as the value, `SETEX`) and a sqlx `PgPool`. No metrics, compression, rate limits or
//! sessions. It exists so the benchmark can answer one question honestly, in the same run on the
//! same machine: do the perf crates make the service the slower choice?
//!
//! It is competent, not sandbagged: the pool is sized like perf-db's default (10, read from the
//! same `DATABASE_POOL_MAX`), L1 holds the whole seeded table, entries live the seeds' 600 s,
//! and both tiers keep the finished response body, so a hit serializes nothing.
//!
//! It never creates or migrates tables: it reads the `scans` table that
//! `scan-service --seed 10000` fills.
//!
//! Run with (PostgreSQL and Redis running, the table seeded):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p scan-baseline -- --port 8001
//! curl http://127.0.0.1:8001/api/scans/1
//! ```
//!
//! Besides that endpoint it answers only `GET /health` and `POST /api/auth/login`, the latter with
//! a token that grants nothing, because the shared load test logs every user in first.
//!
//! `--no-cache` serves every request straight from sqlx (the uncached measurement); `--no-l1`
//! serves from Redis, then sqlx. `--port 0` picks a free port and prints
//! `listening on http://127.0.0.1:<port>` on stdout.

use std::{net::IpAddr, process::ExitCode, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State, rejection::PathRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
    serve::ListenerExt,
};
use chrono::{DateTime, Utc};
use clap::Parser;
use moka::future::Cache;
use redis::aio::ConnectionManager;
use serde::Serialize;
use sqlx::postgres::{PgPool, PgPoolOptions};

/// Command line; each flag can also come from the environment variable beside it.
#[derive(Parser)]
#[command(name = "scan-baseline", about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on; 0 picks a free one (the chosen port is printed on stdout).
    #[arg(long, env = "PORT", default_value_t = 8001)]
    port: u16,
    /// PostgreSQL database holding the `scans` table.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Redis for the shared L2 tier.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    redis_url: String,
    /// Prefix of every Redis key (`<prefix>scan:<id>`).
    #[arg(long, env = "REDIS_PREFIX", default_value = "scan-baseline:")]
    redis_prefix: String,
    /// Serve every request straight from sqlx: no L1, no Redis.
    #[arg(long)]
    no_cache: bool,
    /// Skip the in-process L1: Redis, then sqlx.
    #[arg(long, conflicts_with = "no_cache")]
    no_l1: bool,
    /// Lifetime of an entry in L1 and in Redis, in seconds.
    #[arg(long, env = "CACHE_TTL_SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    cache_ttl_secs: u64,
    /// Entries kept in L1 (the seeded table has 10,000 scans).
    #[arg(long, default_value_t = 100_000)]
    l1_capacity: u64,
    /// Connections in the PostgreSQL pool.
    #[arg(long, env = "DATABASE_POOL_MAX", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pool_size: u32,
}

/// One row of `scans`, serialized exactly like scan-service's Scan JSON.
#[derive(Serialize)]
struct Scan {
    id: i64,
    target: String,
    scan_type: String,
    status: String,
    timestamp: DateTime<Utc>,
    created_by: Option<String>,
}

type ScanRow = (i64, String, String, String, DateTime<Utc>, Option<String>);

const SELECT_SCAN: &str =
    "SELECT id, target, scan_type, status, timestamp, created_by FROM scans WHERE id = $1";

/// Shared by every request; cloning it clones handles only.
#[derive(Clone)]
struct AppState {
    db: PgPool,
    l1: Option<Cache<i64, Bytes>>,
    redis: Option<ConnectionManager>,
    redis_prefix: Arc<str>,
    ttl_secs: u64,
}

/// Why a lookup produced no body.
#[derive(Debug)]
enum LookupError {
    NotFound(i64),
    Database(sqlx::Error),
    Encode(serde_json::Error),
}

/// The contract's error body: `{"error": "<code>", "message": "<text>"}`.
#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
}

fn error_response(status: StatusCode, error: &'static str, message: String) -> Response {
    (status, Json(ErrorBody { error, message })).into_response()
}

impl LookupError {
    fn to_response(&self) -> Response {
        match self {
            Self::NotFound(id) => error_response(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("scan {id} not found"),
            ),
            Self::Database(err) => {
                eprintln!("scan-baseline: database error: {err}");
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "the database is unavailable".to_owned(),
                )
            }
            Self::Encode(err) => {
                eprintln!("scan-baseline: cannot encode a scan: {err}");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error".to_owned(),
                )
            }
        }
    }
}

/// `GET /api/scans/{id}`: L1, then Redis, then PostgreSQL (filling both tiers on the way back).
async fn get_scan(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = id.ok().and_then(|Path(raw)| raw.parse::<i64>().ok());
    let Some(id) = id.filter(|id| *id > 0) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            "the scan id must be a positive integer".to_owned(),
        );
    };
    let body = match &state.l1 {
        // try_get_with runs one load per id at a time; concurrent misses wait for it.
        Some(l1) => l1.try_get_with(id, load(&state, id)).await,
        None => load(&state, id).await.map_err(Arc::new),
    };
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => err.to_response(),
    }
}

/// Redis, then PostgreSQL. A Redis failure is logged and served from the database.
async fn load(state: &AppState, id: i64) -> Result<Bytes, LookupError> {
    let key = format!("{}scan:{id}", state.redis_prefix);
    if let Some(redis) = &state.redis {
        let cached = redis::cmd("GET")
            .arg(&key)
            .query_async::<Option<Vec<u8>>>(&mut redis.clone())
            .await;
        match cached {
            Ok(Some(json)) => return Ok(Bytes::from(json)),
            Ok(None) => {}
            Err(err) => eprintln!("scan-baseline: redis GET failed, reading PostgreSQL: {err}"),
        }
    }
    let row: Option<ScanRow> = sqlx::query_as(SELECT_SCAN)
        .bind(id)
        .fetch_optional(&state.db)
        .await
        .map_err(LookupError::Database)?;
    let (id, target, scan_type, status, timestamp, created_by) =
        row.ok_or(LookupError::NotFound(id))?;
    let scan = Scan {
        id,
        target,
        scan_type,
        status,
        timestamp,
        created_by,
    };
    let body = Bytes::from(serde_json::to_vec(&scan).map_err(LookupError::Encode)?);
    if let Some(redis) = &state.redis {
        let stored = redis::cmd("SETEX")
            .arg(&key)
            .arg(state.ttl_secs)
            .arg(body.as_ref())
            .exec_async(&mut redis.clone())
            .await;
        if let Err(err) = stored {
            eprintln!("scan-baseline: redis SETEX failed: {err}");
        }
    }
    Ok(body)
}

/// `GET /health`: the process serves (it checks no dependency; the pool and Redis were
/// reached at start-up).
async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// `POST /api/auth/login`: a stub so the shared load test (which logs each user in first) can
/// drive the baseline with its `view_one` task. The token grants nothing: the baseline has no
/// sessions and no endpoint that needs one.
async fn login() -> Response {
    Json(serde_json::json!({
        "access_token": "scan-baseline-has-no-sessions",
        "token_type": "bearer",
        "expires_in": 3600
    }))
    .into_response()
}

/// Resolves on Ctrl-C or SIGTERM, so the benchmark harness can stop the service cleanly.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let db = PgPoolOptions::new()
        .max_connections(args.pool_size)
        .connect(&args.database_url)
        .await
        .map_err(|err| format!("cannot connect to PostgreSQL: {err}"))?;
    let redis = if args.no_cache {
        None
    } else {
        let client = redis::Client::open(args.redis_url.as_str())
            .map_err(|err| format!("invalid REDIS_URL: {err}"))?;
        let manager = ConnectionManager::new(client)
            .await
            .map_err(|err| format!("cannot connect to Redis: {err}"))?;
        Some(manager)
    };
    let ttl = Duration::from_secs(args.cache_ttl_secs);
    let l1 = (!args.no_cache && !args.no_l1).then(|| {
        Cache::builder()
            .max_capacity(args.l1_capacity)
            .time_to_live(ttl)
            .build()
    });
    let state = AppState {
        db,
        l1,
        redis,
        redis_prefix: args.redis_prefix.into(),
        ttl_secs: args.cache_ttl_secs,
    };
    let app = Router::new()
        .route("/api/scans/{id}", get(get_scan))
        .route("/api/auth/login", post(login))
        .route("/health", get(health))
        .with_state(state);

    let listener = tokio::net::TcpListener::bind((args.bind, args.port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // As axum's docs advise: small responses go out at once instead of waiting on Nagle.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            eprintln!("scan-baseline: cannot set TCP_NODELAY: {err}");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("scan-baseline: {err}");
            ExitCode::FAILURE
        }
    }
}
