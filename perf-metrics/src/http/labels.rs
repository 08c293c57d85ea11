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

/// The `status` label: the class (`1xx`…`5xx`) unless `exact` is set, then the code itself.
/// Non-standard codes 600–999 count as `5xx` when grouped: the server answered something no
/// client can interpret.
pub(crate) fn status_label(status: StatusCode, exact: bool) -> SharedString {
    if !exact {
        return SharedString::const_str(match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        });
    }
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
    fn exact_status_codes_render_as_digits() {
        assert_eq!(&*status_label(StatusCode::OK, true), "200");
        assert_eq!(&*status_label(StatusCode::IM_A_TEAPOT, true), "418");
    }

    #[test]
    fn statuses_are_grouped_by_class_by_default() {
        let classes: std::collections::BTreeSet<String> = (100..=999u16)
            .map(|code| status_label(StatusCode::from_u16(code).unwrap(), false).into_owned())
            .collect();
        assert_eq!(
            classes.into_iter().collect::<Vec<_>>(),
            ["1xx", "2xx", "3xx", "4xx", "5xx"]
        );
        assert_eq!(&*status_label(StatusCode::IM_A_TEAPOT, false), "4xx");
    }
}
