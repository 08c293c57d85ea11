//! Login and sessions. (Owner: helper "ops". Skeleton.)

use axum::Router;

use crate::config::Config;
use crate::serve::StartError;
use crate::state::AppState;

/// The session store.
#[derive(Clone, Debug)]
pub struct Sessions {}

impl Sessions {
    /// Builds the store for `config`.
    ///
    /// # Errors
    /// [`StartError::Cache`].
    pub async fn build(_config: &Config) -> Result<Self, StartError> {
        Ok(Self {})
    }
}

/// `/api/auth/…` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
