//! The upkeep thread: runs the exporter's upkeep and slides the snapshot windows.

use std::sync::Weak;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::recorder::Core;

/// Starts a thread that runs [`Core::run_upkeep`] every `interval` until the core is dropped.
///
/// A plain thread rather than a tokio task: the windows must slide even when the
/// application's runtime is blocked or not running, and it costs nothing between ticks.
pub(crate) fn spawn(core: Weak<Core>, interval: Duration) -> Result<()> {
    std::thread::Builder::new()
        .name("perf-metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                match core.upgrade() {
                    Some(core) => core.run_upkeep(),
                    None => break,
                }
            }
        })
        .map(drop)
        .map_err(Error::Upkeep)
}
