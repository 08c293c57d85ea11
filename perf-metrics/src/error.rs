//! The crate's error type.

/// Everything that can go wrong while setting up metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value outside its allowed range.
    #[error("invalid `{field}`: got {value}, allowed: {allowed}")]
    InvalidConfig {
        /// The option's name as spelled by its builder setter, e.g. `"buckets"`.
        field: &'static str,
        /// The rejected value, rendered.
        value: String,
        /// What the field accepts, e.g. `"1..=10000"` or `"finite and strictly increasing"`.
        allowed: String,
    },
    /// [`MetricsBuilder::install`](crate::MetricsBuilder::install) found a global recorder
    /// already installed (by this crate or another); the `metrics` facade allows one per process.
    #[error("a global metrics recorder is already installed; install at most once per process")]
    AlreadyInstalled,
    /// The upkeep thread could not be started.
    #[error("failed to start the metrics upkeep thread")]
    Upkeep(#[source] std::io::Error),
    /// Binding or serving the `/metrics` listener failed.
    #[error("metrics HTTP listener failed")]
    Listener(#[source] std::io::Error),
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(
        field: &'static str,
        value: impl std::fmt::Debug,
        allowed: impl Into<String>,
    ) -> Self {
        Self::InvalidConfig {
            field,
            value: format!("{value:?}"),
            allowed: allowed.into(),
        }
    }
}
