//! The domain's closed sets and the checks every write and filter goes through.

use crate::error::ApiError;

/// Scan states, in their usual order.
pub const STATUSES: [&str; 4] = ["pending", "running", "completed", "failed"];
/// Vulnerability and result severities, most severe first.
pub const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];
/// Kinds of scan.
pub const SCAN_TYPES: [&str; 5] = ["full", "quick", "web", "network", "ssl"];

/// Longest accepted target (a DNS name's limit).
pub const MAX_TARGET_LEN: usize = 253;

/// A host name or IP address: 1 to 253 characters from `A-Z a-z 0-9 . - :` (`:` for IPv6).
///
/// # Errors
/// [`ApiError::Validation`] naming what is wrong (the value itself is not echoed).
pub fn target(value: &str) -> Result<&str, ApiError> {
    if value.is_empty() || value.len() > MAX_TARGET_LEN {
        return Err(ApiError::Validation(format!(
            "target must be 1 to {MAX_TARGET_LEN} characters long"
        )));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    {
        return Err(ApiError::Validation(
            "target must be a host name or IP address (letters, digits, '.', '-', ':')".to_owned(),
        ));
    }
    Ok(value)
}

/// One of [`STATUSES`].
///
/// # Errors
/// [`ApiError::Validation`].
pub fn status(value: &str) -> Result<&str, ApiError> {
    one_of("status", value, &STATUSES)
}

/// One of [`SCAN_TYPES`].
///
/// # Errors
/// [`ApiError::Validation`].
pub fn scan_type(value: &str) -> Result<&str, ApiError> {
    one_of("scan_type", value, &SCAN_TYPES)
}

fn one_of<'a>(field: &str, value: &'a str, allowed: &[&str]) -> Result<&'a str, ApiError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::Validation(format!(
            "{field} must be one of {}",
            allowed.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert!(target("example.com").is_ok());
        assert!(target("10.0.3.7").is_ok());
        assert!(target("fe80::1").is_ok());
        assert!(target(&"a".repeat(253)).is_ok());
        for bad in [
            "",
            "\"; DROP TABLE scans; --",
            "exämple.com",
            "a b",
            "a/b",
            "*",
        ] {
            assert!(target(bad).is_err(), "{bad:?} accepted");
        }
        assert!(target(&"a".repeat(254)).is_err());
    }

    #[test]
    fn closed_sets() {
        assert!(status("completed").is_ok());
        assert!(status("Completed").is_err());
        assert!(scan_type("ssl").is_ok());
        assert!(scan_type("").is_err());
    }
}
