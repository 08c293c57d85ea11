//! Label values with bounded cardinality.

use std::borrow::Cow;

use http::{Method, StatusCode};
use metrics::SharedString;

/// The `endpoint` label of requests no route template matched (404s, or a layer placed before
/// routing without a classifier).
pub const UNMATCHED_ENDPOINT: &str = "unmatched";

/// Standard methods keep their name; extension methods collapse into `other`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

pub(crate) fn status_label(status: StatusCode) -> SharedString {
    match status.as_u16() {
        200 => SharedString::const_str("200"),
        201 => SharedString::const_str("201"),
        204 => SharedString::const_str("204"),
        304 => SharedString::const_str("304"),
        400 => SharedString::const_str("400"),
        404 => SharedString::const_str("404"),
        500 => SharedString::const_str("500"),
        _ => SharedString::from_owned(status.as_str().to_owned()),
    }
}

pub(crate) fn endpoint_label(endpoint: Cow<'static, str>) -> SharedString {
    match endpoint {
        Cow::Borrowed(s) => SharedString::const_str(s),
        Cow::Owned(s) => SharedString::from_owned(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_methods_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"PURGE").unwrap()),
            "other"
        );
    }

    #[test]
    fn status_codes_render_as_digits() {
        assert_eq!(&*status_label(StatusCode::OK), "200");
        assert_eq!(&*status_label(StatusCode::IM_A_TEAPOT), "418");
    }
}
