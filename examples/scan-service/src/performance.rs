//! The seeds' performance endpoints. (Owner: helper "ops". Skeleton.)

use axum::Router;

use crate::state::AppState;

/// `/api/v1/performance…` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
