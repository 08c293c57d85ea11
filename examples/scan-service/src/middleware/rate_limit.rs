//! Per-client rate limiting: governor's keyed GCRA limiter, keyed by [`ClientKey`].

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::auth::{TOKEN_LEN, bearer_token, is_well_formed};

/// How often idle rate-limiter keys are dropped.
pub const LIMITER_SWEEP: Duration = Duration::from_secs(10);

/// Paths that are never rate limited.
pub const UNLIMITED_PATHS: [&str; 2] = ["/health", "/metrics"];

/// Who a request is counted against: its bearer token when it carries a well-formed one, else
/// its peer address. Both are kept inline: no allocation per request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A well-formed bearer token ([`TOKEN_LEN`] hex digits).
    Token([u8; TOKEN_LEN]),
    /// The peer's IP address.
    Ip(IpAddr),
    /// No token and no known peer (a request not served by a socket, as in unit tests).
    Unknown,
}

impl ClientKey {
    /// The key of `request`.
    #[must_use]
    pub fn of(request: &Request) -> Self {
        let token = bearer_token(request.headers()).filter(|t| is_well_formed(t));
        if let Some(Ok(token)) = token.map(|t| t.as_bytes().try_into()) {
            return Self::Token(token);
        }
        match request.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => Self::Ip(addr.ip()),
            None => Self::Unknown,
        }
    }
}

/// The keyed limiter, or none when disabled.
#[derive(Clone, Debug)]
pub struct RateLimit {
    limiter: Option<Arc<DefaultKeyedRateLimiter<ClientKey>>>,
}

impl RateLimit {
    /// `per_second` requests per second per client with a burst of `burst` (at least 1); `0`
    /// for either disables limiting. Starts the sweep of idle keys when a tokio runtime runs.
    #[must_use]
    pub fn new(per_second: u32, burst: u32) -> Self {
        let (Some(rate), Some(burst)) = (NonZeroU32::new(per_second), NonZeroU32::new(burst))
        else {
            return Self { limiter: None };
        };
        let limiter = Arc::new(DefaultKeyedRateLimiter::dashmap(
            Quota::per_second(rate).allow_burst(burst),
        ));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&limiter)));
        }
        Self {
            limiter: Some(limiter),
        }
    }

    /// Whether limiting is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.limiter.is_some()
    }

    /// `Ok` when `request` may go on now (always for [`UNLIMITED_PATHS`]), else the seconds
    /// (at least 1) until its client may make another request.
    ///
    /// # Errors
    /// The seconds to wait.
    pub fn check_request(&self, request: &Request) -> Result<(), u64> {
        if self.limiter.is_none() || UNLIMITED_PATHS.contains(&request.uri().path()) {
            return Ok(());
        }
        self.check(&ClientKey::of(request))
    }

    /// `Ok` when `key` may make a request now, else the seconds (at least 1) until it may.
    ///
    /// # Errors
    /// The seconds to wait.
    pub fn check(&self, key: &ClientKey) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

/// Drops idle keys (those whose state equals a fresh one) every [`LIMITER_SWEEP`], until the
/// limiter is gone.
async fn sweep(limiter: Weak<DefaultKeyedRateLimiter<ClientKey>>) {
    let mut tick = tokio::time::interval(LIMITER_SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_gets_its_burst_then_waits_and_other_keys_are_unaffected() {
        let limit = RateLimit::new(1, 3);
        let a = ClientKey::Token([b'a'; TOKEN_LEN]);
        for _ in 0..3 {
            assert_eq!(limit.check(&a), Ok(()));
        }
        let wait = limit.check(&a).unwrap_err();
        assert_eq!(wait, 1);
        assert_eq!(limit.check(&ClientKey::Token([b'b'; TOKEN_LEN])), Ok(()));
        assert_eq!(limit.check(&ClientKey::Ip([10, 0, 0, 1].into())), Ok(()));
        let off = RateLimit::new(0, 3);
        assert!(!off.is_enabled());
        for _ in 0..1_000 {
            assert_eq!(off.check(&a), Ok(()));
        }
    }

    #[tokio::test]
    async fn health_and_metrics_are_never_limited() {
        let limit = RateLimit::new(1, 1);
        let get = |path: &str| Request::get(path).body(axum::body::Body::empty()).unwrap();
        assert_eq!(limit.check_request(&get("/api/scans/1")), Ok(()));
        assert!(limit.check_request(&get("/api/scans/1")).is_err());
        for _ in 0..10 {
            assert_eq!(limit.check_request(&get("/health")), Ok(()));
            assert_eq!(limit.check_request(&get("/metrics")), Ok(()));
        }
    }
}
