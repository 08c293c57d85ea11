//! Label values with bounded cardinality.

use std::borrow::Cow;

use http::{Method, StatusCode};
use metrics::SharedString;

use super::series::STATUSES;

/// The `endpoint` label of requests no route template matched (404s, or a layer placed before
/// routing without a classifier).
pub const UNMATCHED_ENDPOINT: &str = "unmatched";

/// Standard methods keep their name; extension methods collapse into `other`.
/// Index of `method`'s label in [`METHODS`].
pub(crate) fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::PATCH => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

/// Index of `status`'s class label (`1xx`…`5xx`) in [`STATUSES`].
pub(crate) fn status_class_index(status: StatusCode) -> usize {
    match status.as_u16() {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

pub(crate) fn status_label(status: StatusCode, exact: bool) -> SharedString {
    if !exact {
        return SharedString::const_str(STATUSES[status_class_index(status)]);
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

pub(crate) fn endpoint_label(endpoint: Cow<'_, str>) -> SharedString {
    SharedString::from_owned(endpoint.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::series::METHODS;

    #[test]
    fn extension_methods_are_other() {
        let label = |m: &Method| METHODS[method_index(m)];
        assert_eq!(label(&Method::GET), "GET");
        assert_eq!(label(&Method::TRACE), "TRACE");
        assert_eq!(label(&Method::from_bytes(b"PURGE").unwrap()), "other");
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
