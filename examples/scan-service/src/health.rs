//! `/health` and `/metrics`. (Owner: helper "ops". Skeleton.)

use axum::Router;

use crate::state::AppState;

/// `/health` and `/metrics`.
pub fn routes() -> Router<AppState> {
    Router::new()
}
