//! The crate's one error type.

/// Everything that can go wrong in `perf-cache`.
///
/// Tier failures (Redis down, disk error, undecodable bytes) are *not* errors for the caller: the
/// cache fails open and treats them as misses. This type covers what a caller must act on:
/// invalid configuration, a value that cannot be stored, a required tier that is missing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder setting is out of range; names the field and the allowed range.
    #[error("invalid cache configuration: `{field}` {message}")]
    Config {
        /// The builder setter, e.g. `l1_ttl`.
        field: &'static str,
        /// What is allowed.
        message: String,
    },
    /// A configuration value outside its allowed range.
    #[error("invalid `{field}`: got {value}, allowed: {allowed}")]
    InvalidConfig {
        /// The option's name as spelled by its builder setter / config field.
        field: &'static str,
        /// The rejected value, rendered (secrets redacted).
        value: String,
        /// What the field accepts, e.g. "1..=10000" or "finite and strictly increasing".
        allowed: String,
    },
    /// The encoded value is larger than `max_value_size`.
    #[error("value of {size} bytes exceeds max_value_size of {max} bytes")]
    ValueTooLarge {
        /// Encoded size including the envelope, in bytes.
        size: usize,
        /// The configured maximum, in bytes.
        max: usize,
    },
    /// The codec could not encode the value (e.g. a map with non-string keys in JSON).
    #[error("could not encode value with codec `{codec}`: {message}")]
    Encode {
        /// Codec name.
        codec: &'static str,
        /// The codec's message.
        message: String,
    },
    /// `require_l2(true)` was set and Redis did not answer while building.
    #[error("L2 (Redis at {url}) is required but unavailable: {message}")]
    L2Unavailable {
        /// The Redis URL with any password redacted.
        url: String,
        /// What failed.
        message: String,
    },
    /// The disk tier could not be opened.
    #[error("could not open the disk tier at {path}: {message}")]
    Disk {
        /// The file path.
        path: String,
        /// What failed.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Error {
    Error::Config {
        field,
        message: message.into(),
    }
}

/// [`Error::InvalidConfig`] for `field`.
#[cfg_attr(not(feature = "disk"), allow(dead_code))]
pub(crate) fn invalid_config(
    field: &'static str,
    value: impl std::fmt::Display,
    allowed: impl Into<String>,
) -> Error {
    Error::InvalidConfig {
        field,
        value: value.to_string(),
        allowed: allowed.into(),
    }
}
