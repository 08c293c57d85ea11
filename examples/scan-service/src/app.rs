//! The router: every endpoint, and the middleware around them.

use axum::Router;

use crate::state::AppState;
use crate::{auth, health, middleware, performance, scans};

/// The whole HTTP application for `state`.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(health::routes())
        .merge(scans::routes())
        .merge(auth::routes())
        .merge(performance::routes());
    middleware::apply(routes, &state).with_state(state)
}
