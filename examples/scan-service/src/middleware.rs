//! Middleware: HTTP metrics, compression, body limit, rate limit, JSON errors for what axum
//! rejects. (Owner: helper "ops". Skeleton.)

use axum::Router;

use crate::state::AppState;

/// Wraps `routes` in the service's middleware.
pub fn apply(routes: Router<AppState>, _state: &AppState) -> Router<AppState> {
    routes
}
