//! Time: wall-clock milliseconds for the envelope, and the coarse monotonic clock L1 hits
//! read (one atomic load instead of a system call).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub(crate) fn now_unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_unix_us() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How often the coarse clock advances.
pub(crate) const COARSE_TICK: Duration = Duration::from_millis(1);

static EPOCH: OnceLock<Instant> = OnceLock::new();
static COARSE_MS: AtomicU64 = AtomicU64::new(0);
static TICKING: Once = Once::new();

fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds since the process's clock epoch, as of the last tick of the upkeep thread:
/// one relaxed load, so an L1 hit never calls the system clock. Lags the real clock by at
/// most [`COARSE_TICK`] plus however long the upkeep thread waits for a CPU.
#[inline]
pub(crate) fn coarse_ms() -> u64 {
    match COARSE_MS.load(Ordering::Relaxed) {
        // No clock thread (it could not be started): read the system clock.
        u64::MAX => precise_ms(),
        ms => ms,
    }
}

/// Milliseconds since the clock epoch, read from the system clock now.
pub(crate) fn precise_ms() -> u64 {
    duration_ms(epoch().elapsed())
}

/// The coarse-clock reading of `at`.
pub(crate) fn ms_of(at: Instant) -> u64 {
    duration_ms(at.saturating_duration_since(epoch()))
}

/// The instant of a coarse-clock reading.
pub(crate) fn instant_of(ms: u64) -> Instant {
    epoch() + Duration::from_millis(ms)
}

/// Starts the upkeep thread that advances the coarse clock (once per process; it sleeps
/// [`COARSE_TICK`] between ticks). Called by every backend before its first use.
pub(crate) fn start() {
    TICKING.call_once(|| {
        COARSE_MS.store(precise_ms(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("perf-cache-clock".to_owned())
            .spawn(|| {
                loop {
                    std::thread::sleep(COARSE_TICK);
                    COARSE_MS.store(precise_ms(), Ordering::Relaxed);
                }
            });
        if let Err(e) = spawned {
            COARSE_MS.store(u64::MAX, Ordering::Relaxed);
            tracing::warn!(error = %e, "perf-cache could not start its clock thread; L1 hits read the system clock instead");
        }
    });
}
