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

/// A request that carries a session (`Authorization: Bearer <token>`); 401 otherwise.
///
/// Stub added by helper "svc" so the scan write endpoints compile before helper "ops"' session
/// extractor lands: it only checks that a bearer token is present. Replace it with ops' real
/// extractor (which looks the token up in the session store) when merging.
#[derive(Clone, Debug)]
pub struct Session;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Session {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| !t.trim().is_empty());
        match token {
            Some(_) => Ok(Self),
            None => Err(crate::error::ApiError::Unauthorized(
                "a session is required: log in at /api/auth/login".to_owned(),
            )),
        }
    }
}
