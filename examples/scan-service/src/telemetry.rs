//! Logs and metrics set-up.

use crate::config::Config;
use crate::serve::StartError;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); colours only when stderr is a
/// terminal (never in files, pipes or CI logs).
pub fn init_tracing() {
    use std::io::IsTerminal as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Installs the process's metrics recorder.
///
/// # Errors
/// [`StartError::Metrics`].
pub fn install_metrics(config: &Config) -> Result<perf_metrics::Metrics, StartError> {
    let instance = config
        .instance
        .clone()
        .unwrap_or_else(|| format!("scan-service-{}", std::process::id()));
    Ok(perf_metrics::Metrics::builder()
        .service("scan-service")
        .instance(instance)
        .install()?)
}
