//! Login and sessions: `POST /api/auth/login`, `POST /api/auth/logout`, and the [`Session`]
//! extractor that the mutating and admin endpoints take.
//!
//! Sessions live in perf-cache's [`SessionStore`] under the namespace
//! `<cache_namespace>-sessions`, with the configured TTL, sliding (every authenticated request
//! restarts it). With `REDIS_URL` the store is Redis, so any instance honours a session made on
//! another and a logout on one is seen by all; without it the store is the in-process mode
//! (one instance, at most [`MAX_IN_PROCESS_SESSIONS`] sessions). Tokens are 32 bytes from the
//! OS's random source, hex-encoded; the password is compared in constant time. Neither a token
//! nor a password is ever logged.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use perf_cache::SessionStore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::serve::StartError;
use crate::state::AppState;

/// Sessions the embedded mode (no Redis) keeps at most; past it the one closest to expiry goes.
pub const MAX_IN_PROCESS_SESSIONS: usize = 100_000;

/// Length of an access token: 32 random bytes, hex-encoded.
pub const TOKEN_LEN: usize = 64;

/// What a session stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    /// The account's e-mail.
    pub user: String,
    /// When the session was created, in seconds since the Unix epoch.
    pub created_at: u64,
}

/// The session store: Redis when `redis_url` is set, else in this process.
#[derive(Clone, Debug)]
pub struct Sessions {
    store: SessionStore<SessionData>,
}

impl Sessions {
    /// Builds the store for `config` (the Redis connection is made on first use).
    ///
    /// # Errors
    /// [`StartError::Cache`] when a setting is out of range (e.g. the TTL, the namespace).
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let builder = SessionStore::<SessionData>::builder()
            .namespace(format!("{}-sessions", config.cache_namespace))
            .ttl(config.session_ttl)
            .sliding(true);
        let builder = match &config.redis_url {
            Some(url) => builder.redis_url(url.clone()),
            None => builder.in_process(MAX_IN_PROCESS_SESSIONS),
        };
        Ok(Self {
            store: builder.build().await?,
        })
    }

    /// Whether sessions are kept in Redis (shared by every instance).
    #[must_use]
    pub fn is_shared(&self) -> bool {
        !self.store.is_in_process()
    }

    /// Whether the store answers: always for the in-process mode, one Redis round trip
    /// otherwise.
    pub async fn is_reachable(&self) -> bool {
        self.store.get("health-probe").await.is_ok()
    }

    /// Creates a session for `user` and returns its token.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the store (Redis) fails or no random bytes are available.
    pub async fn create(&self, user: &str) -> ApiResult<String> {
        let token = new_token()?;
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let data = SessionData {
            user: user.to_owned(),
            created_at,
        };
        self.store.set(&token, &data).await.map_err(store_down)?;
        Ok(token)
    }

    /// The session of `token`, if it exists (restarting its TTL).
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the store (Redis) fails.
    pub async fn lookup(&self, token: &str) -> ApiResult<Option<SessionData>> {
        if !is_well_formed(token) {
            return Ok(None);
        }
        self.store.get(token).await.map_err(store_down)
    }

    /// Ends the session of `token`.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the store (Redis) fails.
    pub async fn remove(&self, token: &str) -> ApiResult<()> {
        self.store.delete(token).await.map_err(store_down)
    }
}

fn store_down(e: perf_cache::Error) -> ApiError {
    // The error names the Redis URL redacted, never a token.
    tracing::warn!(error = %e, "session store unavailable");
    ApiError::Unavailable("the session store is unavailable".to_owned())
}

/// 32 bytes from the OS's random source, hex-encoded.
fn new_token() -> ApiResult<String> {
    let mut bytes = [0_u8; TOKEN_LEN / 2];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Unavailable(format!("no random bytes available: {e}")))?;
    let mut token = String::with_capacity(TOKEN_LEN);
    for b in bytes {
        token.push(char::from(HEX[usize::from(b >> 4)]));
        token.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Ok(token)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `token` has the shape of a token this service issues (so nothing else reaches the
/// store as a key).
#[must_use]
pub fn is_well_formed(token: &str) -> bool {
    // A range check per byte: `HEX.contains` ran memchr per byte, 5,000 instructions a
    // request for the rate limiter's key (callgrind).
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The bearer token of a request, if its `Authorization` header carries one.
#[must_use]
pub fn bearer_token(parts: &axum::http::HeaderMap) -> Option<&str> {
    let value = parts.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An authenticated request: take it as a handler argument (`_session: Session`) and the
/// handler runs only with a valid session. Answers 401 (JSON) when the bearer token is
/// missing or unknown, 503 (JSON) when the session store (Redis) is down.
#[derive(Clone, Debug)]
pub struct Session {
    /// The account's e-mail.
    pub user: String,
    /// The access token (never log it).
    token: String,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Some(token) = bearer_token(&parts.headers) else {
            return Err(ApiError::Unauthorized(
                "an Authorization: Bearer <access_token> header is required".to_owned(),
            ));
        };
        match state.sessions.lookup(token).await? {
            Some(data) => Ok(Self {
                user: data.user,
                token: token.to_owned(),
            }),
            None => Err(ApiError::Unauthorized(
                "the access token is unknown or expired".to_owned(),
            )),
        }
    }
}

/// The login body.
#[derive(Deserialize)]
struct Login {
    email: String,
    password: String,
}

/// The login answer.
#[derive(Serialize)]
struct Token {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// `POST /api/auth/login`.
async fn login(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let login: Login = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
        code: "invalid_json",
        message: format!("expected {{\"email\": ..., \"password\": ...}}: {e}"),
    })?;
    let config = &state.config;
    // Both compared in constant time, and both always compared.
    let email_ok = login.email.as_bytes().ct_eq(config.user.as_bytes());
    let password_ok = login.password.as_bytes().ct_eq(config.password.as_bytes());
    if !bool::from(email_ok & password_ok) {
        return Err(ApiError::Unauthorized(
            "wrong e-mail or password".to_owned(),
        ));
    }
    let token = state.sessions.create(&config.user).await?;
    let body = Token {
        access_token: token,
        token_type: "bearer",
        expires_in: config.session_ttl.as_secs(),
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// `POST /api/auth/logout`.
async fn logout(State(state): State<AppState>, session: Session) -> ApiResult<StatusCode> {
    state.sessions.remove(&session.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `/api/auth/…` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    #[test]
    fn tokens_are_64_hex_characters_and_differ() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
        assert!(!is_well_formed("abc"));
        assert!(!is_well_formed(&"G".repeat(TOKEN_LEN)));
        assert!(
            !is_well_formed(&"A".repeat(TOKEN_LEN)),
            "tokens are lowercase hex"
        );
        assert!(is_well_formed(&"0f".repeat(TOKEN_LEN / 2)));
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert(AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
    }
}
