//! The scan endpoints. (Owner: helper "svc". Skeleton.)

use axum::Router;

use crate::state::AppState;

/// `/api/scans…` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
