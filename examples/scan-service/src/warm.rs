//! Start-up cache warming. (Owner: helper "svc". Skeleton.)

use crate::state::AppState;

/// Loads the most requested scans into the cache, then marks the service ready.
pub async fn warm(state: AppState) {
    state.set_ready();
}
