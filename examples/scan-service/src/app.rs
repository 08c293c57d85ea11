//! The router: every endpoint, and the middleware around them.

use axum::Router;

use crate::state::AppState;
use crate::{auth, health, middleware, performance, scans};

/// The whole HTTP application for `state`.
///
/// Every route's answers may be compressed except one scan's (`/api/scans/{id}`), which is
/// about 130 bytes, below [`middleware::COMPRESS_ABOVE_BYTES`], so it would never be
/// compressed anyway; keeping it outside the compression layer spares the hottest endpoint
/// moving tower-http's compression body (an enum as large as a brotli encoder) through the
/// response path: ~3,500 instructions per request under callgrind.
pub fn router(state: AppState) -> Router {
    let compressed = Router::new()
        .merge(health::routes())
        .merge(scans::routes())
        .merge(auth::routes())
        .merge(performance::routes());
    let routes = middleware::compress(compressed).merge(scans::item_routes());
    middleware::apply(routes, &state).with_state(state)
}
