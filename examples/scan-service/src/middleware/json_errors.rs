//! JSON bodies for error answers that inner layers gave without one (axum's rejections, its
//! 405, a body over the limit): status and headers kept, the body replaced by the service's
//! `{"error", "message"}`.

use axum::body::Body;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use crate::error::ErrorBody;

/// Longest error text of an inner answer carried into the JSON `message`.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The machine-readable code for a status that an inner layer answered without a JSON body.
#[must_use]
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "request_failed",
    }
}

/// Whether `response` is a 4xx/5xx without a JSON body, which [`into_json_error`] rewrites.
/// Checked on every answer, so it reads the status and at most one header.
#[must_use]
pub fn needs_json_body(response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    !response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `response` with the service's JSON error body: the code from its status (`invalid_json`
/// for axum's JSON syntax rejections), the message from its text (at most
/// [`MAX_MESSAGE_BYTES`]; never for a 5xx, whose text may hold internals, nor for a
/// compressed body, whose bytes are not text).
pub async fn into_json_error(response: Response) -> Response {
    let status = response.status();
    let (mut parts, body) = response.into_parts();
    let encoded = parts.headers.remove(CONTENT_ENCODING).is_some();
    let text = if encoded {
        None
    } else {
        axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
            .await
            .ok()
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let code = match (status, &text) {
        (StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY, Some(t))
            if t.contains("JSON") && !t.contains("deserialize") =>
        {
            "invalid_json"
        }
        _ => code_for_status(status),
    };
    let message = match (status, text) {
        (StatusCode::PAYLOAD_TOO_LARGE, _) => "the request body is too large".to_owned(),
        (_, Some(text)) if !status.is_server_error() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let body = ErrorBody {
        error: code,
        message,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_status_has_a_code() {
        assert_eq!(
            code_for_status(StatusCode::METHOD_NOT_ALLOWED),
            "method_not_allowed"
        );
        assert_eq!(
            code_for_status(StatusCode::PAYLOAD_TOO_LARGE),
            "payload_too_large"
        );
        assert_eq!(code_for_status(StatusCode::BAD_GATEWAY), "internal_error");
        assert_eq!(code_for_status(StatusCode::IM_A_TEAPOT), "request_failed");
    }

    #[tokio::test]
    async fn plain_errors_get_a_json_body_and_json_or_success_is_left_alone() {
        let plain = |status: StatusCode, text: &'static str| {
            let mut r = Response::new(Body::from(text));
            *r.status_mut() = status;
            r
        };
        assert!(!needs_json_body(&plain(StatusCode::OK, "fine")));
        let mut json = plain(StatusCode::NOT_FOUND, "{}");
        json.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(!needs_json_body(&json));

        let rejected = plain(
            StatusCode::BAD_REQUEST,
            "Failed to parse the request body as JSON",
        );
        assert!(needs_json_body(&rejected));
        let rewritten = into_json_error(rejected).await;
        assert_eq!(rewritten.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(rewritten.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "invalid_json");

        let mut gzipped = plain(StatusCode::BAD_REQUEST, "\u{1f}\u{8b} not text");
        gzipped
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let rewritten = into_json_error(gzipped).await;
        assert!(!rewritten.headers().contains_key(CONTENT_ENCODING));
        let body = axum::body::to_bytes(rewritten.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body["message"], "Bad Request",
            "compressed bytes are never the message"
        );

        let internal = into_json_error(plain(StatusCode::BAD_GATEWAY, "secret detail")).await;
        let body = axum::body::to_bytes(internal.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "internal_error");
        assert_eq!(
            body["message"], "Bad Gateway",
            "a 5xx's own text is never sent"
        );
    }
}
