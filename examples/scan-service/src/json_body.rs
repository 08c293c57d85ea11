//! [`JsonBody`]: a JSON response body serialized once and then cached and served as is.
//!
//! A cached read that keeps the typed row must, on every hit, clone it out of L1 (one
//! allocation per `String` field) and serialize it again. Keeping the finished body instead
//! makes a hit one reference-count increment and no serialization: under wrk that was the
//! largest share of the service's CPU after the HTTP stack itself (see BENCHMARKS.md).

use axum::body::Bytes;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A serialized JSON document. Cloning it is a reference-count increment.
///
/// In the cache's shared tiers it is stored as a string (any codec can carry one), and
/// reading it back checks that the string is one JSON document: a corrupt entry is a decode
/// failure, which perf-cache treats as a miss, never a body sent to a client.
///
/// ```
/// use scan_service::json_body::JsonBody;
///
/// let body = JsonBody::to_json(&serde_json::json!({"id": 1})).unwrap();
/// assert_eq!(body.as_bytes(), br#"{"id":1}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonBody(Bytes);

impl JsonBody {
    /// Serializes `value`.
    ///
    /// # Errors
    /// When `value` cannot be represented as JSON (a map with non-string keys, say).
    pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(|v| Self(Bytes::from(v)))
    }

    /// The document's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for JsonBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Built only by `to_json` or from a checked string: always UTF-8.
        let text = std::str::from_utf8(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for JsonBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str::<&serde_json::value::RawValue>(&text)
            .map_err(|e| D::Error::custom(format_args!("not one JSON document: {e}")))?;
        Ok(Self(Bytes::from(text)))
    }
}

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            self.0,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perf_cache::{Codec, Json, Postcard};

    #[test]
    fn it_round_trips_through_both_codecs_and_refuses_what_is_not_json() {
        let body = JsonBody::to_json(&serde_json::json!({"id": 7, "target": "a\"b"})).unwrap();
        fn round_trip<C: Codec>(codec: &C, body: &JsonBody) -> JsonBody {
            let mut bytes = Vec::new();
            codec.encode(body, &mut bytes).unwrap();
            codec.decode(&bytes).unwrap()
        }
        assert_eq!(round_trip(&Json, &body), body);
        assert_eq!(round_trip(&Postcard, &body), body);
        for bad in [r#""{\"id\": 1""#, r#""{} {}""#, r#""""#] {
            assert!(serde_json::from_str::<JsonBody>(bad).is_err(), "{bad}");
        }
    }
}
