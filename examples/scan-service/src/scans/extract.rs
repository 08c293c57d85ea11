//! Extractors whose rejections are the service's JSON errors: axum's own answer in plain text,
//! which must never reach a client.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A scan id from the path (`/api/scans/{id}`): a positive integer, else 400 `invalid_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for ScanId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = || ApiError::BadRequest {
            code: "invalid_id",
            message: "the scan id must be a positive integer".to_owned(),
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Self(id)),
            _ => Err(invalid()),
        }
    }
}

/// A JSON body: malformed JSON → 400 `invalid_json`; a body that is JSON but not the expected
/// shape (missing field, wrong type) → 422 `validation_failed`; no `application/json`
/// content type → 400 `invalid_content_type`; too large → 413.
#[derive(Clone, Copy, Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Validation(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::BadRequest {
                code: "invalid_json",
                message: e.body_text(),
            }),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest {
                code: "invalid_content_type",
                message: "expected a body with `Content-Type: application/json`".to_owned(),
            }),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge {
                    limit: state.config.max_body_bytes,
                })
            }
            Err(e) => Err(ApiError::BadRequest {
                code: "invalid_body",
                message: e.body_text(),
            }),
        }
    }
}

/// A query string: one that does not decode → 400 `invalid_query`.
#[derive(Clone, Copy, Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e| ApiError::BadRequest {
                code: "invalid_query",
                message: e.body_text(),
            })
    }
}
