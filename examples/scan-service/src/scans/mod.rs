//! The scan endpoints (`/api/scans…`), as the API contract describes them.
//!
//! - `GET /api/scans/{id}`: cached ([`cached::get_scan`]); 404 unknown, 400 not a positive
//!   integer.
//! - `GET /api/scans?target=&status=&page=1&page_size=50`: `page ≥ 1` and
//!   `1 ≤ page_size ≤ 1000`, else 422 (a `page_size` of 10⁹ is refused, not clamped, so a
//!   client never gets fewer rows than it asked for without being told); an empty `target` or
//!   `status` is no filter; an invalid one is 422. Pages are cached 30 s, the total apart for
//!   5 min. A page past the end is an empty list with the true total.
//! - `POST /api/scans` (session): `{"target","scan_type"}` → 201 with the new `pending` scan.
//! - `PUT /api/scans/{id}` (session): any of `{"status","target","scan_type"}` → 200 with the
//!   new values, which every instance serves from then on (tag and pattern invalidation,
//!   [`cached::after_update`]).
//! - `GET /api/scans/{id}/summary`: vulnerability counts by severity (one `GROUP BY`), cached.
//!
//! With `--cache-disabled` the reads go straight to the database.

pub mod cached;
pub mod extract;
pub mod validate;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::Session;
use crate::db::{ListFilter, Scan, ScanChanges, Summary};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use extract::{ApiJson, ApiQuery, ScanId};

/// Largest accepted `page_size`.
pub const MAX_PAGE_SIZE: u64 = 1_000;
/// `page_size` when none is given.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// `/api/scans` and `/api/scans/{id}/summary`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/scans", get(list).post(create))
        .route("/api/scans/{id}/summary", get(summary))
}

/// `/api/scans/{id}` (read and update one scan).
pub fn item_routes() -> Router<AppState> {
    Router::new().route("/api/scans/{id}", get(get_one).put(update))
}

/// `GET /api/scans/{id}`
async fn get_one(State(state): State<AppState>, ScanId(id): ScanId) -> ApiResult<Response> {
    if state.config.cache_disabled {
        let scan = state.db.get_scan(id).await?;
        return scan
            .map(|s| Json(s).into_response())
            .ok_or_else(|| not_found(id));
    }
    let body = cached::get_scan(&state.db, id).await?;
    body.map(IntoResponse::into_response)
        .ok_or_else(|| not_found(id))
}

/// `GET /api/scans/{id}/summary`
async fn summary(State(state): State<AppState>, ScanId(id): ScanId) -> ApiResult<Json<Summary>> {
    let summary = if state.config.cache_disabled {
        state.db.summary(id).await?
    } else {
        cached::scan_summary(&state.db, id).await?
    };
    summary.map(Json).ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("scan {id} not found"))
}

/// The list's query string; every field optional and checked by hand, so that each bad value
/// gets its own message.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    target: Option<String>,
    status: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

/// The list's answer.
#[derive(Debug, Serialize)]
struct ScanPage {
    scans: Vec<Scan>,
    page: u64,
    page_size: u64,
    total: i64,
    pages: i64,
}

/// A positive integer within `max`, from a query parameter.
fn bounded(name: &str, raw: Option<&str>, default: u64, max: u64) -> ApiResult<u64> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ if max == u64::MAX => Err(ApiError::Validation(format!(
            "{name} must be an integer ≥ 1"
        ))),
        _ => Err(ApiError::Validation(format!(
            "{name} must be an integer from 1 to {max}"
        ))),
    }
}

/// `GET /api/scans`
async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ScanPage>> {
    let page = bounded("page", q.page.as_deref(), 1, u64::MAX)?;
    let page_size = bounded(
        "page_size",
        q.page_size.as_deref(),
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )?;
    let target = q
        .target
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(validate::target)
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(validate::status)
        .transpose()?;
    let db = &state.db;
    let (scans, total) = if state.config.cache_disabled {
        let (limit, offset) = cached::limit_offset(page, page_size);
        let filter = ListFilter { target, status };
        tokio::join!(db.list_scans(filter, limit, offset), db.count_scans(filter))
    } else {
        tokio::join!(
            cached::list_scans(db, target, status, page, page_size),
            cached::count_scans(db, target, status),
        )
    };
    let (scans, total) = (scans?, total?);
    let size = i64::try_from(page_size).unwrap_or(i64::MAX);
    Ok(Json(ScanPage {
        scans,
        page,
        page_size,
        total,
        pages: (total + size - 1) / size,
    }))
}

/// `POST /api/scans` body.
#[derive(Debug, Deserialize)]
struct CreateScan {
    target: String,
    scan_type: String,
}

/// `POST /api/scans`
async fn create(
    State(state): State<AppState>,
    _session: Session,
    ApiJson(body): ApiJson<CreateScan>,
) -> ApiResult<(StatusCode, Json<Scan>)> {
    let target = validate::target(&body.target)?;
    let scan_type = validate::scan_type(&body.scan_type)?;
    let scan = state.db.insert_scan(target, scan_type, "api").await?;
    cached::after_insert(&state.cache, &scan).await;
    Ok((StatusCode::CREATED, Json(scan)))
}

/// `PUT /api/scans/{id}` body: any of the three fields.
#[derive(Debug, Deserialize)]
struct UpdateScan {
    status: Option<String>,
    target: Option<String>,
    scan_type: Option<String>,
}

/// `PUT /api/scans/{id}`
async fn update(
    State(state): State<AppState>,
    ScanId(id): ScanId,
    _session: Session,
    ApiJson(body): ApiJson<UpdateScan>,
) -> ApiResult<Json<Scan>> {
    let changes = ScanChanges {
        status: body
            .status
            .as_deref()
            .map(validate::status)
            .transpose()?
            .map(str::to_owned),
        target: body
            .target
            .as_deref()
            .map(validate::target)
            .transpose()?
            .map(str::to_owned),
        scan_type: body
            .scan_type
            .as_deref()
            .map(validate::scan_type)
            .transpose()?
            .map(str::to_owned),
    };
    if changes.status.is_none() && changes.target.is_none() && changes.scan_type.is_none() {
        return Err(ApiError::Validation(
            "give at least one of status, target, scan_type".to_owned(),
        ));
    }
    let (old, new) = state
        .db
        .update_scan(id, &changes)
        .await?
        .ok_or_else(|| not_found(id))?;
    cached::after_update(&state.cache, &old, &new).await;
    Ok(Json(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bounds() {
        assert_eq!(bounded("p", None, 50, 1000).ok(), Some(50));
        assert_eq!(bounded("p", Some("1000"), 50, 1000).ok(), Some(1000));
        for bad in ["0", "1001", "1000000000", "-1", "x", ""] {
            assert!(bounded("p", Some(bad), 50, 1000).is_err(), "{bad}");
        }
        assert_eq!(
            bounded("p", Some("18446744073709551615"), 1, u64::MAX).ok(),
            Some(u64::MAX)
        );
        assert_eq!(cached::limit_offset(u64::MAX, 1000), (1000, i64::MAX));
        assert_eq!(cached::limit_offset(3, 50), (50, 100));
    }
}
